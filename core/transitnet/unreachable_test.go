//go:build !js

package transitnet

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/relaytest"
)

// deadPort is a loopback port nobody listens on.
func deadPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestRelayUnreachable: a race that ends without any connection wraps
// ErrRelayUnreachable (with the race's own reason); a race stopped by the
// caller's ctx, or one that cannot start, does not.
func TestRelayUnreachable(t *testing.T) {
	key := newKey(t)
	dead := deadPort(t)
	deadTCP := transit.RelayHint{Name: "dead", TCP: []transit.DirectHint{{Hostname: "127.0.0.1", Port: dead}}}
	deadWS := transit.RelayHint{Name: "dead ws", WebSocket: []transit.WebSocketHint{{URL: "ws://127.0.0.1:" + strconv.Itoa(dead) + "/"}}}
	lonely := relaytest.Start(t, relaytest.Options{}).TCPHint()

	tests := []struct {
		name        string
		cfg         Config
		ctxTimeout  time.Duration
		unreachable bool
		also        error
	}{
		{"dead direct hint", Config{TransitKey: key,
			Peer: transit.Hints{Direct: []transit.DirectHint{{Hostname: "127.0.0.1", Port: dead}}}},
			0, true, transit.ErrNoConnection},
		{"dead tcp relay", Config{TransitKey: key, RelayOnly: true, Relays: []transit.RelayHint{deadTCP}},
			0, true, transit.ErrNoConnection},
		{"dead websocket relay", Config{TransitKey: key, RelayOnly: true, Relays: []transit.RelayHint{deadWS}},
			0, true, transit.ErrNoConnection},
		{"every hint dead", Config{TransitKey: key, Relays: []transit.RelayHint{deadTCP, deadWS},
			Peer: transit.Hints{Direct: []transit.DirectHint{{Hostname: "127.0.0.1", Port: dead}}, Relays: []transit.RelayHint{deadTCP}}},
			0, true, transit.ErrNoConnection},
		{"nothing to dial", Config{TransitKey: key, RelayOnly: true}, 0, true, transit.ErrNoConnection},
		// Each lonely case has a key of its own: a connection given up by
		// one case may wait at the relay a moment longer and would pair
		// with the next case's.
		{"relay without a partner, race timeout", Config{TransitKey: newKey(t), Timeout: 300 * time.Millisecond,
			Relays: []transit.RelayHint{lonely}}, 0, true, transit.ErrTimeout},
		{"relay without a partner, caller's deadline", Config{TransitKey: newKey(t), Relays: []transit.RelayHint{lonely}},
			300 * time.Millisecond, false, context.DeadlineExceeded},
		{"no transit key", Config{RelayOnly: true, Relays: []transit.RelayHint{lonely}}, 0, false, transit.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := 10 * time.Second
			if tc.ctxTimeout > 0 {
				d = tc.ctxTimeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			c, err := Connect(ctx, tc.cfg, nil)
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if got := errors.Is(err, ErrRelayUnreachable); got != tc.unreachable {
				t.Errorf("errors.Is(%v, ErrRelayUnreachable) = %v, want %v", err, got, tc.unreachable)
			}
			if !errors.Is(err, tc.also) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.also)
			}
			if tc.unreachable && ctx.Err() != nil {
				t.Errorf("reported only after the caller's ctx ended: %v", err)
			}
		})
	}
}
