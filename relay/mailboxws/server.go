package mailboxws

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhole/wasmhole/relay/clientip"
	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/store"
)

// Defaults for Options.
const (
	DefaultMaxMessageSize = 1 << 20
	DefaultPerIPConns     = 250
	DefaultPerIPRate      = 20
	DefaultPerIPBurst     = 100
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultWriteTimeout   = 30 * time.Second
)

// Sentinel errors.
var (
	// ErrNoMailbox: CloseMailbox found no mailbox with that id.
	ErrNoMailbox = errors.New("mailboxws: no such mailbox")
	// ErrShutdown: the server is shutting down or shut down.
	ErrShutdown = errors.New("mailboxws: server shut down")
	// ErrStoreFailing: a store write failed and the server refuses
	// changes until one succeeds again (see Server.Healthy).
	ErrStoreFailing = errors.New("mailboxws: store failing")
)

// Options configures a Server. The zero value works: in-memory store, no
// metrics, default limits.
type Options struct {
	// MOTD is the welcome message of the day (changeable with SetMOTD).
	MOTD string
	// AdvertiseVersion is sent as welcome "current_cli_version".
	AdvertiseVersion string
	// SignalError is sent as welcome "error": clients refuse to continue.
	SignalError string
	// DisallowList answers "list" with an empty list.
	DisallowList bool
	// Store persists mailbox state; nil means store.NewMemory(). The
	// Server loads it in New and never closes it: close it after
	// Shutdown.
	Store store.Store
	// Logger receives errors (V(0)) and connection events (V(1)).
	Logger logr.Logger
	// Registerer, if set, gets the wasmhole_mailbox_* collectors.
	Registerer prometheus.Registerer
	// MaxMessageSize caps one client frame in bytes (default 1 MiB).
	// A bigger frame is skipped and answered with an error message; one
	// bigger than 8×MaxMessageSize closes the connection (1009).
	MaxMessageSize int64
	// Storage caps (see relay/mailbox.Config: each message costs its
	// body, phase, id and side plus a fixed overhead; 0 means the default,
	// negative unlimited). MaxMailboxBytes caps one mailbox (16 MiB),
	// MaxMailboxMessages its message count (1000), MaxClientBytes what one
	// client address (IPv6 per /64) has stored (32 MiB; loopback is exempt
	// unless LimitLoopback), MaxTotalBytes everything stored (512 MiB).
	// MaxListenersPerSide caps the connections that have one side of a
	// mailbox open at once (4).
	MaxMailboxBytes     int64
	MaxMailboxMessages  int
	MaxClientBytes      int64
	MaxTotalBytes       int64
	MaxListenersPerSide int
	// PerIPConns caps concurrent connections per client address
	// (default 250; negative: unlimited). PerIPRate and PerIPBurst are a
	// token bucket for new connections per address (defaults 20/s, burst
	// 100; negative rate: unlimited). A refused client gets a welcome
	// with an "error" explaining why, then a 1008 close.
	PerIPConns int
	PerIPRate  float64
	PerIPBurst int
	// LimitLoopback applies the per-IP limits to loopback clients too;
	// by default they are exempt, so local benchmarks and a reverse proxy
	// on the same host are not throttled. An address a proxy reported in
	// a header is never exempt.
	LimitLoopback bool
	// ClientIP finds the client address behind a request: the TCP peer,
	// or a trusted proxy's header (see relay/clientip). The zero value
	// uses the TCP peer.
	ClientIP clientip.Resolver
	// IdleTimeout closes a connection that sent no frame (message, ping
	// or pong) for this long (default 10 min; negative: never). The
	// server pings connections quiet for half of it, so live clients,
	// browsers included, are never cut.
	IdleTimeout time.Duration
	// WriteTimeout bounds one frame write (default 30 s).
	WriteTimeout time.Duration
	// Expiry and PruneInterval: see relay/mailbox (defaults 11 and 5 min).
	Expiry, PruneInterval time.Duration
	// Hashcash > 0 requires a hashcash stamp of that many bits before
	// bind (docs/protocol.md §1.4). Python CLIs cannot do this: keep it off
	// unless under attack.
	Hashcash int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server serves the mailbox protocol over WebSockets. See the package doc.
type Server struct {
	opts    Options
	log     logr.Logger
	store   store.Store
	now     func() time.Time
	metrics *metrics

	mu       sync.Mutex // guards m and everything below
	m        *mailbox.Machine
	conns    map[mailbox.ConnID]*wsConn
	nextID   mailbox.ConnID
	ips      map[string]*ipState
	pendOps  []store.Op
	pendOut  []delivery
	enqSeq   uint64 // batches handed to the flusher
	doneSeq  uint64 // batches committed and delivered
	doneCond *sync.Cond
	shutting bool
	started  bool
	// opsQueued counts the Persist actions queued so far; opsDurable
	// how many of them are durable (in the store and, with a Pipelined
	// store, synced). They are the machine's Send.After counts.
	opsQueued, opsDurable uint64
	// failing is the store error the server failed closed on, nil while
	// the store is healthy (see failClosed). opsBase is opsQueued when the
	// current machine was made: its Send.After counts start there.
	failing  error
	opsBase  uint64
	mcfg     mailbox.Config // the machine's config, to rebuild it
	timerReq chan time.Duration

	// pipe is the store's Pipelined side (nil if it has none); then the
	// flusher only commits and hands each batch to the syncer on syncq,
	// which flushes and delivers.
	pipe  store.Pipelined
	syncq chan *batch
	// slot admits one committed batch until the syncer has flushed it:
	// while a flush runs, events pile up for the next commit, so one
	// commit and one flush cover all of them.
	slot chan struct{}

	jobs        chan job
	kick        chan struct{}
	flusherDone chan struct{}
	stop        chan struct{}
	stopOnce    sync.Once
	readers     sync.WaitGroup
	pings       chan struct{} // bounds concurrent server pings
}

// delivery is one frame, a replay (frames encoded as they are written) or
// a close for a connection.
type delivery struct {
	c      *wsConn
	data   []byte
	replay *mailbox.Replay
	close  *mailbox.CloseConn
}

// New loads opts.Store into a fresh mailbox machine and starts the store
// writer. Call Run to get pruning and keepalive pings.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		opts.Store = store.NewMemory()
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.PerIPConns == 0 {
		opts.PerIPConns = DefaultPerIPConns
	}
	if opts.PerIPRate == 0 {
		opts.PerIPRate = DefaultPerIPRate
	}
	if opts.PerIPBurst <= 0 {
		opts.PerIPBurst = DefaultPerIPBurst
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	mcfg := mailbox.Config{
		MOTD: opts.MOTD, AdvertiseVersion: opts.AdvertiseVersion, SignalError: opts.SignalError,
		DisallowList: opts.DisallowList, HashcashBits: opts.Hashcash,
		Expiry: opts.Expiry, PruneInterval: opts.PruneInterval,
		MaxMailboxBytes: opts.MaxMailboxBytes, MaxMailboxMessages: opts.MaxMailboxMessages,
		MaxClientBytes: opts.MaxClientBytes, MaxTotalBytes: opts.MaxTotalBytes,
		MaxListenersPerSide: opts.MaxListenersPerSide,
		// Replays are encoded as they are written (wsConn.writeLoop).
		StreamReplays: true,
	}
	m := mailbox.New(mcfg)
	snap, err := opts.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("mailboxws: load store: %w", err)
	}
	if err := m.Restore(snap); err != nil {
		return nil, fmt.Errorf("mailboxws: restore: %w", err)
	}
	s := &Server{
		opts: opts, log: opts.Logger, store: opts.Store, now: opts.Now, m: m, mcfg: mcfg,
		conns:       make(map[mailbox.ConnID]*wsConn),
		ips:         make(map[string]*ipState),
		timerReq:    make(chan time.Duration, 1),
		kick:        make(chan struct{}, 1),
		jobs:        make(chan job),
		flusherDone: make(chan struct{}),
		stop:        make(chan struct{}),
		pings:       make(chan struct{}, 256),
	}
	s.doneCond = sync.NewCond(&s.mu)
	if p, ok := opts.Store.(store.Pipelined); ok {
		s.pipe = p
		s.syncq = make(chan *batch, 1)
		s.slot = make(chan struct{}, 1)
		go s.syncer()
	}
	if opts.Registerer != nil {
		s.metrics = newMetrics(s)
		if err := s.metrics.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("mailboxws: register metrics: %w", err)
		}
	}
	st := m.Stats()
	s.log.Info("mailbox server ready", "nameplates", st.Nameplates, "mailboxes", st.Mailboxes, "messages", st.Messages)
	go s.flusher()
	for range max(2, runtime.GOMAXPROCS(0)) {
		go s.worker()
	}
	return s, nil
}
