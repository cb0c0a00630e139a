// Package transitnet runs the transit connection race of core/transit over
// real connections: it listens for and dials TCP, dials WebSocket relays,
// feeds what happens to a transit.Race and does what the Race decides.
//
// A file transfer uses it like this: before sending its "transit" message a
// side calls Listen (native only) to get a port and its direct hints; once
// it has the peer's message and the transit key it calls Connect, which
// dials the peer's hints and the relays, accepts on the listener, and
// returns the one connection both sides agreed on, positioned at the start
// of the record stream. Wrap it with transit.NewWriter / transit.NewReader
// (keys from transit.RecordKeys).
//
// Natively Connect dials TCP (direct hints and tcp relays) and WebSocket
// relays. In the browser (GOOS=js, connect_js.go) only WebSocket relays
// can be dialled and nothing can listen.
//
// The driver's loop is single-threaded: one goroutine per connection reads
// and one per dial connects, but every result goes through one channel to
// the loop that calls Race.Handle. A connection's reader waits after each
// read until the loop has handled it, so when the Race declares a winner
// (always while handling that connection's data) nothing past the
// handshake has been consumed except the bytes the Race hands back as
// leftover, which the returned Conn replays first.
package transitnet

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"time"

	"github.com/wasmhole/wasmhole/core/internal/logging"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// ErrRelayUnreachable is wrapped by Connect's error when the race ended
// without any connection: every relay and direct hint failed, or none
// won before the timeout. core/wormhole exports the same value as
// wormhole.ErrRelayUnreachable, which also marks an unreachable mailbox
// server, so one errors.Is test covers both.
var ErrRelayUnreachable = errors.New("cannot reach the relay")

// ErrReceiveBacklog is wrapped by a browser's transit read that failed
// because more than BacklogLimit received bytes waited unread: a browser
// without WebSocketStream cannot slow the sender down (backlog_js.go).
var ErrReceiveBacklog = errors.New("the data arrived faster than it could be stored, and this browser cannot slow the sender down")

// Config says who we are and what we may dial.
type Config struct {
	Sender     bool   // file sender (transit leader)
	TransitKey []byte // from the wormhole key
	Peer       transit.Hints
	Relays     []transit.RelayHint // our own relays; the peer's come in Peer
	RelayOnly  bool                // dial no direct hints (e.g. --no-listen)
	Logger     logging.Logger      // a logr.Logger (a no-op under GOOS=js); zero value: no logging

	// RelayDelay, ConnTimeout and Timeout are transit.RaceConfig's (0 =
	// the Python defaults: 2 s, 60 s, 120 s).
	RelayDelay  time.Duration
	ConnTimeout time.Duration
	Timeout     time.Duration
	// Side is the relay side; empty means a fresh random one.
	Side string
}

// Conn is the winning connection. Reads first return the bytes the race
// had already read past the handshake.
type Conn struct {
	net.Conn
	Relay   bool   // the connection goes through a transit relay
	Desc    string // e.g. "relay tcp:127.0.0.1:4001", "direct tcp:10.0.0.2:41234", "inbound from 10.0.0.2:50312"
	pending []byte
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// writeTimeout bounds each handshake write; they are a few dozen bytes.
const writeTimeout = 10 * time.Second

// Connect runs the race and returns the winning connection (a *Conn). It
// takes ownership of l (which may be nil) and closes it before returning:
// once a connection has won, nobody needs to reach us any more. The
// returned connection outlives ctx; ctx only bounds the race. When no
// connection could be made at all the error wraps ErrRelayUnreachable (and
// transit.ErrNoConnection or transit.ErrTimeout).
func Connect(ctx context.Context, cfg Config, l *Listener) (net.Conn, error) {
	if l != nil {
		defer l.Close()
	}
	side := cfg.Side
	if side == "" {
		var err error
		if side, err = transit.NewSide(rand.Reader); err != nil {
			return nil, err
		}
	}
	r := &runner{
		sender: cfg.Sender,
		log:    cfg.Logger,
		msgs:   make(chan any),
		done:   make(chan struct{}),
		conns:  map[int]*conn{},
		dials:  map[int]context.CancelFunc{},
		nextIn: -1,
		// The winner must outlive ctx, so dials run under a context that
		// ctx's end does not cancel; shutdown cancels the losers' dials.
		dialCtx: context.WithoutCancel(ctx),
	}
	defer r.shutdown()
	r.race = transit.NewRace(transit.RaceConfig{
		Sender:         cfg.Sender,
		TransitKey:     cfg.TransitKey,
		Side:           side,
		Peer:           cfg.Peer,
		OwnRelays:      cfg.Relays,
		RelayOnly:      cfg.RelayOnly,
		AllowTCP:       canTCP,
		AllowWebSocket: true,
		Listening:      l != nil,
		RelayDelay:     cfg.RelayDelay,
		ConnTimeout:    cfg.ConnTimeout,
		Timeout:        cfg.Timeout,
	})
	if l != nil {
		startAccept(l, r)
	}
	acts := r.race.Handle(transit.Start{})
	for {
		if c, err, over := r.perform(acts); over {
			return c, err
		}
		r.resumeReader()
		select {
		case <-ctx.Done():
			return nil, errs.Wrap("transit: connect", ctx.Err())
		case m := <-r.msgs:
			acts = r.handle(m)
		}
	}
}

type conn struct {
	c    net.Conn
	cont chan bool // after each read: true = read again, false = stop
}

// Messages from the goroutines to the loop.
type (
	dialDone struct {
		id  int
		c   net.Conn
		err error
	}
	readDone struct {
		id   int
		data []byte
		err  error
	}
	acceptDone struct{ c net.Conn }
	timerDone  struct{ name string }
)

type runner struct {
	race    *transit.Race
	log     logging.Logger
	msgs    chan any
	done    chan struct{} // closed when Connect returns
	conns   map[int]*conn
	dials   map[int]context.CancelFunc
	timers  []*time.Timer
	nextIn  int // next ID for an inbound connection (negative)
	dialCtx context.Context
	resume  *conn // reader waiting for the loop to finish with its data
	resID   int
	sender  bool // this side sends the file (see dial in connect_js.go)
}

// send delivers a message to the loop unless Connect has returned.
func (r *runner) send(m any) bool {
	select {
	case r.msgs <- m:
		return true
	case <-r.done:
		return false
	}
}

func (r *runner) handle(m any) []transit.Action {
	switch m := m.(type) {
	case dialDone:
		if _, ok := r.dials[m.id]; !ok { // abandoned by CloseConn
			if m.c != nil {
				m.c.Close()
			}
			return nil
		}
		delete(r.dials, m.id)
		if m.err != nil {
			r.log.V(1).Info("transit dial failed", "id", m.id, "err", m.err.Error())
			return r.race.Handle(transit.Closed{ID: m.id, Err: m.err})
		}
		r.add(m.id, m.c)
		return r.race.Handle(transit.Connected{ID: m.id})
	case acceptDone:
		id := r.nextIn
		r.nextIn--
		from := m.c.RemoteAddr().String()
		r.log.V(1).Info("transit inbound connection", "id", id, "from", from)
		r.add(id, m.c)
		return r.race.Handle(transit.Accepted{ID: id, From: from})
	case readDone:
		c := r.conns[m.id]
		if c == nil {
			return nil // we closed it; its reader stops on its own
		}
		var acts []transit.Action
		if len(m.data) > 0 {
			acts = r.race.Handle(transit.Data{ID: m.id, Bytes: m.data})
		}
		if m.err == nil {
			r.resume, r.resID = c, m.id
			return acts
		}
		for _, a := range acts {
			if _, ok := a.(transit.Won); ok {
				return acts // a last read that won; the caller sees the error next
			}
		}
		r.drop(m.id)
		return append(acts, r.race.Handle(transit.Closed{ID: m.id, Err: m.err})...)
	case timerDone:
		return r.race.Handle(transit.TimerFired{Name: m.name})
	}
	return nil
}

func (r *runner) add(id int, nc net.Conn) {
	c := &conn{c: nc, cont: make(chan bool, 1)}
	r.conns[id] = c
	go r.read(id, c)
}

// read feeds one connection's bytes to the loop, one read at a time.
func (r *runner) read(id int, c *conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.c.Read(buf)
		if !r.send(readDone{id: id, data: buf[:n], err: err}) || err != nil {
			return
		}
		select {
		case more := <-c.cont:
			if !more {
				return
			}
		case <-r.done:
			return
		}
	}
}

// resumeReader lets the reader whose data was just handled read again,
// unless its connection was closed or won meanwhile.
func (r *runner) resumeReader() {
	if r.resume != nil && r.conns[r.resID] == r.resume {
		r.resume.cont <- true
	}
	r.resume = nil
}

// drop closes a connection and stops its reader.
func (r *runner) drop(id int) {
	c := r.conns[id]
	if c == nil {
		return
	}
	delete(r.conns, id)
	c.c.Close()
	select {
	case c.cont <- false:
	default:
	}
}

// perform does the Race's actions in order; over reports the end of the
// race (a winner or a failure).
func (r *runner) perform(acts []transit.Action) (res net.Conn, err error, over bool) {
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		switch a := a.(type) {
		case transit.Dial:
			r.log.V(1).Info("transit dial", "id", a.ID, "kind", a.Kind, "addr", a.Addr, "url", a.URL, "relay", a.Relay)
			dctx, cancel := context.WithCancel(r.dialCtx)
			r.dials[a.ID] = cancel
			go func() {
				c, err := dial(dctx, a, r.sender)
				if !r.send(dialDone{id: a.ID, c: c, err: err}) && c != nil {
					c.Close()
				}
			}()
		case transit.Write:
			c := r.conns[a.ID]
			if c == nil {
				continue
			}
			c.c.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, werr := c.c.Write(a.Bytes)
			c.c.SetWriteDeadline(time.Time{})
			if werr != nil {
				r.drop(a.ID)
				acts = append(acts, r.race.Handle(transit.Closed{ID: a.ID, Err: werr})...)
			}
		case transit.CloseConn:
			if cancel, ok := r.dials[a.ID]; ok {
				cancel()
				delete(r.dials, a.ID)
			}
			r.drop(a.ID)
		case transit.SetTimer:
			name := a.Name
			r.timers = append(r.timers, time.AfterFunc(a.After, func() { r.send(timerDone{name}) }))
		case transit.Won:
			c := r.conns[a.ID]
			if c == nil {
				return nil, errors.New("transit: internal error: winner is not a live connection"), true
			}
			delete(r.conns, a.ID)
			c.cont <- false // its reader is parked after the winning read
			r.log.V(1).Info("transit connected", "via", a.Desc)
			return &Conn{Conn: c.c, Relay: a.Relay, Desc: a.Desc, pending: a.Leftover}, nil, true
		case transit.Failed:
			r.log.V(1).Info("transit failed", "err", a.Err.Error())
			if errors.Is(a.Err, transit.ErrNoConnection) || errors.Is(a.Err, transit.ErrTimeout) {
				return nil, errs.Chain(ErrRelayUnreachable, a.Err), true
			}
			return nil, a.Err, true
		}
	}
	return nil, nil, false
}

// shutdown ends every goroutine and closes everything but the winner.
func (r *runner) shutdown() {
	close(r.done)
	for _, t := range r.timers {
		t.Stop()
	}
	for id, cancel := range r.dials {
		cancel()
		delete(r.dials, id)
	}
	for id := range r.conns {
		r.drop(id)
	}
}
