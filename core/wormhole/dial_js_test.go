//go:build js

package wormhole

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBrowserConn checks the browser's mailbox connection (dial_js.go)
// under Node, against the server TestBrowserConnNode (dial_node_test.go)
// starts; it skips when run any other way.
func TestBrowserConn(t *testing.T) {
	base := os.Getenv("WASMHOLE_TEST_WS")
	if base == "" {
		t.Skip("run by TestBrowserConnNode")
	}
	// Each case has its own deadline: a slow machine may spend most of
	// one on the read-limit case alone.
	t.Run("echo text and binary", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		c, err := dialMailbox(ctx, base+"/echo")
		if err != nil {
			t.Fatal(err)
		}
		msg := `{"type":"ping","ping":1,"x":"héllo"}`
		if err := c.Write(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"text", "binary"} {
			got, err := c.Read(ctx)
			if err != nil || string(got) != msg {
				t.Fatalf("%s echo: %q, %v", kind, got, err)
			}
		}
		// Nothing more comes: Read ends with its ctx.
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := c.Read(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("idle read: %v", err)
		}
		// The server reports the close code it got (must be 1000).
		if err := c.Write(ctx, []byte("close-code?")); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, []byte("late")); err == nil {
			t.Error("Write after Close succeeded")
		}
		if _, err := c.Read(ctx); err == nil {
			t.Error("Read after Close succeeded")
		}
	})

	t.Run("server says goodbye", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		c, err := dialMailbox(ctx, base+"/bye")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if got, err := c.Read(ctx); err != nil || string(got) != "last" {
			t.Fatalf("first read: %q, %v", got, err)
		}
		if _, err := c.Read(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("after the close: %v, want io.EOF", err)
		}
	})

	t.Run("message over the read limit", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		c, err := dialMailbox(ctx, base+"/big")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		got, err := c.Read(ctx)
		if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
			t.Fatalf("read %d bytes, err %v; want the limit error", len(got), err)
		}
	})

	t.Run("nobody listening", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		url := "ws://" + os.Getenv("WASMHOLE_TEST_DEAD") + "/v1"
		if _, err := dialMailbox(ctx, url); err == nil || ctx.Err() != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		_, err := dialWS(ctx, url)
		if !errors.Is(err, ErrRelayUnreachable) {
			t.Fatalf("dialWS %s: %v, want ErrRelayUnreachable", url, err)
		}
	})

	t.Run("server never answers", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := dialWS(short, "ws://"+os.Getenv("WASMHOLE_TEST_SILENT")+"/v1")
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRelayUnreachable) {
			t.Fatalf("err = %v, want only the caller's deadline", err)
		}
	})
}
