//go:build js

package jsutil

import (
	"context"
	"errors"
	"strings"
	"syscall/js"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// IgnoreRejection is a promise rejection handler that does nothing, for
// promises whose failure is reported elsewhere (so the browser does not
// log an unhandled rejection).
var IgnoreRejection = js.FuncOf(func(js.Value, []js.Value) any { return nil })

// Await waits for a JS promise to settle, or for ctx to end. A rejection
// becomes an error (see Error); when ctx ends first the error is ctx's
// cause.
func Await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: firstArg(args)}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: Error(firstArg(args))}
		return nil
	})
	p.Call("then", ok, fail)
	select {
	case r := <-ch:
		ok.Release()
		fail.Release()
		return r.v, r.err
	case <-ctx.Done():
		// The promise may still settle; keep the callbacks alive until then.
		go func() {
			<-ch
			ok.Release()
			fail.Release()
		}()
		if c := context.Cause(ctx); c != nil {
			return js.Undefined(), c
		}
		return js.Undefined(), ctx.Err()
	}
}

func firstArg(args []js.Value) js.Value {
	if len(args) > 0 {
		return args[0]
	}
	return js.Undefined()
}

// Error describes a thrown or rejected JS value: "Name: message" for an
// Error object other than a plain Error, its message for a plain one,
// "JavaScript error" for undefined or null, and String(v) for anything
// else. The error is a *ValueError, so a caller can read the value (its
// name, say) with errors.As.
func Error(v js.Value) error { return &ValueError{Value: v} }

// ValueError is a thrown or rejected JS value as a Go error.
type ValueError struct{ Value js.Value }

func (e *ValueError) Error() string {
	v := e.Value
	if v.IsUndefined() || v.IsNull() {
		return "JavaScript error"
	}
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			if n := v.Get("name"); n.Type() == js.TypeString && n.String() != "Error" {
				return n.String() + ": " + m.String()
			}
			return m.String()
		}
	}
	return js.Global().Call("String", v).String()
}

// Catch runs fn and turns a thrown JS exception into an error. Go panics
// other than js.Error pass through.
func Catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = Error(je.Value)
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// Call invokes method on v. A thrown JS exception becomes an error (see
// Error), and so does a v that is not an object or has no such method
// (syscall/js panics with a *js.ValueError or a "syscall/js: ..." string):
// a page passing the wrong kind of value gets an error, not a crashed
// program. Other panics pass through.
func Call(v js.Value, method string, args ...any) (res js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case js.Error:
				err = Error(e.Value)
			case *js.ValueError:
				err = errs.Wrap(method, e)
			case string:
				if !strings.HasPrefix(e, "syscall/js: ") {
					panic(r)
				}
				err = errors.New(e)
			default:
				panic(r)
			}
		}
	}()
	return v.Call(method, args...), nil
}

// Bytes copies a received WebSocket message: an ArrayBuffer (or a typed
// array) byte for byte, a text message's string as its UTF-8 encoding.
func Bytes(v js.Value) []byte {
	if v.Type() == js.TypeString {
		return []byte(v.String())
	}
	u := js.Global().Get("Uint8Array").New(v)
	b := make([]byte, u.Get("length").Int())
	js.CopyBytesToGo(b, u)
	return b
}
