//go:build !js

package wormhole

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// deadAddr is a loopback port nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr accepts TCP connections and never answers them.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestRelayUnreachable: when the first connection to the mailbox server
// fails, New (and so every send and receive) fails at once with an error
// that wraps ErrRelayUnreachable; when the caller's ctx ends first, the
// error is the ctx's alone.
func TestRelayUnreachable(t *testing.T) {
	notWS := httptest.NewServer(http.NotFoundHandler())
	defer notWS.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name        string
		url         string
		ctx         context.Context
		timeout     time.Duration // for ctx, if > 0
		unreachable bool
		ctxErr      error
	}{
		{name: "refused", url: "ws://" + deadAddr(t) + "/v1", unreachable: true},
		{name: "not a WebSocket server", url: "ws://" + strings.TrimPrefix(notWS.URL, "http://") + "/v1", unreachable: true},
		{name: "bad URL scheme", url: "gopher://" + deadAddr(t) + "/v1", unreachable: true},
		{name: "caller's deadline first", url: "ws://" + silentAddr(t) + "/v1", timeout: 200 * time.Millisecond, ctxErr: context.DeadlineExceeded},
		{name: "caller cancelled", url: "ws://" + deadAddr(t) + "/v1", ctx: cancelled, ctxErr: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				// Much shorter than dialTimeout, so an unreachable server
				// must be reported by the dial itself, not by this ctx.
				d := 10 * time.Second
				if tc.timeout > 0 {
					d = tc.timeout
				}
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(context.Background(), d)
				defer cancel()
			}
			c := &Client{MailboxURL: tc.url}
			w, err := c.New(ctx)
			if err == nil {
				w.Close(context.Background(), "happy")
				t.Fatal("New succeeded")
			}
			if got := errors.Is(err, ErrRelayUnreachable); got != tc.unreachable {
				t.Errorf("errors.Is(%v, ErrRelayUnreachable) = %v, want %v", err, got, tc.unreachable)
			}
			if tc.ctxErr != nil && !errors.Is(err, tc.ctxErr) {
				t.Errorf("err = %v, want %v", err, tc.ctxErr)
			}
			if tc.unreachable && ctx.Err() != nil {
				t.Errorf("reported only after the caller's ctx ended: %v", err)
			}
			if !strings.Contains(err.Error(), tc.url) {
				t.Errorf("err = %v, does not name %s", err, tc.url)
			}
		})
	}

	// The transfers start with New, so they report it the same way.
	url := "ws://" + deadAddr(t) + "/v1"
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	c := &Client{MailboxURL: url}
	if _, err := c.SendText(ctx, "hi", SendOptions{}); !errors.Is(err, ErrRelayUnreachable) {
		t.Errorf("SendText: %v", err)
	}
	if _, err := c.Receive(ctx, "4-purple-sausages"); !errors.Is(err, ErrRelayUnreachable) {
		t.Errorf("Receive: %v", err)
	}
	if ctx.Err() != nil {
		t.Errorf("took the whole ctx")
	}
}
