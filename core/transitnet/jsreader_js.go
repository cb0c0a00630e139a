//go:build js

package transitnet

// A plain WebSocket's receive queue as a reader a data path in JS can
// pull from (core/wormhole.DataPath), like a WebSocketStream's reader: in
// browsers without WebSocketStream (Firefox, Safari) the received records
// can then be opened by the JS data path's parallel crypto workers instead
// of the Go pipeline, which is the slowest stage there (the Go pipeline's
// secretbox and SHA-256 in wasm ran at 28 and 56 MB/s, one thread), so
// the backlog grows more slowly and is rarely near its bound.
//
// The messages stay the browser's ArrayBuffers throughout, bounded as for
// Read (backlog_js.go).

import (
	"io"
	"net"
	"syscall/js"
)

// JSReader returns a reader for the received bytes of a transit
// connection made by Connect, with the ReadableStreamDefaultReader's
// read() and cancel(): the WebSocketStream's own reader, or, on a plain
// WebSocket, one over its receive queue. ok is false for other
// connections, or when a read is outstanding.
//
// The caller must not read c while it uses the reader, and must wait for
// each read() to settle before the next (as a stream reader's user does).
// On the plain path a read fails once the backlog passed its bound;
// ReadFailure then says so.
func JSReader(c net.Conn) (reader js.Value, ok bool) {
	ws := browserConn(c)
	if ws == nil {
		return js.Value{}, false
	}
	if ws.stream.Truthy() {
		r, _, ok := JSStream(c)
		return r, ok
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return js.Value{}, false
	}
	if ws.jsReader.IsUndefined() {
		ws.jsReader = ws.newJSReader()
	}
	return ws.jsReader, true
}

// ReadFailure returns the error that failed c's reads when its backlog
// passed the bound (it wraps ErrReceiveBacklog) or the relay broke the
// protocol, else nil: what a reader that saw the reads end, or was
// stopped by OnReadFailure's hook, reports instead of "closed".
func ReadFailure(c net.Conn) error {
	ws := browserConn(c)
	if ws == nil {
		return nil
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.readFailed {
		return ws.err
	}
	return nil
}

// jsWaiter is the one outstanding read() of a JSReader.
type jsWaiter struct{ resolve, reject js.Value }

// newJSReader makes the reader object; c.mu must be held.
func (c *browserWS) newJSReader() js.Value {
	promise := js.Global().Get("Promise")
	executor := c.jsFunc(func(_ js.Value, args []js.Value) any {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.pop()
			c.mu.Unlock()
			addBacklog(-m.n)
			args[0].Invoke(readValue(m.u))
			return nil
		}
		closed, err := c.closed, c.err
		if !closed && err == nil {
			c.waiter = &jsWaiter{resolve: args[0], reject: args[1]}
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		settle(args[0], args[1], closed, err)
		return nil
	})
	r := js.Global().Get("Object").New()
	r.Set("read", c.jsFunc(func(js.Value, []js.Value) any { return promise.New(executor) }))
	r.Set("cancel", c.jsFunc(func(js.Value, []js.Value) any {
		return promise.Call("resolve")
	}))
	return r
}

// pop takes the oldest waiting message whole (from head on); c.mu held.
func (c *browserWS) pop() message {
	m := c.queue[0]
	c.queue[0] = message{}
	c.queue = c.queue[1:]
	if c.head > 0 {
		m = message{u: m.u.Call("subarray", c.head), n: m.n - c.head}
		c.head = 0
	}
	c.queued -= m.n
	return m
}

// wake hands a message (or, with m.n == 0, the end) to the outstanding
// read(), if there is one; c.mu must be held. It reports whether it did.
func (c *browserWS) wake(m message) bool {
	w := c.waiter
	if w == nil {
		return false
	}
	c.waiter = nil
	if m.n > 0 {
		w.resolve.Invoke(readValue(m.u))
		return true
	}
	settle(w.resolve, w.reject, c.closed, c.err)
	return true
}

// readValue is what read() resolves to for one message.
func readValue(u js.Value) js.Value {
	v := js.Global().Get("Object").New()
	v.Set("value", u)
	v.Set("done", false)
	return v
}

// settle ends a read() at the end of the stream: done on a clean close,
// else rejected with the error's text.
func settle(resolve, reject js.Value, closed bool, err error) {
	switch {
	case closed:
		reject.Invoke(js.Global().Get("Error").New(net.ErrClosed.Error()))
	case err == io.EOF || err == nil: // nil: the end with no error recorded
		v := js.Global().Get("Object").New()
		v.Set("done", true)
		resolve.Invoke(v)
	default:
		reject.Invoke(js.Global().Get("Error").New(err.Error()))
	}
}

// jsFunc wraps fn as a JS function released with the connection's
// listeners.
func (c *browserWS) jsFunc(fn func(js.Value, []js.Value) any) js.Func {
	f := js.FuncOf(fn)
	c.readerFuncs = append(c.readerFuncs, f)
	return f
}

// releaseReader releases the reader's functions.
func (c *browserWS) releaseReader() {
	c.mu.Lock()
	funcs := c.readerFuncs
	c.readerFuncs = nil
	c.mu.Unlock()
	for _, f := range funcs {
		f.Release()
	}
}
