// Package iplimit caps, per client address, how many connections a relay
// holds open at once and how fast new ones may arrive.
//
// A public relay is an easy target: one host opening thousands of idle
// sockets, or reconnecting in a loop, can starve everybody else. The relay
// therefore checks every new connection with [Limiter.Acquire] and calls
// the returned release function when the connection ends. Rates are a token
// bucket per address: Rate tokens per second, up to Burst saved.
//
// IPv6 clients usually own a whole /64, so IPv6 addresses are counted per
// /64 prefix. Loopback can be exempted (the default in the relay command) so
// that a local benchmark or a reverse proxy on the same host is never
// limited. Behind a proxy the relay limits the address the proxy reports
// (relay/clientip) with [Limiter.AcquireForwarded], which is never exempt.
//
// The limiter reads no clock: callers pass the time, which keeps it
// testable and usable from a Durable Object.
package iplimit

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Errors returned by Acquire; test with errors.Is.
var (
	ErrTooManyConns = errors.New("too many connections from this address")
	ErrRateLimited  = errors.New("connecting too fast from this address")
)

// Config holds the limits. Zero values mean "no limit".
type Config struct {
	MaxConns       int     // open connections per address
	Rate           float64 // new connections per second per address
	Burst          int     // saved-up connections; default max(1, ceil(Rate))
	ExemptLoopback bool    // never limit 127.0.0.0/8 and ::1
}

type entry struct {
	conns  int
	tokens float64
	last   time.Time
}

// Limiter tracks addresses. It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	cfg     Config
	m       map[netip.Addr]*entry
	acquire int
}

// New returns a limiter with cfg.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg, m: map[netip.Addr]*entry{}}
}

// SetConfig changes the limits; connections already open are not closed.
func (l *Limiter) SetConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// Config returns the current limits.
func (l *Limiter) Config() Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Tracked is the number of addresses currently remembered.
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

func noop() {}

// Key is the address the limits apply to: IPv4 as is, IPv6 by /64.
func Key(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Acquire admits a new connection from ip at now, or returns an error
// wrapping ErrTooManyConns or ErrRateLimited. release must be called
// exactly once when an admitted connection ends.
func (l *Limiter) Acquire(ip netip.Addr, now time.Time) (release func(), err error) {
	return l.admit(ip, now, true)
}

// AcquireForwarded is Acquire for an address a reverse proxy reported in a
// header rather than the TCP peer: it is never exempt as loopback, since
// the header proves nothing about where the connection came from.
func (l *Limiter) AcquireForwarded(ip netip.Addr, now time.Time) (release func(), err error) {
	return l.admit(ip, now, false)
}

func (l *Limiter) admit(ip netip.Addr, now time.Time, exemptable bool) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cfg := l.cfg
	if (cfg.MaxConns <= 0 && cfg.Rate <= 0) || (exemptable && cfg.ExemptLoopback && ip.Unmap().IsLoopback()) {
		return noop, nil
	}
	l.acquire++
	if l.acquire%1024 == 0 {
		l.sweep(now)
	}
	key := Key(ip)
	burst := l.burst()
	e := l.m[key]
	if e == nil {
		e = &entry{tokens: burst, last: now}
		l.m[key] = e
	}
	if cfg.MaxConns > 0 && e.conns >= cfg.MaxConns {
		return nil, fmt.Errorf("%s: %w (limit %d)", key, ErrTooManyConns, cfg.MaxConns)
	}
	if cfg.Rate > 0 {
		e.refill(now, cfg.Rate, burst)
		if e.tokens < 1 {
			return nil, fmt.Errorf("%s: %w (limit %g/s)", key, ErrRateLimited, cfg.Rate)
		}
		e.tokens--
	}
	e.conns++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			e.conns--
			if e.conns == 0 && l.cfg.Rate <= 0 && l.m[key] == e {
				delete(l.m, key)
			}
		})
	}, nil
}

func (l *Limiter) burst() float64 {
	if l.cfg.Burst > 0 {
		return float64(l.cfg.Burst)
	}
	return math.Max(1, math.Ceil(l.cfg.Rate))
}

func (e *entry) refill(now time.Time, rate, burst float64) {
	if dt := now.Sub(e.last).Seconds(); dt > 0 {
		e.tokens = math.Min(burst, e.tokens+dt*rate)
		e.last = now
	}
}

// sweep forgets idle addresses whose bucket is full again.
func (l *Limiter) sweep(now time.Time) {
	burst := l.burst()
	for k, e := range l.m {
		if e.conns > 0 {
			continue
		}
		e.refill(now, l.cfg.Rate, burst)
		if l.cfg.Rate <= 0 || e.tokens >= burst {
			delete(l.m, k)
		}
	}
}
