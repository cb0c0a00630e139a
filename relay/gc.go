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
// therefore grants the heap as much garbage as it allocated in the last
// second, but at most autoHeadroom, and never more than maxAutoPercent nor
// less than defaultGCPercent of the live heap. A busy heap (a few MiB live
// while sessions come and go, tens of MiB allocated per second) collects
// rarely; a quiet one, such as thousands of idle connections after the
// burst that opened them, collects as with GOGC=25, and the runtime then
// returns the rest of the burst's garbage to the OS (its scavenger keeps
// about 10% over the heap goal). Numbers in docs/perf.md.
const (
	defaultGCPercent = 25
	maxAutoPercent   = 400
	autoHeadroom     = 16 << 20
	autoTuneEvery    = time.Second
)

// autoPercent is the collector target for a live heap of live bytes that
// allocated recent bytes in the last autoTuneEvery.
func autoPercent(live, recent uint64) int {
	if live == 0 {
		return 100 // before the first collection: Go's default
	}
	headroom := min(recent, autoHeadroom)
	return int(max(defaultGCPercent, min(maxAutoPercent, headroom*100/live)))
}

// heapStats is what the tuner reads: the heap marked live by the last
// collection and the bytes allocated since the process started.
type heapStats struct{ live, allocs uint64 }

// tuneGC follows the heap with autoPercent every tick until stop is
// closed; read reads the heap, set is debug.SetGCPercent.
func tuneGC(stop <-chan struct{}, tick <-chan time.Time, read func() heapStats, set func(int) int) {
	cur := -2 // not yet set
	prev := read()
	recent := uint64(autoHeadroom) // until a tick has measured it
	for {
		if p := autoPercent(prev.live, recent); p != cur {
			set(p)
			cur = p
		}
		select {
		case <-stop:
			return
		case <-tick:
		}
		now := read()
		recent = now.allocs - prev.allocs
		prev = now
	}
}

// readHeap reads the live heap and the bytes allocated so far.
func readHeap() heapStats {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	var h heapStats
	if s[0].Value.Kind() == metrics.KindUint64 {
		h.live = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		h.allocs = s[1].Value.Uint64()
	}
	return h
}

// gcPlan is what `relay serve` does to the collector's target.
type gcPlan struct {
	percent int    // for debug.SetGCPercent; meaningful only if set
	set     bool   // false: leave the runtime's setting alone
	auto    bool   // follow the heap with autoPercent instead
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
			tuneGC(stop, t.C, readHeap, debug.SetGCPercent)
		}()
		return func() { close(stop); <-done; t.Stop(); debug.SetGCPercent(prev) }, true
	case p.set:
		prev := debug.SetGCPercent(p.percent)
		return func() { debug.SetGCPercent(prev) }, true
	}
	return func() {}, false
}
