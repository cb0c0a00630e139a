package main

import (
	"errors"
	"io"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

func TestPlanGC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flag    string
		env     map[string]string
		percent int
		set     bool
		auto    bool
		err     bool
	}{
		{name: "auto default", flag: "auto", auto: true},
		{name: "auto yields to GOGC", flag: "auto", env: map[string]string{"GOGC": "200"}},
		{name: "auto yields to GOMEMLIMIT", flag: "auto", env: map[string]string{"GOMEMLIMIT": "1GiB"}},
		{name: "auto ignores empty GOGC", flag: "auto", env: map[string]string{"GOGC": ""}, auto: true},
		{name: "number overrides GOGC", flag: "50", env: map[string]string{"GOGC": "200"}, percent: 50, set: true},
		{name: "zero", flag: "0", err: true},
		{name: "negative", flag: "-1", err: true},
		{name: "too big", flag: "10001", err: true},
		{name: "word", flag: "off", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planGC(tc.flag, envMap(tc.env))
			if tc.err {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("planGC(%q) error = %v, want ErrConfig", tc.flag, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.set != tc.set || p.auto != tc.auto || (p.set && p.percent != tc.percent) {
				t.Fatalf("planGC(%q, %v) = %+v, want set=%v auto=%v percent=%d", tc.flag, tc.env, p, tc.set, tc.auto, tc.percent)
			}
		})
	}
}

func TestGCPercentFlag(t *testing.T) {
	if _, err := loadConfig([]string{"--gc-percent", "nope"}, envMap(nil), io.Discard); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad --gc-percent: err = %v, want ErrConfig", err)
	}
	l, err := loadConfig(nil, envMap(map[string]string{"RELAY_GC_PERCENT": "40"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p, err := planGC(l.cfg.GCPercent, envMap(nil))
	if err != nil || !p.set || p.percent != 40 {
		t.Fatalf("RELAY_GC_PERCENT=40: plan %+v, %v", p, err)
	}
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	restore, changed := p.apply()
	if !changed {
		t.Fatal("apply did not change the target")
	}
	if got := debug.SetGCPercent(40); got != 40 {
		t.Fatalf("runtime GC percent = %d after apply, want 40", got)
	}
	restore()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Fatalf("runtime GC percent = %d after restore, want 77", got)
	}
}

func TestAutoPercent(t *testing.T) {
	const busy = 1 << 30 // allocated in the last second
	for _, tc := range []struct {
		live, recent uint64
		want         int
	}{
		{0, busy, 100},
		{1 << 20, busy, maxAutoPercent},
		{autoHeadroom / 4, busy, maxAutoPercent},
		{autoHeadroom / 2, busy, 200},
		{autoHeadroom, busy, 100},
		{2 * autoHeadroom, busy, 50},
		{4 * autoHeadroom, busy, defaultGCPercent},
		{1 << 30, busy, defaultGCPercent},
		// Quiet: the garbage allowed is what the last second allocated.
		{autoHeadroom, autoHeadroom / 2, 50},
		{autoHeadroom, 0, defaultGCPercent},
		{1 << 20, 1 << 20, 100},
		{1 << 20, 64 << 10, defaultGCPercent},
		{0, 0, 100},
	} {
		if got := autoPercent(tc.live, tc.recent); got != tc.want {
			t.Errorf("autoPercent(%d, %d) = %d, want %d", tc.live, tc.recent, got, tc.want)
		}
	}
}

// TestTuneGC feeds the tuner a heap that grows busily, then goes quiet and
// shrinks, and checks it follows with autoPercent, setting only on change,
// and stops.
func TestTuneGC(t *testing.T) {
	const mib = 1 << 20
	heaps := []heapStats{
		{1 * mib, 0},                  // start: assumed busy
		{1 * mib, 100 * mib},          // busy
		{2 * autoHeadroom, 200 * mib}, // busy, big
		{64 * mib, 300 * mib},         // busy, bigger
		{64 * mib, 301 * mib},         // quiet
		{1 * mib, 301 * mib},          // quiet, small
		{1 * mib, 302 * mib},          // 1 MiB/s on 1 MiB live
	}
	stop, tick, done := make(chan struct{}), make(chan time.Time), make(chan struct{})
	feed := make(chan heapStats)
	var sets []int
	go func() {
		defer close(done)
		tuneGC(stop, tick, func() heapStats { return <-feed }, func(p int) int { sets = append(sets, p); return 0 })
	}()
	feed <- heaps[0]
	for _, h := range heaps[1:] {
		tick <- time.Time{}
		feed <- h
	}
	close(stop)
	<-done
	want := []int{maxAutoPercent, 50, defaultGCPercent, 100}
	if !slices.Equal(sets, want) {
		t.Fatalf("tuner set %v, want %v", sets, want)
	}
}
