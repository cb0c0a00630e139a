package mailboxws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/mailbox"
)

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
	// A loopback TCP peer is exempt unless LimitLoopback; an address a
	// proxy reported in a header never is.
	c.exempt = !s.opts.LimitLoopback && addr.LoopbackExempt()
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
	var reason string
	switch {
	case s.shutting:
		reason = "server is shutting down"
	case s.failing != nil:
		reason = refuseStoreFailing
	default:
		reason = s.admitLocked(ip, c.exempt)
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
	drain := s.handleLocked(mailbox.Connected{Conn: c.id, Now: s.now(), Client: budgetKey(ip, c.exempt)}, c)
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

// readLoop reads c's frames. Between frames it parks in a one-byte Peek,
// a shallow stack, and once the frames that arrived together are handled it
// hands the wait on to a fresh goroutine instead of parking on its own
// stack, which reading and writing a frame have grown (and the runtime
// never shrinks a stack below a quarter in use). An idle connection then
// holds one goroutine with the smallest stack: 2 KiB instead of 4 or 8.
func (s *Server) readLoop(c *wsConn) {
	for {
		if _, err := c.br.Peek(1); err != nil {
			if s.deadlineHit(c, err) {
				continue
			}
			s.endConn(c, err)
			return
		}
		if err := s.readFrame(c); err != nil {
			if s.deadlineHit(c, err) {
				continue
			}
			s.endConn(c, err)
			return
		}
		// Backpressure: a client that does not read its replies gets
		// no more read until they are written, so it cannot make the
		// server queue more for it.
		c.waitWritten(readPauseBytes)
		if c.br.Buffered() == 0 {
			go s.readLoop(c)
			return
		}
	}
}

// endConn forgets a connection whose reader ended.
func (s *Server) endConn(c *wsConn, err error) {
	s.log.V(1).Info("connection ended", "conn", uint64(c.id), "ip", c.ip, "err", err.Error())
	c.markClosed()
	c.ws.CloseNow()
	s.mu.Lock()
	delete(s.conns, c.id)
	if !c.exempt {
		s.releaseIPLocked(c.ip)
	}
	s.handleLocked(mailbox.Disconnected{Conn: c.id, Now: s.now()}, nil)
	s.mu.Unlock()
	s.readers.Done()
}

// readFrame reads one message (and any control frames before it), has a
// worker handle it and writes the replies that wait for nothing.
func (s *Server) readFrame(c *wsConn) error {
	_, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return err
	}
	c.active()
	limit := s.opts.MaxMessageSize
	buf := readBufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		// Too big: skip the rest and say so, keeping the connection
		// (the ws read limit bounds the skipping).
		rest, err := io.Copy(io.Discard, r)
		if err == nil {
			s.event(mailbox.TooLarge{Conn: c.id, Now: s.now(), Size: n + rest, Limit: limit})
		}
		return err
	}
	// Decoding and the machine run on a worker: their deep stacks then
	// never become a reader's.
	s.jobs <- job{c: c, data: buf.Bytes(), more: c.br.Buffered() > 0}
	if <-c.done {
		// Replies that waited for nothing are written by this goroutine;
		// a client that does not read them stalls only its own
		// connection.
		c.writeLoop()
	}
	return nil
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
