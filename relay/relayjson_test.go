package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/relay/clientip"
)

func TestRelayJSONAnswers(t *testing.T) {
	ours := advertised{transitTCPPort: "5001", ip: clientip.Resolver{Trusted: clientip.Loopback}}
	bridge := advertised{transitTCP: "tcp:transit.magic-wormhole.io:4001", ip: clientip.Resolver{Trusted: clientip.Loopback}}
	none := advertised{ip: clientip.Resolver{Trusted: clientip.Loopback}}
	tests := []struct {
		name   string
		a      advertised
		host   string
		remote string
		proto  string
		tls    bool
		want   string // JSON, or "400"
	}{
		{"plain", ours, "relay.example:4000", "203.0.113.5:1", "", false,
			`{"mailbox":"ws://relay.example:4000/v1","transit":"ws://relay.example:4000/transit","transitTCP":"tcp:relay.example:5001"}`},
		{"default port", ours, "relay.example", "203.0.113.5:1", "", false,
			`{"mailbox":"ws://relay.example/v1","transit":"ws://relay.example/transit","transitTCP":"tcp:relay.example:5001"}`},
		{"https proxy on loopback", ours, "relay.example", "127.0.0.1:1", "https", false,
			`{"mailbox":"wss://relay.example/v1","transit":"wss://relay.example/transit","transitTCP":"tcp:relay.example:5001"}`},
		{"X-Forwarded-Proto from a stranger ignored", ours, "relay.example", "203.0.113.5:1", "https", false,
			`{"mailbox":"ws://relay.example/v1","transit":"ws://relay.example/transit","transitTCP":"tcp:relay.example:5001"}`},
		{"own TLS", ours, "relay.example", "203.0.113.5:1", "", true,
			`{"mailbox":"wss://relay.example/v1","transit":"wss://relay.example/transit","transitTCP":"tcp:relay.example:5001"}`},
		{"IPv6 literal", ours, "[::1]:4000", "[::1]:1", "", false,
			`{"mailbox":"ws://[::1]:4000/v1","transit":"ws://[::1]:4000/transit","transitTCP":"tcp:[::1]:5001"}`},
		{"IPv6 literal, no port", ours, "[2001:db8::1]", "[::1]:1", "", false,
			`{"mailbox":"ws://[2001:db8::1]/v1","transit":"ws://[2001:db8::1]/transit","transitTCP":"tcp:[2001:db8::1]:5001"}`},
		{"bridge", bridge, "page.example", "203.0.113.5:1", "", false,
			`{"mailbox":"ws://page.example/v1","transit":"ws://page.example/transit","transitTCP":"tcp:transit.magic-wormhole.io:4001"}`},
		{"no TCP transit", none, "page.example", "203.0.113.5:1", "", false,
			`{"mailbox":"ws://page.example/v1","transit":"ws://page.example/transit","transitTCP":""}`},
		{"bad host", ours, "evil\"host", "203.0.113.5:1", "", false, "400"},
		{"bad port", ours, "relay.example:99999", "203.0.113.5:1", "", false, "400"},
		{"path in host", ours, "relay.example/x", "203.0.113.5:1", "", false, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/relay.json", nil)
			req.Host, req.RemoteAddr = tt.host, tt.remote
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			tt.a.ServeHTTP(rec, req)
			if tt.want == "400" {
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("HTTP %d, want 400", rec.Code)
				}
				return
			}
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || strings.TrimSpace(rec.Body.String()) != tt.want {
				t.Fatalf("HTTP %d %s\n got %s\nwant %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), tt.want)
			}
		})
	}
}

// TestRelayJSON runs the relay with its TCP transit on a port other than
// 4001 and a site, reads /relay.json as the page does, and pairs a TCP
// client on the advertised transitTCP with a WebSocket client on the
// advertised transit URL.
func TestRelayJSON(t *testing.T) {
	site := t.TempDir()
	writeFiles(t, site, map[string]string{"index.html": "page", "config.json": `{"mailbox": "", "transit": "", "transitTCP": ""}`})
	tcpAddr := freeAddr(t)
	if strings.HasSuffix(tcpAddr, ":4001") {
		tcpAddr = freeAddr(t)
	}
	r := startRelay(t, "", freeAddr(t), tcpAddr, "--db", ":memory:", "--admin-socket", "", "--site", site)
	resp, body := httpGet(t, "http://"+r.HTTP+"/relay.json")
	var rc relayConfig
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &rc) != nil {
		t.Fatalf("HTTP %d %q", resp.StatusCode, body)
	}
	want := relayConfig{Mailbox: "ws://" + r.HTTP + "/v1", Transit: "ws://" + r.HTTP + "/transit", TransitTCP: "tcp:" + tcpAddr}
	if rc != want {
		t.Fatalf("/relay.json = %+v, want %+v", rc, want)
	}
	t.Logf("/relay.json: %s", strings.TrimSpace(body))
	// Both advertised transit addresses reach the same relay.
	token := strings.Repeat("3c", 32)
	tc := dialRaw(t, strings.TrimPrefix(rc.TransitTCP, "tcp:"))
	fmt.Fprintf(tc, "please relay %s for side %s\n", token, "aaaaaaaaaaaaaaaa")
	ws := dialTransitWS(t, rc.Transit)
	ws.send(t, []byte(fmt.Sprintf("please relay %s for side %s\n", token, "bbbbbbbbbbbbbbbb")))
	if got := readN(t, tc, 3); got != "ok\n" {
		t.Fatalf("tcp got %q", got)
	}
	if got := ws.readN(t, 3); got != "ok\n" {
		t.Fatalf("ws got %q", got)
	}
	tc.Write([]byte("hello"))
	if got := ws.readN(t, 5); got != "hello" {
		t.Fatalf("ws got %q", got)
	}
	// A flag overrides the TCP address for deployments behind NAT.
	r2 := startRelay(t, "", freeAddr(t), "", "--db", ":memory:", "--admin-socket", "", "--advertise-transit-tcp", "tcp:transit.example.org:443")
	if _, body := httpGet(t, "http://"+r2.HTTP+"/relay.json"); !strings.Contains(body, `"transitTCP":"tcp:transit.example.org:443"`) {
		t.Fatalf("with --advertise-transit-tcp: %s", body)
	}
}

// FuzzHostName: whatever the Host header, an accepted one yields URLs
// that parse back to that host, with nothing smuggled into the path.
func FuzzHostName(f *testing.F) {
	for _, s := range []string{"relay.example:4000", "[::1]:80", "[::1]", "a/b", "x@y", "h:0", ""} {
		f.Add(s)
	}
	a := advertised{transitTCPPort: "5001"}
	f.Fuzz(func(t *testing.T, host string) {
		req := httptest.NewRequest("GET", "/relay.json", nil)
		req.Host = host
		rc, ok := a.config(req)
		if !ok {
			return
		}
		u, err := url.Parse(rc.Mailbox)
		if err != nil || u.Host != host || u.Path != "/v1" || u.User != nil || u.RawQuery != "" {
			t.Fatalf("host %q gave mailbox %q (%v)", host, rc.Mailbox, err)
		}
	})
}
