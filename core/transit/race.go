package transit

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// Dial kinds.
const (
	KindTCP = "tcp" // Dial.Addr is host:port
	KindWS  = "ws"  // Dial.URL is a ws:// or wss:// URL
)

// Defaults of RaceConfig (Python: RELAY_DELAY, TIMEOUT and 2*TIMEOUT).
const (
	DefaultRelayDelay  = 2 * time.Second
	DefaultConnTimeout = 60 * time.Second
	DefaultTimeout     = 120 * time.Second
)

// TimerTimeout is the name of the timer that ends the whole race.
const TimerTimeout = "timeout"

// HoldDelay is how long a receiver holds its handshake on a relayed
// connection waiting for the sender's (see Race). Every known sender
// writes first, so the timer only matters for one that waits for us.
const HoldDelay = 100 * time.Millisecond

var (
	// ErrNoConnection: every connection attempt failed.
	ErrNoConnection = errors.New("transit: could not connect to the peer")
	// ErrTimeout: no connection won within RaceConfig.Timeout.
	ErrTimeout = errors.New("transit: timed out connecting to the peer")
	// ErrBadHandshake is recorded for a connection whose peer sent bytes
	// other than the expected handshake, "go\n" or the relay's "ok\n".
	ErrBadHandshake = errors.New("transit: bad handshake")
	// ErrConfig: the RaceConfig cannot work (no key, bad side).
	ErrConfig = errors.New("transit: bad race configuration")
)

var (
	relayOK   = []byte("ok\n")
	goLine    = []byte("go\n")
	nevermind = []byte("nevermind\n")
)

// RaceConfig configures a connection race.
type RaceConfig struct {
	Sender     bool   // file sender = transit leader, picks the winner
	TransitKey []byte // 32 bytes from the wormhole key
	Side       string // relay side, from NewSide
	Peer       Hints  // the peer's hints, from its transit message
	OwnRelays  []RelayHint
	// RelayOnly skips the peer's direct hints and dials relays at once.
	RelayOnly bool
	// AllowTCP and AllowWebSocket say which endpoints the driver can dial:
	// both natively, only WebSocket in a browser.
	AllowTCP, AllowWebSocket bool
	// Listening says inbound connections (Accepted events) may still come,
	// so running out of outbound attempts is not yet a failure.
	Listening bool
	// RelayDelay is how long relays wait behind viable direct hints, and
	// the step between relay priority tiers. 0 means DefaultRelayDelay; a
	// negative value dials relays together with the direct hints.
	RelayDelay time.Duration
	// ConnTimeout bounds each connection from dial (or accept) to the end
	// of its handshake; 0 means DefaultConnTimeout.
	ConnTimeout time.Duration
	// Timeout bounds the whole race; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Event is something the driver tells the Race.
type Event interface{ raceEvent() }

// Start begins the race: the first event.
type Start struct{}

// Connected: the outbound connection of a Dial action is up.
type Connected struct{ ID int }

// Accepted: an inbound connection arrived. The driver picks its ID, unique
// for the whole race; negative numbers never collide with Dial IDs. From
// (optional) is the remote address, for Won.Desc.
type Accepted struct {
	ID   int
	From string
}

// Data: bytes read from a connection. The Race does not keep Bytes after
// Handle returns, so the driver may reuse the buffer.
type Data struct {
	ID    int
	Bytes []byte
}

// Closed: a dial failed or a connection ended (Err may be nil for EOF).
type Closed struct {
	ID  int
	Err error
}

// TimerFired: a SetTimer ran out.
type TimerFired struct{ Name string }

func (Start) raceEvent()      {}
func (Connected) raceEvent()  {}
func (Accepted) raceEvent()   {}
func (Data) raceEvent()       {}
func (Closed) raceEvent()     {}
func (TimerFired) raceEvent() {}

// Action is something the driver must do, in the order returned.
type Action interface{ raceAction() }

// Dial opens an outbound connection; answer with Connected or Closed.
type Dial struct {
	ID    int
	Kind  string // KindTCP or KindWS
	Addr  string // host:port for KindTCP
	URL   string // for KindWS
	Relay bool
}

// Write sends Bytes on a connection. On a message-based transport
// (WebSocket) each Write must be one message: the relay wants the relay
// line as a message of its own.
type Write struct {
	ID    int
	Bytes []byte
}

// CloseConn closes a connection, or abandons a dial still in progress.
// The driver need not report Closed for it (the Race ignores it).
type CloseConn struct{ ID int }

// SetTimer asks for TimerFired{Name} after After. Timers are never
// cancelled; the Race ignores the ones it no longer cares about.
type SetTimer struct {
	Name  string
	After time.Duration
}

// Won ends the race: connection ID is the record pipe. Leftover holds bytes
// already read past the handshake (and past "go\n" on the receiver); they
// are the start of the record stream. Won is only ever returned while
// handling Data for that same ID, so a driver that waits with the next
// read until Handle returns has not read any further.
type Won struct {
	ID       int
	Leftover []byte
	Relay    bool
	Desc     string // e.g. "relay tcp:transit.example:4001"
}

// Failed ends the race without a connection.
type Failed struct{ Err error }

func (Dial) raceAction()      {}
func (Write) raceAction()     {}
func (CloseConn) raceAction() {}
func (SetTimer) raceAction()  {}
func (Won) raceAction()       {}
func (Failed) raceAction()    {}

type connState int

const (
	stDialing   connState = iota
	stRelay               // relay line sent, waiting for "ok\n"
	stHandshake           // own handshake sent, reading the peer's
	stGo                  // receiver: waiting for the sender's "go\n"
)

type endpoint struct {
	kind, addr, url string
	relay           bool
}

func (e endpoint) desc() string {
	s := "direct "
	if e.relay {
		s = "relay "
	}
	if e.kind == KindWS {
		return s + e.url
	}
	return s + "tcp:" + e.addr
}

type raceConn struct {
	desc    string
	relay   bool
	state   connState
	matched int  // bytes of the current expectation received so far
	held    bool // receiver on a relay: own handshake not written yet
}

// Race is the transit connection race as a pure state machine (Python
// transit.py Common._connect and Connection): it decides what to dial and
// when, what to write on each connection, which connection wins; the
// driver does the IO and the clock. Handle must not be called
// concurrently.
//
// Every connection, outbound or inbound, direct or relayed, runs the same
// little protocol: on a relay, send the relay line and wait for exactly
// "ok\n" (writing anything earlier makes the relay hang up with
// "impatient\n"); then write our handshake and compare the peer's byte by
// byte. The sender takes the first connection whose handshake completes,
// writes "go\n" on it and "nevermind\n" on the others; the receiver waits
// for "go\n" after the sender's handshake.
//
// One deliberate difference from Python: on a relayed connection the
// receiver writes its handshake only once the sender's has arrived (or
// after HoldDelay). wormhole-william 1.0.6, the sender Debian ships, has a
// race in which it closes its own relay connection when the receiver's
// handshake is already waiting in its socket as it reads the relay's "ok"
// (docs/protocol.md, 4.2). Answering instead of speaking first keeps that
// from happening, at the cost of one more pass through the relay.
type Race struct {
	cfg       RaceConfig
	own, peer []byte
	relayLine []byte
	conns     map[int]*raceConn
	seen      map[int]bool // every ID ever used
	nextID    int
	direct    []endpoint
	tiers     [][]endpoint // relay endpoints by descending priority
	dialled   int          // tiers dialled so far (always in order)
	started   bool
	finished  bool
	failures  []string
}

// NewRace returns a race waiting for Start.
func NewRace(cfg RaceConfig) *Race {
	if cfg.RelayDelay == 0 {
		cfg.RelayDelay = DefaultRelayDelay
	} else if cfg.RelayDelay < 0 {
		cfg.RelayDelay = 0
	}
	if cfg.ConnTimeout <= 0 {
		cfg.ConnTimeout = DefaultConnTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Race{cfg: cfg, conns: map[int]*raceConn{}, seen: map[int]bool{}, nextID: 1}
}

// Handle feeds one event and returns the actions to perform, in order.
func (r *Race) Handle(ev Event) []Action {
	if r.finished {
		switch ev := ev.(type) {
		case Connected:
			return []Action{CloseConn{ev.ID}}
		case Accepted:
			return []Action{CloseConn{ev.ID}}
		}
		return nil
	}
	switch ev := ev.(type) {
	case Start:
		return r.start()
	case Connected:
		c := r.conns[ev.ID]
		if c == nil || c.state != stDialing {
			if r.seen[ev.ID] && c == nil {
				return []Action{CloseConn{ev.ID}} // abandoned dial came through
			}
			return nil
		}
		if c.relay {
			c.state = stRelay
			return []Action{Write{ev.ID, r.relayLine}}
		}
		c.state = stHandshake
		return []Action{Write{ev.ID, r.own}}
	case Accepted:
		if r.seen[ev.ID] {
			return nil
		}
		if !r.started {
			return []Action{CloseConn{ev.ID}}
		}
		r.seen[ev.ID] = true
		r.nextID = max(r.nextID, ev.ID+1)
		desc := "inbound"
		if ev.From != "" {
			desc += " from " + ev.From
		}
		r.conns[ev.ID] = &raceConn{desc: desc, state: stHandshake}
		return []Action{Write{ev.ID, r.own}, SetTimer{connTimer(ev.ID), r.cfg.ConnTimeout}}
	case Data:
		c := r.conns[ev.ID]
		if c == nil || c.state == stDialing {
			return nil
		}
		return r.feed(ev.ID, c, ev.Bytes)
	case Closed:
		c := r.conns[ev.ID]
		if c == nil {
			return nil
		}
		reason := "connection closed"
		if ev.Err != nil {
			reason = ev.Err.Error()
		}
		return r.lose(ev.ID, c, reason, false)
	case TimerFired:
		return r.timer(ev.Name)
	}
	return nil
}

func (r *Race) start() []Action {
	if r.started {
		return nil
	}
	r.started = true
	if len(r.cfg.TransitKey) == 0 {
		return r.fail(errs.With(ErrConfig, "no transit key"))
	}
	r.own, r.peer = ReceiverHandshake(r.cfg.TransitKey), SenderHandshake(r.cfg.TransitKey)
	if r.cfg.Sender {
		r.own, r.peer = r.peer, r.own
	}
	r.relayLine = RelayLine(r.cfg.TransitKey, r.cfg.Side)

	if !r.cfg.RelayOnly && r.cfg.AllowTCP {
		for _, d := range (Hints{Direct: r.cfg.Peer.Direct}).normalize().Direct {
			r.direct = append(r.direct, endpoint{kind: KindTCP, addr: d.Addr()})
		}
	}
	byPrio := map[float64][]endpoint{}
	relays := (Hints{Relays: append(slices.Clone(r.cfg.OwnRelays), r.cfg.Peer.Relays...)}).normalize().Relays
	for _, rh := range relays {
		if r.cfg.AllowTCP {
			for _, d := range rh.TCP {
				byPrio[d.Priority] = append(byPrio[d.Priority], endpoint{kind: KindTCP, addr: d.Addr(), relay: true})
			}
		}
		if r.cfg.AllowWebSocket {
			for _, w := range rh.WebSocket {
				byPrio[w.Priority] = append(byPrio[w.Priority], endpoint{kind: KindWS, url: w.URL, relay: true})
			}
		}
	}
	prios := make([]float64, 0, len(byPrio))
	for p := range byPrio {
		prios = append(prios, p)
	}
	slices.Sort(prios)
	slices.Reverse(prios)
	for _, p := range prios {
		r.tiers = append(r.tiers, byPrio[p])
	}
	if len(r.tiers) > 0 && !validSide(r.cfg.Side) {
		return r.fail(errs.With(ErrConfig, "relay side "+strconv.Quote(r.cfg.Side)+" is not "+strconv.Itoa(SideLen)+" word characters"))
	}
	if len(r.direct) == 0 && len(r.tiers) == 0 && !r.cfg.Listening {
		return r.fail(errs.With(ErrNoConnection, "no usable hints"))
	}

	acts := []Action{SetTimer{TimerTimeout, r.cfg.Timeout}}
	for _, e := range r.direct {
		acts = r.dial(acts, e)
	}
	// Relays wait behind viable direct hints (Python: many direct hints
	// are dead LAN addresses that take a full TCP timeout to fail), then
	// each lower priority tier waits one more delay.
	var at time.Duration
	if len(r.direct) > 0 {
		at = r.cfg.RelayDelay
	}
	for k := range r.tiers {
		if at == 0 {
			acts = r.dialTier(acts)
		} else {
			acts = append(acts, SetTimer{relayTimer(k), at})
		}
		at += r.cfg.RelayDelay
	}
	return acts
}

func relayTimer(k int) string { return "relay/" + strconv.Itoa(k) }
func connTimer(id int) string { return "conn/" + strconv.Itoa(id) }
func holdTimer(id int) string { return "hold/" + strconv.Itoa(id) }
func (r *Race) expect(s connState) []byte {
	switch s {
	case stRelay:
		return relayOK
	case stHandshake:
		return r.peer
	}
	return goLine
}

func (r *Race) dial(acts []Action, e endpoint) []Action {
	id := r.nextID
	r.nextID++
	r.seen[id] = true
	r.conns[id] = &raceConn{desc: e.desc(), relay: e.relay, state: stDialing}
	return append(acts,
		Dial{ID: id, Kind: e.kind, Addr: e.addr, URL: e.url, Relay: e.relay},
		SetTimer{connTimer(id), r.cfg.ConnTimeout})
}

// dialTier dials the next relay tier, if any is left.
func (r *Race) dialTier(acts []Action) []Action {
	if r.dialled >= len(r.tiers) {
		return acts
	}
	for _, e := range r.tiers[r.dialled] {
		acts = r.dial(acts, e)
	}
	r.dialled++
	return acts
}

func (r *Race) timer(name string) []Action {
	if name == TimerTimeout {
		return r.fail(r.summary(ErrTimeout))
	}
	kind, arg, _ := strings.Cut(name, "/")
	n, err := strconv.Atoi(arg)
	if err != nil {
		return nil
	}
	switch kind {
	case "relay":
		var acts []Action
		for r.dialled <= n && r.dialled < len(r.tiers) {
			acts = r.dialTier(acts)
		}
		return acts
	case "conn":
		if c := r.conns[n]; c != nil {
			return r.lose(n, c, "timed out", true)
		}
	case "hold":
		if c := r.conns[n]; c != nil {
			return r.release(n, c)
		}
	}
	return nil
}

// release writes a receiver's held handshake, if it still holds it.
func (r *Race) release(id int, c *raceConn) []Action {
	if !c.held {
		return nil
	}
	c.held = false
	return []Action{Write{id, r.own}}
}

// feed runs a connection's bytes through its expectations.
func (r *Race) feed(id int, c *raceConn, data []byte) []Action {
	var acts []Action
	for len(data) > 0 {
		exp := r.expect(c.state)[c.matched:]
		k := min(len(exp), len(data))
		if !bytes.Equal(data[:k], exp[:k]) {
			got := data[:min(len(data), 64)]
			what := ErrBadHandshake.Error() + ": got " + strconv.Quote(string(got))
			switch {
			case c.state == stRelay:
				what = ErrBadHandshake.Error() + ": relay said " + strconv.Quote(string(got))
			case c.state == stGo && bytes.HasPrefix(nevermind, data[:k]):
				what = "sender chose another connection"
			}
			return append(acts, r.lose(id, c, what, true)...)
		}
		c.matched += k
		data = data[k:]
		if k < len(exp) {
			return acts
		}
		c.matched = 0
		switch c.state {
		case stRelay:
			c.state = stHandshake
			if r.cfg.Sender {
				acts = append(acts, Write{id, r.own})
			} else {
				c.held = true
				acts = append(acts, SetTimer{holdTimer(id), HoldDelay})
			}
		case stHandshake:
			if r.cfg.Sender {
				return append(acts, r.win(id, c, data)...)
			}
			acts = append(acts, r.release(id, c)...)
			c.state = stGo
		case stGo:
			return append(acts, r.win(id, c, data)...)
		}
	}
	return acts
}

func (r *Race) win(id int, c *raceConn, leftover []byte) []Action {
	var acts []Action
	if r.cfg.Sender {
		acts = append(acts, Write{id, goLine})
	}
	delete(r.conns, id)
	for _, other := range r.sortedIDs() {
		if r.cfg.Sender && r.conns[other].state >= stHandshake {
			acts = append(acts, Write{other, nevermind})
		}
		acts = append(acts, CloseConn{other})
		delete(r.conns, other)
	}
	r.finished = true
	return append(acts, Won{ID: id, Leftover: bytes.Clone(leftover), Relay: c.relay, Desc: c.desc})
}

// lose drops a connection; if nothing is left in flight it dials the next
// relay tier right away instead of waiting for its timer (fast failover,
// which Python lacks), or fails when there is nothing left to try.
func (r *Race) lose(id int, c *raceConn, reason string, closeIt bool) []Action {
	var acts []Action
	if closeIt {
		acts = append(acts, CloseConn{id})
	}
	delete(r.conns, id)
	if len(r.failures) < 8 {
		r.failures = append(r.failures, c.desc+": "+reason)
	}
	if len(r.conns) > 0 {
		return acts
	}
	if r.dialled < len(r.tiers) {
		return r.dialTier(acts)
	}
	if r.cfg.Listening {
		return acts // an inbound connection may still come, until the timeout
	}
	return append(acts, r.fail(r.summary(ErrNoConnection))...)
}

func (r *Race) fail(err error) []Action {
	var acts []Action
	for _, id := range r.sortedIDs() {
		acts = append(acts, CloseConn{id})
	}
	clear(r.conns)
	r.finished = true
	return append(acts, Failed{err})
}

func (r *Race) summary(err error) error {
	if len(r.failures) == 0 {
		return err
	}
	return errs.Suffix(err, " ("+strings.Join(r.failures, "; ")+")")
}

func (r *Race) sortedIDs() []int {
	ids := make([]int, 0, len(r.conns))
	for id := range r.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
