package mailbox

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wasmhole/wasmhole/relay/store"
)

// Defaults of Config.
const (
	DefaultExpiry          = 11 * time.Minute
	DefaultPruneInterval   = 5 * time.Minute
	DefaultMaxMailboxBytes = 16 << 20
	// MaxNameplateLen is the longest nameplate accepted by claim (the
	// reference server ≥0.7.0 uses the same bound).
	MaxNameplateLen = 40
	maxAppIDLen     = 1024
	maxSideLen      = 128
	maxMailboxLen   = 128
	maxPhaseLen     = 256
	maxMoodLen      = 64
)

// PruneTimer is the name of the machine's only timer.
const PruneTimer = "prune"

// ConnID names one client connection; the driver picks them, unique among
// live connections.
type ConnID uint64

// Config configures a Machine. The zero value is usable.
type Config struct {
	// MOTD is sent in every welcome as "motd" (clients print it).
	MOTD string
	// AdvertiseVersion is sent as welcome "current_cli_version".
	AdvertiseVersion string
	// SignalError is sent as welcome "error": clients print it and stop.
	SignalError string
	// DisallowList makes "list" answer an empty list.
	DisallowList bool
	// HashcashBits > 0 requires a hashcash stamp with that many leading
	// zero bits (submit-permissions, protocol.md §1.4) before bind.
	HashcashBits int
	// Expiry is how long a mailbox may go untouched before the pruner
	// deletes it (default 11 min); PruneInterval is how often the pruner
	// runs (default 5 min).
	Expiry, PruneInterval time.Duration
	// MaxMailboxBytes caps the bodies stored in one mailbox (default
	// 16 MiB, negative: unlimited): the machine keeps mailboxes in memory.
	MaxMailboxBytes int64
	// Rand supplies nameplate choices, mailbox ids and hashcash resources
	// (default crypto/rand).
	Rand io.Reader
}

// Machine is the mailbox server: every connection, nameplate, mailbox and
// message, in memory. It is not safe for concurrent use; the driver
// serialises events.
type Machine struct {
	cfg     Config
	apps    map[string]*app
	conns   map[ConnID]*conn
	welcome []byte // cached welcome object (without the per-connection resource)
	stats   counters
	// ops counts the Persist actions emitted so far (see Send.After).
	ops uint64
}

type counters struct {
	nameplates    int
	mailboxes     int
	messages      int // stored now
	messagesTotal uint64
	connsTotal    uint64
	sessions      map[string]uint64
	errors        map[string]uint64
}

type app struct {
	id         string
	nameplates map[string]*nameplate
	mailboxes  map[string]*mailbox
	bound      int // connections bound to this app
}

type nameplate struct {
	name    string
	mb      *mailbox
	created int64
	sides   []store.NameplateSide
	// persisted is Machine.ops after the last Persist of this nameplate:
	// a frame that reveals it may go out once that many ops are durable.
	persisted uint64
}

type mailbox struct {
	app          *app
	id           string
	forNameplate bool
	created      int64
	updated      int64
	sides        []store.MailboxSide
	msgs         []store.Message
	bytes        int64
	lastRX       int64
	nextSeq      int64
	listeners    []*conn
	nameplates   []string // names of nameplates pointing here
	persisted    uint64   // as nameplate.persisted: row and messages
}

type conn struct {
	id        ConnID
	resource  string // hashcash resource offered in this connection's welcome
	permitted bool
	app       *app
	side      string

	didAllocate bool
	didClaim    bool
	nameplate   string
	hasNP       bool
	didRelease  bool
	mailboxID   string
	hasMB       bool
	mb          *mailbox // opened (the reference's self._mailbox)
	listening   bool
	didClose    bool
}

// New returns an empty Machine.
func New(cfg Config) *Machine {
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.MaxMailboxBytes == 0 {
		cfg.MaxMailboxBytes = DefaultMaxMailboxBytes
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	m := &Machine{
		cfg:   cfg,
		apps:  make(map[string]*app),
		conns: make(map[ConnID]*conn),
		stats: counters{sessions: make(map[string]uint64), errors: make(map[string]uint64)},
	}
	m.buildWelcome()
	return m
}

// ---- events and actions ----

// Event is an input to Handle.
type Event interface{ isEvent() }

// Start must be the first event after New (and Restore); it arms the
// prune timer.
type Start struct{ Now time.Time }

// Connected: a client's WebSocket opened. The machine answers with welcome.
type Connected struct {
	Conn ConnID
	Now  time.Time
}

// Received: one complete frame, decoded with DecodeCommand.
type Received struct {
	Conn ConnID
	Now  time.Time
	Cmd  Command
}

// TooLarge: the driver dropped a frame of Size bytes that exceeded its
// Limit. The machine answers with an error message.
type TooLarge struct {
	Conn        ConnID
	Now         time.Time
	Size, Limit int64
}

// Disconnected: the connection is gone (either side closed it).
type Disconnected struct {
	Conn ConnID
	Now  time.Time
}

// TimerFired answers a SetTimer action.
type TimerFired struct {
	Name string
	Now  time.Time
}

// CloseMailbox is the operator's "close this mailbox now": listeners get an
// error message, the mailbox and its nameplates are deleted.
type CloseMailbox struct {
	ID     string
	Now    time.Time
	Reason string // default "mailbox closed by the server operator"
}

func (Start) isEvent()        {}
func (Connected) isEvent()    {}
func (Received) isEvent()     {}
func (TooLarge) isEvent()     {}
func (Disconnected) isEvent() {}
func (TimerFired) isEvent()   {}
func (CloseMailbox) isEvent() {}

// Action is an output of Handle. Actions must be performed in order, with
// one relaxation: a Send must not reach the network before the first
// Send.After Persists (counted over all Handle calls) are durable, nor
// before the frames sent earlier to the same connection, but it may
// overtake Persists beyond After and other connections' frames. A driver
// that waits for every preceding Persist is correct too, only slower.
type Action interface{ isAction() }

// Send one TEXT frame to a connection. Broadcasts share Data between
// several Sends: treat it as read-only.
type Send struct {
	Conn ConnID
	Data []byte
	// After is how many Persists (the first After ever emitted) the frame
	// depends on. Most frames depend on all emitted so far; a welcome, an
	// ack or a pong on none; a "claimed" that changed nothing only on the
	// ops that stored its nameplate and mailbox. This is what lets a
	// claim whose allocate is already on disk be answered without waiting
	// for the flush of other clients' changes.
	After uint64
}

// Persist a change (see relay/store).
type Persist struct{ Op store.Op }

// CloseConn: after the Sends before it, close the WebSocket with Code and
// Reason. The driver later reports Disconnected.
type CloseConn struct {
	Conn   ConnID
	Code   int
	Reason string
}

// SetTimer asks for TimerFired{Name} after After.
type SetTimer struct {
	Name  string
	After time.Duration
}

func (Send) isAction()      {}
func (Persist) isAction()   {}
func (CloseConn) isAction() {}
func (SetTimer) isAction()  {}

// WebSocket close codes used in CloseConn.
const (
	CloseNormal          = 1000
	ClosePolicyViolation = 1008
)

// ---- errors ----

// protoErr is an error message to the client. kind labels the metric;
// msg is the exact "error" string (the reference's where one exists).
type protoErr struct{ kind, msg string }

func (e protoErr) Error() string { return e.msg }

var (
	errMissingType     = protoErr{"missing_type", "missing 'type'"}
	errNotObject       = protoErr{"bad_json", "message is not a JSON object"}
	errMustBind        = protoErr{"must_bind_first", "must bind first"}
	errAlreadyBound    = protoErr{"already_bound", "already bound"}
	errBindAppID       = protoErr{"bad_bind", "bind requires 'appid'"}
	errBindSide        = protoErr{"bad_bind", "bind requires 'side'"}
	errGreedy          = protoErr{"greedy", "you already allocated one, don't be greedy"}
	errNoFreeNameplate = protoErr{"no_free_nameplate", "no free nameplate, try again later"}
	errClaimNP         = protoErr{"bad_claim", "claim requires 'nameplate'"}
	errOneClaim        = protoErr{"one_claim", "only one claim per connection"}
	errCrowded         = protoErr{"crowded", "crowded"}
	errReclaimed       = protoErr{"reclaimed", "reclaimed"}
	errOneRelease      = protoErr{"one_release", "only one release per connection"}
	errReleaseSame     = protoErr{"bad_release", "release and claim must use same nameplate"}
	errReleaseNoClaim  = protoErr{"bad_release", "release without nameplate must follow claim"}
	errOneOpen         = protoErr{"one_open", "only one open per connection"}
	errOpenMailbox     = protoErr{"bad_open", "open requires 'mailbox'"}
	errMustOpen        = protoErr{"must_open", "must open mailbox before adding"}
	errMissingPhase    = protoErr{"bad_add", "missing 'phase'"}
	errMissingBody     = protoErr{"bad_add", "missing 'body'"}
	errOneClose        = protoErr{"one_close", "only one close per connection"}
	errCloseSame       = protoErr{"bad_close", "open and close must use same mailbox"}
	errCloseNoOpen     = protoErr{"bad_close", "close without mailbox must follow open"}
	errPingRequires    = protoErr{"bad_ping", "ping requires 'ping'"}
	errUnknownType     = protoErr{"unknown_type", "unknown type"}
	errPermission      = protoErr{"permission_denied", "permission denied"}
	errNPNotDigits     = protoErr{"bad_nameplate", "invalid nameplate: must be digits only"}
	errNPTooLong       = protoErr{"bad_nameplate", fmt.Sprintf("invalid nameplate: longer than %d characters", MaxNameplateLen)}
)

func errNotString(key string) protoErr {
	return protoErr{"bad_type", fmt.Sprintf("'%s' must be a string", key)}
}

func errTooLong(key string, limit int) protoErr {
	return protoErr{"too_long", fmt.Sprintf("'%s' is too long (limit %d characters)", key, limit)}
}

// ---- Handle ----

// out accumulates the actions of one Handle call.
type out struct {
	m    *Machine
	acts []Action
	now  int64
}

// send queues a frame that depends on every op emitted so far.
func (o *out) send(c ConnID, data []byte) { o.sendAfter(c, data, o.m.ops) }

// sendFree queues a frame that reveals no stored state.
func (o *out) sendFree(c ConnID, data []byte) { o.sendAfter(c, data, 0) }

func (o *out) sendAfter(c ConnID, data []byte, after uint64) {
	o.acts = append(o.acts, Send{Conn: c, Data: data, After: after})
}

// persist queues op and returns the op count that includes it.
func (o *out) persist(op store.Op) uint64 {
	o.acts = append(o.acts, Persist{Op: op})
	o.m.ops++
	return o.m.ops
}

// Handle feeds one event and returns the actions the driver must perform,
// in order.
func (m *Machine) Handle(ev Event) []Action {
	o := out{m: m}
	switch e := ev.(type) {
	case Start:
		o.acts = append(o.acts, SetTimer{Name: PruneTimer, After: m.cfg.PruneInterval})
	case Connected:
		o.now = e.Now.UnixMicro()
		m.connected(&o, e.Conn)
	case Received:
		o.now = e.Now.UnixMicro()
		if c := m.conns[e.Conn]; c != nil {
			m.received(&o, c, &e.Cmd)
		}
	case TooLarge:
		o.now = e.Now.UnixMicro()
		if c := m.conns[e.Conn]; c != nil {
			m.sendError(&o, c, protoErr{"too_large", fmt.Sprintf(
				"message too large: %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)}, nil)
		}
	case Disconnected:
		o.now = e.Now.UnixMicro()
		m.disconnected(e.Conn)
	case TimerFired:
		o.now = e.Now.UnixMicro()
		if e.Name == PruneTimer {
			m.prune(&o)
			o.acts = append(o.acts, SetTimer{Name: PruneTimer, After: m.cfg.PruneInterval})
		}
	case CloseMailbox:
		o.now = e.Now.UnixMicro()
		reason := e.Reason
		if reason == "" {
			reason = "mailbox closed by the server operator"
		}
		m.adminClose(&o, e.ID, reason)
	}
	return o.acts
}

func (m *Machine) connected(o *out, id ConnID) {
	if _, dup := m.conns[id]; dup {
		return
	}
	c := &conn{id: id}
	m.conns[id] = c
	m.stats.connsTotal++
	e := newEnc("welcome", len(m.welcome)+96)
	e.key("welcome")
	e.b = append(e.b, '{')
	e.b = append(e.b, m.welcome...)
	if m.cfg.HashcashBits > 0 {
		// A fresh resource per connection: a stamp cannot be reused.
		c.resource = m.randomID()
		if len(m.welcome) > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"permission-required":{"hashcash":{"bits":`...)
		e.b = strconv.AppendInt(e.b, int64(m.cfg.HashcashBits), 10)
		e.b = append(e.b, `,"resource":`...)
		e.b = appendString(e.b, c.resource)
		e.b = append(e.b, "}}"...)
	}
	e.b = append(e.b, '}')
	o.sendFree(id, e.done(o.now))
}

// buildWelcome caches the members of the welcome object (without braces).
func (m *Machine) buildWelcome() {
	var b []byte
	add := func(k, v string) {
		if v == "" {
			return
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, v)
	}
	add("motd", m.cfg.MOTD)
	add("current_cli_version", m.cfg.AdvertiseVersion)
	add("error", m.cfg.SignalError)
	m.welcome = b
}

// SetMOTD changes the motd sent in later welcomes.
func (m *Machine) SetMOTD(motd string) {
	m.cfg.MOTD = motd
	m.buildWelcome()
}

// MOTD returns the current motd.
func (m *Machine) MOTD() string { return m.cfg.MOTD }

func (m *Machine) sendError(o *out, c *conn, pe protoErr, orig []byte) {
	m.stats.errors[pe.kind]++
	e := newEnc("error", len(pe.msg)+len(orig))
	e.str("error", pe.msg)
	e.raw("orig", orig)
	o.send(c.id, e.done(o.now))
}

func (m *Machine) received(o *out, c *conn, cmd *Command) {
	if cmd.Invalid {
		m.sendError(o, c, errNotObject, nil)
		return
	}
	if !cmd.HasType {
		m.sendError(o, c, errMissingType, cmd.Raw)
		return
	}
	// Every typed command is acked before it is handled, so an error
	// always follows its ack.
	e := newEnc("ack", len(cmd.ID))
	e.raw("id", cmd.ID)
	o.sendFree(c.id, e.done(o.now))

	if err := m.dispatch(o, c, cmd); err != nil {
		pe, ok := err.(protoErr)
		if !ok {
			pe = protoErr{"internal", err.Error()}
		}
		m.sendError(o, c, pe, cmd.Raw)
		if pe == errPermission {
			o.acts = append(o.acts, CloseConn{Conn: c.id, Code: ClosePolicyViolation, Reason: "permission denied"})
		}
	}
}

func (m *Machine) dispatch(o *out, c *conn, cmd *Command) error {
	typ := cmd.Type
	if typ == "ping" {
		return m.handlePing(o, c, cmd)
	}
	if typ == "submit-permissions" || typ == "submit-permission" {
		return m.handlePermission(c, cmd)
	}
	if m.cfg.HashcashBits > 0 && !c.permitted {
		return errPermission
	}
	if typ == "bind" {
		return m.handleBind(c, cmd)
	}
	if c.app == nil {
		return errMustBind
	}
	switch typ {
	case "list":
		return m.handleList(o, c)
	case "allocate":
		return m.handleAllocate(o, c)
	case "claim":
		return m.handleClaim(o, c, cmd)
	case "release":
		return m.handleRelease(o, c, cmd)
	case "open":
		return m.handleOpen(o, c, cmd)
	case "add":
		return m.handleAdd(o, c, cmd)
	case "close":
		return m.handleClose(o, c, cmd)
	}
	return errUnknownType
}

func (m *Machine) handlePing(o *out, c *conn, cmd *Command) error {
	if !cmd.HasPing {
		return errPingRequires
	}
	e := newEnc("pong", len(cmd.Ping))
	e.raw("pong", cmd.Ping)
	o.sendFree(c.id, e.done(o.now))
	return nil
}

func (m *Machine) handlePermission(c *conn, cmd *Command) error {
	if m.cfg.HashcashBits <= 0 || c.permitted {
		return nil // nothing was asked; accept and ignore
	}
	if cmd.Method.S != "hashcash" || !cmd.Stamp.IsStr ||
		!VerifyHashcash(cmd.Stamp.S, c.resource, m.cfg.HashcashBits) {
		return errPermission
	}
	c.permitted = true
	return nil
}

func (m *Machine) handleBind(c *conn, cmd *Command) error {
	if c.app != nil {
		return errAlreadyBound
	}
	if !cmd.AppID.Present {
		return errBindAppID
	}
	if !cmd.Side.Present {
		return errBindSide
	}
	if !cmd.AppID.IsStr {
		return errNotString("appid")
	}
	if !cmd.Side.IsStr {
		return errNotString("side")
	}
	if len(cmd.AppID.S) > maxAppIDLen {
		return errTooLong("appid", maxAppIDLen)
	}
	if len(cmd.Side.S) > maxSideLen {
		return errTooLong("side", maxSideLen)
	}
	a := m.apps[cmd.AppID.S]
	if a == nil {
		a = &app{id: cmd.AppID.S, nameplates: make(map[string]*nameplate), mailboxes: make(map[string]*mailbox)}
		m.apps[a.id] = a
	}
	a.bound++
	c.app = a
	c.side = cmd.Side.S
	return nil
}

func (m *Machine) handleList(o *out, c *conn) error {
	var names []string
	if !m.cfg.DisallowList {
		names = make([]string, 0, len(c.app.nameplates))
		for n := range c.app.nameplates {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	e := newEnc("nameplates", 16*len(names))
	e.key("nameplates")
	e.b = append(e.b, '[')
	for i, n := range names {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `{"id":`...)
		e.b = appendString(e.b, n)
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, ']')
	o.send(c.id, e.done(o.now))
	return nil
}

func (m *Machine) handleAllocate(o *out, c *conn) error {
	if c.didAllocate {
		return errGreedy
	}
	name, ok := m.freeNameplate(c.app)
	if !ok {
		return errNoFreeNameplate
	}
	if _, err := m.claimNameplate(o, c.app, name, c.side); err != nil {
		return err
	}
	c.didAllocate = true
	e := newEnc("allocated", len(name))
	e.str("nameplate", name)
	o.send(c.id, e.done(o.now))
	return nil
}

// freeNameplate picks uniformly among the free ids of the shortest length
// that has one (1–9, 10–99, 100–999), then tries random ids up to 999999.
func (m *Machine) freeNameplate(a *app) (string, bool) {
	var free []int
	for lo := 1; lo < 1000; lo *= 10 {
		free = free[:0]
		for i := lo; i < lo*10; i++ {
			if _, taken := a.nameplates[strconv.Itoa(i)]; !taken {
				free = append(free, i)
			}
		}
		if len(free) > 0 {
			return strconv.Itoa(free[m.randIntn(len(free))]), true
		}
	}
	for range 1000 {
		n := strconv.Itoa(1000 + m.randIntn(1000*1000-1000))
		if _, taken := a.nameplates[n]; !taken {
			return n, true
		}
	}
	return "", false
}

func (m *Machine) handleClaim(o *out, c *conn, cmd *Command) error {
	if !cmd.Nameplate.Present {
		return errClaimNP
	}
	if c.didClaim {
		return errOneClaim
	}
	c.didClaim = true
	if err := checkNameplate(cmd.Nameplate); err != nil {
		return err
	}
	name := cmd.Nameplate.S
	c.nameplate, c.hasNP = name, true
	np, err := m.claimNameplate(o, c.app, name, c.side)
	if err != nil {
		return err
	}
	e := newEnc("claimed", len(np.mb.id))
	e.str("mailbox", np.mb.id)
	// It reveals the nameplate and its mailbox, and whatever claiming
	// changed (which, if anything, is in one of those two).
	o.sendAfter(c.id, e.done(o.now), max(np.persisted, np.mb.persisted))
	return nil
}

func checkNameplate(f Field) error {
	if !f.IsStr {
		return errNotString("nameplate")
	}
	if len(f.S) > MaxNameplateLen {
		return errNPTooLong
	}
	if f.S == "" {
		return errNPNotDigits
	}
	for i := 0; i < len(f.S); i++ {
		if f.S[i] < '0' || f.S[i] > '9' {
			return errNPNotDigits
		}
	}
	return nil
}

// claimNameplate claims name for side, creating the nameplate and its
// mailbox on first claim, and opens that mailbox for the side. A third side
// is refused before anything is recorded, so it cannot crowd out the two
// legitimate ones (unlike the reference, protocol.md §1.5).
func (m *Machine) claimNameplate(o *out, a *app, name, side string) (*nameplate, error) {
	np := a.nameplates[name]
	if np == nil {
		mb := m.newMailbox(a, true, o.now)
		mb.sides = []store.MailboxSide{{Side: side, Opened: true, Added: o.now}}
		np = &nameplate{name: name, mb: mb, created: o.now,
			sides: []store.NameplateSide{{Side: side, Claimed: true, Added: o.now}}}
		a.nameplates[name] = np
		mb.nameplates = append(mb.nameplates, name)
		m.stats.nameplates++
		mb.persisted = o.persist(store.PutMailbox{Mailbox: mb.record()})
		np.persisted = o.persist(store.PutNameplate{Nameplate: np.record(a)})
		return np, nil
	}
	mb := np.mb
	i := slices.IndexFunc(np.sides, func(s store.NameplateSide) bool { return s.Side == side })
	if i >= 0 && !np.sides[i].Claimed {
		return nil, errReclaimed
	}
	if i < 0 {
		if len(np.sides) >= 2 || !mb.admits(side) {
			return nil, errCrowded
		}
		np.sides = append(np.sides, store.NameplateSide{Side: side, Claimed: true, Added: o.now})
		np.persisted = o.persist(store.PutNameplate{Nameplate: np.record(a)})
	}
	m.openSide(o, mb, side)
	return np, nil
}

// admits reports whether side may join mb: it is already a side, or there
// is room for a second one.
func (mb *mailbox) admits(side string) bool {
	return len(mb.sides) < 2 || mb.side(side) >= 0
}

func (mb *mailbox) side(side string) int {
	return slices.IndexFunc(mb.sides, func(s store.MailboxSide) bool { return s.Side == side })
}

// openSide records side as a member of mb (if new) and touches it. The
// caller has checked admits. Like the reference, a side that closed and
// re-opens stays closed: open is a subscription, not a state change.
//
// A touch alone is not persisted: "updated" only feeds the pruner, a
// restarted server gets it from the last stored change (PutMailbox,
// messages' server_rx, the pruner's own touches), and clients that come
// back after a restart touch their mailbox again by re-opening it. Not
// writing it keeps re-claims and opens off the disk.
func (m *Machine) openSide(o *out, mb *mailbox, side string) {
	mb.updated = max(mb.updated, o.now)
	if mb.side(side) < 0 {
		mb.sides = append(mb.sides, store.MailboxSide{Side: side, Opened: true, Added: o.now})
		mb.persisted = o.persist(store.PutMailbox{Mailbox: mb.record()})
	}
}

func (m *Machine) newMailbox(a *app, forNameplate bool, now int64) *mailbox {
	id := m.randomID()
	for a.mailboxes[id] != nil {
		id = m.randomID()
	}
	return m.addMailbox(a, id, forNameplate, now)
}

func (m *Machine) addMailbox(a *app, id string, forNameplate bool, now int64) *mailbox {
	mb := &mailbox{app: a, id: id, forNameplate: forNameplate, created: now, updated: now}
	a.mailboxes[id] = mb
	m.stats.mailboxes++
	return mb
}

func (m *Machine) handleRelease(o *out, c *conn, cmd *Command) error {
	if c.didRelease {
		return errOneRelease
	}
	var name string
	if cmd.Nameplate.Present {
		if !cmd.Nameplate.IsStr {
			return errNotString("nameplate")
		}
		if c.hasNP && cmd.Nameplate.S != c.nameplate {
			return errReleaseSame
		}
		name = cmd.Nameplate.S
	} else {
		if !c.hasNP {
			return errReleaseNoClaim
		}
		name = c.nameplate
	}
	c.didRelease = true
	m.releaseNameplate(o, c.app, name, c.side)
	o.send(c.id, newEnc("released", 0).done(o.now))
	return nil
}

// releaseNameplate unclaims name for side; the nameplate goes away when no
// side claims it. Releasing an unknown nameplate is not an error (clients
// re-send release after reconnecting).
func (m *Machine) releaseNameplate(o *out, a *app, name, side string) {
	np := a.nameplates[name]
	if np == nil {
		return
	}
	i := slices.IndexFunc(np.sides, func(s store.NameplateSide) bool { return s.Side == side })
	if i < 0 {
		return
	}
	np.sides[i].Claimed = false
	for _, s := range np.sides {
		if s.Claimed {
			np.persisted = o.persist(store.PutNameplate{Nameplate: np.record(a)})
			return
		}
	}
	m.deleteNameplate(o, a, np)
}

func (m *Machine) deleteNameplate(o *out, a *app, np *nameplate) {
	delete(a.nameplates, np.name)
	m.stats.nameplates--
	np.mb.nameplates = slices.DeleteFunc(np.mb.nameplates, func(n string) bool { return n == np.name })
	o.persist(store.DeleteNameplate{AppID: a.id, Name: np.name})
}

func checkMailboxID(f Field) error {
	if !f.IsStr {
		return errNotString("mailbox")
	}
	if len(f.S) > maxMailboxLen {
		return errTooLong("mailbox", maxMailboxLen)
	}
	return nil
}

func (m *Machine) handleOpen(o *out, c *conn, cmd *Command) error {
	if c.mb != nil {
		return errOneOpen
	}
	if !cmd.Mailbox.Present {
		return errOpenMailbox
	}
	if err := checkMailboxID(cmd.Mailbox); err != nil {
		return err
	}
	id := cmd.Mailbox.S
	c.mailboxID, c.hasMB = id, true
	mb, err := m.openMailbox(o, c.app, id, c.side)
	if err != nil {
		return err
	}
	c.mb = mb
	c.listening = true
	mb.listeners = append(mb.listeners, c)
	for i := range mb.msgs {
		// The mailbox row and every message are in mb.persisted.
		o.sendAfter(c.id, encodeMessage(&mb.msgs[i], o.now), mb.persisted)
	}
	return nil
}

// openMailbox finds or creates mailbox id and opens it for side.
func (m *Machine) openMailbox(o *out, a *app, id, side string) (*mailbox, error) {
	mb := a.mailboxes[id]
	if mb == nil {
		mb = m.addMailbox(a, id, false, o.now)
	} else if !mb.admits(side) {
		return nil, errCrowded
	}
	m.openSide(o, mb, side)
	return mb, nil
}

func encodeMessage(msg *store.Message, now int64) []byte {
	e := newEnc("message", len(msg.Body)+len(msg.Side)+len(msg.Phase)+len(msg.MsgID)+64)
	e.str("side", msg.Side)
	e.str("phase", msg.Phase)
	e.str("body", msg.Body)
	e.time("server_rx", msg.ServerRX)
	e.raw("id", []byte(msg.MsgID))
	return e.done(now)
}

func (m *Machine) handleAdd(o *out, c *conn, cmd *Command) error {
	mb := c.mb
	if mb == nil {
		return errMustOpen
	}
	if !cmd.Phase.Present {
		return errMissingPhase
	}
	if !cmd.Body.Present {
		return errMissingBody
	}
	if !cmd.Phase.IsStr {
		return errNotString("phase")
	}
	if !cmd.Body.IsStr {
		return errNotString("body")
	}
	if len(cmd.Phase.S) > maxPhaseLen {
		return errTooLong("phase", maxPhaseLen)
	}
	size := int64(len(cmd.Body.S) + len(cmd.Phase.S))
	if m.cfg.MaxMailboxBytes > 0 && mb.bytes+size > m.cfg.MaxMailboxBytes {
		return protoErr{"mailbox_full", fmt.Sprintf("mailbox full: its messages may total at most %d bytes", m.cfg.MaxMailboxBytes)}
	}
	// server_rx orders replays; keep it strictly increasing within a
	// mailbox even if the wall clock steps back.
	rx := max(o.now, mb.lastRX+1)
	msg := store.Message{
		AppID: mb.app.id, MailboxID: mb.id, Seq: mb.nextSeq,
		Side: c.side, Phase: cmd.Phase.S, Body: cmd.Body.S,
		ServerRX: rx, MsgID: string(cmd.ID),
	}
	mb.nextSeq++
	mb.lastRX = rx
	mb.bytes += size
	mb.updated = max(mb.updated, o.now)
	mb.msgs = append(mb.msgs, msg)
	m.stats.messages++
	m.stats.messagesTotal++
	// (Restore takes "updated" from the newest server_rx, so the message
	// row is the touch.)
	mb.persisted = o.persist(store.AddMessage{Message: msg})
	// One frame for every listener, the sender's own connection included.
	data := encodeMessage(&mb.msgs[len(mb.msgs)-1], o.now)
	for _, l := range mb.listeners {
		o.send(l.id, data)
	}
	return nil
}

func (m *Machine) handleClose(o *out, c *conn, cmd *Command) error {
	if c.didClose {
		return errOneClose
	}
	var id string
	if cmd.Mailbox.Present {
		if err := checkMailboxID(cmd.Mailbox); err != nil {
			return err
		}
		if c.hasMB && cmd.Mailbox.S != c.mailboxID {
			return errCloseSame
		}
		id = cmd.Mailbox.S
	} else {
		if !c.hasMB {
			return errCloseNoOpen
		}
		id = c.mailboxID
	}
	mood := ""
	if cmd.Mood.IsStr && len(cmd.Mood.S) <= maxMoodLen {
		mood = cmd.Mood.S
	}
	mb := c.mb
	if mb == nil {
		mb = c.app.mailboxes[id]
		if mb != nil && !mb.admits(c.side) {
			return errCrowded
		}
	}
	c.didClose = true
	if mb != nil {
		if c.listening {
			mb.removeListener(c)
			c.listening = false
		}
		m.closeSide(o, mb, c.side, mood)
	}
	// A close for a mailbox that does not exist (already deleted, or
	// never opened) is answered "closed" without creating anything.
	c.mb = nil
	o.send(c.id, newEnc("closed", 0).done(o.now))
	return nil
}

func (mb *mailbox) removeListener(c *conn) {
	mb.listeners = slices.DeleteFunc(mb.listeners, func(l *conn) bool { return l == c })
}

// closeSide marks side closed with mood; when no side is open the mailbox,
// its messages and any nameplate still pointing at it are deleted (so a
// close before release works, unlike the reference 0.4.1).
func (m *Machine) closeSide(o *out, mb *mailbox, side, mood string) {
	i := mb.side(side)
	if i < 0 {
		// The reference adds the side (open_mailbox) and closes it.
		mb.sides = append(mb.sides, store.MailboxSide{Side: side, Added: o.now})
		i = len(mb.sides) - 1
	}
	mb.sides[i].Opened = false
	mb.sides[i].Mood = mood
	for _, s := range mb.sides {
		if s.Opened {
			mb.persisted = o.persist(store.PutMailbox{Mailbox: mb.record()})
			return
		}
	}
	m.deleteMailbox(o, mb, summarize(mb.sides, false))
}

// summarize gives the usage result of a finished mailbox, like the
// reference's usage database (protocol.md §1.8).
func summarize(sides []store.MailboxSide, pruned bool) string {
	result := "happy"
	switch len(sides) {
	case 0:
		result = "quiet"
	case 1:
		result = "lonely"
	}
	// precedence over the sides' moods: lonely < errory < scary
	best := 0
	for _, s := range sides {
		r := 0
		switch s.Mood {
		case "lonely":
			r = 1
		case "errory":
			r = 2
		case "scary":
			r = 3
		}
		if r > best {
			best, result = r, s.Mood
		}
	}
	if pruned {
		result = "pruney"
	}
	return result
}

func (m *Machine) deleteMailbox(o *out, mb *mailbox, result string) {
	a := mb.app
	for _, name := range slices.Clone(mb.nameplates) {
		if np := a.nameplates[name]; np != nil && np.mb == mb {
			m.deleteNameplate(o, a, np)
		}
	}
	delete(a.mailboxes, mb.id)
	m.stats.mailboxes--
	m.stats.messages -= len(mb.msgs)
	m.stats.sessions[result]++
	o.persist(store.DeleteMailbox{AppID: a.id, ID: mb.id})
	for _, l := range mb.listeners {
		l.mb = nil
		l.listening = false
	}
	mb.listeners = nil
	m.maybeDropApp(a)
}

func (m *Machine) maybeDropApp(a *app) {
	if a.bound == 0 && len(a.nameplates) == 0 && len(a.mailboxes) == 0 {
		delete(m.apps, a.id)
	}
}

func (m *Machine) disconnected(id ConnID) {
	c := m.conns[id]
	if c == nil {
		return
	}
	delete(m.conns, id)
	if c.mb != nil && c.listening {
		c.mb.removeListener(c)
	}
	if c.app != nil {
		c.app.bound--
		m.maybeDropApp(c.app)
	}
}

// prune touches every mailbox somebody listens to and deletes the ones
// untouched for Expiry, with their nameplates and messages.
func (m *Machine) prune(o *out) {
	cutoff := o.now - m.cfg.Expiry.Microseconds()
	for _, a := range m.apps {
		for _, mb := range a.mailboxes {
			if len(mb.listeners) > 0 {
				mb.updated = max(mb.updated, o.now)
				mb.persisted = o.persist(store.TouchMailbox{AppID: a.id, ID: mb.id, Updated: mb.updated})
				continue
			}
			if mb.updated <= cutoff {
				m.deleteMailbox(o, mb, summarize(mb.sides, true))
			}
		}
	}
}

func (m *Machine) adminClose(o *out, id, reason string) {
	var found []*mailbox
	for _, a := range m.apps {
		if mb := a.mailboxes[id]; mb != nil {
			found = append(found, mb)
		}
	}
	for _, mb := range found {
		for _, l := range mb.listeners {
			m.sendError(o, l, protoErr{"closed_by_operator", reason}, nil)
		}
		m.deleteMailbox(o, mb, "closed")
	}
}

// ---- randomness ----

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID is a mailbox id as the reference makes them: lowercase base32
// of 8 random bytes, 13 characters.
func (m *Machine) randomID() string {
	var b [8]byte
	m.fill(b[:])
	return strings.ToLower(b32.EncodeToString(b[:]))
}

func (m *Machine) fill(b []byte) {
	if _, err := io.ReadFull(m.cfg.Rand, b); err != nil {
		// crypto/rand does not fail on supported platforms; a test
		// reader that runs dry is a bug in the test.
		panic(fmt.Sprintf("mailbox: random source failed: %v", err))
	}
}

// randIntn returns a uniform int in [0, n) by rejection sampling.
func (m *Machine) randIntn(n int) int {
	limit := ^uint64(0) - ^uint64(0)%uint64(n)
	for {
		var b [8]byte
		m.fill(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v < limit {
			return int(v % uint64(n))
		}
	}
}

// ---- persistence records ----

func (np *nameplate) record(a *app) store.Nameplate {
	return store.Nameplate{AppID: a.id, Name: np.name, MailboxID: np.mb.id,
		Created: np.created, Sides: slices.Clone(np.sides)}
}

func (mb *mailbox) record() store.Mailbox {
	return store.Mailbox{AppID: mb.app.id, ID: mb.id, ForNameplate: mb.forNameplate,
		Created: mb.created, Updated: mb.updated, Sides: slices.Clone(mb.sides)}
}

// Restore loads a stored state into a fresh Machine (before Start and any
// connection). Inconsistent rows are repaired rather than refused: a
// nameplate or message whose mailbox row is missing gets a mailbox, which
// the pruner will expire if nobody comes back for it.
func (m *Machine) Restore(s *store.Snapshot) error {
	if len(m.conns) > 0 || len(m.apps) > 0 {
		return fmt.Errorf("mailbox: restore into a machine that is in use")
	}
	getApp := func(id string) *app {
		a := m.apps[id]
		if a == nil {
			a = &app{id: id, nameplates: make(map[string]*nameplate), mailboxes: make(map[string]*mailbox)}
			m.apps[id] = a
		}
		return a
	}
	for _, r := range s.Mailboxes {
		a := getApp(r.AppID)
		mb := m.addMailbox(a, r.ID, r.ForNameplate, r.Created)
		mb.updated = r.Updated
		mb.sides = slices.Clone(r.Sides)
	}
	for _, r := range s.Nameplates {
		a := getApp(r.AppID)
		mb := a.mailboxes[r.MailboxID]
		if mb == nil {
			mb = m.addMailbox(a, r.MailboxID, true, r.Created)
		}
		a.nameplates[r.Name] = &nameplate{name: r.Name, mb: mb, created: r.Created, sides: slices.Clone(r.Sides)}
		mb.nameplates = append(mb.nameplates, r.Name)
		m.stats.nameplates++
	}
	msgs := slices.Clone(s.Messages)
	slices.SortStableFunc(msgs, func(a, b store.Message) int {
		if a.AppID != b.AppID {
			return strings.Compare(a.AppID, b.AppID)
		}
		if a.MailboxID != b.MailboxID {
			return strings.Compare(a.MailboxID, b.MailboxID)
		}
		return int(a.Seq - b.Seq)
	})
	for _, r := range msgs {
		a := getApp(r.AppID)
		mb := a.mailboxes[r.MailboxID]
		if mb == nil {
			mb = m.addMailbox(a, r.MailboxID, false, r.ServerRX)
		}
		mb.msgs = append(mb.msgs, r)
		mb.bytes += int64(len(r.Body) + len(r.Phase))
		mb.lastRX = max(mb.lastRX, r.ServerRX)
		mb.updated = max(mb.updated, r.ServerRX)
		mb.nextSeq = max(mb.nextSeq, r.Seq+1)
		m.stats.messages++
	}
	return nil
}

// ---- queries ----

// Stats is a snapshot of the machine's counters.
type Stats struct {
	Connections   int               // live connections
	Nameplates    int               // allocated/claimed nameplates
	Mailboxes     int               // open mailboxes
	Messages      int               // messages stored now
	MessagesTotal uint64            // messages added since start
	Sessions      map[string]uint64 // finished mailboxes by result (happy, lonely, errory, scary, pruney, quiet, closed)
	Errors        map[string]uint64 // error messages sent, by kind
}

// Stats returns the current counters (maps are copies).
func (m *Machine) Stats() Stats {
	s := Stats{
		Connections: len(m.conns), Nameplates: m.stats.nameplates, Mailboxes: m.stats.mailboxes,
		Messages: m.stats.messages, MessagesTotal: m.stats.messagesTotal,
		Sessions: make(map[string]uint64, len(m.stats.sessions)),
		Errors:   make(map[string]uint64, len(m.stats.errors)),
	}
	for k, v := range m.stats.sessions {
		s.Sessions[k] = v
	}
	for k, v := range m.stats.errors {
		s.Errors[k] = v
	}
	return s
}

// MailboxInfo describes one mailbox for the admin API.
type MailboxInfo struct {
	AppID     string    `json:"appid"`
	ID        string    `json:"id"`
	Nameplate string    `json:"nameplate,omitempty"`
	Sides     []string  `json:"sides"`
	Messages  int       `json:"messages"`
	Listeners int       `json:"listeners"`
	Updated   time.Time `json:"updated"`
}

// ListMailboxes lists every mailbox, sorted by app id and mailbox id.
func (m *Machine) ListMailboxes() []MailboxInfo {
	var out []MailboxInfo
	for _, a := range m.apps {
		for _, mb := range a.mailboxes {
			info := MailboxInfo{AppID: a.id, ID: mb.id, Messages: len(mb.msgs),
				Listeners: len(mb.listeners), Updated: time.UnixMicro(mb.updated).UTC(),
				Sides: make([]string, 0, len(mb.sides))}
			if len(mb.nameplates) > 0 {
				info.Nameplate = mb.nameplates[0]
			}
			for _, s := range mb.sides {
				info.Sides = append(info.Sides, s.Side)
			}
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(x, y MailboxInfo) int {
		if x.AppID != y.AppID {
			return strings.Compare(x.AppID, y.AppID)
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// HasMailbox reports whether a mailbox with this id exists in any app.
func (m *Machine) HasMailbox(id string) bool {
	for _, a := range m.apps {
		if a.mailboxes[id] != nil {
			return true
		}
	}
	return false
}
