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
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, maxAutoPercent},
		{autoHeadroom / 4, maxAutoPercent},
		{autoHeadroom / 2, 200},
		{autoHeadroom, 100},
		{2 * autoHeadroom, 50},
		{4 * autoHeadroom, defaultGCPercent},
		{1 << 30, defaultGCPercent},
	} {
		if got := autoPercent(tc.live); got != tc.want {
			t.Errorf("autoPercent(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}

// TestTuneGC feeds the tuner a growing then shrinking live heap and checks
// it follows with autoPercent, setting only on change, and stops.
func TestTuneGC(t *testing.T) {
	lives := []uint64{1 << 20, 1 << 20, 2 * autoHeadroom, 64 << 20, 64 << 20, 1 << 20}
	stop, tick, done := make(chan struct{}), make(chan time.Time), make(chan struct{})
	feed := make(chan uint64)
	var sets []int
	go func() {
		defer close(done)
		tuneGC(stop, tick, func() uint64 { return <-feed }, func(p int) int { sets = append(sets, p); return 0 })
	}()
	feed <- lives[0]
	for _, l := range lives[1:] {
		tick <- time.Time{}
		feed <- l
	}
	close(stop)
	<-done
	want := []int{maxAutoPercent, 50, defaultGCPercent, maxAutoPercent}
	if !slices.Equal(sets, want) {
		t.Fatalf("tuner set %v, want %v", sets, want)
	}
}
