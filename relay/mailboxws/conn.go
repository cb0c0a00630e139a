package mailboxws

import (
	"bufio"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/mailbox"
)

type wsConn struct {
	s    *Server
	id   mailbox.ConnID
	ws   *websocket.Conn
	nc   net.Conn
	cork *corkWriter
	br   *bufio.Reader // coder/websocket reads frames through it
	ip   string
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

	mu       sync.Mutex
	queue    []delivery // allocated only while frames wait
	queued   int64
	inflight int64 // bytes of the frames writeLoop is writing
	// written wakes a reader waiting in waitWritten (allocated by it).
	written chan struct{}
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
	c.wakeLocked()
	c.mu.Unlock()
}

// readPauseBytes is how much a connection may have waiting to be written
// before its reader stops reading (see waitWritten).
const readPauseBytes = 256 << 10

// waitWritten blocks the reader while more than limit bytes wait to be
// written to the client, or until the connection closes.
func (c *wsConn) waitWritten(limit int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.queued+c.inflight > limit && !c.closed && !c.closing {
		if c.written == nil {
			c.written = make(chan struct{}, 1)
		}
		ch := c.written
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// wakeLocked wakes a reader in waitWritten. c.mu must be held.
func (c *wsConn) wakeLocked() {
	if c.written != nil {
		select {
		case c.written <- struct{}{}:
		default:
		}
	}
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
		c.wakeLocked()
	} else {
		c.queued += int64(len(d.data))
		if c.queued > c.s.maxQueued() {
			// The client does not read; nothing good can come of
			// buffering more for it.
			c.queue = nil
			c.queued = 0
			c.closing = true
			c.wakeLocked()
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
		c.inflight = c.queued
		c.queued = 0
		c.wakeLocked()
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
			if d.replay != nil {
				size += 64 << 10 // as much as the cork holds
			}
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
			if d.replay != nil {
				err = c.writeReplay(d.replay)
			} else {
				err = c.ws.Write(context.Background(), websocket.MessageText, d.data)
			}
			if err != nil {
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
			c.inflight = 0
			c.wakeLocked()
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.inflight = 0
		c.wakeLocked()
		c.mu.Unlock()
	}
}

// writeReplay writes a replay's frames, encoding each just before it is
// written: a slow reader holds one frame, not the whole mailbox.
func (c *wsConn) writeReplay(r *mailbox.Replay) error {
	for i := range r.Msgs {
		if err := c.ws.Write(context.Background(), websocket.MessageText, r.Frame(i)); err != nil {
			return err
		}
	}
	return nil
}
