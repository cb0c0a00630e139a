package clientip

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/netip"
	"testing"
)

func TestClient(t *testing.T) {
	proxies, err := ParsePrefixes("10.0.0.0/8, 192.0.2.1, 2001:db8:1::/48")
	if err != nil {
		t.Fatal(err)
	}
	xff := Resolver{Header: "X-Forwarded-For", Trusted: proxies}
	realIP := Resolver{Header: "X-Real-IP", Trusted: Loopback}
	tests := []struct {
		name     string
		r        Resolver
		remote   string
		headers  []string // values of the resolver's header, in order
		want     string
		fromHdr  bool
		exempted bool
	}{
		{"no header configured", Resolver{}, "198.51.100.7:1234", []string{"1.1.1.1"}, "198.51.100.7", false, false},
		{"zero resolver on loopback is exempt", Resolver{}, "127.0.0.1:1", nil, "127.0.0.1", false, true},
		{"trusted proxy, one hop", xff, "10.1.2.3:80", []string{"203.0.113.5"}, "203.0.113.5", true, false},
		{"untrusted peer's header ignored", xff, "198.51.100.7:80", []string{"203.0.113.5"}, "198.51.100.7", false, false},
		{"untrusted peer spoofs loopback", realIP, "198.51.100.7:80", []string{"127.0.0.1"}, "198.51.100.7", false, false},
		{"trusted proxy passes spoofed loopback: not exempt", realIP, "127.0.0.1:80", []string{"127.0.0.1"}, "127.0.0.1", true, false},
		{"client-written leftmost entry ignored", xff, "10.0.0.1:80", []string{"127.0.0.1, 203.0.113.5"}, "203.0.113.5", true, false},
		{"spoofed list behind two proxies", xff, "10.0.0.1:80", []string{"1.1.1.1, 2.2.2.2, 203.0.113.5, 10.9.9.9"}, "203.0.113.5", true, false},
		{"repeated header lines read right to left", xff, "10.0.0.1:80", []string{"6.6.6.6", "203.0.113.5, 192.0.2.1"}, "203.0.113.5", true, false},
		{"all hops trusted: leftmost", xff, "10.0.0.1:80", []string{"10.0.0.9, 192.0.2.1"}, "10.0.0.9", true, false},
		{"garbage left of the proxy's hop", xff, "10.0.0.1:80", []string{"evil, 192.0.2.1"}, "192.0.2.1", true, false},
		{"garbage only: the peer", xff, "10.0.0.1:80", []string{"not-an-ip"}, "10.0.0.1", false, false},
		{"empty header: the peer", xff, "10.0.0.1:80", []string{""}, "10.0.0.1", false, false},
		{"no header from trusted proxy", xff, "10.0.0.1:80", nil, "10.0.0.1", false, false},
		{"hop with port", xff, "10.0.0.1:80", []string{"203.0.113.5:5555"}, "203.0.113.5", true, false},
		{"IPv6 hop in brackets with port", xff, "10.0.0.1:80", []string{"[2001:db8:2::7]:443"}, "2001:db8:2::7", true, false},
		{"IPv6 proxy trusted by prefix", xff, "[2001:db8:1::5]:80", []string{"2001:db8:2::7"}, "2001:db8:2::7", true, false},
		{"mapped IPv4 peer is unmapped", xff, "[::ffff:10.0.0.1]:80", []string{"::ffff:203.0.113.5"}, "203.0.113.5", true, false},
		{"loopback peer not trusted by xff list", xff, "127.0.0.1:80", []string{"203.0.113.5"}, "127.0.0.1", false, true},
		{"non-IP peer", xff, "@", []string{"203.0.113.5"}, "unknown", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://relay/v1", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.headers {
				req.Header.Add("X-Forwarded-For", v)
				req.Header.Add("X-Real-IP", v)
			}
			got := tt.r.Client(req)
			if got.String() != tt.want || got.FromHeader != tt.fromHdr || got.LoopbackExempt() != tt.exempted {
				t.Errorf("Client = %s (from header %v, exempt %v), want %s (%v, %v)",
					got, got.FromHeader, got.LoopbackExempt(), tt.want, tt.fromHdr, tt.exempted)
			}
		})
	}
}

func TestSecure(t *testing.T) {
	r := Resolver{Trusted: Loopback}
	tests := []struct {
		remote, proto string
		tls           bool
		want          bool
	}{
		{"127.0.0.1:1", "https", false, true},
		{"127.0.0.1:1", "HTTPS, http", false, true},
		{"127.0.0.1:1", "http", false, false},
		{"127.0.0.1:1", "", false, false},
		{"198.51.100.7:1", "https", false, false}, // untrusted peer
		{"198.51.100.7:1", "", true, true},        // our own TLS
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", "http://relay/", nil)
		req.RemoteAddr = tt.remote
		if tt.proto != "" {
			req.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.tls {
			req.TLS = &tls.ConnectionState{}
		}
		if got := r.Secure(req); got != tt.want {
			t.Errorf("Secure(%s, %q, tls %v) = %v, want %v", tt.remote, tt.proto, tt.tls, got, tt.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.1.2.3/8 ,192.0.2.1,::1, ::ffff:10.0.0.0/104,")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("prefix %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8/8", "1.2.3"} {
		if _, err := ParsePrefixes(bad); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("ParsePrefixes(%q) = %v, want ErrBadPrefix", bad, err)
		}
	}
	if p, err := ParsePrefixes(""); err != nil || len(p) != 0 {
		t.Errorf(`ParsePrefixes("") = %v, %v`, p, err)
	}
}

// FuzzClient: any header from a trusted proxy yields either the peer or an
// address the header really names, never a loopback exemption.
func FuzzClient(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "1.1.1.1, 10.0.0.1", "[::1]:80, ,", "evil,,", "::ffff:127.0.0.1"} {
		f.Add(s)
	}
	r := Resolver{Header: "X-Forwarded-For", Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, h string) {
		req, _ := http.NewRequest("GET", "http://relay/", nil)
		req.RemoteAddr = "10.0.0.1:80"
		req.Header.Set("X-Forwarded-For", h)
		a := r.Client(req)
		if !a.IP.IsValid() {
			t.Fatalf("no address for %q", h)
		}
		if a.FromHeader && a.LoopbackExempt() {
			t.Fatalf("header address %s exempt", a)
		}
		if !a.FromHeader && a.IP != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("not from header but %s", a)
		}
	})
}
