package mailboxws

import (
	"context"
	"time"

	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/store"
)

// handleLocked feeds one event and queues its actions. s.mu must be held.
// self is the connection whose goroutine calls (or nil); when handleLocked
// returns true, that goroutine must run self.writeLoop() after unlocking:
// its frames are written inline instead of on a new goroutine.
//
// A frame goes straight to its connection when its event stores nothing,
// the ops it depends on (Send.After) are durable and no earlier frame for
// that connection is still waiting: welcomes, acks, pongs, and a claim
// whose allocate is already on disk do not wait for the flush of other
// clients' changes. Everything else waits in pendOut for the batch.
func (s *Server) handleLocked(ev mailbox.Event, self *wsConn) (drain bool) {
	return s.handleLockedMore(ev, self, false)
}

// handleLockedMore is handleLocked for a command after which the client's
// next one has already arrived (more): the client is not waiting for
// these frames, so they ride with the next batch's write instead of
// taking a write of their own (an "open" whose ack would otherwise go out
// alone just before the "add" behind it).
func (s *Server) handleLockedMore(ev mailbox.Event, self *wsConn, more bool) (drain bool) {
	acts := s.m.Handle(ev)
	// wait: every frame of this event goes through pendOut, because the
	// event stores something (its frames wait for that) or because the
	// client is not waiting for them (more).
	wait := more
	for _, a := range acts {
		if _, ok := a.(mailbox.Persist); ok {
			wait = true
			break
		}
	}
	queued := false
	// A failing store: nothing this machine says may reach a client (its
	// state is being replaced by what the store holds), and nothing it
	// changes is written.
	failing := s.failing != nil
	route := func(id mailbox.ConnID, d delivery, after uint64, free bool) {
		c := s.conns[id]
		if c == nil || failing && d.close == nil {
			return
		}
		d.c = c
		if !wait && c.held == 0 && (free || s.opsBase+after <= s.opsDurable) {
			if c.enqueue(d, c == self) {
				drain = true
			}
			return
		}
		s.pendOut = append(s.pendOut, d)
		c.held++
		queued = true
	}
	for _, a := range acts {
		switch a := a.(type) {
		case mailbox.Send:
			route(a.Conn, delivery{data: a.Data}, a.After, false)
		case mailbox.Replay:
			route(a.Conn, delivery{replay: &a}, a.After, false)
		case mailbox.CloseConn:
			route(a.Conn, delivery{close: &a}, 0, true)
		case mailbox.Persist:
			if failing {
				continue
			}
			s.pendOps = append(s.pendOps, a.Op)
			s.opsQueued++
			queued = true
		case mailbox.SetTimer:
			select {
			case <-s.timerReq:
			default:
			}
			s.timerReq <- a.After
		}
	}
	if queued {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return drain
}

func (s *Server) event(ev mailbox.Event) {
	s.mu.Lock()
	s.handleLocked(ev, nil)
	s.mu.Unlock()
}

// batch is what the flusher took in one go: the frames that wait for its
// ops (and for everything queued before them).
type batch struct {
	seq    uint64
	opsEnd uint64 // opsQueued when the batch was taken
	out    []delivery
	// unsynced: its ops are committed but wait for a Sync.
	unsynced bool
	// failed: its ops are not durable; its frames are dropped.
	failed bool
}

// flusher commits queued ops in one store transaction, then hands the
// frames queued with (and before) them to their connections. Events that
// arrive during a commit pile up for the next one: group commit. With a
// Pipelined store the flusher only commits, and the syncer flushes and
// delivers; events that arrive during a flush pile up for the next commit.
func (s *Server) flusher() {
	defer func() {
		if s.syncq != nil {
			close(s.syncq) // the syncer delivers the rest, then closes flusherDone
		} else {
			close(s.flusherDone)
		}
	}()
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			s.flushOnce() // whatever was queued before the stop
			return
		}
		s.flushOnce()
	}
}

func (s *Server) flushOnce() {
	if s.slot != nil {
		s.slot <- struct{}{} // released by the syncer once it flushed the batch
	}
	s.mu.Lock()
	ops, out := s.pendOps, s.pendOut
	s.pendOps, s.pendOut = nil, nil
	s.enqSeq++
	b := &batch{seq: s.enqSeq, opsEnd: s.opsQueued, out: out}
	s.mu.Unlock()

	if len(ops) > 0 {
		if err := s.commit(ops); err != nil {
			s.failBatches(err, "store commit failed; closing affected connections", b)
		} else {
			b.unsynced = s.pipe != nil
		}
	}
	if s.syncq != nil {
		// Always through the syncer, even with nothing to flush: frames
		// must not overtake those of an earlier batch still waiting.
		s.syncq <- b
		return
	}
	s.deliver(b)
}

// syncer takes the batches the flusher committed, flushes each to disk and
// delivers it. Only once the flush is done may the flusher commit the next
// batch (the slot): everything that arrived meanwhile then goes into one
// commit and one flush. Committing during the flush instead, as this did
// before, overlapped the two but split each flush period's events into a
// lone early batch and the rest, which waited a flush more: 1.35 commits
// and flushes per session with 8 clients where this makes 1.04, 0.21 with
// 64 where it makes 0.16. Where a flush costs CPU, as on the VM of
// docs/perf.md, every flush saved is CPU saved.
func (s *Server) syncer() {
	defer close(s.flusherDone)
	for b := range s.syncq {
		if b.unsynced {
			t0 := time.Now()
			err := s.pipe.Sync()
			if s.metrics != nil {
				s.metrics.syncSeconds.Observe(time.Since(t0).Seconds())
			}
			if err != nil {
				// A failed flush cannot be retried with confidence (the
				// kernel may have dropped the dirty pages), so nothing
				// in the batch may claim durability.
				if s.metrics != nil {
					s.metrics.storeErrors.Inc()
				}
				s.failBatches(err, "store sync failed; closing affected connections", b)
			}
		}
		<-s.slot // the next commit may start while this batch is delivered
		s.deliver(b)
	}
}

// failBatches handles a failed commit or sync: the batches' frames are
// dropped (their replies must not claim durability we do not have), and
// the server fails closed until the store takes writes again (see
// failClosed).
func (s *Server) failBatches(err error, msg string, bs ...*batch) {
	s.log.Error(err, msg, "batches", len(bs))
	for _, b := range bs {
		b.failed = true
	}
	s.failClosed(err)
}

// deliver hands the batches' frames to their connections, in order, and
// marks them done. While the store fails nothing is delivered: a batch
// committed after a failed one may depend on what that one lost.
func (s *Server) deliver(bs ...*batch) {
	s.mu.Lock()
	failing := s.failing != nil
	s.mu.Unlock()
	for _, b := range bs {
		if b.failed || failing {
			continue
		}
		for _, d := range b.out {
			d.c.enqueue(d, false)
		}
	}
	s.mu.Lock()
	for _, b := range bs {
		for _, d := range b.out {
			d.c.held--
		}
	}
	last := bs[len(bs)-1]
	s.doneSeq = last.seq
	s.opsDurable = last.opsEnd
	s.doneCond.Broadcast()
	s.mu.Unlock()
}

// commit applies ops (commits them, with a Pipelined store), retrying
// briefly: a busy or momentarily full disk should not cost sessions.
func (s *Server) commit(ops []store.Op) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		t0 := time.Now()
		if s.pipe != nil {
			err = s.pipe.Commit(ops)
		} else {
			err = s.store.Apply(ops)
		}
		if s.metrics != nil {
			s.metrics.commitSeconds.Observe(time.Since(t0).Seconds())
		}
		if err == nil {
			return nil
		}
		if s.metrics != nil {
			s.metrics.storeErrors.Inc()
		}
	}
	return err
}

// flush waits until everything queued so far is committed and delivered
// to the connections' write queues.
func (s *Server) flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.enqSeq + 1
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.doneSeq < target {
			s.doneCond.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
