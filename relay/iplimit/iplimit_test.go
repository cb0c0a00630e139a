package iplimit

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestConnCap(t *testing.T) {
	l := New(Config{MaxConns: 2})
	ip := netip.MustParseAddr("192.0.2.1")
	r1, err := l.Acquire(ip, t0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Acquire(ip, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ip, t0); !errors.Is(err, ErrTooManyConns) {
		t.Fatalf("third: %v", err)
	}
	// Another address has its own budget.
	if _, err := l.Acquire(netip.MustParseAddr("192.0.2.2"), t0); err != nil {
		t.Fatal(err)
	}
	r1()
	r1() // idempotent
	if _, err := l.Acquire(ip, t0); err != nil {
		t.Fatalf("after release: %v", err)
	}
	r2()
}

func TestRate(t *testing.T) {
	l := New(Config{Rate: 2, Burst: 3})
	ip := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		r, err := l.Acquire(ip, t0)
		if err != nil {
			t.Fatalf("burst %d: %v", i, err)
		}
		r()
	}
	if _, err := l.Acquire(ip, t0); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("over burst: %v", err)
	}
	// Half a second later one token (2/s) is back, but not two.
	if _, err := l.Acquire(ip, t0.Add(500*time.Millisecond)); err != nil {
		t.Fatalf("refill: %v", err)
	}
	if _, err := l.Acquire(ip, t0.Add(500*time.Millisecond)); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second after refill: %v", err)
	}
}

func TestExemptionsAndKeys(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		a, b    string
		limited bool // is the second connection refused?
	}{
		{"loopback exempt", Config{MaxConns: 1, ExemptLoopback: true}, "127.0.0.1", "127.0.0.1", false},
		{"loopback v6 exempt", Config{MaxConns: 1, ExemptLoopback: true}, "::1", "::1", false},
		{"mapped loopback exempt", Config{MaxConns: 1, ExemptLoopback: true}, "::ffff:127.0.0.1", "127.0.0.1", false},
		{"loopback limited when not exempt", Config{MaxConns: 1}, "127.0.0.1", "127.0.0.1", true},
		{"same /64 shares", Config{MaxConns: 1}, "2001:db8::1", "2001:db8::ffff", true},
		{"different /64", Config{MaxConns: 1}, "2001:db8::1", "2001:db8:0:1::1", false},
		{"mapped v4 equals v4", Config{MaxConns: 1}, "::ffff:192.0.2.1", "192.0.2.1", true},
		{"no limits", Config{}, "192.0.2.1", "192.0.2.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(tt.cfg)
			if _, err := l.Acquire(netip.MustParseAddr(tt.a), t0); err != nil {
				t.Fatal(err)
			}
			_, err := l.Acquire(netip.MustParseAddr(tt.b), t0)
			if (err != nil) != tt.limited {
				t.Fatalf("err = %v, limited = %v", err, tt.limited)
			}
		})
	}
}

func TestForgetsIdleAddresses(t *testing.T) {
	l := New(Config{MaxConns: 5})
	r, _ := l.Acquire(netip.MustParseAddr("192.0.2.1"), t0)
	r()
	if n := l.Tracked(); n != 0 {
		t.Fatalf("conn-only limiter kept %d entries", n)
	}
	l = New(Config{Rate: 1})
	for i := range 2000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		r, err := l.Acquire(ip, t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		r()
	}
	if n := l.Tracked(); n >= 2000 {
		t.Fatalf("no sweep: %d entries", n)
	}
}

// A loopback address reported by a proxy is limited even when loopback
// peers are exempt.
func TestForwardedLoopbackNotExempt(t *testing.T) {
	l := New(Config{MaxConns: 1, ExemptLoopback: true})
	lo := netip.MustParseAddr("127.0.0.1")
	for range 3 {
		if _, err := l.Acquire(lo, t0); err != nil {
			t.Fatalf("TCP peer on loopback: %v", err)
		}
	}
	if _, err := l.AcquireForwarded(lo, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AcquireForwarded(lo, t0); !errors.Is(err, ErrTooManyConns) {
		t.Fatalf("second forwarded loopback: %v, want ErrTooManyConns", err)
	}
}
