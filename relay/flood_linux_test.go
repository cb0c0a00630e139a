package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The floods of a single abusive client, each run for real against a
// `relay serve` child process on loopback. Each test prints the relay's
// resident memory before and after (and its peak), the bytes it stores,
// and what the client was told, and fails if the peak passes floodRSSCap:
// no single client may make a relay with default flags hold more.
//
// Loopback is exempt from the per-address limits unless --limit-loopback,
// so the floods that stand for one remote address pass that flag; the
// others run with no flag at all.

const floodRSSCap = 256 << 20

// floodCount is full with WASMHOLE_FLOOD_FULL=1 (the counts of the
// original reports) and short otherwise: every cap is reached early in a
// flood, and what follows is refused the same way, so the short run
// proves the same at a fraction of the time on a busy machine.
func floodCount(full, short int) int {
	if os.Getenv("WASMHOLE_FLOOD_FULL") == "1" {
		return full
	}
	return short
}

// memStat is a process's VmRSS and VmHWM (peak) in bytes.
func memStat(t testing.TB, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// flood is one flood's relay and its figures.
type flood struct {
	t      *testing.T
	p      *relayProc
	before int64
}

func startFlood(t *testing.T, args ...string) *flood {
	t.Helper()
	p := startRelay(t, "", freeAddr(t), "", args...)
	f := &flood{t: t, p: p}
	f.before, _ = memStat(t, p.cmd.Process.Pid)
	return f
}

// report prints the figures and checks the peak.
func (f *flood) report(told string) {
	f.t.Helper()
	rss, peak := memStat(f.t, f.p.cmd.Process.Pid)
	stored := f.p.metric(f.t, "wasmhole_mailbox_stored_bytes")
	msgs := f.p.metric(f.t, "wasmhole_mailbox_stored_messages")
	var db int64
	for _, name := range []string{"relay.sqlite", "relay.sqlite-wal"} {
		if fi, err := os.Stat(filepath.Join(f.p.Dir, name)); err == nil {
			db += fi.Size()
		}
	}
	f.t.Logf("%s: RSS before %.1f MiB, after %.1f MiB, peak %.1f MiB; stored %d messages, %.1f MiB counted, db %.1f MiB; told %q",
		f.t.Name(), mib(f.before), mib(rss), mib(peak), int64(msgs), stored/(1<<20), mib(db), told)
	if peak > floodRSSCap {
		f.t.Errorf("peak RSS %.1f MiB > %d MiB", mib(peak), floodRSSCap>>20)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// floodConn is a mailbox client that counts what it is told.
type floodConn struct {
	ws     *websocket.Conn
	mu     sync.Mutex
	counts map[string]int // by message type
	errs   map[string]int // error messages by text
	done   chan struct{}
}

func dialFlood(t testing.TB, url, side string, read bool) *floodConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	c := &floodConn{ws: ws, counts: map[string]int{}, errs: map[string]int{}, done: make(chan struct{})}
	t.Cleanup(func() { ws.CloseNow() })
	c.send(t, `{"type":"bind","appid":"flood","side":"`+side+`"}`)
	if read {
		go c.readAll()
	}
	return c
}

func (c *floodConn) send(t testing.TB, s string) {
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func (c *floodConn) readAll() {
	defer close(c.done)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		c.note(data)
	}
}

func (c *floodConn) note(data []byte) {
	var m struct{ Type, Error string }
	json.Unmarshal(data, &m)
	c.mu.Lock()
	c.counts[m.Type]++
	if m.Error != "" {
		c.errs[m.Error]++
	}
	c.mu.Unlock()
}

// waitFor waits until the client has been sent n frames of type typ.
func (c *floodConn) waitFor(t testing.TB, typ string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		got := c.counts[typ]
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %q frames after %v (counts %v, errors %v)", got, n, typ, within, c.counts, c.errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// told is the client's most frequent error message.
func (c *floodConn) told() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, n := "", 0
	for e, k := range c.errs {
		if k > n {
			best, n = e, k
		}
	}
	return best
}

func (c *floodConn) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[typ]
}

// TestFloodHugeIDs: 300 adds, each with a 1 MB id. The id counts against
// the mailbox cap, so about 16 are stored and the rest refused.
func TestFloodHugeIDs(t *testing.T) {
	f := startFlood(t)
	c := dialFlood(t, f.p.MailboxURL(), "a", true)
	c.send(t, `{"type":"open","mailbox":"ids"}`)
	id := `"` + strings.Repeat("i", 1000*1000) + `"`
	n := floodCount(300, 40)
	for range n {
		c.send(t, `{"type":"add","phase":"p","body":"","id":`+id+`}`)
	}
	c.send(t, `{"type":"ping","ping":1}`)
	c.waitFor(t, "pong", 1, 60*time.Second)
	stored, refused := c.count("message"), c.count("error")
	if stored+refused != n || stored > 17 || refused == 0 {
		t.Fatalf("%d stored, %d refused of %d", stored, refused, n)
	}
	f.report(c.told())
}

// TestFloodEmptyMessages: 200,000 empty adds. Each costs its overhead and
// a mailbox holds at most 1000.
func TestFloodEmptyMessages(t *testing.T) {
	f := startFlood(t)
	c := dialFlood(t, f.p.MailboxURL(), "a", true)
	c.send(t, `{"type":"open","mailbox":"empty"}`)
	n := floodCount(200_000, 20_000)
	for range n {
		c.send(t, `{"type":"add","phase":"","body":""}`)
	}
	c.send(t, `{"type":"ping","ping":1}`)
	c.waitFor(t, "pong", 1, 60*time.Second)
	if stored := c.count("message"); stored != 1000 || c.count("error") != n-1000 {
		t.Fatalf("%d stored, %d refused of %d", stored, c.count("error"), n)
	}
	f.report(c.told())
}

// TestFloodManyMailboxesOneAddress: 40 connections from one address
// (--limit-loopback makes loopback count as one), each filling its own
// mailbox. The address's byte budget stops them at 64 MiB in all.
func TestFloodManyMailboxesOneAddress(t *testing.T) {
	f := startFlood(t, "--limit-loopback")
	body := strings.Repeat("b", 1000*1000)
	const conns = 40
	var wg sync.WaitGroup
	cs := make([]*floodConn, conns)
	for i := range cs {
		cs[i] = dialFlood(t, f.p.MailboxURL(), "a", true)
	}
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(t, fmt.Sprintf(`{"type":"open","mailbox":"m%d"}`, i))
			// Add until refused: one add in flight at a time.
			for k := 1; k <= 20; k++ {
				c.send(t, `{"type":"add","phase":"p","body":"`+body+`"}`)
				deadline := time.Now().Add(30 * time.Second)
				for c.count("message")+c.count("error") < k && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if c.count("error") > 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	stored := 0
	told := map[string]int{}
	for _, c := range cs {
		stored += c.count("message")
		told[c.told()]++
	}
	// A message costs 1,000,258 bytes: 67 fit in 64 MiB.
	if stored > 67 || stored < 48 {
		t.Fatalf("%d messages of 1 MB stored; want at most 64 MiB", stored)
	}
	t.Logf("errors by text: %v", told)
	var overBudget string
	for e := range told {
		if strings.HasPrefix(e, "over budget") {
			overBudget = e
		}
	}
	if overBudget == "" {
		t.Fatalf("no client told it is over budget: %v", told)
	}
	f.report(overBudget)
}

// TestFloodListeners: a full mailbox (16 MiB), then 100 (200) connections of the
// same side open it and never read. Four get a replay, streamed one frame
// at a time; the rest are refused. No flag: loopback is exempt from the
// per-address limits, so only the per-side cap bounds this.
func TestFloodListeners(t *testing.T) {
	f := startFlood(t)
	w := dialFlood(t, f.p.MailboxURL(), "w", true) // the other side
	w.send(t, `{"type":"open","mailbox":"full"}`)
	body := strings.Repeat("b", 1000*1000)
	for range 20 {
		w.send(t, `{"type":"add","phase":"p","body":"`+body+`"}`)
	}
	w.send(t, `{"type":"ping","ping":1}`)
	w.waitFor(t, "pong", 1, 30*time.Second)
	if w.count("message") < 15 {
		t.Fatalf("only %d messages stored", w.count("message"))
	}
	n := floodCount(200, 100)
	ls := make([]*floodConn, n)
	for i := range ls {
		ls[i] = dialFlood(t, f.p.MailboxURL(), "a", false)
		ls[i].send(t, `{"type":"open","mailbox":"full"}`)
	}
	// Give the server time to write what it can into the sockets.
	w.send(t, `{"type":"ping","ping":2}`)
	w.waitFor(t, "pong", 2, 30*time.Second)
	time.Sleep(2 * time.Second)
	rss, _ := memStat(t, f.p.cmd.Process.Pid)
	t.Logf("RSS with %d non-reading listeners: %.1f MiB", n, mib(rss))
	// Now read what the listeners were told (welcome, ack, then a replay
	// or an error).
	refused, replayed := 0, 0
	var told string
	for _, l := range ls {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for range 4 { // welcome, ack, ack, message or error
			_, data, err := l.ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			l.note(data)
		}
		cancel()
		switch {
		case l.count("error") > 0:
			refused++
			told = l.told()
		case l.count("message") > 0:
			replayed++
		}
	}
	if replayed != 4 || refused != n-4 {
		t.Fatalf("%d replayed, %d refused", replayed, refused)
	}
	f.report(told)
}
