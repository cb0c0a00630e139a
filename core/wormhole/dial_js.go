//go:build js

package wormhole

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// The mailbox connection in the browser, on the browser's own WebSocket
// object. coder/websocket would do the same job, but its js Dial returns
// an *http.Response, which links net/http and, through its init, TLS,
// x509 and half of crypto: most of a megabyte of wasm for nothing.
//
// Mailbox traffic is a few small JSON messages, so there is no flow
// control here (unlike core/transitnet's transit connections): writes are
// handed to the browser at once, and received messages wait in a queue
// that is bounded in bytes.

const (
	// maxUnread bounds the bytes received but not yet read; the driver
	// reads continuously, so reaching it means something is badly wrong.
	maxUnread = 4 * mailbox.MaxMessageSize
	// closeWait bounds how long Close waits for the server's close frame,
	// like coder/websocket's Close does natively.
	closeWait = 5 * time.Second
	// normalClosure is the only code (besides 3000-4999) a page may send;
	// the browser itself sends 1001 "going away" when the page unloads.
	normalClosure = 1000
)

// errClosed: Read or Write after Close or CloseNow.
var errClosed = errs.Wrap("websocket", net.ErrClosed)

type browserConn struct {
	url       string
	ws        js.Value
	listeners jsutil.Listeners

	mu       sync.Mutex
	queue    [][]byte
	unread   int           // bytes in queue
	err      error         // why reading ended (after the queue is drained)
	closing  bool          // Close or CloseNow was called
	signal   chan struct{} // buffered 1: queue or err changed
	closedEv chan struct{} // closed by the close event
}

func dialMailbox(ctx context.Context, url string) (msgConn, error) {
	var ws js.Value
	if err := jsutil.Catch(func() { ws = js.Global().Get("WebSocket").New(url) }); err != nil {
		return nil, errs.Wrap("websocket "+url, err)
	}
	ws.Set("binaryType", "arraybuffer")
	c := &browserConn{url: url, ws: ws, signal: make(chan struct{}, 1), closedEv: make(chan struct{})}
	opened := make(chan error, 1)
	report := func(err error) {
		select {
		case opened <- err:
		default:
		}
	}
	c.on("open", func(js.Value) { report(nil) })
	c.on("error", func(js.Value) {
		// The browser tells scripts no more than this, on purpose; the
		// close event that follows has the code.
		report(errors.New("connection failed"))
	})
	c.on("message", c.received)
	c.on("close", func(e js.Value) {
		code := e.Get("code").Int()
		report(errors.New("closed during the handshake (code " + strconv.Itoa(code) + ")"))
		var err error
		if e.Get("wasClean").Bool() {
			err = errs.Wrap("websocket "+c.url+": closed by the server (code "+strconv.Itoa(code)+")", io.EOF)
		} else {
			err = errs.Wrap("websocket "+c.url+": connection lost (code "+strconv.Itoa(code)+")", io.ErrUnexpectedEOF)
		}
		c.fail(err)
		close(c.closedEv)
		// close is the last event a WebSocket fires.
		go c.release()
	})
	select {
	case err := <-opened:
		if err != nil {
			_ = c.CloseNow()
			return nil, errs.Wrap("websocket "+url, err)
		}
		return c, nil
	case <-ctx.Done():
		_ = c.CloseNow()
		return nil, errs.Wrap("websocket "+url, context.Cause(ctx))
	}
}

func (c *browserConn) on(event string, fn func(js.Value)) { c.listeners.On(c.ws, event, fn) }

func (c *browserConn) release() { c.listeners.Release() }

// received queues one message, text or binary, unless it breaks the
// limits; then the connection fails as coder/websocket's does when a
// message exceeds its read limit.
func (c *browserConn) received(e js.Value) {
	b := jsutil.Bytes(e.Get("data"))
	c.mu.Lock()
	var err error
	switch {
	case c.err != nil:
		c.mu.Unlock()
		return
	case len(b) > mailbox.MaxMessageSize:
		err = errors.New("websocket " + c.url + ": message of " + strconv.Itoa(len(b)) + " bytes exceeds the limit of " + strconv.Itoa(mailbox.MaxMessageSize))
	case c.unread+len(b) > maxUnread:
		err = errors.New("websocket " + c.url + ": more than " + strconv.Itoa(maxUnread) + " bytes received and not read")
	default:
		c.queue = append(c.queue, b)
		c.unread += len(b)
	}
	c.mu.Unlock()
	if err != nil {
		c.fail(err)
		_ = jsutil.Catch(func() { c.ws.Call("close", normalClosure) })
	}
	c.poke()
}

// fail records why reading ends, unless a reason is already known.
func (c *browserConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.poke()
}

func (c *browserConn) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Read returns the queued messages in order, then the reason the
// connection ended. One goroutine reads at a time (the driver's reader).
func (c *browserConn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 && !c.closing {
			b := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.unread -= len(b)
			c.mu.Unlock()
			return b, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-c.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Write sends data as one text message (a JS string sends as text). The
// browser queues it; a connection that fails later fails the next Read.
func (c *browserConn) Write(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return errClosed
	}
	if c.ws.Get("readyState").Int() != 1 { // not OPEN
		return errs.Wrap("websocket "+c.url+": not open", net.ErrClosed)
	}
	if err := jsutil.Catch(func() { c.ws.Call("send", string(data)) }); err != nil {
		return errs.Wrap("websocket "+c.url, err)
	}
	return nil
}

// Close starts the closing handshake and waits for it to finish, or for
// closeWait.
func (c *browserConn) Close() error {
	if !c.startClose() {
		return nil
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.closedEv:
	case <-t.C:
		c.release() // no close event within closeWait: it is not coming
	}
	return nil
}

// CloseNow starts the closing handshake and returns. A page cannot drop
// a WebSocket without one; the close event releases the callbacks later.
func (c *browserConn) CloseNow() error {
	if c.startClose() {
		// Should the close event never come, release anyway.
		time.AfterFunc(2*closeWait, c.release)
	}
	return nil
}

// startClose marks the connection closing (so Read stops returning
// messages) and asks the browser to close it; false if already done.
func (c *browserConn) startClose() bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	if c.err == nil {
		c.err = errClosed
	}
	c.mu.Unlock()
	c.poke()
	_ = jsutil.Catch(func() { c.ws.Call("close", normalClosure) })
	return true
}
