//go:build js && wasm

package main

// What a receive tells the page about its backlog: the received bytes
// that wait in memory because they arrive faster than the sink stores
// them. Only browsers without WebSocketStream have one (Firefox, Safari;
// core/transitnet/backlog_js.go bounds it); elsewhere it stays 0.

import (
	"sync"
	"syscall/js"
	"time"

	"github.com/wasmhole/wasmhole/core/transitnet"
)

// setBacklogLimit applies the page's limit (Wasmhole.load's
// receiveBacklog, which worker.js puts in WASMHOLE_RECEIVE_BACKLOG).
func setBacklogLimit() {
	if v := js.Global().Get("WASMHOLE_RECEIVE_BACKLOG"); v.Type() == js.TypeNumber && v.Int() > 0 {
		transitnet.BacklogLimit = v.Int()
	}
}

// backlog() -> {queued, peak}: the bytes waiting unread now and the most
// that waited during the last receive (transitnet.Backlog).
func backlog([]js.Value) any {
	now, peak := transitnet.Backlog()
	o := js.Global().Get("Object").New()
	o.Set("queued", float64(now))
	o.Set("peak", float64(peak))
	return o
}

// receiveProgress is a receive's progress callback, and stop ends what
// it started. It emits status "transferring" at the first byte; progress
// events, about ten a second, with got, total, queued (bytes waiting now)
// and queuedPeak (the most that waited during this receive); and, checked
// four times a second whatever the sink does, status "lagging" (with
// queued) while more than transitnet.LaggingMark waits, "transferring"
// again once the backlog drained below a quarter of it.
func receiveProgress(e emitter) (progress func(got, total int64), stop func()) {
	transitnet.ResetBacklogPeak()
	var mu sync.Mutex
	started, lagging, reported := false, false, false
	var last time.Time
	// check runs every tick, and once more as the receive ends: a backlog
	// that rose past the mark between two ticks (a loaded machine can
	// starve the ticker) is still reported once, from its peak, even when
	// the bound then failed the receive and emptied it.
	check := func(final bool) {
		queued, peak := transitnet.Backlog()
		mu.Lock()
		defer mu.Unlock()
		switch {
		case started && !lagging && (queued > transitnet.LaggingMark || !reported && peak > transitnet.LaggingMark):
			lagging, reported = true, true
			e.emit("status", map[string]any{"status": "lagging", "queued": float64(max(queued, peak))})
		case !final && lagging && queued < transitnet.LaggingMark/4:
			lagging = false
			e.emit("status", map[string]any{"status": "transferring"})
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				check(false)
			}
		}
	}()
	progress = func(got, total int64) {
		mu.Lock()
		if !started {
			started = true
			e.emit("status", map[string]any{"status": "transferring"})
		}
		mu.Unlock()
		now := time.Now()
		if got != 0 && got != total && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		queued, peak := transitnet.Backlog()
		e.emit("progress", map[string]any{"got": float64(got), "total": float64(total),
			"queued": float64(queued), "queuedPeak": float64(peak)})
	}
	stop = func() { tick.Stop(); close(done); check(true) }
	return progress, stop
}
