//go:build js

package transitnet

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall/js"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// TestPlainWebSocket runs under Node, started by TestPlainWebSocketNode
// (wsconn_node_test.go) against a coder/websocket server, and checks what
// the plain WebSocket path (Firefox and Safari) makes of messages a relay
// should not send, and of more than the backlog bound.
func TestPlainWebSocket(t *testing.T) {
	base := os.Getenv("WASMHOLE_TEST_WS")
	if base == "" {
		t.Skip("run by TestPlainWebSocketNode")
	}
	dial := func(t *testing.T, path string) *browserWS {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := dialPlain(ctx, base+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*browserWS)
	}

	t.Run("an empty message is skipped", func(t *testing.T) {
		c := dial(t, "/empty")
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "hello" {
			t.Fatalf("read %q, %v; want hello and a clean end", got, err)
		}
	})

	t.Run("an empty message is skipped by the JS reader too", func(t *testing.T) {
		c := dial(t, "/empty")
		r, ok := JSReader(c)
		if !ok {
			t.Fatal("no JS reader")
		}
		v, err := await(r.Call("read"))
		if err != nil || v.Get("done").Bool() || v.Get("value").Get("length").Int() != 5 {
			t.Fatalf("first read: %v, %v; want the 5 bytes of hello", jsString(v), err)
		}
		v, err = await(r.Call("read"))
		if err != nil || !v.Get("done").Bool() {
			t.Fatalf("second read: %v, %v; want done", jsString(v), err)
		}
	})

	t.Run("a text message fails the reads", func(t *testing.T) {
		c := dial(t, "/text")
		_, err := io.ReadAll(c)
		if !errors.Is(err, errTextMessage) {
			t.Fatalf("read: %v, want the text message error", err)
		}
		if !errors.Is(ReadFailure(c), errTextMessage) {
			t.Fatalf("ReadFailure: %v", ReadFailure(c))
		}
	})

	t.Run("past the bound the hook runs at once, with no read waiting", func(t *testing.T) {
		defer func(old int) { BacklogLimit = old }(BacklogLimit)
		BacklogLimit = 4000 // the server sends 10 messages of 1000 bytes
		c := dial(t, "/flood")
		failed := make(chan struct{}, 1)
		stop := OnReadFailure(c, func() { failed <- struct{}{} })
		defer stop()
		select {
		case <-failed:
		case <-time.After(10 * time.Second):
			t.Fatal("the hook did not run")
		}
		if !errors.Is(ReadFailure(c), ErrReceiveBacklog) {
			t.Fatalf("ReadFailure: %v", ReadFailure(c))
		}
		r, _ := JSReader(c)
		if _, err := await(r.Call("read")); err == nil {
			t.Fatal("a read after the bound succeeded")
		}
		if now, peak := Backlog(); now != 0 || peak > 4000 {
			t.Fatalf("backlog now %d, peak %d", now, peak)
		}
	})
}

// await waits for a promise: its value, or its rejection as an error.
func await(p js.Value) (js.Value, error) { return jsutil.Await(context.Background(), p) }

func jsString(v js.Value) string {
	if v.IsUndefined() {
		return "undefined"
	}
	return js.Global().Get("JSON").Call("stringify", v).String()
}
