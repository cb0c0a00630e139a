package transit

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// netURL is what wsURL replaced: url.Parse, then URL.String.
func netURL(s string) (string, bool) {
	if len(s) > 2048 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || u.Hostname() == "" {
		return "", false
	}
	return u.String(), true
}

func TestWSURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = refused
	}{
		{"ws://relay.example:4002/", "ws://relay.example:4002/"},
		{"wss://relay.magic-wormhole.io/transit", "wss://relay.magic-wormhole.io/transit"},
		{"wss://relay.example.org:8000", "wss://relay.example.org:8000"},
		{"WSS://Relay.Example/Transit", "wss://Relay.Example/Transit"},
		{"ws://127.0.0.1:4002/transit?token=a+b&x=%41", "ws://127.0.0.1:4002/transit?token=a+b&x=%41"},
		{"ws://[::1]:4002/", "ws://[::1]:4002/"},
		{"ws://[::ffff:10.0.0.1]/", "ws://[::ffff:10.0.0.1]/"},
		{"ws://host:/p", "ws://host:/p"},
		{"ws://h/a%2Fb/~c;d=e,f@g:h", "ws://h/a%2Fb/~c;d=e,f@g:h"},
		{"ws://h/?", "ws://h/?"},
		{"ws://h?q", "ws://h?q"},
		// refused by both
		{"http://relay.example/", ""},
		{"ws:relay.example", ""},
		{"ws:///transit", ""},
		{"ws://:4002/", ""},
		{"ws://[]:4002/", ""},
		{"ws://[10.0.0.1]/", ""},
		{"ws://h:x/", ""},
		{"ws://h/%zz", ""},
		{"ws://h/\n", ""},
		{"ws://[::1/", ""},
		// refused here, though net/url takes them (see wsurl.go)
		{"ws://user:pw@h/", ""},
		{"ws://h/#frag", ""},
		{"ws://[fe80::1%25eth0]:1/", ""},
		{"ws://h/a b", ""},
		{"ws://h/é", ""},
		{"ws://ex%41mple/", ""},
		{"ws://a:b:c/", ""},
	} {
		got, ok := wsURL(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("wsURL(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
		if ref, rok := netURL(tc.in); ok && (!rok || ref != got) {
			t.Errorf("wsURL(%q) = %q, but net/url gives %q, %v", tc.in, got, ref, rok)
		}
	}
}

func TestDirectWSURL(t *testing.T) {
	for _, tc := range []struct {
		host, want string
	}{
		{"ws.example", "ws://ws.example:443/"},
		{"10.0.0.1", "ws://10.0.0.1:443/"},
		{"::1", "ws://[::1]:443/"},
		{"fe80::1%eth0", ""},
		{"a:b", ""},
		{"bad?host", ""},
		{"", ""},
	} {
		h := DirectHint{Hostname: tc.host, Port: 443}
		got, ok := directWSURL("ws", h)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("directWSURL(%q) = %q, %v; want %q", tc.host, got, ok, tc.want)
		}
		if ok {
			ref := (&url.URL{Scheme: "ws", Host: h.Addr(), Path: "/"}).String()
			if ref != got {
				t.Errorf("directWSURL(%q) = %q, net/url gives %q", tc.host, got, ref)
			}
		}
	}
}

// FuzzWSURL: whatever wsURL accepts, net/url accepts with the same result.
func FuzzWSURL(f *testing.F) {
	for _, s := range []string{"ws://relay.example:4002/", "wss://[::1]:1/a%41?b#c", "WS://h:/p;q@r?", "ws://u@h/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := wsURL(s)
		if !ok {
			return
		}
		if ref, rok := netURL(s); !rok || ref != got {
			t.Fatalf("wsURL(%q) = %q, net/url gives %q, %v", s, got, ref, rok)
		}
	})
}

// FuzzDirectWSURL: the same for the URLs of direct-ws hints.
func FuzzDirectWSURL(f *testing.F) {
	for _, s := range []string{"ws.example", "::1", "10.0.0.1", "fe80::1%eth0"} {
		f.Add(s, uint16(443))
	}
	f.Fuzz(func(t *testing.T, host string, port uint16) {
		h := DirectHint{Hostname: host, Port: int(port)}
		got, ok := directWSURL("wss", h)
		if !ok {
			return
		}
		if ref := (&url.URL{Scheme: "wss", Host: h.Addr(), Path: "/"}).String(); ref != got {
			t.Fatalf("directWSURL(%q, %d) = %q, net/url gives %q", host, port, got, ref)
		}
	})
}

// netipIPv6 is what plainIPv6 replaced.
func netipIPv6(s string) bool {
	addr, err := netip.ParseAddr(s)
	return err == nil && !addr.Is4() && addr.Zone() == ""
}

var ipv6Cases = []string{
	"::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
	"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1::2::3", ":::", ":1::", "1:",
	"fe80::1%eth0", "fe80::1%", "::%", "12345::", "ffff::", "FFFF::abcd", "0000:0:00:000::",
	"::ffff:10.0.0.1", "::10.0.0.1", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
	"::1.2.3.04", "::1.2.3", "::1.2.3.4.5", "::1..2.3", "::.1.2.3", "::1.2.3.", "::256.1.1.1", "::1.2.3.4:5",
	"::1a.2.3.4", "::0.0.0.0", "1.2.3.4", "abcd", "", "[::1]", " ::1", "::1 ", "1:2:3:4:5:6::1.2.3.4",
	"::ffff:1.2.3.4", "1::1.2.3.4", "1:2:3:4:5:6:7::1.2.3.4", "::g", "0::0:0:0:0:0:0:0",
}

func TestPlainIPv6(t *testing.T) {
	accepted := 0
	for _, s := range ipv6Cases {
		got, want := plainIPv6(s), netipIPv6(s)
		if got != want {
			t.Errorf("plainIPv6(%q) = %v, netip says %v", s, got, want)
		}
		if got {
			accepted++
		}
	}
	t.Logf("%d of %d cases are plain IPv6 addresses", accepted, len(ipv6Cases))
}

// FuzzPlainIPv6 holds plainIPv6 to netip.ParseAddr on any input.
func FuzzPlainIPv6(f *testing.F) {
	for _, s := range ipv6Cases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := plainIPv6(s), netipIPv6(s); got != want {
			t.Fatalf("plainIPv6(%q) = %v, netip says %v", s, got, want)
		}
		// Inside brackets, as wsURL meets it.
		u := "ws://[" + s + "]/"
		if strings.ContainsAny(s, "]/?#") {
			return
		}
		if _, ok := wsURL(u); ok != netipIPv6(s) {
			t.Fatalf("wsURL(%q) = %v, netip says %v", u, ok, !ok)
		}
	})
}
