package transitnet

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/transit"
)

// spliceChunk is how much one ReadFrom may move between two TCP sockets
// before the relay updates its counters. Idle detection does not depend on
// it (see checkIdle).
const spliceChunk = 256 << 10

// copyBufSize is the buffer for copies that involve a WebSocket.
const copyBufSize = 64 << 10

// bigBufSize is the buffer a TCP→WebSocket copy switches to while its
// source keeps the buffer full: each read becomes one WebSocket message,
// and a browser's cost is per message (Chromium's thread reading a
// WebSocketStream spent 10–11 CPU s/GiB on 64 KiB messages, 6 on 256
// KiB). An idle or slow pair holds only the small buffer.
const bigBufSize = 256 << 10

var (
	bufPool    = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
	bigBufPool = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}
)

// pair is two paired connections; each side's goroutine runs relay for the
// bytes its client sends.
type pair struct {
	s     *Server
	a, b  *conn
	ready chan struct{} // closed once both got "ok\n"

	last   atomic.Int64 // unix nanoseconds of the last counted chunk
	capped bool
	budget atomic.Int64 // bytes left under MaxBytesPerPair
	left   atomic.Int32 // directions still running

	// Idle detection state, used only by the idle timer's goroutine.
	seenLast  int64     // p.last at the previous check
	seenRecv  [2]uint64 // TCP bytes received by a and b at the previous check
	lastAlive time.Time // when the previous check saw progress

	aborted atomic.Bool
	mu      sync.Mutex // guards the timers and finished
	idle    *time.Timer
	linger  *time.Timer
	ended   bool
}

func newPair(s *Server, a, b *conn) *pair {
	p := &pair{s: s, a: a, b: b, ready: make(chan struct{})}
	p.left.Store(2)
	if lim := s.CurrentLimits(); lim.MaxBytesPerPair > 0 {
		p.capped = true
		p.budget.Store(lim.MaxBytesPerPair)
	}
	return p
}

// start lets bytes flow; called after both "ok\n" replies were written.
func (p *pair) start() {
	p.touch()
	if idle := p.s.CurrentLimits().IdleTimeout; idle > 0 {
		p.lastAlive = time.Now()
		p.mu.Lock()
		p.idle = time.AfterFunc(idleCheckPeriod(idle), p.checkIdle)
		p.mu.Unlock()
	}
	close(p.ready)
}

func idleCheckPeriod(idle time.Duration) time.Duration { return max(idle/4, time.Millisecond) }

func (p *pair) other(c *conn) *conn {
	if c == p.a {
		return p.b
	}
	return p.a
}

func (p *pair) touch() { p.last.Store(time.Now().UnixNano()) }

// checkIdle runs a few times per idle period. Progress is either a counted
// chunk (p.last moved) or, for TCP sockets, the kernel's count of bytes
// received (TCP_INFO): a splice ReadFrom counts only when its chunk is
// complete, and a slow but steady transfer must not look idle.
func (p *pair) checkIdle() {
	idle := p.s.CurrentLimits().IdleTimeout
	if idle <= 0 {
		return
	}
	now := time.Now()
	alive := false
	if last := p.last.Load(); last != p.seenLast {
		p.seenLast, alive = last, true
	}
	for i, c := range []*conn{p.a, p.b} {
		if c.tcp == nil {
			continue
		}
		if n, ok := tcpBytesReceived(c.tcp); ok && n != p.seenRecv[i] {
			p.seenRecv[i], alive = n, true
		}
	}
	if alive {
		p.lastAlive = now
	} else if now.Sub(p.lastAlive) >= idle {
		p.abort(ErrIdleTimeout)
		return
	}
	p.mu.Lock()
	if !p.ended {
		p.idle.Reset(idleCheckPeriod(idle))
	}
	p.mu.Unlock()
}

// take reserves up to n bytes of the pair's budget.
func (p *pair) take(n int64) int64 {
	if !p.capped {
		return n
	}
	for {
		cur := p.budget.Load()
		if cur <= 0 {
			return 0
		}
		k := min(cur, n)
		if p.budget.CompareAndSwap(cur, cur-k) {
			return k
		}
	}
}

func (p *pair) count(src *conn, n int64) {
	if n <= 0 {
		return
	}
	src.bytes.Add(n)
	p.s.bytes.Add(n)
	p.s.met.bytes.Add(float64(n))
	p.touch()
}

// relay copies what src's client sends to its partner until src ends
// (nil) or something fails. first/firstMsg arrived while src waited.
func (p *pair) relay(src *conn, first []byte, firstMsg *wsMessage) error {
	dst := p.other(src)
	if len(first) > 0 {
		if err := p.forward(src, dst, first); err != nil {
			return err
		}
	}
	if firstMsg != nil {
		if firstMsg.typ != websocket.MessageBinary {
			return ErrTextMessage
		}
		if err := p.forwardMessage(src, dst, firstMsg.r); err != nil {
			return err
		}
	}
	switch {
	case src.tcp != nil && dst.tcp != nil && !p.capped:
		// A byte cap needs bytes in hand before they are relayed, so capped
		// pairs take the buffered path below.
		return p.splice(src, dst)
	case src.tcp != nil:
		return p.copyTCP(src, dst)
	default:
		return p.copyWS(src, dst)
	}
}

// splice moves TCP→TCP through (*net.TCPConn).ReadFrom, which uses
// splice(2) when its source is a *net.TCPConn inside an io.LimitedReader.
func (p *pair) splice(src, dst *conn) error {
	for {
		lr := &io.LimitedReader{R: src.tcp, N: spliceChunk}
		n, err := dst.tcp.ReadFrom(lr)
		p.count(src, n)
		if err != nil {
			return err
		}
		if n < spliceChunk {
			return nil // ReadFrom stops early only at EOF
		}
	}
}

func (p *pair) copyTCP(src, dst *conn) error {
	small := bufPool.Get().(*[]byte)
	defer bufPool.Put(small)
	var big *[]byte
	defer func() {
		if big != nil {
			bigBufPool.Put(big)
		}
	}()
	buf := *small
	for {
		n, err := src.tcp.Read(buf)
		if n > 0 {
			if ferr := p.forward(src, dst, buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case big == nil && n == len(buf) && dst.ws != nil:
			big = bigBufPool.Get().(*[]byte)
			buf = *big
		case big != nil && n < copyBufSize:
			bigBufPool.Put(big)
			big, buf = nil, *small
		}
	}
}

func (p *pair) copyWS(src, dst *conn) error {
	for {
		typ, r, err := src.ws.Reader(context.Background())
		if err != nil {
			if isCleanEnd(err) {
				return nil
			}
			return err
		}
		if typ != websocket.MessageBinary {
			return ErrTextMessage
		}
		if err := p.forwardMessage(src, dst, r); err != nil {
			return err
		}
	}
}

// forwardMessage relays one WebSocket message in buffer-sized pieces.
func (p *pair) forwardMessage(src, dst *conn, r io.Reader) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if ferr := p.forward(src, dst, buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// forward writes b to dst within the byte budget.
func (p *pair) forward(src, dst *conn, b []byte) error {
	n := p.take(int64(len(b)))
	if n > 0 {
		if err := dst.writeData(b[:n]); err != nil {
			return err
		}
		p.count(src, n)
	}
	if n < int64(len(b)) {
		return ErrByteCap
	}
	return nil
}

// directionDone ends src's direction: a clean end half-closes the partner
// and gives the other direction a short linger; an error aborts the pair.
func (p *pair) directionDone(src *conn, err error) {
	// Errors on a connection the relay closed itself, or after the other
	// direction already ended, are the normal teardown, not failures.
	if err != nil && !src.closed.Load() && p.left.Load() == 2 {
		p.abort(err)
	}
	p.s.step(transit.Disconnected{Conn: src.id, Bytes: src.bytes.Load(), Now: time.Now()})
	if p.left.Add(-1) == 0 {
		p.end()
		return
	}
	if err == nil && !p.aborted.Load() {
		p.other(src).closeWrite()
		p.mu.Lock()
		if !p.ended {
			p.linger = time.AfterFunc(linger, func() { p.abort(ErrLingerTimeout) })
		}
		p.mu.Unlock()
	}
}

// end closes both connections after both directions finished.
func (p *pair) end() {
	p.stopTimers()
	p.a.closeNow(nil)
	p.b.closeNow(nil)
}

// abort closes both connections at once; the first reason is counted.
func (p *pair) abort(why error) {
	if !p.aborted.CompareAndSwap(false, true) {
		return
	}
	p.stopTimers()
	p.s.countError(why)
	p.s.log.V(1).Info("transit pair aborted", "a", p.a.remote, "b", p.b.remote, "reason", why.Error())
	p.a.closeNow(why)
	p.b.closeNow(why)
}

func (p *pair) stopTimers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	if p.idle != nil {
		p.idle.Stop()
	}
	if p.linger != nil {
		p.linger.Stop()
	}
}
