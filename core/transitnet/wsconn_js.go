//go:build js

package transitnet

// The browser's WebSocket as a net.Conn with flow control in both
// directions, for transit relay connections (a file's bytes).
//
// A WebSocket used naively (as coder/websocket's wasm Conn does) queues
// every Write in the browser without waiting, and buffers every received
// message without limit, so a sender faster than the network (or a network
// faster than the disk) grows memory by the size of the file. (That is
// fine for the mailbox's small messages: core/wormhole's dial_js.go.)
// Here:
//
//   - Where the browser has WebSocketStream (Chromium), reads pull from its
//     ReadableStream one message at a time, so a slow consumer stops the
//     browser reading the socket and TCP pushes back on the peer; writes
//     wait for the WritableStream's ready promise.
//   - Elsewhere (plain WebSocket), writes wait while bufferedAmount is
//     above a high-water mark until it drains below a low-water mark.
//     Received messages cannot be refused there; they wait, bounded, as
//     the browser's ArrayBuffers (backlog_js.go), and each Read copies
//     straight from them into the caller's buffer.
//
// Each Write is one binary message, so the relay line goes out alone as
// the relay requires; reads return the bytes of consecutive messages back
// to back, since their boundaries mean nothing.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall/js"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// errTextMessage: the relay sent a text message on a transit connection.
var errTextMessage = errors.New("the relay sent a text message; transit is binary")

// errNoListen: a browser cannot accept connections.
var errNoListen = errors.New("transitnet: a browser cannot listen for direct connections")

// Listen fails in the browser; callers fall back to relays (the core sets
// RelayOnly there anyway).
func Listen() (*Listener, []transit.DirectHint, error) { return nil, nil, errNoListen }

// Flow-control marks for the plain-WebSocket fallback: stop writing above
// highWater bytes queued in the browser, resume below lowWater.
const (
	highWater = 4 << 20
	lowWater  = 1 << 20
	// drainPoll is how often bufferedAmount is checked while waiting; the
	// browser fires no event when it drains.
	drainPoll = 2 * time.Millisecond
)

// UseWebSocketStream can be set to false (before any transfer) to force
// the plain WebSocket path, e.g. to compare both in tests.
var UseWebSocketStream = true

type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

// browserWS is a transit connection over the browser's WebSocket.
type browserWS struct {
	url string

	// WebSocketStream path.
	stream js.Value // the WebSocketStream
	reader js.Value // ReadableStreamDefaultReader
	writer js.Value // WritableStreamDefaultWriter

	// Plain WebSocket path.
	ws js.Value

	mu         sync.Mutex
	queue      []message     // received, not yet read (plain path)
	head       int           // bytes of queue[0] already read
	queued     int           // bytes in queue not yet read
	signal     chan struct{} // poked when queue, closed or err change
	closed     bool
	err        error // the first read-side error (io.EOF on a clean close)
	leftover   []byte
	pending    chan readResult // an outstanding reader.read() (stream path)
	readFailed bool            // err is failRead's (plain path)
	onFail     func()          // OnReadFailure's hook (plain path)

	// JSReader on the plain path (jsreader_js.go).
	jsReader    js.Value
	waiter      *jsWaiter
	readerFuncs []js.Func

	readDeadline  deadline
	writeDeadline deadline

	listeners jsutil.Listeners
}

// message is one received message of the plain path: a Uint8Array over
// the browser's ArrayBuffer, and its length.
type message struct {
	u js.Value
	n int
}

type readResult struct {
	data []byte
	err  error
}

// dialBrowserWebSocket uses WebSocketStream if stream is set and the
// browser has it.
func dialBrowserWebSocket(ctx context.Context, url string, stream bool) (net.Conn, error) {
	ctor := js.Global().Get("WebSocketStream")
	if stream && UseWebSocketStream && ctor.Type() == js.TypeFunction {
		return dialStream(ctx, ctor, url)
	}
	return dialPlain(ctx, url)
}

func dialStream(ctx context.Context, ctor js.Value, url string) (net.Conn, error) {
	var wss js.Value
	if err := jsutil.Catch(func() { wss = ctor.New(url) }); err != nil {
		return nil, errs.Wrap("websocket "+url, err)
	}
	opened, err := jsutil.Await(ctx, wss.Get("opened"))
	if err != nil {
		_ = jsutil.Catch(func() { wss.Call("close") })
		return nil, errs.Wrap("websocket "+url, err)
	}
	c := &browserWS{url: url, stream: wss, signal: make(chan struct{}, 1)}
	c.reader = opened.Get("readable").Call("getReader")
	c.writer = opened.Get("writable").Call("getWriter")
	return c, nil
}

func dialPlain(ctx context.Context, url string) (net.Conn, error) {
	var ws js.Value
	if err := jsutil.Catch(func() { ws = js.Global().Get("WebSocket").New(url) }); err != nil {
		return nil, errs.Wrap("websocket "+url, err)
	}
	ws.Set("binaryType", "arraybuffer")
	c := &browserWS{url: url, ws: ws, signal: make(chan struct{}, 1)}
	opened := make(chan error, 1)
	c.on("open", func(js.Value) {
		select {
		case opened <- nil:
		default:
		}
	})
	uint8Array := js.Global().Get("Uint8Array")
	c.on("message", func(e js.Value) {
		data := e.Get("data")
		if data.Type() == js.TypeString {
			// Transit is binary; a relay that sends text is broken.
			c.failRead(errs.Wrap("websocket "+url, errTextMessage))
			return
		}
		u := uint8Array.New(data)
		if n := u.Get("length").Int(); n > 0 { // an empty message carries nothing
			c.queue1(message{u: u, n: n})
		}
	})
	c.on("error", func(js.Value) {
		select {
		case opened <- errors.New("connection failed"):
		default:
		}
	})
	c.on("close", func(e js.Value) {
		select {
		case opened <- errors.New("closed during the handshake (code " + strconv.Itoa(e.Get("code").Int()) + ")"):
		default:
		}
		c.mu.Lock()
		if c.err == nil {
			if e.Get("wasClean").Bool() {
				c.err = io.EOF
			} else {
				c.err = errs.Wrap("websocket "+url+": connection lost (code "+strconv.Itoa(e.Get("code").Int())+")", io.ErrUnexpectedEOF)
			}
		}
		c.wake(message{})
		c.mu.Unlock()
		c.poke()
	})
	select {
	case err := <-opened:
		if err != nil {
			c.Close()
			return nil, errs.Wrap("websocket "+url, err)
		}
	case <-ctx.Done():
		c.Close()
		return nil, errs.Wrap("websocket "+url, ctx.Err())
	}
	return c, nil
}

func (c *browserWS) on(event string, fn func(js.Value)) { c.listeners.On(c.ws, event, fn) }

func (c *browserWS) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *browserWS) Read(p []byte) (int, error) {
	if !c.stream.Truthy() {
		return c.readPlain(p)
	}
	for {
		if len(c.leftover) > 0 {
			n := copy(p, c.leftover)
			c.leftover = c.leftover[n:]
			return n, nil
		}
		b, err := c.next()
		if err != nil {
			return 0, err
		}
		c.leftover = b
	}
}

// next returns the stream's next received message, waiting for it.
func (c *browserWS) next() ([]byte, error) {
	timeout := c.readDeadline.channel()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, net.ErrClosed
	}
	ch := c.startRead()
	c.mu.Unlock()
	select {
	case r := <-ch:
		c.mu.Lock()
		c.pending = nil
		c.mu.Unlock()
		if r.err != nil {
			return nil, r.err
		}
		return r.data, nil
	case <-timeout:
		return nil, os.ErrDeadlineExceeded
	case <-c.signal:
		// Close was called: the stream read rejects shortly; report now.
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		return c.next()
	}
}

// startRead starts the stream's next read unless one is outstanding, and
// returns the channel its result arrives on; c.mu must be held. One read
// at a time: the browser reads the socket only as fast as we ask, which
// is the whole point.
func (c *browserWS) startRead() chan readResult {
	if c.pending != nil {
		return c.pending
	}
	ch := make(chan readResult, 1)
	c.pending = ch
	p := c.reader.Call("read")
	go func() {
		v, err := jsutil.Await(context.Background(), p)
		switch {
		case err != nil:
			ch <- readResult{err: errs.Wrap("websocket "+c.url, err)}
		case v.Get("done").Bool():
			ch <- readResult{err: io.EOF}
		default:
			ch <- readResult{data: jsutil.Bytes(v.Get("value"))}
		}
	}()
	return ch
}

func (c *browserWS) Write(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	timeout := c.writeDeadline.channel()
	if c.stream.Truthy() {
		ctx, cancel := contextFor(timeout)
		_, err := jsutil.Await(ctx, c.writer.Get("ready"))
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return 0, os.ErrDeadlineExceeded
			}
			return 0, errs.Wrap("websocket "+c.url, err)
		}
		u := js.Global().Get("Uint8Array").New(len(p))
		js.CopyBytesToJS(u, p)
		// The write's own promise only fails together with the stream,
		// which the next ready (or read) reports; swallow it here. Each
		// Write stays one message: coalescing records into 1 MiB messages
		// was measured slower in Chromium (5 vs 10 MB/s), whose upload
		// cost is per byte, not per message.
		c.writer.Call("write", u).Call("catch", jsutil.IgnoreRejection)
		return len(p), nil
	}
	for c.ws.Get("bufferedAmount").Int() > highWater {
		for c.ws.Get("bufferedAmount").Int() > lowWater {
			if c.ws.Get("readyState").Int() > 1 { // CLOSING or CLOSED
				return 0, errs.Wrap("websocket "+c.url+": closed while sending", io.ErrClosedPipe)
			}
			select {
			case <-timeout:
				return 0, os.ErrDeadlineExceeded
			case <-time.After(drainPoll):
			}
		}
	}
	if c.ws.Get("readyState").Int() != 1 {
		return 0, errs.Wrap("websocket "+c.url+": not open", io.ErrClosedPipe)
	}
	u := js.Global().Get("Uint8Array").New(len(p))
	js.CopyBytesToJS(u, p)
	if err := jsutil.Catch(func() { c.ws.Call("send", u) }); err != nil {
		return 0, errs.Wrap("websocket "+c.url, err)
	}
	return len(p), nil
}

func (c *browserWS) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.poke()
	if c.stream.Truthy() {
		// Release the reader, then close through the writer, which sends
		// what is still queued (a receiver's ack) before the close
		// handshake. Calling WebSocketStream.close() under a pending read
		// and write crashed Chromium 156's renderer about one time in four.
		_ = jsutil.Catch(func() { c.reader.Call("cancel").Call("catch", jsutil.IgnoreRejection) })
		_ = jsutil.Catch(func() { closeVia(c.writer.Call("close"), c.stream) })
	} else {
		_ = jsutil.Catch(func() { c.ws.Call("close", 1000) })
		c.listeners.Remove(c.ws, "message")
		c.mu.Lock()
		c.dropQueue()
		c.wake(message{})
		c.mu.Unlock()
		// Release the callbacks after the close event had its chance.
		time.AfterFunc(5*time.Second, func() {
			c.listeners.Release()
			c.releaseReader()
		})
	}
	return nil
}

func (c *browserWS) LocalAddr() net.Addr  { return wsAddr("browser") }
func (c *browserWS) RemoteAddr() net.Addr { return wsAddr(c.url) }

func (c *browserWS) SetDeadline(t time.Time) error {
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}
func (c *browserWS) SetReadDeadline(t time.Time) error  { c.readDeadline.set(t); return nil }
func (c *browserWS) SetWriteDeadline(t time.Time) error { c.writeDeadline.set(t); return nil }

// deadline is a net.Conn deadline as a channel that is closed when it
// passes (nil when there is none).
type deadline struct {
	mu sync.Mutex
	t  time.Time
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	d.mu.Unlock()
}

func (d *deadline) channel() <-chan time.Time {
	d.mu.Lock()
	t := d.t
	d.mu.Unlock()
	if t.IsZero() {
		return nil
	}
	return time.After(time.Until(t))
}

// contextFor is a context that ends when timeout fires (never if nil).
func contextFor(timeout <-chan time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	if timeout == nil {
		return ctx, func() { cancel(nil) }
	}
	stop := make(chan struct{})
	go func() {
		select {
		case <-timeout:
			cancel(context.DeadlineExceeded)
		case <-stop:
		}
	}()
	return ctx, func() { close(stop); cancel(nil) }
}

// closeVia closes wss if the writer's close promise p fails; either way
// both callbacks are released once p settles.
func closeVia(p, wss js.Value) {
	var ok, fail js.Func
	release := func() { ok.Release(); fail.Release() }
	ok = js.FuncOf(func(js.Value, []js.Value) any { release(); return nil })
	fail = js.FuncOf(func(js.Value, []js.Value) any {
		_ = jsutil.Catch(func() { wss.Call("close") })
		release()
		return nil
	})
	p.Call("then", ok, fail)
}
