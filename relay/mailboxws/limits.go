package mailboxws

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/wasmhole/wasmhole/relay/iplimit"
)

// ipState is one client address's connection count and token bucket.
type ipState struct {
	conns  int
	tokens float64
	last   time.Time
}

// addrKey is the address the per-address limits apply to: IPv4 as is,
// IPv6 by /64 (a single subscriber usually gets a whole /64), written
// with its prefix length.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	k := iplimit.Key(a)
	if k.Is6() {
		return netip.PrefixFrom(k, 64).String()
	}
	return k.String()
}

// budgetKey is the Connected.Client of a connection from ip: its address
// key, or "" when loopback is exempt.
func (s *Server) budgetKey(ip string) string {
	if !s.opts.LimitLoopback && isLoopback(ip) {
		return ""
	}
	return addrKey(ip)
}

// admitLocked applies the per-IP limits to a new connection from ip and
// counts it; it returns a reason for refusal, or "". s.mu must be held.
func (s *Server) admitLocked(ip string) string {
	if !s.opts.LimitLoopback && isLoopback(ip) {
		return ""
	}
	ip = addrKey(ip)
	now := time.Now()
	st := s.ips[ip]
	if st == nil {
		st = &ipState{tokens: float64(s.opts.PerIPBurst), last: now}
		s.ips[ip] = st
	}
	if s.opts.PerIPRate > 0 {
		st.tokens = min(float64(s.opts.PerIPBurst), st.tokens+now.Sub(st.last).Seconds()*s.opts.PerIPRate)
		st.last = now
	}
	if s.opts.PerIPConns > 0 && st.conns >= s.opts.PerIPConns {
		return fmt.Sprintf("too many connections from %s (limit %d): close some and retry", ip, s.opts.PerIPConns)
	}
	if s.opts.PerIPRate > 0 {
		if st.tokens < 1 {
			return fmt.Sprintf("too many new connections from %s (limit %g per second): retry later", ip, s.opts.PerIPRate)
		}
		st.tokens--
	}
	st.conns++
	return ""
}

// releaseIPLocked undoes admitLocked's count when a connection ends.
func (s *Server) releaseIPLocked(ip string) {
	ip = addrKey(ip)
	if st := s.ips[ip]; st != nil && st.conns > 0 {
		st.conns--
	}
}

// sweepIPsLocked forgets addresses without connections whose bucket has
// refilled, so the map does not grow with every client ever seen.
func (s *Server) sweepIPsLocked(now time.Time) {
	refill := time.Minute
	if s.opts.PerIPRate > 0 {
		refill = max(refill, time.Duration(float64(s.opts.PerIPBurst)/s.opts.PerIPRate*float64(time.Second)))
	}
	for ip, st := range s.ips {
		if st.conns == 0 && now.Sub(st.last) > refill {
			delete(s.ips, ip)
		}
	}
}

func isLoopback(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.IsLoopback()
}

// reasonLabel maps a refusal reason to a metric label.
func reasonLabel(reason string) string {
	switch {
	case strings.HasPrefix(reason, "too many connections"):
		return "per_ip_conns"
	case strings.HasPrefix(reason, "too many new connections"):
		return "per_ip_rate"
	case strings.Contains(reason, "shutting down"):
		return "shutting_down"
	case reason == refuseStoreFailing:
		return "store_failing"
	}
	return "other"
}
