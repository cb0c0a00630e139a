package mailbox

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/wasmhole/wasmhole/relay/store"
)

// Defaults of Config.
const (
	DefaultExpiry          = 11 * time.Minute
	DefaultPruneInterval   = 5 * time.Minute
	DefaultMaxMailboxBytes = 16 << 20
	// DefaultMaxMailboxMessages caps the messages of one mailbox: a
	// wormhole session adds a handful, a long dilation session a few
	// hundred.
	DefaultMaxMailboxMessages = 1000
	// DefaultMaxClientBytes caps what one client address may have stored
	// at once, over all mailboxes (two full mailboxes).
	DefaultMaxClientBytes = 32 << 20
	// DefaultMaxTotalBytes caps what the whole server stores at once.
	DefaultMaxTotalBytes = 512 << 20
	// DefaultMaxListenersPerSide caps the connections that have one side
	// of a mailbox open at once: one, plus a few a reconnecting client may
	// leave behind before the server notices they are gone.
	DefaultMaxListenersPerSide = 4
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
	// zero bits (submit-permissions, docs/protocol.md §1.4) before bind.
	HashcashBits int
	// Expiry is how long a mailbox may go untouched before the pruner
	// deletes it (default 11 min); PruneInterval is how often the pruner
	// runs (default 5 min).
	Expiry, PruneInterval time.Duration
	// The machine keeps every stored message in memory, so what clients
	// may store is capped. A message costs MessageCost bytes: its body,
	// phase, id and side, plus a fixed overhead. For each cap, zero means
	// the default and a negative value means unlimited.
	//
	// MaxMailboxBytes caps one mailbox (default 16 MiB),
	// MaxMailboxMessages its message count (default 1000), MaxClientBytes
	// the messages added by one client address (Connected.Client) and
	// still stored (default 32 MiB), MaxTotalBytes everything stored
	// (default 512 MiB). An add over a cap gets an error; the connection
	// stays usable.
	MaxMailboxBytes    int64
	MaxMailboxMessages int
	MaxClientBytes     int64
	MaxTotalBytes      int64
	// MaxListenersPerSide caps the connections that may have one side of
	// a mailbox open at once (default 4): each holds a replay of the
	// mailbox while it is written.
	MaxListenersPerSide int
	// StreamReplays makes open answer with one Replay action instead of a
	// Send per stored message, for drivers that encode frames as they
	// write them (see Replay).
	StreamReplays bool
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
	// clientBytes is what each client address has stored now (see
	// Config.MaxClientBytes).
	clientBytes map[string]int64
}

type counters struct {
	nameplates    int
	mailboxes     int
	messages      int   // stored now
	bytes         int64 // their MessageCost, summed
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
	bytes        int64            // MessageCost of msgs, summed
	charges      map[string]int64 // bytes of msgs by the client that added them
	lastRX       int64
	nextSeq      int64
	listeners    []*conn
	nameplates   []string // names of nameplates pointing here
	persisted    uint64   // as nameplate.persisted: row and messages
}

type conn struct {
	id        ConnID
	resource  string // hashcash resource offered in this connection's welcome
	client    string // Connected.Client
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
	cfg.MaxMailboxMessages = int(orDefault(int64(cfg.MaxMailboxMessages), DefaultMaxMailboxMessages))
	cfg.MaxClientBytes = orDefault(cfg.MaxClientBytes, DefaultMaxClientBytes)
	cfg.MaxTotalBytes = orDefault(cfg.MaxTotalBytes, DefaultMaxTotalBytes)
	cfg.MaxListenersPerSide = int(orDefault(int64(cfg.MaxListenersPerSide), DefaultMaxListenersPerSide))
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	m := &Machine{
		cfg:         cfg,
		apps:        make(map[string]*app),
		conns:       make(map[ConnID]*conn),
		clientBytes: make(map[string]int64),
		stats:       counters{sessions: make(map[string]uint64), errors: make(map[string]uint64)},
	}
	m.buildWelcome()
	return m
}

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
		m.connected(&o, e.Conn, e.Client)
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
