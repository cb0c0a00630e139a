// Package transitnet puts the transit relay (relay/transit) on the network:
// a raw TCP listener (the port stock clients dial, 4001 by convention) and a
// WebSocket endpoint (mounted at /transit on the relay's HTTP port) for
// browsers, which cannot open raw TCP sockets.
//
// # Life of a connection
//
//  1. Accept. The per-address limiter (relay/iplimit) may refuse it: TCP is
//     closed at once, WebSocket gets HTTP 429 before the upgrade.
//  2. Handshake. TCP: bytes up to the first newline (at most 1024); WebSocket:
//     the first binary message, alone. The line goes to the pairing machine,
//     which answers "ok\n", "bad handshake\n" or, later, "impatient\n" for a
//     client that talks before its "ok\n". Both replies travel as raw bytes
//     on TCP and as one binary message on WebSocket.
//  3. Waiting. An unpaired connection is closed after the unpaired timeout.
//  4. Relaying. Each side's goroutine copies what its client sends to the
//     partner; a blocked write blocks that goroutine's reads, so TCP flow
//     control reaches the sender (backpressure) and memory stays bounded.
//     TCP→TCP uses (*net.TCPConn).ReadFrom on an io.LimitedReader wrapping
//     the source, which Linux serves with splice(2): the bytes never enter
//     user space. Other combinations copy through a pooled 64 KiB buffer;
//     WebSocket message boundaries carry no meaning and are not kept.
//  5. End. When one client closes, the relay half-closes the other
//     (TCP FIN after every relayed byte, or a WebSocket close frame) and
//     closes both once the other direction ends too, or after a short linger.
//     A pair that moves no byte for the idle timeout, or exceeds the optional
//     byte cap, is closed at once. Shutdown closes WebSockets with status
//     1001 (going away).
//
// Metrics, all prefixed wasmhole_transit_: connections_total and
// connections_open by transport, waiting, pairs_total by transports,
// pairs_active, bytes_relayed_total, sessions_total by mood, errors_total by
// kind.
package transitnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhole/wasmhole/relay/iplimit"
	"github.com/wasmhole/wasmhole/relay/transit"
)

// Defaults used by the relay command.
const (
	DefaultUnpairedTimeout = 2 * time.Minute
	DefaultIdleTimeout     = 10 * time.Minute
)

// linger bounds how long the second direction of a pair may run after the
// first ended; clients close right after the final ack (docs/protocol.md §4.3).
const linger = 30 * time.Second

// Errors that end pairs; errors.Is works on the values logged and counted.
var (
	ErrIdleTimeout   = errors.New("transitnet: pair idle for too long")
	ErrByteCap       = errors.New("transitnet: pair exceeded its byte cap")
	ErrTextMessage   = errors.New("transitnet: text WebSocket message (binary only)")
	ErrShuttingDown  = errors.New("transitnet: relay shutting down")
	ErrLingerTimeout = errors.New("transitnet: peer kept its side open after the other closed")
)

// Limits are the settings that can change while the relay runs.
type Limits struct {
	// UnpairedTimeout closes connections that wait for a partner (or for
	// their handshake line) longer than this. 0 lets them wait for a
	// partner forever, but the line must still come within
	// DefaultUnpairedTimeout.
	UnpairedTimeout time.Duration
	// IdleTimeout closes pairs that relay no byte in either direction for
	// this long; 0 disables it.
	IdleTimeout time.Duration
	// MaxBytesPerPair caps the bytes relayed per pair, both directions
	// together; 0 means no cap.
	MaxBytesPerPair int64
	// PerIPConns and PerIPRate limit each client address (IPv6 per /64);
	// 0 disables. ExemptLoopback skips the checks for 127.0.0.0/8 and ::1.
	PerIPConns     int
	PerIPRate      float64
	PerIPBurst     int // default max(1, ceil(PerIPRate))
	ExemptLoopback bool
}

// Options configure a Server.
type Options struct {
	Limits
	Logger logr.Logger
	// Registerer receives the wasmhole_transit_* collectors; nil skips
	// registration (the counters still feed Stats).
	Registerer prometheus.Registerer
}

// Stats is a snapshot for the admin API.
type Stats struct {
	Open         int   `json:"open"`
	Waiting      int   `json:"waiting"`
	ActivePairs  int   `json:"active_pairs"`
	TotalPairs   int64 `json:"total_pairs"`
	BytesRelayed int64 `json:"bytes_relayed"`
}

// Server is a transit relay. Create it with New, feed it listeners with
// ServeTCP and WebSocket requests with ServeHTTP, stop it with Shutdown.
type Server struct {
	log     logr.Logger
	met     *metrics
	limiter *iplimit.Limiter
	limits  atomic.Pointer[Limits]
	nextID  atomic.Uint64
	bytes   atomic.Int64

	mu      sync.Mutex // guards everything below
	mach    *transit.Machine
	conns   map[transit.ConnID]*conn
	timers  map[transit.ConnID]*time.Timer
	closing bool

	wg sync.WaitGroup // one per connection goroutine
}

// New returns a server; it does not listen yet.
func New(opts Options) (*Server, error) {
	s := &Server{
		log:     opts.Logger,
		limiter: iplimit.New(ipConfig(opts.Limits)),
		mach:    transit.New(transit.Config{UnpairedTimeout: opts.UnpairedTimeout}),
		conns:   map[transit.ConnID]*conn{},
		timers:  map[transit.ConnID]*time.Timer{},
	}
	l := opts.Limits
	s.limits.Store(&l)
	s.met = newMetrics(s)
	if opts.Registerer != nil {
		if err := s.met.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("transitnet: register metrics: %w", err)
		}
	}
	return s, nil
}

func ipConfig(l Limits) iplimit.Config {
	return iplimit.Config{MaxConns: l.PerIPConns, Rate: l.PerIPRate, Burst: l.PerIPBurst, ExemptLoopback: l.ExemptLoopback}
}

// SetLimits replaces the limits; running pairs keep the byte cap they
// started with, everything else applies from the next check.
func (s *Server) SetLimits(l Limits) {
	s.limits.Store(&l)
	s.limiter.SetConfig(ipConfig(l))
	s.mu.Lock()
	s.mach.SetConfig(transit.Config{UnpairedTimeout: l.UnpairedTimeout})
	s.mu.Unlock()
}

// CurrentLimits returns the limits in force.
func (s *Server) CurrentLimits() Limits { return *s.limits.Load() }

// Stats returns current counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	ms := s.mach.Stats()
	open := len(s.conns)
	s.mu.Unlock()
	return Stats{Open: open, Waiting: ms.Waiting, ActivePairs: ms.ActivePairs, TotalPairs: ms.TotalPairs, BytesRelayed: s.bytes.Load()}
}

// ServeTCP accepts relay clients on ln until ctx is done or ln fails; it
// closes ln before returning. Connections stay with the server (see
// Shutdown).
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Error(err, "transit accept", "retry_in", delay)
			s.met.errors.WithLabelValues("accept").Inc()
			select {
			case <-time.After(delay):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		delay = 0
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			nc.Close()
			continue
		}
		release, err := s.admit(nc.RemoteAddr())
		if err != nil {
			s.log.V(1).Info("transit connection refused", "remote", nc.RemoteAddr().String(), "err", err.Error())
			nc.Close()
			continue
		}
		c := s.newConn(transportTCP, nc.RemoteAddr().String(), release)
		c.tcp = tc
		if !s.start(c) {
			continue
		}
		go s.serve(c)
	}
}

// admit applies the per-address limits.
func (s *Server) admit(addr net.Addr) (func(), error) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return func() {}, nil // not an IP transport; nothing to limit
	}
	release, err := s.limiter.Acquire(ap.Addr(), time.Now())
	if err != nil {
		kind := "per_ip_conns"
		if errors.Is(err, iplimit.ErrRateLimited) {
			kind = "per_ip_rate"
		}
		s.met.errors.WithLabelValues(kind).Inc()
	}
	return release, err
}

// start registers c; it returns false (and closes c) during shutdown.
func (s *Server) start(c *conn) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.release()
		if c.ws != nil {
			_ = c.ws.Close(websocket.StatusGoingAway, "relay shutting down")
		} else {
			c.tcp.Close()
		}
		return false
	}
	s.conns[c.id] = c
	s.wg.Add(1)
	s.mu.Unlock()
	s.met.connTotal.WithLabelValues(c.transport).Inc()
	s.met.connOpen.WithLabelValues(c.transport).Inc()
	return true
}

// Shutdown closes every connection (WebSockets with status 1001) and waits
// for their goroutines, or for ctx. Listeners are closed by cancelling the
// ServeTCP context and by the HTTP server's own Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeNow(ErrShuttingDown)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("transitnet: shutdown: %w", ctx.Err())
	}
}

// step feeds ev to the machine and performs its actions. State changes
// happen under s.mu; writes and closes happen after, in action order, so
// "ok\n" reaches both clients before Pair lets bytes flow.
func (s *Server) step(ev transit.Event) {
	s.mu.Lock()
	acts := s.mach.Handle(ev)
	type todo struct {
		act transit.Action
		c   *conn
		p   *pair
	}
	var todos []todo
	for _, a := range acts {
		switch a := a.(type) {
		case transit.SetTimer:
			s.setTimer(a.Conn, a.After)
		case transit.StopTimer:
			if t := s.timers[a.Conn]; t != nil {
				t.Stop()
				delete(s.timers, a.Conn)
			}
		case transit.Usage:
			s.met.sessions.WithLabelValues(string(a.Mood)).Inc()
		case transit.Pair:
			ca, cb := s.conns[a.A], s.conns[a.B]
			if ca == nil || cb == nil {
				// Cannot happen: the machine pairs only live connections.
				panic("transitnet: pair of unknown connection")
			}
			p := newPair(s, ca, cb)
			ca.pair, cb.pair = p, p
			todos = append(todos, todo{act: a, p: p})
		case transit.Send:
			todos = append(todos, todo{act: a, c: s.conns[a.Conn]})
		case transit.Close:
			c := s.conns[a.Conn]
			if c != nil {
				c.dropped = true
			}
			todos = append(todos, todo{act: a, c: c})
		}
	}
	s.mu.Unlock()

	replied := map[transit.ConnID]bool{}
	for _, t := range todos {
		switch a := t.act.(type) {
		case transit.Send:
			if t.c != nil {
				if err := t.c.writeReply(a.Data); err != nil {
					t.c.closeNow(err)
				}
				replied[a.Conn] = true
			}
		case transit.Close:
			if t.c == nil {
				continue
			}
			s.countError(a.Why)
			s.log.V(1).Info("transit connection closed", "conn", a.Conn, "remote", t.c.remote, "reason", a.Why.Error())
			if replied[a.Conn] {
				t.c.closeAfterReply(a.Why)
			} else {
				t.c.closeNow(a.Why)
			}
		case transit.Pair:
			s.met.pairs.WithLabelValues(pairKind(t.p.a.transport, t.p.b.transport)).Inc()
			s.log.V(1).Info("transit pair", "a", t.p.a.remote, "b", t.p.b.remote)
			t.p.start()
		}
	}
}

func (s *Server) setTimer(id transit.ConnID, after time.Duration) {
	if t := s.timers[id]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(after, func() {
		s.mu.Lock()
		if s.timers[id] != t {
			s.mu.Unlock()
			return // replaced or stopped
		}
		delete(s.timers, id)
		s.mu.Unlock()
		s.step(transit.TimerFired{Conn: id, Now: time.Now()})
	})
	s.timers[id] = t
}

// countError maps a reason to the errors_total kind label.
func (s *Server) countError(err error) {
	if err == nil {
		return
	}
	kind := "io"
	switch {
	case errors.Is(err, transit.ErrLineTooLong):
		kind = "line_too_long"
	case errors.Is(err, transit.ErrBadHandshake):
		kind = "bad_handshake"
	case errors.Is(err, transit.ErrImpatient):
		kind = "impatient"
	case errors.Is(err, transit.ErrUnpairedTimeout):
		kind = "unpaired_timeout"
	case errors.Is(err, transit.ErrRedundant):
		return // a mood, not an error
	case errors.Is(err, ErrIdleTimeout):
		kind = "idle_timeout"
	case errors.Is(err, ErrByteCap):
		kind = "byte_cap"
	case errors.Is(err, ErrTextMessage):
		kind = "text_message"
	case errors.Is(err, ErrLingerTimeout):
		kind = "linger_timeout"
	case errors.Is(err, ErrShuttingDown):
		kind = "shutdown"
	}
	s.met.errors.WithLabelValues(kind).Inc()
}

// serve runs one connection: handshake, wait, relay.
func (s *Server) serve(c *conn) {
	defer s.wg.Done()
	defer s.forget(c)
	now := time.Now()
	s.step(transit.Connected{Conn: c.id, Now: now})

	lim := s.CurrentLimits()
	hsTimeout := lim.UnpairedTimeout
	if hsTimeout <= 0 {
		hsTimeout = DefaultUnpairedTimeout
	}
	line, rest, err := c.readLine(hsTimeout)
	if err != nil && !errors.Is(err, transit.ErrLineTooLong) {
		switch {
		case errors.Is(err, ErrTextMessage):
			s.countError(err)
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
			s.met.errors.WithLabelValues("handshake_timeout").Inc()
		}
		c.closeNow(err)
		s.step(transit.Disconnected{Conn: c.id, Now: time.Now()})
		return
	}
	// A too-long line is passed on whole so the machine answers it.
	s.step(transit.Handshake{Conn: c.id, Line: line, Now: time.Now()})

	s.mu.Lock()
	p, dropped := c.pair, c.dropped
	s.mu.Unlock()
	if dropped {
		return
	}
	var first []byte
	var firstMsg *wsMessage
	if p == nil {
		if len(rest) > 0 {
			s.step(transit.Data{Conn: c.id, Now: time.Now()})
		} else {
			// Wait for the partner. A read returning here means the client
			// talked, hung up, or was closed by a timer or shutdown.
			first, firstMsg, err = c.readFirst()
		}
		s.mu.Lock()
		p, dropped = c.pair, c.dropped
		s.mu.Unlock()
		if p == nil {
			if !dropped {
				if err == nil {
					s.step(transit.Data{Conn: c.id, Now: time.Now()})
				} else {
					c.closeNow(err)
					s.step(transit.Disconnected{Conn: c.id, Now: time.Now()})
				}
			}
			return
		}
	} else {
		first = rest
	}
	<-p.ready
	err = p.relay(c, first, firstMsg)
	p.directionDone(c, err)
}

// forget drops c from the table once its goroutine ends; an unpaired
// connection is closed here, a paired one by its pair.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	if t := s.timers[c.id]; t != nil {
		t.Stop()
		delete(s.timers, c.id)
	}
	paired := c.pair != nil
	s.mu.Unlock()
	if !paired {
		c.closeNow(nil)
	}
}

// newConn makes a connection record; release undoes the limiter's Acquire.
func (s *Server) newConn(transport, remote string, release func()) *conn {
	return &conn{
		s:         s,
		id:        transit.ConnID(s.nextID.Add(1)),
		transport: transport,
		remote:    remote,
		release:   release,
	}
}

// wsAcceptOptions: any origin may use /transit (it carries no cookies or
// credentials, only end-to-end encrypted bytes), and compression would only
// burn CPU on encrypted data.
var wsAcceptOptions = &websocket.AcceptOptions{
	InsecureSkipVerify: true,
	CompressionMode:    websocket.CompressionDisabled,
}

// ServeHTTP accepts one WebSocket transit client (mount it at /transit).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	release, err := s.admit(remoteAddr(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		release()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, wsAcceptOptions)
	if err != nil {
		release()
		s.met.errors.WithLabelValues("websocket_upgrade").Inc()
		return
	}
	c := s.newConn(transportWS, r.RemoteAddr, release)
	c.ws = ws
	if !s.start(c) {
		return
	}
	s.serve(c)
}

type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }

func remoteAddr(r *http.Request) net.Addr { return addrString(r.RemoteAddr) }
