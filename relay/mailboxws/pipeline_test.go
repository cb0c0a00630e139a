package mailboxws

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/store"
)

// gatedPipe is a Pipelined store whose Sync waits for a token (or fails
// with syncErr), to observe which frames wait for the disk.
type gatedPipe struct {
	*store.Memory
	tokens  chan struct{}
	syncErr atomic.Pointer[error]
	// commits and syncs count the calls that had something to do.
	commits, syncs atomic.Int32
}

func (g *gatedPipe) Commit(ops []store.Op) error {
	if len(ops) > 0 {
		g.commits.Add(1)
	}
	return g.Memory.Apply(ops)
}

func (g *gatedPipe) Sync() error {
	if err := g.syncErr.Load(); err != nil {
		return *err
	}
	g.syncs.Add(1)
	<-g.tokens
	return nil
}

func (g *gatedPipe) Apply(ops []store.Op) error {
	if err := g.Commit(ops); err != nil {
		return err
	}
	return g.Sync()
}

// startGated serves a gatedPipe store; its flushes wait for tokens.
func startGated(t *testing.T) (*gatedPipe, *testServer) {
	st := &gatedPipe{Memory: store.NewMemory(), tokens: make(chan struct{}, 100)}
	ts := startServer(t, "127.0.0.1:0", Options{Store: st})
	t.Cleanup(func() { close(st.tokens) }) // before the server's own cleanup: it unblocks a stuck flush
	return st, ts
}

// quiet fails if c receives anything within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.in:
		c.t.Fatalf("got %v while waiting for a flush", m)
	case <-time.After(d):
	}
}

// TestFramesWaitOnlyForWhatTheyReveal: while one client's change waits for
// its flush, other clients still get their welcome, acks and pongs, and a
// claim whose allocate is already on disk is answered; a frame that reveals
// the unflushed change, or follows one on the same connection, waits.
func TestFramesWaitOnlyForWhatTheyReveal(t *testing.T) {
	st, ts := startGated(t)

	a := dial(t, ts.url)
	a.bind("a")
	a.send(`{"type":"allocate"}`)
	a.quiet(200 * time.Millisecond) // even the ack waits: it shares the write with "allocated"
	a.send(`{"type":"ping","ping":1}`)

	b := dial(t, ts.url)
	b.bind("b") // welcome and ack while a's allocate is not on disk
	b.send(`{"type":"ping","ping":2}`)
	b.expect("ack", "pong")
	a.quiet(100 * time.Millisecond) // a's pong queues behind its allocated

	st.tokens <- struct{}{}
	got := a.expect("ack", "allocated", "ack", "pong")
	np := got[1]["nameplate"].(string)

	// b's allocate now waits for a flush, but a's claim of its own,
	// flushed nameplate does not.
	b.send(`{"type":"allocate"}`)
	a.send(`{"type":"claim","nameplate":"` + np + `"}`)
	a.expect("ack", "claimed")
	b.quiet(100 * time.Millisecond)
	st.tokens <- struct{}{}
	got = b.expect("ack", "allocated")
	npB := got[1]["nameplate"].(string)

	// A reconnect of b's side claims b's nameplate: that changes nothing,
	// but b's allocate is on disk only after the flush.
	b.send(`{"type":"claim","nameplate":"` + npB + `"}`)
	b.expect("ack", "claimed")
	c := dial(t, ts.url)
	c.bind("c")
	c.send(`{"type":"allocate"}`) // not flushed
	b2 := dial(t, ts.url)
	b2.bind("b")
	b2.send(`{"type":"claim","nameplate":"` + npB + `"}`)
	b2.expect("ack", "claimed") // depends on b's allocate only: flushed
	c.quiet(100 * time.Millisecond)
	st.tokens <- struct{}{}
	c.expect("ack", "allocated")
}

// TestChangesDuringAFlushShareOneCommit: what arrives while a flush runs
// is committed, and flushed, as one batch once it is done, not as a lone
// first change and then the rest.
func TestChangesDuringAFlushShareOneCommit(t *testing.T) {
	st, ts := startGated(t)
	a := dial(t, ts.url)
	a.bind("a")
	a.send(`{"type":"allocate"}`) // committed, its flush waits for a token
	a.quiet(100 * time.Millisecond)
	var others []*client
	for _, side := range []string{"b", "c", "d"} {
		c := dial(t, ts.url)
		c.bind(side)
		c.send(`{"type":"allocate"}`)
		others = append(others, c)
	}
	others[2].quiet(200 * time.Millisecond)
	if n := st.commits.Load(); n != 1 {
		t.Fatalf("%d commits while the first flush runs, want 1", n)
	}
	st.tokens <- struct{}{}
	a.expect("ack", "allocated")
	st.tokens <- struct{}{}
	for _, c := range others {
		c.expect("ack", "allocated")
	}
	t.Logf("4 allocates, 3 of them during a flush: %d commits, %d flushes", st.commits.Load(), st.syncs.Load())
	if c, s := st.commits.Load(), st.syncs.Load(); c != 2 || s != 2 {
		t.Fatalf("%d commits and %d flushes, want 2 and 2", c, s)
	}
}

// TestClaimWaitsForUnflushedNameplate: a claim that stores nothing still
// waits when the nameplate it reveals is not on disk yet.
func TestClaimWaitsForUnflushedNameplate(t *testing.T) {
	st, ts := startGated(t)
	a := dial(t, ts.url)
	a.bind("a")
	a.send(`{"type":"claim","nameplate":"42"}`) // creates it: waits
	// a2's claim must come second, or it is the one that creates (and
	// waits): the two connections are read concurrently.
	waitFor(t, func() bool { return st.commits.Load() >= 1 })
	a2 := dial(t, ts.url)
	a2.bind("a") // the same side, reconnected
	a2.send(`{"type":"claim","nameplate":"42"}`)
	a2.expect("ack") // reveals nothing
	a2.quiet(200 * time.Millisecond)
	st.tokens <- struct{}{}
	a.expect("ack", "claimed")
	a2.expect("claimed")
}

// TestSyncFailureClosesConnection: a failed flush cuts the connections
// whose replies depended on it, and the server fails closed until a flush
// succeeds again.
func TestSyncFailureClosesConnection(t *testing.T) {
	st := &gatedPipe{Memory: store.NewMemory(), tokens: make(chan struct{})}
	close(st.tokens) // flushes do not wait
	fire := errors.New("disk on fire")
	st.syncErr.Store(&fire)
	ts := startServer(t, "127.0.0.1:0", Options{Store: st})
	c := dial(t, ts.url)
	c.bind("a")
	c.send(`{"type":"claim","nameplate":"5"}`)
	if err := c.closeErr(); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("close %v", err)
	}
	if err := ts.srv.Healthy(); !errors.Is(err, ErrStoreFailing) || !errors.Is(err, fire) {
		t.Fatalf("Healthy() = %v", err)
	}
	expectRefused(t, ts.url, "server storage failure")
	st.syncErr.Store(nil)
	waitHealthy(t, ts.srv)
	d := dial(t, ts.url)
	d.bind("d")
	d.send(`{"type":"ping","ping":1}`)
	d.expect("ack", "pong")
}
