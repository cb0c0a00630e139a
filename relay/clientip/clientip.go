// Package clientip finds the address of the client behind an HTTP request,
// which the relay's per-address limits count, for the mailbox and the
// WebSocket transit alike.
//
// # Behind a reverse proxy
//
// Without a proxy the client is the TCP peer, http.Request.RemoteAddr. Behind
// one, every request comes from the proxy, and the client's address travels
// in a header the proxy sets, such as X-Real-IP or X-Forwarded-For. Such a
// header is only as honest as whoever wrote it, so a [Resolver]:
//
//   - reads the header only when the TCP peer is a trusted proxy
//     ([Resolver.Trusted]); anyone else's header is ignored;
//   - reads a list (X-Forwarded-For: client, proxy1, proxy2) from the right,
//     skipping trusted proxies, and takes the first hop that is not one: the
//     entries further left were written by the client and may be anything;
//   - marks an address taken from a header ([Addr.FromHeader]) so that the
//     loopback exemption never applies to it: "X-Real-IP: 127.0.0.1" proves
//     nothing about where a request came from.
//
// The same trust decides whether X-Forwarded-Proto may say that the client
// reached the proxy over https ([Resolver.Secure]).
//
// A zero Resolver uses RemoteAddr only and trusts no header.
package clientip

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Loopback is the default trusted-proxy list: 127.0.0.0/8 and ::1.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Resolver picks the client address of requests. Its zero value uses the
// TCP peer only.
type Resolver struct {
	// Header names the header carrying the client address when the peer is
	// a trusted proxy, e.g. "X-Forwarded-For" or "X-Real-IP"; "" reads no
	// address header. A list (comma-separated, or the header repeated) is
	// read from the right.
	Header string
	// Trusted are the proxies whose headers are believed. The relay command
	// defaults it to [Loopback].
	Trusted []netip.Prefix
}

// Addr is a client address and where it came from.
type Addr struct {
	IP netip.Addr // unmapped (::ffff:1.2.3.4 is 1.2.3.4); invalid if unknown
	// FromHeader reports that IP came from a proxy's header, not from the
	// TCP peer; such an address is never exempt from limits.
	FromHeader bool
}

// String is the address as text, or "unknown".
func (a Addr) String() string {
	if !a.IP.IsValid() {
		return "unknown"
	}
	return a.IP.String()
}

// LoopbackExempt reports whether the loopback exemption applies: the TCP
// peer itself is on 127.0.0.0/8 or ::1. An address read from a header never
// qualifies.
func (a Addr) LoopbackExempt() bool {
	return !a.FromHeader && a.IP.IsLoopback()
}

// Client returns the address of the client that sent req.
func (r Resolver) Client(req *http.Request) Addr {
	peer := Peer(req.RemoteAddr)
	if r.Header == "" || !r.trusts(peer) {
		return Addr{IP: peer}
	}
	hops := req.Header.Values(r.Header)
	if ip, ok := r.rightmostUntrusted(hops); ok {
		return Addr{IP: ip, FromHeader: true}
	}
	return Addr{IP: peer}
}

// rightmostUntrusted walks the hops of a forwarding header from the right
// and returns the first one that is not a trusted proxy. If every hop is a
// trusted proxy, the leftmost one is the client. An entry that does not
// parse ends the walk: everything from there leftwards was written by the
// client, so the last good hop (a trusted proxy) is taken instead.
func (r Resolver) rightmostUntrusted(values []string) (netip.Addr, bool) {
	var last netip.Addr
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var hop string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				hop, v = v, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			ip, err := ParseHop(hop)
			if err != nil {
				return last, last.IsValid()
			}
			if !r.trusts(ip) {
				return ip, true
			}
			last = ip
		}
	}
	return last, last.IsValid()
}

// Secure reports whether the client reached us over TLS: the request came
// in over TLS, or a trusted proxy says so in X-Forwarded-Proto.
func (r Resolver) Secure(req *http.Request) bool {
	if req.TLS != nil {
		return true
	}
	if !r.trusts(Peer(req.RemoteAddr)) {
		return false
	}
	// A chain of proxies may append: the first value is the client's side.
	proto, _, _ := strings.Cut(req.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

func (r Resolver) trusts(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range r.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer parses a RemoteAddr ("1.2.3.4:5678", "[::1]:80"); the zero Addr if
// it is not an IP address (a Unix socket, a test's "pipe").
func Peer(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	ip, _ := netip.ParseAddr(remote)
	return ip.Unmap().WithZone("")
}

// ErrBadHop is wrapped by ParseHop's errors.
var ErrBadHop = errors.New("not an IP address")

// ParseHop parses one forwarding-header entry: an IPv4 or IPv6 address,
// optionally with a port ("1.2.3.4:80", "[2001:db8::1]:443") or in
// brackets.
func ParseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), nil
	}
	if h, _, err := net.SplitHostPort(s); err == nil && strings.HasPrefix(s, "[") {
		s = h
	} else {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q: %w", s, ErrBadHop)
	}
	return ip.Unmap().WithZone(""), nil
}

// ErrBadPrefix is wrapped by ParsePrefixes' errors.
var ErrBadPrefix = errors.New("not a CIDR prefix or IP address")

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 192.0.2.7, ::1"). An empty string is no prefix.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", f, ErrBadPrefix)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, ErrBadPrefix)
		}
		ip = ip.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
