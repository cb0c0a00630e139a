//go:build js && wasm

// Command wasm is the Go half of the browser client: compiled with
// GOOS=js GOARCH=wasm it runs inside a dedicated Web Worker (web/worker.js)
// and installs one global object, self.wasmhole, whose methods the worker
// calls for the page (web/wasmhole.js documents the JS API built on top).
//
// Every long operation returns a Promise and runs on its own goroutine;
// while it waits for the network or for a file chunk, the Go scheduler hands
// the thread back to the worker's event loop, so the worker keeps answering
// messages. Progress and other events go out through an emit(event)
// callback that each call receives as its last argument.
//
// Handles: wormholes, transfers and offers live in a table here and the
// page refers to them by number, so no Go pointer ever crosses into JS.
//
// Bytes move in bounded chunks in both directions: files are read with
// Blob.slice().arrayBuffer() 1 MiB at a time, and received data goes out
// through a credit-based MessagePort protocol or a File System Access
// writable, so neither the worker nor the page ever holds a whole file.
package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"syscall/js"

	"github.com/wasmhole/wasmhole/core/words"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// version is reported by wasmhole.version(); the build does not stamp it.
const version = "wasmhole-wasm/1"

func main() {
	api := js.Global().Get("Object").New()
	set := func(name string, fn func(args []js.Value) any) {
		api.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any { return fn(args) }))
	}
	set("version", func([]js.Value) any { return version })
	set("complete", complete)
	set("validateCode", validateCode)
	set("cancel", cancel)
	set("backlog", backlog)
	registerLowLevel(set)
	registerTransfers(set)
	setBacklogLimit()
	js.Global().Set("wasmhole", api)
	if ready := js.Global().Get("wasmholeStarted"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {}
}

// complete(prefix) -> string[]: PGP-word completions of a partly typed code.
func complete(args []js.Value) any {
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return js.Global().Get("Array").New()
	}
	out := words.Complete(args[0].String())
	arr := js.Global().Get("Array").New(len(out))
	for i, s := range out {
		arr.SetIndex(i, s)
	}
	return arr
}

// validateCode(code) -> "" if the code has a valid shape, else a message
// to show as it is.
func validateCode(args []js.Value) any {
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return words.ErrEmptyCode.Error()
	}
	if err := words.Validate(args[0].String()); err != nil {
		return err.Error()
	}
	return ""
}

// handles maps the numbers the page holds to Go objects.
var handles = struct {
	sync.Mutex
	next int
	m    map[int]*handle
}{m: map[int]*handle{}}

// handle is one wormhole, transfer or offer, with the context that
// cancel(id) ends.
type handle struct {
	ctx    context.Context
	cancel context.CancelFunc
	obj    any
}

func newHandle(obj any) (int, *handle) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &handle{ctx: ctx, cancel: cancel, obj: obj}
	handles.Lock()
	defer handles.Unlock()
	handles.next++
	handles.m[handles.next] = h
	return handles.next, h
}

func lookup(v js.Value) (*handle, error) {
	if v.Type() != js.TypeNumber {
		return nil, errors.New("wasmhole: bad handle")
	}
	handles.Lock()
	defer handles.Unlock()
	h, ok := handles.m[v.Int()]
	if !ok {
		return nil, errors.New("wasmhole: handle " + strconv.Itoa(v.Int()) + " is closed")
	}
	return h, nil
}

func dropHandle(id int) {
	handles.Lock()
	h := handles.m[id]
	delete(handles.m, id)
	handles.Unlock()
	if h != nil {
		h.cancel()
	}
}

// cancel(id): abort whatever the handle is doing and forget it. Cancelling
// a running transfer tells the peer (the transfer's context ends, and the
// core sends the error message and closes the mailbox with mood "errory").
func cancel(args []js.Value) any {
	if len(args) > 0 && args[0].Type() == js.TypeNumber {
		dropHandle(args[0].Int())
	}
	return js.Undefined()
}

// promise runs fn on a new goroutine and returns a JS Promise of its result.
// A returned error becomes a rejection with a plain {name, message} object
// (see errorValue), which survives postMessage unchanged.
func promise(fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				reject.Invoke(errorValue(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := js.Global().Get("Promise").New(executor)
	executor.Release() // the executor ran synchronously inside New
	return p
}

// await and call are internal/jsutil's Await and Call under the short
// names this package's many call sites use. await has no deadline: an
// operation the page cancels is aborted by its own reader or writer.
func await(p js.Value) (js.Value, error) { return jsutil.Await(context.Background(), p) }

func call(v js.Value, method string, args ...any) (js.Value, error) {
	return jsutil.Call(v, method, args...)
}

// emitter wraps the emit callback a call received (or a no-op).
type emitter struct{ fn js.Value }

func emitterFrom(args []js.Value, i int) emitter {
	if len(args) > i && args[i].Type() == js.TypeFunction {
		return emitter{args[i]}
	}
	return emitter{}
}

func (e emitter) emit(typ string, fields map[string]any) {
	if e.fn.Type() != js.TypeFunction {
		return
	}
	o := js.Global().Get("Object").New()
	o.Set("type", typ)
	for k, v := range fields {
		o.Set(k, v)
	}
	e.fn.Invoke(o)
}

func bytesToJS(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// bytesFromJS copies a Uint8Array, ArrayBuffer or string argument.
func bytesFromJS(v js.Value) ([]byte, error) {
	switch {
	case v.Type() == js.TypeString:
		return []byte(v.String()), nil
	case v.InstanceOf(js.Global().Get("ArrayBuffer")):
		v = js.Global().Get("Uint8Array").New(v)
		fallthrough
	case v.InstanceOf(js.Global().Get("Uint8Array")):
		b := make([]byte, v.Get("length").Int())
		js.CopyBytesToGo(b, v)
		return b, nil
	}
	return nil, errors.New("wasmhole: expected a Uint8Array, ArrayBuffer or string")
}
