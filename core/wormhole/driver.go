package wormhole

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wasmhole/wasmhole/core/client"
	"github.com/wasmhole/wasmhole/core/internal/logging"
	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// The driver: the only code that does IO for the mailbox. Everything runs
// the machine under w.mu; the goroutines are one reader and one writer per
// WebSocket connection, short-lived dialers, and the reconnect timer.
// Writes go through a per-connection queue so that a slow socket never
// blocks the reader while it holds the lock.

// dialTimeout bounds one connection attempt; the machine retries.
const dialTimeout = 30 * time.Second

// timerHandle is the part of *time.Timer the driver uses.
type timerHandle interface{ Stop() bool }

// msgConn is one connection to the mailbox server, message by message.
// dial_native.go implements it on coder/websocket, dial_js.go on the
// browser's own WebSocket (which keeps net/http out of the wasm).
type msgConn interface {
	// Read returns the next message, text or binary alike. It fails once
	// the connection is lost or closed, or when ctx ends.
	Read(ctx context.Context) ([]byte, error)
	// Write sends data as one TEXT message (docs/protocol.md §1.1: the Python
	// client rejects binary ones).
	Write(ctx context.Context, data []byte) error
	// Close closes with a normal-closure code and waits, a few seconds at
	// most, for the server's close frame.
	Close() error
	// CloseNow drops the connection without waiting for anything.
	CloseNow() error
}

// connect opens one connection, giving up after dialTimeout.
func connect(ctx context.Context, url string) (msgConn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return dialMailbox(ctx, url)
}

// dialWS opens a session's first connection. If that fails the server was
// never reached, so the error wraps ErrRelayUnreachable, unless the
// caller's ctx ended first (then it is only ctx's error). Reconnects
// (dial) do not use it: their failures go to the machine, which retries.
func dialWS(ctx context.Context, url string) (msgConn, error) {
	c, err := connect(ctx, url)
	if err != nil && ctx.Err() == nil {
		return nil, errs.Chain(ErrRelayUnreachable, err)
	}
	return c, err
}

// wsConn is one WebSocket connection with its writer queue.
type wsConn struct {
	ws     msgConn
	n      int // connection number, for logs
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	queue  [][]byte
	ending bool          // hang up once the queue is written
	wake   chan struct{} // signals the writer, buffered 1
}

func (c *wsConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *wsConn) enqueue(data []byte) {
	c.mu.Lock()
	c.queue = append(c.queue, data)
	c.mu.Unlock()
	c.signal()
}

// hangup closes the connection politely after the queued writes.
func (c *wsConn) hangup() {
	c.mu.Lock()
	c.ending = true
	c.mu.Unlock()
	c.signal()
}

// writer sends the queued messages, each as one TEXT frame.
func (c *wsConn) writer() {
	for {
		c.mu.Lock()
		q, ending := c.queue, c.ending
		c.queue = nil
		c.mu.Unlock()
		for _, data := range q {
			if err := c.ws.Write(c.ctx, data); err != nil {
				c.cancel() // the reader notices and reports the loss
				return
			}
		}
		if ending && len(q) == 0 {
			// Close waits briefly for the server's close frame, which
			// the reader goroutine consumes.
			_ = c.ws.Close()
			c.cancel()
			return
		}
		if len(q) == 0 {
			select {
			case <-c.wake:
			case <-c.ctx.Done():
				return
			}
		}
	}
}

// attach makes ws the live connection and tells the machine. Called with
// w.mu held.
func (w *Wormhole) attach(ws msgConn) {
	ctx, cancel := context.WithCancel(context.Background())
	w.dials++
	c := &wsConn{ws: ws, n: w.dials, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1)}
	w.conn = c
	go c.writer()
	go w.reader(c)
	if logging.Enabled {
		w.log.V(1).Info("connected", "url", w.url, "conn", c.n)
	}
	w.handle(mailbox.Connected{Now: time.Now()})
}

func (w *Wormhole) reader(c *wsConn) {
	defer func() {
		c.cancel()
		_ = c.ws.CloseNow()
	}()
	for {
		data, err := c.ws.Read(c.ctx)
		w.mu.Lock()
		if w.conn != c {
			w.mu.Unlock()
			return // hung up, or replaced: nobody waits for this one
		}
		if err != nil {
			w.conn = nil
			if logging.Enabled {
				w.log.V(1).Info("connection lost", "conn", c.n, "err", err.Error())
			}
			w.handle(mailbox.Disconnected{Now: time.Now(), Err: err})
			w.mu.Unlock()
			return
		}
		if logging.Enabled {
			w.log.V(2).Info("received", "conn", c.n, "data", string(data))
		}
		w.handle(mailbox.Received{Now: time.Now(), Data: data})
		w.mu.Unlock()
	}
}

// dial connects in the background, as the machine asked.
func (w *Wormhole) dial() {
	sess := w.sess
	go func() {
		ws, err := connect(sess, w.url)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.closed {
			if ws != nil {
				_ = ws.CloseNow()
			}
			return
		}
		if err != nil {
			if logging.Enabled {
				w.log.V(1).Info("reconnect failed", "url", w.url, "err", err.Error())
			}
			w.handle(mailbox.Disconnected{Now: time.Now(), Err: err})
			return
		}
		w.attach(ws)
	}()
}

// handle runs one event through the machine and performs the actions.
// Called with w.mu held.
func (w *Wormhole) handle(ev client.Event) {
	for _, a := range w.m.Handle(ev) {
		switch a := a.(type) {
		case mailbox.Send:
			if w.conn == nil {
				// The machine only sends while connected; losing this
				// would be a bug, so say so loudly in the logs.
				if logging.Enabled {
					w.log.Error(errors.New("send without a connection"), "dropped", "data", string(a.Data))
				}
				continue
			}
			if logging.Enabled {
				w.log.V(2).Info("send", "conn", w.conn.n, "data", string(a.Data))
			}
			w.conn.enqueue(a.Data)
		case mailbox.Dial:
			w.dial()
		case mailbox.Hangup:
			if w.conn != nil {
				w.conn.hangup()
				w.conn = nil
			}
			w.stopTimer()
		case mailbox.SetTimer:
			w.stopTimer()
			name := a.Name
			if logging.Enabled {
				w.log.V(1).Info("reconnecting", "after", a.After.String())
			}
			w.timer = time.AfterFunc(a.After, func() {
				w.mu.Lock()
				defer w.mu.Unlock()
				if !w.closed {
					w.handle(mailbox.TimerFired{Name: name, Now: time.Now()})
				}
			})
		case mailbox.Welcome:
			w.welcomed, w.motd = true, a.MOTD
		case mailbox.Claimed:
			w.claimed = true
		case client.CodeReady:
			w.code = a.Code
		case client.KeyConfirmed:
			w.verifier = a.Verifier
		case client.PeerVersion:
			w.versions = a.AppVersions
		case client.AppMessage:
			w.inbox = append(w.inbox, a.Data)
		case client.Sent:
			w.stored[a.Phase] = true
		case client.Failed:
			if w.err == nil {
				w.err = a.Err
			}
			if logging.Enabled {
				w.log.V(1).Info("session failed", "err", a.Err.Error())
			}
		case client.Closed:
			w.closed = true
			w.cancel()
			if logging.Enabled {
				w.log.V(1).Info("closed", "mood", a.Mood)
			}
		default:
			if logging.Enabled {
				w.log.V(1).Info("ignored action", "action", a)
			}
		}
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *Wormhole) stopTimer() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// abort ends the session without waiting for the server: used when a
// caller's context expires in New or Close.
func (w *Wormhole) abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed, w.closing = true, true
	if w.conn != nil {
		w.conn.cancel()
		w.conn = nil
	}
	w.stopTimer()
	w.cancel()
	close(w.changed)
	w.changed = make(chan struct{})
}
