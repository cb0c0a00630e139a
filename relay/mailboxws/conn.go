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
