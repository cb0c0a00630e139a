package mailboxws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
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
	// MaxMailboxBytes caps the bodies stored in one mailbox (default
	// 16 MiB; negative: unlimited).
	MaxMailboxBytes int64
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
	// bind (protocol.md §1.4). Python CLIs cannot do this: keep it off
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
	// storeFailed is set after a failed commit or sync: the machine then
	// holds state the store lost, so no frame overtakes a batch any more.
	storeFailed bool
	timerReq    chan time.Duration

	// pipe is the store's Pipelined side (nil if it has none); then the
	// flusher only commits and hands each batch to the syncer on syncq,
	// which flushes and delivers.
	pipe  store.Pipelined
	syncq chan *batch
	// slot admits one committed batch waiting for the syncer: while a
	// flush runs, the flusher commits at most one batch and lets the
	// rest pile up for the next one, so commits stay as few as flushes.
	slot chan struct{}

	jobs        chan job
	kick        chan struct{}
	flusherDone chan struct{}
	stop        chan struct{}
	stopOnce    sync.Once
	readers     sync.WaitGroup
	pings       chan struct{} // bounds concurrent server pings
}

type delivery struct {
	c     *wsConn
	data  []byte
	close *mailbox.CloseConn
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
	m := mailbox.New(mailbox.Config{
		MOTD: opts.MOTD, AdvertiseVersion: opts.AdvertiseVersion, SignalError: opts.SignalError,
		DisallowList: opts.DisallowList, HashcashBits: opts.Hashcash,
		Expiry: opts.Expiry, PruneInterval: opts.PruneInterval, MaxMailboxBytes: opts.MaxMailboxBytes,
	})
	snap, err := opts.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("mailboxws: load store: %w", err)
	}
	if err := m.Restore(snap); err != nil {
		return nil, fmt.Errorf("mailboxws: restore: %w", err)
	}
	s := &Server{
		opts: opts, log: opts.Logger, store: opts.Store, now: opts.Now, m: m,
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

// ---- event plumbing ----

// handleLocked feeds one event and queues its actions. s.mu must be held.
// self is the connection whose goroutine calls (or nil); when handleLocked
// returns true, that goroutine must run self.writeLoop() after unlocking:
// its frames are written inline instead of on a new goroutine.
//
// A frame goes straight to its connection when its event stores nothing,
// the ops it depends on (Send.After) are durable and no earlier frame for
// that connection is still waiting: welcomes, acks, pongs, and a claim
// whose allocate is already on disk do not wait for the flush of other
// clients' changes. Everything else waits in pendOut for the batch.
func (s *Server) handleLocked(ev mailbox.Event, self *wsConn) (drain bool) {
	return s.handleLockedMore(ev, self, false)
}

// handleLockedMore is handleLocked for a command after which the client's
// next one has already arrived (more): the client is not waiting for
// these frames, so they ride with the next batch's write instead of
// taking a write of their own (an "open" whose ack would otherwise go out
// alone just before the "add" behind it).
func (s *Server) handleLockedMore(ev mailbox.Event, self *wsConn, more bool) (drain bool) {
	acts := s.m.Handle(ev)
	// wait: every frame of this event goes through pendOut, because the
	// event stores something (its frames wait for that) or because the
	// client is not waiting for them (more).
	wait := more
	for _, a := range acts {
		if _, ok := a.(mailbox.Persist); ok {
			wait = true
			break
		}
	}
	queued := false
	hold := func(c *wsConn, d delivery) {
		s.pendOut = append(s.pendOut, d)
		c.held++
		queued = true
	}
	for _, a := range acts {
		switch a := a.(type) {
		case mailbox.Send:
			if c := s.conns[a.Conn]; c != nil {
				d := delivery{c: c, data: a.Data}
				if !wait && c.held == 0 && a.After <= s.opsDurable && !s.storeFailed {
					if c.enqueue(d, c == self) {
						drain = true
					}
				} else {
					hold(c, d)
				}
			}
		case mailbox.Persist:
			s.pendOps = append(s.pendOps, a.Op)
			s.opsQueued++
			queued = true
		case mailbox.CloseConn:
			if c := s.conns[a.Conn]; c != nil {
				d := delivery{c: c, close: &a}
				if !wait && c.held == 0 {
					if c.enqueue(d, c == self) {
						drain = true
					}
				} else {
					hold(c, d)
				}
			}
		case mailbox.SetTimer:
			select {
			case <-s.timerReq:
			default:
			}
			s.timerReq <- a.After
		}
	}
	if queued {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return drain
}

func (s *Server) event(ev mailbox.Event) {
	s.mu.Lock()
	s.handleLocked(ev, nil)
	s.mu.Unlock()
}

// batch is what the flusher took in one go: the frames that wait for its
// ops (and for everything queued before them).
type batch struct {
	seq    uint64
	opsEnd uint64 // opsQueued when the batch was taken
	out    []delivery
	// unsynced: its ops are committed but wait for a Sync.
	unsynced bool
	// failed: its ops are not durable; its frames are dropped.
	failed bool
}

// flusher commits queued ops in one store transaction, then hands the
// frames queued with (and before) them to their connections. Events that
// arrive during a commit pile up for the next one: group commit. With a
// Pipelined store the flusher only commits, and the syncer flushes: while
// one batch is being flushed to disk the next is committed, and a flush
// covers every batch committed before it.
func (s *Server) flusher() {
	defer func() {
		if s.syncq != nil {
			close(s.syncq) // the syncer delivers the rest, then closes flusherDone
		} else {
			close(s.flusherDone)
		}
	}()
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			s.flushOnce() // whatever was queued before the stop
			return
		}
		s.flushOnce()
	}
}

func (s *Server) flushOnce() {
	if s.slot != nil {
		s.slot <- struct{}{} // released by the syncer when it takes the batch
	}
	s.mu.Lock()
	ops, out := s.pendOps, s.pendOut
	s.pendOps, s.pendOut = nil, nil
	s.enqSeq++
	b := &batch{seq: s.enqSeq, opsEnd: s.opsQueued, out: out}
	s.mu.Unlock()

	if len(ops) > 0 {
		if err := s.commit(ops); err != nil {
			s.failBatches(err, "store commit failed; closing affected connections", b)
		} else {
			b.unsynced = s.pipe != nil
		}
	}
	if s.syncq != nil {
		// Always through the syncer, even with nothing to flush: frames
		// must not overtake those of an earlier batch still waiting.
		s.syncq <- b
		return
	}
	s.deliver(b)
}

// syncer takes the batches the flusher committed, flushes them to disk with
// one Sync per group, and delivers them in order.
func (s *Server) syncer() {
	defer close(s.flusherDone)
	for b := range s.syncq {
		<-s.slot
		group := []*batch{b}
	more:
		for {
			select {
			case b, ok := <-s.syncq:
				if !ok {
					break more
				}
				<-s.slot
				group = append(group, b)
			default:
				break more
			}
		}
		unsynced := false
		for _, b := range group {
			unsynced = unsynced || b.unsynced
		}
		if unsynced {
			t0 := time.Now()
			err := s.pipe.Sync()
			if s.metrics != nil {
				s.metrics.syncSeconds.Observe(time.Since(t0).Seconds())
			}
			if err != nil {
				// A failed flush cannot be retried with confidence (the
				// kernel may have dropped the dirty pages), so nothing
				// in the group may claim durability.
				if s.metrics != nil {
					s.metrics.storeErrors.Inc()
				}
				s.failBatches(err, "store sync failed; closing affected connections", group...)
			}
		}
		s.deliver(group...)
	}
}

// failBatches cuts the connections that batches had frames for: their
// replies must not claim durability we do not have, and clients reconnect
// and resend (their commands are idempotent).
func (s *Server) failBatches(err error, msg string, bs ...*batch) {
	s.log.Error(err, msg, "batches", len(bs))
	s.mu.Lock()
	s.storeFailed = true
	s.mu.Unlock()
	failed := map[*wsConn]bool{}
	for _, b := range bs {
		b.failed = true
		for _, d := range b.out {
			if !failed[d.c] {
				failed[d.c] = true
				d.c.enqueue(delivery{c: d.c, close: &mailbox.CloseConn{Code: int(websocket.StatusInternalError), Reason: "server storage failure"}}, false)
			}
		}
	}
}

// deliver hands the batches' frames to their connections, in order, and
// marks them done.
func (s *Server) deliver(bs ...*batch) {
	for _, b := range bs {
		if b.failed {
			continue
		}
		for _, d := range b.out {
			d.c.enqueue(d, false)
		}
	}
	s.mu.Lock()
	for _, b := range bs {
		for _, d := range b.out {
			d.c.held--
		}
	}
	last := bs[len(bs)-1]
	s.doneSeq = last.seq
	s.opsDurable = last.opsEnd
	s.doneCond.Broadcast()
	s.mu.Unlock()
}

// commit applies ops (commits them, with a Pipelined store), retrying
// briefly: a busy or momentarily full disk should not cost sessions.
func (s *Server) commit(ops []store.Op) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		t0 := time.Now()
		if s.pipe != nil {
			err = s.pipe.Commit(ops)
		} else {
			err = s.store.Apply(ops)
		}
		if s.metrics != nil {
			s.metrics.commitSeconds.Observe(time.Since(t0).Seconds())
		}
		if err == nil {
			return nil
		}
		if s.metrics != nil {
			s.metrics.storeErrors.Inc()
		}
	}
	return err
}

// flush waits until everything queued so far is committed and delivered
// to the connections' write queues.
func (s *Server) flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.enqSeq + 1
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.doneSeq < target {
			s.doneCond.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- HTTP / WebSocket ----

// ServeHTTP upgrades a request to a mailbox WebSocket. Mount it at /v1.
// Any Origin is accepted: the protocol carries no cookies or credentials,
// and browser clients are served from other origins.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	shutting := s.shutting
	s.mu.Unlock()
	if shutting {
		http.Error(w, "mailbox server is shutting down", http.StatusServiceUnavailable)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot upgrade this connection", http.StatusInternalServerError)
		return
	}
	addr := s.opts.ClientIP.Client(r)
	ip := addr.String()
	sw := &smallBufHijacker{ResponseWriter: w, h: hj}
	c := &wsConn{s: s, ip: ip, done: make(chan bool, 1)}
	ws, err := websocket.Accept(sw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
		OnPingReceived:     func(context.Context, []byte) bool { c.active(); return true },
		OnPongReceived:     func(context.Context, []byte) { c.active() },
	})
	if err != nil {
		s.log.V(1).Info("websocket accept failed", "ip", ip, "err", err.Error())
		return
	}
	c.ws, c.nc, c.cork, c.br = ws, sw.nc, sw.cork, sw.br
	ws.SetReadLimit(8 * s.opts.MaxMessageSize)

	s.mu.Lock()
	c.exempt = !s.opts.LimitLoopback && addr.LoopbackExempt()
	reason := s.admitLocked(ip, c.exempt)
	if reason == "" && s.shutting {
		reason = "server is shutting down"
	}
	if reason != "" {
		s.mu.Unlock()
		if s.metrics != nil {
			s.metrics.rejected.WithLabelValues(reasonLabel(reason)).Inc()
		}
		s.log.V(1).Info("connection refused", "ip", ip, "reason", reason)
		c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if ws.Write(context.Background(), websocket.MessageText, mailbox.EncodeRefusal(reason, s.now())) == nil {
			ws.Close(websocket.StatusPolicyViolation, "refused")
		}
		ws.CloseNow()
		return
	}
	s.nextID++
	c.id = s.nextID
	s.conns[c.id] = c
	s.readers.Add(1)
	c.active()
	drain := s.handleLocked(mailbox.Connected{Conn: c.id, Now: s.now()}, c)
	s.mu.Unlock()
	if drain {
		c.writeLoop() // the welcome
	}
	// Read on a fresh goroutine and let this one (with net/http's request
	// state and its grown stack) finish: an idle connection then costs
	// one small goroutine.
	go s.readLoop(c)
}

// readBufPool recycles message buffers between frames. Commands do not
// keep the buffer: everything the machine stores is copied out of it.
var readBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *Server) readLoop(c *wsConn) {
	defer s.readers.Done()
	defer func() {
		c.markClosed()
		c.ws.CloseNow()
		s.mu.Lock()
		delete(s.conns, c.id)
		if !c.exempt {
			s.releaseIPLocked(c.ip)
		}
		s.handleLocked(mailbox.Disconnected{Conn: c.id, Now: s.now()}, nil)
		s.mu.Unlock()
	}()
	limit := s.opts.MaxMessageSize
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			if s.deadlineHit(c, err) {
				continue
			}
			s.log.V(1).Info("connection ended", "conn", uint64(c.id), "ip", c.ip, "err", err.Error())
			return
		}
		c.active()
		buf := readBufPool.Get().(*bytes.Buffer)
		buf.Reset()
		n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
		if err == nil && n > limit {
			// Too big: skip the rest and say so, keeping the
			// connection (the ws read limit bounds the skipping).
			var rest int64
			rest, err = io.Copy(io.Discard, r)
			if err == nil {
				s.event(mailbox.TooLarge{Conn: c.id, Now: s.now(), Size: n + rest, Limit: limit})
			}
			putBuf(buf)
			if err != nil {
				return
			}
			continue
		}
		if err != nil {
			putBuf(buf)
			return
		}
		// Decoding and the machine run on a worker: their deep stacks
		// then never become this goroutine's, which parks for most of
		// its life and should stay small.
		s.jobs <- job{c: c, data: buf.Bytes(), more: c.br.Buffered() > 0}
		drain := <-c.done
		putBuf(buf)
		if drain {
			// Replies that waited for nothing are written by this
			// goroutine; a client that does not read them stalls only
			// its own connection.
			c.writeLoop()
		}
	}
}

// deadlineHit handles a read that failed with the read deadline, which
// means one of: a close was requested (run the handshake here: this is the
// only goroutine that reads, so coder/websocket's close handshake never
// races a read), or the connection was idle too long (close it). A deadline
// that fires between frames leaves the stream intact, so anything else
// (the deadline was moved while the read waited) carries on. It reports
// whether the reader should carry on.
func (s *Server) deadlineHit(c *wsConn, err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if req := c.closeReq.Load(); req != nil {
		c.handshakeClose(websocket.StatusCode(req.Code), req.Reason, 5*time.Second)
		return false
	}
	if idle := s.opts.IdleTimeout; idle > 0 && time.Since(time.Unix(0, c.lastRX.Load())) >= idle {
		s.log.V(1).Info("closing idle connection", "conn", uint64(c.id), "ip", c.ip)
		// The peer is probably gone: do not wait long for its reply.
		c.handshakeClose(websocket.StatusGoingAway, "idle timeout", time.Second)
		return false
	}
	c.armDeadline(time.Now())
	return true
}

// handshakeClose sends a close frame and waits up to wait for the
// client's; called by the reader goroutine only.
func (c *wsConn) handshakeClose(code websocket.StatusCode, reason string, wait time.Duration) {
	c.nc.SetReadDeadline(time.Now().Add(wait))
	c.nc.SetWriteDeadline(time.Now().Add(wait))
	c.ws.Close(code, reason)
}

// job is one frame for a worker; the worker answers on c.done whether the
// reader must drain c's write queue.
type job struct {
	c    *wsConn
	data []byte
	more bool // the next frame has (partly) arrived already
}

func (s *Server) worker() {
	for {
		select {
		case j := <-s.jobs:
			cmd := mailbox.DecodeCommand(j.data)
			s.mu.Lock()
			drain := s.handleLockedMore(mailbox.Received{Conn: j.c.id, Now: s.now(), Cmd: cmd}, j.c, j.more)
			s.mu.Unlock()
			j.c.done <- drain
		case <-s.stop:
			return
		}
	}
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		readBufPool.Put(b)
	}
}

// smallBufHijacker hands coder/websocket small bufio buffers instead of
// net/http's 4 KiB reader and writer, which would otherwise stay with every
// idle connection.
type smallBufHijacker struct {
	http.ResponseWriter
	h    http.Hijacker
	nc   net.Conn
	cork *corkWriter
	br   *bufio.Reader
}

// Small because every idle connection keeps both. Reads: client frames
// are mostly under 256 bytes, and bigger payloads bypass the buffer.
// Writes: writeLoop always corks, so coder/websocket's per-frame flushes
// land in corkWriter; only control frames (≤127 bytes: pongs, close)
// go straight through.
const (
	connReadBuf  = 256
	connWriteBuf = 128
)

func (w *smallBufHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := w.h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.nc = nc
	var conn net.Conn = nc
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its upgrade request.
		pre, _ := brw.Reader.Peek(n)
		conn = &prefixConn{Conn: nc, pre: bytes.Clone(pre)}
	}
	w.cork = &corkWriter{w: nc}
	w.br = bufio.NewReaderSize(conn, connReadBuf)
	return conn, bufio.NewReadWriter(w.br, bufio.NewWriterSize(w.cork, connWriteBuf)), nil
}

// corkWriter sits under coder/websocket's bufio.Writer, which flushes
// every frame. While corked it collects those flushes, so a writer that
// has several frames queued (ack + reply, replays) sends them in one
// syscall.
type corkWriter struct {
	mu     sync.Mutex
	w      io.Writer
	corked bool
	buf    []byte // only while corked
}

func (c *corkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && len(c.buf)+len(p) <= 64<<10 {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if len(c.buf) > 0 {
		if _, err := c.w.Write(c.buf); err != nil {
			return 0, err
		}
		c.buf = c.buf[:0]
	}
	return c.w.Write(p)
}

// cork starts collecting writes, expecting about size bytes.
func (c *corkWriter) cork(size int) {
	c.mu.Lock()
	c.corked = true
	if cap(c.buf) < size {
		c.buf = make([]byte, 0, size)
	}
	c.mu.Unlock()
}

// uncork writes what was collected in one call.
func (c *corkWriter) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	var err error
	if len(c.buf) > 0 {
		_, err = c.w.Write(c.buf)
	}
	c.buf = nil // idle connections keep no buffer
	return err
}

type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		if len(p.pre) == 0 {
			p.pre = nil
		}
		return n, nil
	}
	return p.Conn.Read(b)
}

// ---- connections ----

type wsConn struct {
	s    *Server
	id   mailbox.ConnID
	ws   *websocket.Conn
	nc   net.Conn
	cork *corkWriter
	br   *bufio.Reader // coder/websocket reads frames through it
	ip   string
	// exempt: a loopback peer not counted against the per-IP limits, so
	// its end must not uncount a counted client of the same address.
	exempt bool
	// held counts this connection's frames waiting in pendOut or in a
	// batch not yet delivered (guarded by s.mu): while any wait, later
	// frames queue behind them.
	held int
	// closeReq asks the reader goroutine, the only one that may read,
	// to run the close handshake.
	closeReq atomic.Pointer[mailbox.CloseConn]
	lastRX   atomic.Int64 // unix nanos of the last frame from the client
	// pinging is set while a server ping is in flight.
	pinging atomic.Bool
	done    chan bool // a worker finished this connection's frame

	mu      sync.Mutex
	queue   []delivery // allocated only while frames wait
	queued  int64
	writing bool
	closing bool
	closed  bool
}

// active records a frame from the client (message, ping or pong) and
// pushes the idle deadline back.
func (c *wsConn) active() {
	now := time.Now()
	c.lastRX.Store(now.UnixNano())
	c.armDeadline(now)
}

func (c *wsConn) armDeadline(now time.Time) {
	if c.nc == nil {
		return
	}
	if idle := c.s.opts.IdleTimeout; idle > 0 {
		c.nc.SetReadDeadline(time.Unix(0, c.lastRX.Load()).Add(idle))
	} else {
		c.nc.SetReadDeadline(time.Time{})
	}
	if c.closeReq.Load() != nil {
		c.nc.SetReadDeadline(aLongTimeAgo) // requestClose raced us
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// requestClose hands a close to the reader goroutine and wakes it.
func (c *wsConn) requestClose(req *mailbox.CloseConn) {
	if c.closeReq.CompareAndSwap(nil, req) {
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

func (c *wsConn) markClosed() {
	c.mu.Lock()
	c.closed = true
	c.queue = nil
	c.mu.Unlock()
}

// enqueue queues a frame or a close for the connection's writer, starting
// a writer goroutine if none runs: idle connections have none. With
// inline, it starts none and returns true instead: the caller must then run
// writeLoop itself.
func (c *wsConn) enqueue(d delivery, inline bool) (drain bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return false
	}
	if d.close != nil {
		c.closing = true
	} else {
		c.queued += int64(len(d.data))
		if c.queued > c.s.maxQueued() {
			// The client does not read; nothing good can come of
			// buffering more for it.
			c.queue = nil
			c.queued = 0
			c.closing = true
			d = delivery{close: &mailbox.CloseConn{Code: int(websocket.StatusPolicyViolation), Reason: "client is not reading"}}
		}
	}
	c.queue = append(c.queue, d)
	if !c.writing {
		c.writing = true
		if inline {
			return true
		}
		go c.writeLoop()
	}
	return false
}

func (s *Server) maxQueued() int64 {
	mbox := s.opts.MaxMailboxBytes
	if mbox <= 0 {
		mbox = mailbox.DefaultMaxMailboxBytes
	}
	return 2*mbox + 8*s.opts.MaxMessageSize
}

func (c *wsConn) writeLoop() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.queued = 0
		if len(batch) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
		size := 0
		for _, d := range batch {
			size += len(d.data) + 14 // + the largest frame header
		}
		// The frames go out in one write (the bufio.Writer below
		// coder/websocket is tiny and flushes into the cork).
		c.cork.cork(min(size, 64<<10))
		var err error
		for _, d := range batch {
			if d.close != nil {
				if err = c.cork.uncork(); err == nil {
					c.requestClose(d.close)
					return // writing stays true: nothing more will be written
				}
				break
			}
			if err = c.ws.Write(context.Background(), websocket.MessageText, d.data); err != nil {
				break
			}
		}
		if cerr := c.cork.uncork(); err == nil {
			err = cerr
		}
		if err != nil {
			c.s.log.V(1).Info("write failed", "conn", uint64(c.id), "err", err.Error())
			c.ws.CloseNow()
			c.mu.Lock()
			c.closed = true
			c.writing = false
			c.mu.Unlock()
			return
		}
	}
}

// ---- Run: timers, keepalive, bookkeeping ----

// Run arms the prune timer and pings quiet connections until ctx is done
// or the server is shut down. Call it once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("mailboxws: Run called twice")
	}
	s.started = true
	s.handleLocked(mailbox.Start{Now: s.now()}, nil)
	s.mu.Unlock()

	prune := time.NewTimer(time.Hour)
	prune.Stop()
	defer prune.Stop()
	sweepEvery := time.Minute
	if s.opts.IdleTimeout > 0 {
		sweepEvery = min(sweepEvery, max(s.opts.IdleTimeout/4, 10*time.Millisecond))
	}
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case d := <-s.timerReq:
			prune.Reset(d)
		case <-prune.C:
			s.event(mailbox.TimerFired{Name: mailbox.PruneTimer, Now: s.now()})
		case <-sweep.C:
			s.sweep()
		}
	}
}

// sweep pings connections that were quiet for half the idle timeout and
// forgets per-IP state nobody uses.
func (s *Server) sweep() {
	now := time.Now()
	var quiet []*wsConn
	s.mu.Lock()
	if s.opts.IdleTimeout > 0 {
		limit := now.Add(-s.opts.IdleTimeout / 2).UnixNano()
		for _, c := range s.conns {
			if c.lastRX.Load() < limit && !c.pinging.Load() {
				quiet = append(quiet, c)
			}
		}
	}
	s.sweepIPsLocked(now)
	s.mu.Unlock()
	for _, c := range quiet {
		c.pinging.Store(true)
		select {
		case s.pings <- struct{}{}:
		case <-s.stop:
			return
		}
		go func() {
			defer func() { <-s.pings; c.pinging.Store(false) }()
			ctx, cancel := context.WithTimeout(context.Background(), min(30*time.Second, s.opts.IdleTimeout/2))
			defer cancel()
			if c.ws.Ping(ctx) == nil {
				c.active()
			}
		}()
	}
}

// ---- admin API ----

// Stats are the admin API's numbers.
type Stats struct {
	Connections   int               `json:"connections"`
	Nameplates    int               `json:"nameplates"`
	Mailboxes     int               `json:"mailboxes"`
	Messages      int               `json:"messages"`
	MessagesTotal uint64            `json:"messages_total"`
	Sessions      map[string]uint64 `json:"sessions"`
	Errors        map[string]uint64 `json:"errors"`
}

// Stats returns current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := s.m.Stats()
	s.mu.Unlock()
	return Stats{Connections: st.Connections, Nameplates: st.Nameplates, Mailboxes: st.Mailboxes,
		Messages: st.Messages, MessagesTotal: st.MessagesTotal, Sessions: st.Sessions, Errors: st.Errors}
}

// MailboxInfo describes one mailbox (see relay/mailbox).
type MailboxInfo = mailbox.MailboxInfo

// ListMailboxes lists all mailboxes.
func (s *Server) ListMailboxes() []MailboxInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.ListMailboxes()
}

// SetMOTD changes the motd of later welcomes.
func (s *Server) SetMOTD(motd string) {
	s.mu.Lock()
	s.m.SetMOTD(motd)
	s.mu.Unlock()
}

// MOTD returns the current motd.
func (s *Server) MOTD() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.MOTD()
}

// CloseMailbox deletes mailbox id (in any app) with its nameplate and
// messages; its listeners get an error message saying the operator closed
// it. It returns once the deletion is committed.
func (s *Server) CloseMailbox(ctx context.Context, id string) error {
	s.mu.Lock()
	if !s.m.HasMailbox(id) {
		s.mu.Unlock()
		return fmt.Errorf("close mailbox %q: %w", id, ErrNoMailbox)
	}
	s.handleLocked(mailbox.CloseMailbox{ID: id, Now: s.now()}, nil)
	s.mu.Unlock()
	return s.flush(ctx)
}

// Shutdown stops accepting connections, commits and delivers everything
// queued, closes every connection with 1001 (going away) and waits for
// them to finish, or for ctx. It does not close Options.Store. Pair it
// with http.Server.Shutdown, which does not see hijacked connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return ErrShutdown
	}
	s.shutting = true
	s.mu.Unlock()

	ferr := s.flush(ctx)
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.enqueue(delivery{c: c, close: &mailbox.CloseConn{Code: int(websocket.StatusGoingAway), Reason: "server shutting down"}}, false)
	}
	done := make(chan struct{})
	go func() { s.readers.Wait(); close(done) }()
	var werr error
	select {
	case <-done:
	case <-ctx.Done():
		werr = ctx.Err()
		for _, c := range conns {
			c.ws.CloseNow()
		}
		<-done
	}
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.flusherDone: // committed what the last events queued
	case <-ctx.Done():
		werr = errors.Join(werr, fmt.Errorf("store writer still busy: %w", ctx.Err()))
	}
	if s.metrics != nil {
		s.metrics.unregister()
	}
	s.log.Info("mailbox server shut down")
	return errors.Join(ferr, werr)
}
