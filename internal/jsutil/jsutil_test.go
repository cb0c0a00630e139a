//go:build js

package jsutil

// Run with: GOOS=js GOARCH=wasm go test -exec $(go env GOROOT)/lib/wasm/go_js_wasm_exec ./internal/jsutil

import (
	"context"
	"errors"
	"strings"
	"syscall/js"
	"testing"
	"time"
)

func TestCatch(t *testing.T) {
	err := Catch(func() { js.Global().Get("JSON").Call("parse", "{") })
	if err == nil || err.Error()[:13] != "SyntaxError: " {
		t.Fatalf("JSON.parse error = %v, want a SyntaxError", err)
	}
	if err := Catch(func() { js.Global().Get("JSON").Call("parse", "{}") }); err != nil {
		t.Fatalf("no throw: %v", err)
	}
	defer func() {
		if r := recover(); r != "go panic" {
			t.Fatalf("recovered %v, want the Go panic to pass through", r)
		}
	}()
	_ = Catch(func() { panic("go panic") })
}

func TestError(t *testing.T) {
	tests := []struct {
		name string
		v    js.Value
		want string
	}{
		{"plain Error", js.Global().Get("Error").New("boom"), "boom"},
		{"TypeError", js.Global().Get("TypeError").New("bad"), "TypeError: bad"},
		{"string", js.ValueOf("just text"), "just text"},
		{"number", js.ValueOf(42), "42"},
		{"undefined", js.Undefined(), "JavaScript error"},
		{"null", js.Null(), "JavaScript error"},
	}
	for _, tc := range tests {
		if got := Error(tc.v).Error(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCall(t *testing.T) {
	v, err := Call(js.Global().Get("Math"), "max", 3, 9)
	if err != nil || v.Int() != 9 {
		t.Errorf("Math.max: %v, %v", v, err)
	}
	tests := []struct {
		name   string
		v      js.Value
		method string
		want   string // prefix of the error
	}{
		{"throws", js.Global().Get("JSON"), "parse", "SyntaxError: "},
		{"not an object", js.Undefined(), "slice", "slice: syscall/js: call of Value.Call on undefined"},
		{"no such method", js.Global().Get("Object").New(), "nope", "syscall/js: Value.Call: property nope is not a function"},
	}
	for _, tc := range tests {
		_, err := Call(tc.v, tc.method, "{")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error starting %q", tc.name, err, tc.want)
		}
	}
}

func TestAwait(t *testing.T) {
	promise := js.Global().Get("Promise")
	v, err := Await(context.Background(), promise.Call("resolve", 7))
	if err != nil || v.Int() != 7 {
		t.Errorf("resolved: %v, %v", v, err)
	}
	_, err = Await(context.Background(), promise.Call("reject", js.Global().Get("RangeError").New("no")))
	if err == nil || err.Error() != "RangeError: no" {
		t.Errorf("rejected: %v", err)
	}
	// A promise that never settles: ctx decides, with its cause.
	never := promise.New(js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := Await(ctx, never); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("never settles: %v", err)
	}
	cause := errors.New("stopped")
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	cancel2(cause)
	if _, err := Await(ctx2, never); !errors.Is(err, cause) {
		t.Errorf("cancelled with a cause: %v", err)
	}
}

func TestBytes(t *testing.T) {
	u := js.Global().Get("Uint8Array").New(3)
	js.CopyBytesToJS(u, []byte{1, 2, 255})
	tests := []struct {
		name string
		v    js.Value
		want string
	}{
		{"text", js.ValueOf("héllo"), "héllo"},
		{"ArrayBuffer", u.Get("buffer"), "\x01\x02\xff"},
		{"Uint8Array", u, "\x01\x02\xff"},
		{"empty", js.Global().Get("ArrayBuffer").New(0), ""},
	}
	for _, tc := range tests {
		if got := string(Bytes(tc.v)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
