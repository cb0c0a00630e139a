package main

import (
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"
)

// A relay's heap is mostly small per-connection state that lives as long
// as the connection, so Go's default target (100: the heap may double
// before a collection) shows up directly as resident memory per idle
// connection. A fixed 25 fixes that but makes a small busy heap collect
// four times as often (measured: ~28% more CPU per session). "auto"
// therefore grants the heap autoHeadroom of garbage, but never more than
// maxAutoPercent nor less than defaultGCPercent of the live heap: a small
// busy heap (a few MiB while sessions come and go) collects rarely, a big
// one (many idle connections) as with GOGC=25. Either way the garbage
// stays under 16 MiB or 25% of the live heap, whichever is larger.
// Numbers in README.md, "Tests and benchmarks".
const (
	defaultGCPercent = 25
	maxAutoPercent   = 400
	autoHeadroom     = 16 << 20
	autoTuneEvery    = time.Second
)

// autoPercent is the collector target for a live heap of live bytes.
func autoPercent(live uint64) int {
	if live == 0 {
		return 100 // before the first collection: Go's default
	}
	return int(max(defaultGCPercent, min(maxAutoPercent, autoHeadroom*100/live)))
}

// tuneGC follows the live heap with autoPercent every tick until stop is
// closed; live reads the live heap, set is debug.SetGCPercent.
func tuneGC(stop <-chan struct{}, tick <-chan time.Time, live func() uint64, set func(int) int) {
	cur := -2 // not yet set
	for {
		if p := autoPercent(live()); p != cur {
			set(p)
			cur = p
		}
		select {
		case <-stop:
			return
		case <-tick:
		}
	}
}

// liveHeap is the heap marked live by the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// gcPlan is what `relay serve` does to the collector's target.
type gcPlan struct {
	percent int    // for debug.SetGCPercent; meaningful only if set
	set     bool   // false: leave the runtime's setting alone
	auto    bool   // follow the live heap with autoPercent instead
	why     string // for the startup log
}

// planGC resolves --gc-percent: "auto" means autoPercent unless the
// operator tuned the runtime with GOGC or GOMEMLIMIT, which then win; a
// number (1..10000) is applied as given, overriding GOGC.
func planGC(flag string, lookupEnv func(string) (string, bool)) (gcPlan, error) {
	if flag == "auto" {
		for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
			if v, ok := lookupEnv(env); ok && v != "" {
				return gcPlan{why: env + " is set"}, nil
			}
		}
		return gcPlan{auto: true, why: "auto"}, nil
	}
	n, err := strconv.Atoi(flag)
	if err != nil || n < 1 || n > 10000 {
		return gcPlan{}, fmt.Errorf("%w: --gc-percent must be auto or 1..10000, not %q", ErrConfig, flag)
	}
	return gcPlan{percent: n, set: true, why: "--gc-percent"}, nil
}

// apply sets the collector target, or starts following the live heap;
// restore stops that and puts the previous target back.
func (p gcPlan) apply() (restore func(), changed bool) {
	switch {
	case p.auto:
		prev := debug.SetGCPercent(100)
		stop, done := make(chan struct{}), make(chan struct{})
		t := time.NewTicker(autoTuneEvery)
		go func() {
			defer close(done)
			tuneGC(stop, t.C, liveHeap, debug.SetGCPercent)
		}()
		return func() { close(stop); <-done; t.Stop(); debug.SetGCPercent(prev) }, true
	case p.set:
		prev := debug.SetGCPercent(p.percent)
		return func() { debug.SetGCPercent(prev) }, true
	}
	return func() {}, false
}
