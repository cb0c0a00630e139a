package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialWith opens a WebSocket with an X-Forwarded-For header (none if xff
// is "") and returns the connection, or the HTTP status of a refused
// upgrade.
func dialWith(t *testing.T, url, xff string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols
}

// welcomeError is the "error" of the mailbox's welcome ("" if none).
func welcomeError(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	m := (&mailboxClient{c: c}).await(t, "welcome")
	w, _ := m["welcome"].(map[string]any)
	e, _ := w["error"].(string)
	return e
}

// TestProxyHeaders runs the relay behind a "proxy" on loopback (this test)
// with --real-ip-header X-Forwarded-For and one connection per address,
// and checks what the mailbox and /transit count as the client.
func TestProxyHeaders(t *testing.T) {
	r := startRelay(t, "", freeAddr(t), "", "--db", ":memory:", "--admin-socket", "",
		"--real-ip-header", "X-Forwarded-For", "--per-ip-conns", "1")
	mailbox, transit := "ws://"+r.HTTP+"/v1", "ws://"+r.HTTP+"/transit"

	// The loopback peer itself stays exempt: three plain connections.
	for i := range 3 {
		c, _ := dialWith(t, mailbox, "")
		if e := welcomeError(t, c); e != "" {
			t.Fatalf("plain loopback connection %d refused: %s", i, e)
		}
	}
	// A client that claims to be 127.0.0.1 gets no exemption.
	c, _ := dialWith(t, mailbox, "127.0.0.1")
	if e := welcomeError(t, c); e != "" {
		t.Fatalf("first spoofed-loopback connection refused: %s", e)
	}
	c, _ = dialWith(t, mailbox, "127.0.0.1")
	if e := welcomeError(t, c); !strings.Contains(e, "too many connections from 127.0.0.1") {
		t.Fatalf("second spoofed-loopback connection: welcome error %q, want the per-IP refusal", e)
	}
	// The leftmost entries are the client's: different ones do not make
	// different clients; the hop the proxy appended does.
	c, _ = dialWith(t, mailbox, "1.1.1.1, 203.0.113.9")
	if e := welcomeError(t, c); e != "" {
		t.Fatalf("first 203.0.113.9 refused: %s", e)
	}
	c, _ = dialWith(t, mailbox, "2.2.2.2, 203.0.113.9")
	if e := welcomeError(t, c); !strings.Contains(e, "203.0.113.9") {
		t.Fatalf("second 203.0.113.9 with another spoofed hop: welcome error %q, want a refusal", e)
	}
	c, _ = dialWith(t, mailbox, "2.2.2.2, 203.0.113.10")
	if e := welcomeError(t, c); e != "" {
		t.Fatalf("203.0.113.10 refused: %s", e)
	}

	// /transit counts the same client address, not the proxy's.
	if _, code := dialWith(t, transit, "9.9.9.9, 203.0.113.9"); code != http.StatusSwitchingProtocols {
		t.Fatalf("first /transit for 203.0.113.9: HTTP %d", code)
	}
	if _, code := dialWith(t, transit, "8.8.8.8, 203.0.113.9"); code != http.StatusTooManyRequests {
		t.Fatalf("second /transit for 203.0.113.9: HTTP %d, want 429", code)
	}
	if _, code := dialWith(t, transit, "127.0.0.1"); code != http.StatusSwitchingProtocols {
		t.Fatalf("first /transit for spoofed 127.0.0.1: HTTP %d", code)
	}
	if _, code := dialWith(t, transit, "127.0.0.1"); code != http.StatusTooManyRequests {
		t.Fatalf("second /transit for spoofed 127.0.0.1: HTTP %d, want 429 (no loopback exemption)", code)
	}
	for range 3 {
		if _, code := dialWith(t, transit, ""); code != http.StatusSwitchingProtocols {
			t.Fatalf("plain loopback /transit: HTTP %d", code)
		}
	}
	t.Logf("mailbox and /transit: spoofed hops ignored, header addresses limited, loopback peer exempt")
}

// TestProxyHeadersUntrusted: a header from a peer outside --trusted-proxies
// is ignored, so the (loopback, exempt) peer is the client.
func TestProxyHeadersUntrusted(t *testing.T) {
	r := startRelay(t, "", freeAddr(t), "", "--db", ":memory:", "--admin-socket", "",
		"--real-ip-header", "X-Forwarded-For", "--trusted-proxies", "10.0.0.0/8", "--per-ip-conns", "1")
	for i := range 3 {
		c, _ := dialWith(t, "ws://"+r.HTTP+"/v1", "203.0.113.9")
		if e := welcomeError(t, c); e != "" {
			t.Fatalf("connection %d refused (%s): the untrusted header was believed", i, e)
		}
		if _, code := dialWith(t, "ws://"+r.HTTP+"/transit", "203.0.113.9"); code != http.StatusSwitchingProtocols {
			t.Fatalf("/transit %d: HTTP %d: the untrusted header was believed", i, code)
		}
	}
}
