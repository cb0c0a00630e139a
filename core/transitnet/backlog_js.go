//go:build js

package transitnet

// The receive backlog of the plain WebSocket (browsers without
// WebSocketStream: Firefox, Safari).
//
// A WebSocket hands the page every message the moment it arrives and has
// no way to say "not now", and file-transfer v1 has no flow control of its
// own, so when the network brings bytes faster than the receiver opens and
// stores them (a fast LAN or loopback peer, a slow disk) they wait in
// memory. That wait is bounded here:
//
//   - Messages wait as the browser's own ArrayBuffers, not copied into the
//     wasm heap: a wasm memory never shrinks, while the JS heap gives the
//     memory back once the backlog drains.
//   - Above LaggingMark the receiver is "lagging": the page says so (the
//     progress events carry the backlog, see Backlog).
//   - Above BacklogLimit the connection fails with ErrReceiveBacklog: the
//     queue is dropped, the WebSocket closed (the sender sees the transfer
//     fail), and the transfer ends with that error, so the sink is aborted
//     and nothing half-received passes for a whole file.

import (
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall/js"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// DefaultBacklogLimit is BacklogLimit's default. Measured receiving from
// `wormhole send` (Python 0.12) through our relay on loopback (a network
// as fast as a LAN, or faster), the backlog in Firefox ESR and WebKitGTK
// peaked at 97-99% of the file (250-253 MiB of 256 MiB, 186 of 192): the
// sender delivers the whole file in a few seconds, the receiver stores
// 5-13 MiB/s on a loaded 2-core machine. On a WAN, whose bandwidth is
// below that, it stays near zero. So the bound is a memory budget, not a
// speed match: 512 MiB of ArrayBuffers is what a desktop tab of either
// engine holds without trouble (a phone's Safari kills a tab at 1-2 GiB),
// so a LAN receive of up to about 512 MiB succeeds, and a larger one fails
// clearly instead of growing until the tab is killed.
const DefaultBacklogLimit = 512 << 20

// LaggingMark: above this many bytes waiting the receiver is reported as
// lagging (about a second of a fast LAN).
const LaggingMark = 16 << 20

// BacklogLimit is the most the plain WebSocket path holds of received,
// unread data, per connection, before it fails the connection with
// ErrReceiveBacklog. Set it before a transfer starts; 0 or less means
// DefaultBacklogLimit.
var BacklogLimit = DefaultBacklogLimit

// Process-wide figures over all plain WebSocket connections.
var (
	backlogNow  atomic.Int64
	backlogPeak atomic.Int64
)

// Backlog returns how many received bytes wait unread in plain WebSocket
// connections right now, and the most that waited since the last
// ResetBacklogPeak. Under WebSocketStream both stay 0: the browser stops
// reading the socket instead.
func Backlog() (now, peak int64) { return backlogNow.Load(), backlogPeak.Load() }

// ResetBacklogPeak starts a new peak (at the start of a receive).
func ResetBacklogPeak() { backlogPeak.Store(backlogNow.Load()) }

func backlogLimit() int {
	if BacklogLimit <= 0 {
		return DefaultBacklogLimit
	}
	return BacklogLimit
}

// addBacklog records n more (or, negative, fewer) bytes waiting.
func addBacklog(n int) {
	now := backlogNow.Add(int64(n))
	for {
		p := backlogPeak.Load()
		if now <= p || backlogPeak.CompareAndSwap(p, now) {
			return
		}
	}
}

// queue1 takes one received message in, or fails the connection when it
// would take the backlog over the limit.
func (c *browserWS) queue1(m message) {
	c.mu.Lock()
	if c.closed || c.err != nil {
		c.mu.Unlock()
		return
	}
	if limit := backlogLimit(); c.queued+m.n > limit {
		c.mu.Unlock()
		c.failRead(errs.Wrap("websocket "+c.url, errs.Suffix(ErrReceiveBacklog,
			" ("+mib(c.queued+m.n)+" waiting unread, the limit is "+mib(limit)+")")))
		return
	}
	if c.wake(m) { // a JSReader's read() was waiting: nothing queues
		c.mu.Unlock()
		return
	}
	c.queue = append(c.queue, m)
	c.queued += m.n
	c.mu.Unlock()
	addBacklog(m.n)
	c.poke()
}

// failRead fails the connection's reads with err (the backlog's bound or a
// text message): what waits unread is dropped, a waiting read() ends, the
// WebSocket is closed (the sender's side of the relay closes with it, so
// the sender sees the transfer fail and nothing more arrives), and the
// hook set by OnReadFailure runs.
func (c *browserWS) failRead(err error) {
	c.mu.Lock()
	if c.closed || c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.readFailed = true
	c.dropQueue()
	c.wake(message{})
	hook := c.onFail
	c.mu.Unlock()
	_ = jsutil.Catch(func() { c.ws.Call("close", 1000) })
	c.poke()
	if hook != nil {
		hook()
	}
}

// OnReadFailure arranges for fn to run once if c's reads fail because
// the backlog passed its bound or the relay broke the protocol; stop
// undoes it. A reader waiting on a slow sink (a JS data path holding no
// read) learns of the failure only at its next read; fn lets it stop at
// once. It does nothing for other connections.
func OnReadFailure(c net.Conn, fn func()) (stop func()) {
	ws := browserConn(c)
	if ws == nil {
		return func() {}
	}
	ws.mu.Lock()
	ws.onFail = fn
	ws.mu.Unlock()
	return func() {
		ws.mu.Lock()
		ws.onFail = nil
		ws.mu.Unlock()
	}
}

// dropQueue forgets what waits unread; c.mu must be held.
func (c *browserWS) dropQueue() {
	addBacklog(-c.queued)
	clear(c.queue)
	c.queue, c.head, c.queued = nil, 0, 0
}

// readPlain is Read on the plain path: it copies from the oldest waiting
// message straight into p (one copy, no allocation), waiting for one if
// none is there.
func (c *browserWS) readPlain(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	timeout := c.readDeadline.channel()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if len(c.queue) > 0 {
			m := c.queue[0]
			n := min(len(p), m.n-c.head)
			src := m.u
			if c.head > 0 || n < m.n {
				src = m.u.Call("subarray", c.head, c.head+n)
			}
			js.CopyBytesToGo(p[:n], src)
			c.head += n
			c.queued -= n
			if c.head == m.n {
				c.queue[0] = message{}
				c.queue = c.queue[1:]
				c.head = 0
			}
			c.mu.Unlock()
			addBacklog(-n)
			return n, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		select {
		case <-c.signal:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// mib formats a byte count for an error message.
func mib(n int) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
