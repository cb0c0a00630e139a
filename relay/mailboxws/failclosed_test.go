package mailboxws

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhole/wasmhole/relay/store"
)

// flakyStore is a Memory store whose writes fail while fail is set, like
// a full disk.
type flakyStore struct {
	*store.Memory
	fail    atomic.Bool
	refused atomic.Int64
}

var errDiskFull = errors.New("disk full (test)")

func (f *flakyStore) Apply(ops []store.Op) error {
	if f.fail.Load() {
		f.refused.Add(1)
		return errDiskFull
	}
	return f.Memory.Apply(ops)
}

// expectRefused dials url and expects a welcome whose error contains want,
// then a close.
func expectRefused(t *testing.T, url, want string) {
	t.Helper()
	c := dial(t, url)
	m := c.expect("welcome")[0]
	w, _ := m["welcome"].(map[string]any)
	if e, _ := w["error"].(string); !strings.Contains(e, want) {
		t.Fatalf("welcome %v, want an error containing %q", m, want)
	}
	c.closeErr()
}

func waitHealthy(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy: %v", s.Healthy())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFailClosedLosesNothing is the disk-full scenario: two messages are
// stored, then writes fail while ten more are added. No client is ever
// shown one of the ten: the adder is cut, newcomers are refused with a
// clear error, the server reports unhealthy, and once writes succeed again
// a re-opened mailbox (and a restart) replays exactly the two.
func TestFailClosedLosesNothing(t *testing.T) {
	st := &flakyStore{Memory: store.NewMemory()}
	reg := prometheus.NewRegistry()
	ts := startServer(t, "127.0.0.1:0", Options{Store: st, Registerer: reg})
	healthGauge := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "wasmhole_mailbox_store_healthy" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no wasmhole_mailbox_store_healthy")
		return -1
	}

	a := dial(t, ts.url)
	a.bind("a")
	a.send(`{"type":"open","mailbox":"mb"}`)
	a.expect("ack")
	for i := range 2 {
		a.send(fmt.Sprintf(`{"type":"add","phase":"%d","body":"stored"}`, i))
		a.expect("ack", "message")
	}
	// A second listener, idle, sees what happens to everyone else.
	b := dial(t, ts.url)
	b.bind("b")
	b.send(`{"type":"open","mailbox":"mb"}`)
	b.expect("ack", "message", "message")

	st.fail.Store(true)
	for i := 2; i < 12; i++ {
		if a.ws.Write(t.Context(), websocket.MessageText, fmt.Appendf(nil, `{"type":"add","phase":"%d","body":"lost"}`, i)) != nil {
			break // already cut
		}
	}
	for _, c := range []*client{a, b} {
		for m := range c.in {
			if m["type"] == "message" {
				t.Fatalf("shown a message that is not stored: %v", m)
			}
		}
		if err := c.closeErr(); websocket.CloseStatus(err) != websocket.StatusInternalError {
			t.Fatalf("close %v", err)
		}
	}
	if err := ts.srv.Healthy(); !errors.Is(err, ErrStoreFailing) || !errors.Is(err, errDiskFull) {
		t.Fatalf("Healthy() = %v", err)
	}
	if g := healthGauge(); g != 0 {
		t.Fatalf("store_healthy %v while failing", g)
	}
	expectRefused(t, ts.url, "server storage failure")
	time.Sleep(3 * storeProbeEvery) // probes keep failing
	if ts.srv.Healthy() == nil || st.refused.Load() < 2 {
		t.Fatalf("recovered while writes fail (%d refused)", st.refused.Load())
	}

	st.fail.Store(false)
	waitHealthy(t, ts.srv)
	if g := healthGauge(); g != 1 {
		t.Fatalf("store_healthy %v after recovery", g)
	}
	replay := func(url string) []string {
		c := dial(t, url)
		c.bind("a")
		c.send(`{"type":"open","mailbox":"mb"}`)
		c.expect("ack")
		c.send(`{"type":"ping","ping":1}`)
		var bodies []string
		for {
			m := c.next()
			switch m["type"] {
			case "message":
				bodies = append(bodies, fmt.Sprint(m["phase"], ":", m["body"]))
				continue
			case "ack":
				continue
			}
			return bodies
		}
	}
	if got := replay(ts.url); fmt.Sprint(got) != "[0:stored 1:stored]" {
		t.Fatalf("re-opened mailbox replays %q", got)
	}
	// The store has the same: a restart replays the same two.
	ts.close()
	ts2 := startServer(t, "127.0.0.1:0", Options{Store: st})
	if got := replay(ts2.url); fmt.Sprint(got) != "[0:stored 1:stored]" {
		t.Fatalf("after restart %q", got)
	}
	t.Logf("store writes refused while failing: %d; replayed after recovery: 2 of 12 added", st.refused.Load())
}
