//go:build js && wasm

package main

// The glue's messages read as the fmt.Errorf forms they replaced (the page
// shows them, and the fmt forms are built here, in the test, to compare),
// and its errors keep their sentinels, so the page's error codes stay.
// wasm/node_test.go runs these under Node.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall/js"
	"testing"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// object builds a JS object from Go values (js.ValueOf's conversions).
func object(kv map[string]any) js.Value { return js.ValueOf(kv) }

func TestRelayFrom(t *testing.T) {
	_, _, splitErr := net.SplitHostPort("nohost")
	tests := []struct {
		relay map[string]any
		want  string // error message, or "" for success
	}{
		{map[string]any{"name": "r", "websocket": []any{"wss://relay.example/transit"}, "tcp": []any{"tcp:relay.example:4001"}}, ""},
		{map[string]any{"websocket": "ws://127.0.0.1:1/t", "tcp": "[::1]:4001"}, ""},
		{map[string]any{"websocket": []any{"https://relay.example/"}},
			fmt.Errorf("relays: %q is not a ws:// or wss:// URL", "https://relay.example/").Error()},
		{map[string]any{"tcp": []any{"nohost"}},
			fmt.Errorf("relays: TCP address %q: %w", "nohost", splitErr).Error()},
		{map[string]any{"tcp": []any{"h:0"}}, fmt.Errorf("relays: TCP address %q: bad port", "h:0").Error()},
		{map[string]any{"tcp": []any{"h:65536"}}, fmt.Errorf("relays: TCP address %q: bad port", "h:65536").Error()},
	}
	for _, tt := range tests {
		r, err := relayFrom(object(tt.relay))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("relayFrom(%v): error %q, want %q", tt.relay, got, tt.want)
		}
		if tt.want == "" && len(r.WebSocket)+len(r.TCP) != 2 {
			t.Errorf("relayFrom(%v) = %+v, want one WebSocket and one TCP hint", tt.relay, r)
		}
	}
	// A wrapped error keeps what it wraps.
	_, err := relayFrom(object(map[string]any{"tcp": []any{"nohost"}}))
	var addrErr *net.AddrError
	if !errors.As(err, &addrErr) {
		t.Errorf("%v does not unwrap to the net.AddrError", err)
	}
}

func TestClientFromAppVersions(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: `{"tool":"x","n":[1,2]}`, want: `{"tool":"x","n":[1,2]}`},
		{in: `null`},
		{in: ``},
		{in: `[1]`, err: "appVersions: must be a JSON object"},
		{in: `"x"`, err: "appVersions: must be a JSON object"},
		{in: `{"a":`, err: "appVersions: "},
	}
	for _, tt := range tests {
		c, err := clientFrom(object(map[string]any{"appVersions": tt.in}))
		switch {
		case tt.err != "":
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("appVersions %q: error %v, want one starting %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("appVersions %q: %v", tt.in, err)
		case string(c.AppVersions) != tt.want:
			t.Errorf("appVersions %q: got %q, want %q", tt.in, c.AppVersions, tt.want)
		}
	}
}

func TestHandleMessages(t *testing.T) {
	if _, err := lookup(js.ValueOf(987)); err == nil || err.Error() != fmt.Sprintf("wasmhole: handle %d is closed", 987) {
		t.Errorf("lookup of a closed handle: %v", err)
	}
	_, err := takeWormhole(object(map[string]any{"wormhole": 654}))
	if err == nil || err.Error() != fmt.Sprintf("wasmhole: wormhole handle %d is closed", 654) {
		t.Errorf("takeWormhole of a closed handle: %v", err)
	}
	_, err = entriesFrom(js.ValueOf([]any{map[string]any{"path": "a\"b.txt"}}))
	if err == nil || err.Error() != fmt.Sprintf("sendDirectory: entry %q has no file", "a\"b.txt") {
		t.Errorf("entriesFrom without a file: %v", err)
	}
}

func TestBlobReaderSeek(t *testing.T) {
	blob := js.Global().Get("Blob").New(js.ValueOf([]any{"abc"}))
	r := newBlobReader(blob)
	_, err := r.Seek(100, io.SeekStart)
	want := fmt.Errorf("seek to %d of %d bytes: %w", 100, 3, errors.ErrUnsupported)
	if err == nil || err.Error() != want.Error() || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Seek past the end: %v, want %v", err, want)
	}
	if off, err := r.Seek(1, io.SeekStart); err != nil || off != 1 {
		t.Fatalf("Seek(1) = %d, %v", off, err)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "bc" {
		t.Errorf("after Seek(1) read %q, %v", b, err)
	}
}

// TestErrorCodes holds the page's error codes (web/README.md, Errors) for
// the errors the glue makes, among them the JS data path's, by name.
func TestErrorCodes(t *testing.T) {
	dp := func(name string) error {
		return dataPathError(jsutil.Error(object(map[string]any{"name": name, "message": "m"})))
	}
	tests := []struct {
		err     error
		code    string
		is      error
		message string // "" = not checked
	}{
		{dp("save-failed"), "save-failed", errSaveFailed,
			fmt.Errorf("%w: %w: %w", wormhole.ErrDataIO, errSaveFailed, jsutil.Error(object(map[string]any{"name": "save-failed", "message": "m"}))).Error()},
		{dp("cancelled"), "cancelled", errSinkCancelled, ""},
		{dp("decrypt"), "transfer-failed", transit.ErrDecrypt, ""},
		{dp("io"), "transfer-failed", wormhole.ErrDataIO, ""},
		{dp("nonce"), "transfer-failed", transit.ErrBadNonce, ""},
		{dp("too-large"), "transfer-failed", transit.ErrRecordTooLarge, ""},
		{dp("short"), "transfer-failed", transit.ErrShortRecord, ""},
		{sinkError("disk full"), "save-failed", errSaveFailed, fmt.Errorf("%w: %s", errSaveFailed, "disk full").Error()},
		{context.Canceled, "cancelled", context.Canceled, ""},
		{io.ErrUnexpectedEOF, "peer-gone", io.ErrUnexpectedEOF, ""},
		{wormhole.ErrWrongCode, "wrong-code", wormhole.ErrWrongCode, ""},
	}
	for _, tt := range tests {
		if got := errorCode(tt.err); got != tt.code {
			t.Errorf("errorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if !errors.Is(tt.err, tt.is) {
			t.Errorf("%v is not %v", tt.err, tt.is)
		}
		if tt.message != "" && tt.err.Error() != tt.message {
			t.Errorf("message %q, want %q", tt.err.Error(), tt.message)
		}
	}
}

// sinkError is the error a MessagePort sink's {type: "error"} leaves.
func sinkError(message string) error {
	w := &portWriter{}
	w.handle(object(map[string]any{"type": "error", "message": message}))
	return w.err
}
