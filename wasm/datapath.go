//go:build js && wasm

package main

// The JS data path (web/datapath/, loaded by worker.js as
// self.wasmholeDataPath) as a wormhole.DataPath: a file's bytes go from
// the Blob through SHA-256 and parallel libsodium workers straight into
// the transit WebSocketStream, and received records the other way into
// the sink, without crossing into Go. Go keeps the offer, the keys, the
// transit race and the ack, and is the fallback for what the JS path
// declines: a directory's zip, an unpacked folder's spool file written
// mid-way, a transfer that may resume, or a page that loaded without the
// bundle. Sends take either kind of socket (a sending page's is a plain
// WebSocket); receives only a WebSocketStream (see Receive). The workers
// are the page's, reached through MessagePorts (web/wasmhole.js _spawn).

import (
	"context"
	"errors"
	"syscall/js"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/transitnet"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

type jsDataPath struct{ api js.Value }

// dataPath returns the JS data path, or nil where worker.js did not load
// it (the page asked for the Go path, or the bundle is missing).
func dataPath() wormhole.DataPath {
	api := js.Global().Get("wasmholeDataPath")
	if api.Type() != js.TypeObject {
		return nil
	}
	return jsDataPath{api: api}
}

// warmDataPath starts the data path's workers ahead of a transfer, while
// the peer is still being reached, so that a receive does not wait for
// them with its bytes piling up in the backlog (Firefox: the whole 256 MiB
// of a loopback receive had arrived before they answered).
func warmDataPath() {
	api := js.Global().Get("wasmholeDataPath")
	if api.Type() == js.TypeObject && api.Get("warm").Type() == js.TypeFunction {
		_ = jsutil.Catch(func() { api.Call("warm") })
	}
}

// readyWait bounds the wait for the data path's workers to start and load
// their libraries (100-500 ms measured in Firefox, once per page).
const readyWait = 15 * time.Second

// ready reports whether the data path's workers are loaded and answering.
// Where one is not, the Go pipeline moves the bytes instead: a worker
// that never answers would stall the transfer for good.
func (d jsDataPath) ready(ctx context.Context) bool {
	if d.api.Get("whenReady").Type() != js.TypeFunction {
		return true
	}
	p, err := call(d.api, "whenReady", readyWait.Milliseconds())
	if err != nil {
		return false
	}
	v, err := jsutil.Await(ctx, p)
	return err == nil && v.Truthy()
}

func (d jsDataPath) Send(ctx context.Context, s wormhole.DataSend) ([]byte, error) {
	br, ok := s.Source.(*blobReader)
	if !ok || br.reader.Truthy() || !d.ready(ctx) {
		return nil, wormhole.ErrDataPathDeclined
	}
	args, release := d.args(s.Records, s.Size, s.Progress)
	defer release()
	// JSWriter keeps a read outstanding for the ack while JS writes; over
	// a plain WebSocket (a sending page's) Go's onmessage queues it.
	if writer, ok := transitnet.JSWriter(s.Conn); ok {
		args.Set("writer", writer)
	} else if ws, ok := transitnet.JSSocket(s.Conn); ok {
		args.Set("socket", ws)
	} else {
		return nil, wormhole.ErrDataPathDeclined
	}
	br.done = true // the JS path reads the Blob; the Go reader must not start
	args.Set("blob", br.blob)
	args.Set("offset", float64(s.Offset))
	v, err := d.run(ctx, "send", args)
	if err != nil {
		return nil, err
	}
	return bytesFromJSArray(v), nil
}

func (d jsDataPath) Receive(ctx context.Context, r wormhole.DataReceive) ([]byte, error) {
	// Over a plain WebSocket (Firefox, Safari: no WebSocketStream) the Go
	// pipeline receives at least as fast: the batches would reach the
	// page's workers through MessagePorts, which cost Firefox more than
	// the parallel crypto saves (measured on loopback, 64 MiB into
	// memory: Firefox Go 22 MiB/s, JS 12; WebKit 12 and 12).
	if _, plain := transitnet.JSSocket(r.Conn); plain {
		return nil, wormhole.ErrDataPathDeclined
	}
	if !d.ready(ctx) {
		return nil, wormhole.ErrDataPathDeclined
	}
	sink := js.Global().Get("Object").New()
	var pw *portWriter
	var lent int // the credits taken from pw, given back if we decline
	switch w := r.Dest.(type) {
	case *portWriter:
		port, credits, err := w.detach()
		if err != nil {
			return nil, errs.Chain(wormhole.ErrDataIO, err)
		}
		pw, lent = w, credits
		sink.Set("port", port)
		sink.Set("credits", credits)
	case *fileWriter:
		if len(w.buf) > 0 {
			return nil, wormhole.ErrDataPathDeclined
		}
		sink.Set("writable", w.writable)
	default:
		return nil, wormhole.ErrDataPathDeclined
	}
	// A WebSocketStream's reader, or one over a plain WebSocket's bounded
	// receive queue (Firefox, Safari): either way the records are opened
	// by the data path's crypto workers, much faster there than Go.
	reader, ok := transitnet.JSReader(r.Conn)
	if !ok {
		if pw != nil {
			// Without them the Go pipeline would wait for credits the
			// consumer already gave (Firefox and WebKit, which have no
			// WebSocketStream, hung here).
			pw.attach(lent, "", "")
		}
		return nil, wormhole.ErrDataPathDeclined
	}
	args, release := d.args(r.Records, r.Size, r.Progress)
	defer release()
	args.Set("reader", reader)
	args.Set("sink", sink)
	args.Set("buffered", bytesToJS(transitnet.TakeBuffered(r.Conn)))
	// A job waiting on a slow sink holds no read, so it would learn of
	// the backlog's bound only once the sink took another chunk: it is
	// stopped at once instead.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer transitnet.OnReadFailure(r.Conn, cancel)()
	job, res, err := d.start(ctx, "receive", args)
	switch {
	case pw == nil:
	case job.Type() == js.TypeObject:
		pw.attach(job.Get("credits").Int(), job.Get("sinkError").String(), job.Get("sinkMessage").String())
	default: // the job never started
		pw.attach(lent, "", "")
	}
	if ferr := transitnet.ReadFailure(r.Conn); err != nil && ferr != nil {
		return nil, ferr // the backlog's bound, not "cancelled" or "the connection closed"
	}
	if err != nil {
		return nil, err
	}
	return bytesFromJSArray(res.Get("sha256")), nil
}

// args are the options both directions share; release frees the
// progress callback once the job settled.
func (d jsDataPath) args(rec wormhole.Records, size int64, progress func(int64)) (js.Value, func()) {
	o := js.Global().Get("Object").New()
	o.Set("key", bytesToJS(rec.Key))
	o.Set("next", float64(rec.Next))
	o.Set("size", float64(size))
	if progress == nil {
		return o, func() {}
	}
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		progress(int64(args[0].Float()))
		return nil
	})
	o.Set("onProgress", f)
	return o, f.Release
}

func (d jsDataPath) run(ctx context.Context, op string, args js.Value) (js.Value, error) {
	_, v, err := d.start(ctx, op, args)
	return v, err
}

// start runs one job of the JS data path until it settles; ctx cancels it.
func (d jsDataPath) start(ctx context.Context, op string, args js.Value) (job, result js.Value, err error) {
	job, err = call(d.api, op, args)
	if err != nil {
		return js.Value{}, js.Value{}, err
	}
	stop := context.AfterFunc(ctx, func() { job.Call("cancel", "cancelled") })
	defer stop()
	result, err = await(job.Get("done"))
	if err != nil {
		return job, result, dataPathError(err)
	}
	return job, result, nil
}

// dataPathError maps the names of the JS data path's errors to the Go
// sentinels the core and the page's error codes know.
func dataPathError(err error) error {
	var je *jsutil.ValueError
	if !errors.As(err, &je) || je.Value.Type() != js.TypeObject {
		return err
	}
	switch je.Value.Get("name").String() {
	case "io":
		return errs.Chain(wormhole.ErrDataIO, err)
	case "save-failed":
		return errs.Chain(wormhole.ErrDataIO, errs.Chain(errSaveFailed, err))
	case "cancelled":
		return errs.Chain(wormhole.ErrDataIO, errs.Chain(errSinkCancelled, err))
	case "decrypt":
		return errs.Chain(transit.ErrDecrypt, err)
	case "nonce":
		return errs.Chain(transit.ErrBadNonce, err)
	case "too-large":
		return errs.Chain(transit.ErrRecordTooLarge, err)
	case "short":
		return errs.Chain(transit.ErrShortRecord, err)
	}
	return err
}

// bytesFromJSArray copies a Uint8Array into Go.
func bytesFromJSArray(v js.Value) []byte {
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}
