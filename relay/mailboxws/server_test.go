package mailboxws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/store"
)

var mailboxVerify = mailbox.VerifyHashcash

const testApp = "lothar.com/wormhole/text-or-file-xfer"

type testServer struct {
	srv  *Server
	url  string
	addr string
	hs   *http.Server
	stop context.CancelFunc
	done chan struct{}
}

// startServer serves opts on addr ("127.0.0.1:0" for any port).
func startServer(t testing.TB, addr string, opts Options) *testServer {
	t.Helper()
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // a just-closed port may take a moment
		ln, err = net.Listen("tcp", addr)
		if err == nil || i > 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1", srv)
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, url: "ws://" + ln.Addr().String() + "/v1", addr: ln.Addr().String(), hs: hs, stop: cancel, done: make(chan struct{})}
	go func() { srv.Run(ctx); close(ts.done) }()
	t.Cleanup(ts.close)
	return ts
}

func (ts *testServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts.srv.Shutdown(ctx)
	ts.hs.Close()
	ts.stop()
	<-ts.done
}

type client struct {
	t  testing.TB
	ws *websocket.Conn
	in chan map[string]any
	// raw frames, with their type
	frames chan websocket.MessageType
	err    atomic.Value
	done   chan struct{}
}

func dial(t testing.TB, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(-1)
	c := &client{t: t, ws: ws, in: make(chan map[string]any, 1000), frames: make(chan websocket.MessageType, 1000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, data, err := ws.Read(context.Background())
			if err != nil {
				c.err.Store(err)
				close(c.in)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				c.err.Store(fmt.Errorf("bad frame %q: %w", data, err))
			}
			c.frames <- typ
			c.in <- m
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed: %v", c.err.Load())
		}
		if typ := <-c.frames; typ != websocket.MessageText {
			c.t.Fatalf("server sent a %v frame", typ)
		}
		return m
	case <-time.After(10 * time.Second):
		c.t.Fatal("timeout waiting for a message")
	}
	return nil
}

// expect reads messages and checks their types in order.
func (c *client) expect(types ...string) []map[string]any {
	c.t.Helper()
	var got []map[string]any
	for _, want := range types {
		m := c.next()
		if m["type"] != want {
			c.t.Fatalf("got %v, want type %s", m, want)
		}
		got = append(got, m)
	}
	return got
}

func (c *client) closeErr() error {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatal("connection not closed")
	}
	err, _ := c.err.Load().(error)
	return err
}

func (c *client) bind(side string) {
	c.t.Helper()
	c.expect("welcome")
	c.send(`{"type":"bind","appid":"` + testApp + `","side":"` + side + `","id":"b"}`)
	c.expect("ack")
}

func TestSession(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", Options{MOTD: "hi"})
	a := dial(t, ts.url)
	w := a.expect("welcome")[0]
	if w["welcome"].(map[string]any)["motd"] != "hi" {
		t.Fatalf("welcome %v", w)
	}
	if _, ok := w["server_tx"].(float64); !ok {
		t.Fatalf("server_tx %v", w)
	}
	// The Python client sends bind without waiting for welcome and
	// pipelines the rest: claim, open and add in a row.
	a.send(`{"type":"bind","appid":"` + testApp + `","side":"aaaa","id":"1"}`)
	a.send(`{"type":"allocate","id":"2"}`)
	got := a.expect("ack", "ack", "allocated")
	if got[0]["id"] != "1" || got[1]["id"] != "2" {
		t.Fatalf("acks %v", got)
	}
	np := got[2]["nameplate"].(string)
	a.send(`{"type":"claim","nameplate":"` + np + `","id":"3"}`)
	mb := a.expect("ack", "claimed")[1]["mailbox"].(string)
	a.send(`{"type":"open","mailbox":"` + mb + `","id":"4"}`)
	// binary frames are accepted too
	if err := a.ws.Write(context.Background(), websocket.MessageBinary, []byte(`{"type":"add","phase":"pake","body":"aa","id":"5"}`)); err != nil {
		t.Fatal(err)
	}
	got = a.expect("ack", "ack", "message")
	if got[2]["side"] != "aaaa" || got[2]["id"] != "5" || got[2]["body"] != "aa" {
		t.Fatalf("echo %v", got[2])
	}

	b := dial(t, ts.url)
	b.bind("bbbb")
	b.send(`{"type":"claim","nameplate":"` + np + `"}`)
	if m := b.expect("ack", "claimed")[1]; m["mailbox"] != mb {
		t.Fatalf("claimed %v", m)
	}
	b.send(`{"type":"open","mailbox":"` + mb + `"}`)
	b.expect("ack", "message") // replay
	b.send(`{"type":"add","phase":"pake","body":"bb"}`)
	b.expect("ack", "message")
	if m := a.next(); m["type"] != "message" || m["side"] != "bbbb" || m["id"] != nil {
		t.Fatalf("a got %v", m)
	}
	a.send(`{"type":"release"}`)
	a.expect("ack", "released")
	b.send(`{"type":"release"}`)
	b.expect("ack", "released")
	a.send(`{"type":"close","mood":"happy"}`)
	a.expect("ack", "closed")
	b.send(`{"type":"close","mood":"happy"}`)
	b.expect("ack", "closed")
	st := ts.srv.Stats()
	if st.Connections != 2 || st.Mailboxes != 0 || st.Nameplates != 0 || st.Sessions["happy"] != 1 || st.MessagesTotal != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestErrorsAndLimits(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", Options{MaxMessageSize: 1000})
	c := dial(t, ts.url)
	c.expect("welcome")
	c.send(`{"type":"list"}`)
	if m := c.expect("ack", "error")[1]; m["error"] != "must bind first" || m["orig"].(map[string]any)["type"] != "list" {
		t.Fatalf("error %v", m)
	}
	c.send(`{"type":"bind","appid":"a","side":"s"}`)
	c.expect("ack")
	c.send(`{"type":"claim","nameplate":"x7"}`) // the reference drops the socket here
	if m := c.expect("ack", "error")[1]; m["error"] != "invalid nameplate: must be digits only" {
		t.Fatalf("error %v", m)
	}
	c.send(`not json`)
	c.expect("error")
	c.send(`{"type":"ping","ping":` + strings.Repeat("1", 2000) + `}`)
	if m := c.expect("error")[0]; !strings.Contains(m["error"].(string), "message too large: 2023 bytes exceeds the limit of 1000 bytes") {
		t.Fatalf("too large: %v", m)
	}
	// the connection survives an oversized frame
	c.send(`{"type":"ping","ping":7}`)
	if m := c.expect("ack", "pong")[1]; m["pong"] != float64(7) {
		t.Fatalf("pong %v", m)
	}
	// Beyond 8× the limit the connection is closed with 1009 (the
	// client may see a reset instead if it was still writing).
	c.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping","ping":"`+strings.Repeat("x", 9000)+`"}`))
	if err := c.closeErr(); err == nil || websocket.CloseStatus(err) != -1 && websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("close %v", err)
	}
	waitFor(t, func() bool { return ts.srv.Stats().Connections == 0 })
	if st := ts.srv.Stats(); st.Errors["too_large"] != 1 || st.Errors["bad_nameplate"] != 1 {
		t.Fatalf("errors %v", st.Errors)
	}
}

func TestPerIPLimits(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", Options{LimitLoopback: true, PerIPConns: 2, PerIPRate: 1000, PerIPBurst: 1000})
	a, b := dial(t, ts.url), dial(t, ts.url)
	a.expect("welcome")
	b.expect("welcome")
	c := dial(t, ts.url)
	w := c.expect("welcome")[0]["welcome"].(map[string]any)
	if !strings.Contains(w["error"].(string), "too many connections from 127.0.0.1 (limit 2)") {
		t.Fatalf("welcome %v", w)
	}
	if err := c.closeErr(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("close %v", err)
	}
	// a closed connection frees its slot
	a.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return ts.srv.Stats().Connections == 1 })
	d := dial(t, ts.url)
	if w := d.expect("welcome")[0]["welcome"].(map[string]any); w["error"] != nil {
		t.Fatalf("refused after a slot freed: %v", w)
	}

	rt := startServer(t, "127.0.0.1:0", Options{LimitLoopback: true, PerIPConns: 100, PerIPRate: 0.001, PerIPBurst: 2})
	dial(t, rt.url).expect("welcome")
	dial(t, rt.url).expect("welcome")
	w = dial(t, rt.url).expect("welcome")[0]["welcome"].(map[string]any)
	if !strings.Contains(fmt.Sprint(w["error"]), "too many new connections") {
		t.Fatalf("welcome %v", w)
	}
	// loopback is exempt by default
	ex := startServer(t, "127.0.0.1:0", Options{PerIPConns: 1, PerIPRate: 0.001, PerIPBurst: 1})
	for range 3 {
		if w := dial(t, ex.url).expect("welcome")[0]["welcome"].(map[string]any); w["error"] != nil {
			t.Fatalf("loopback limited: %v", w)
		}
	}
}

func waitFor(t testing.TB, cond func() bool, state ...func() string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	for _, s := range state {
		t.Log(s())
	}
	t.Fatal("condition not reached")
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", Options{IdleTimeout: 400 * time.Millisecond})
	// A raw TCP client that upgrades and then never answers pings.
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET /v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	// A client that reads (and so answers pings) but sends nothing.
	live := dial(t, ts.url)
	live.expect("welcome")
	waitFor(t, func() bool { return ts.srv.Stats().Connections == 2 })
	start := time.Now()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			break
		}
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Fatalf("dead client cut after %v", el)
	}
	time.Sleep(time.Second) // > 2× the idle timeout
	if st := ts.srv.Stats(); st.Connections != 1 {
		t.Fatalf("connections %d, want the live one only", st.Connections)
	}
	live.send(`{"type":"ping","ping":1}`)
	live.expect("ack", "pong")
}

// slowStore blocks Apply until released, to observe what waits for it.
type slowStore struct {
	*store.Memory
	gate    chan struct{}
	applies atomic.Int32
	ops     atomic.Int32
}

func (s *slowStore) Apply(ops []store.Op) error {
	<-s.gate
	s.applies.Add(1)
	s.ops.Add(int32(len(ops)))
	return s.Memory.Apply(ops)
}

// TestRepliesWaitForCommit: an ack or claimed that depends on a store
// change is not sent before the change is committed, and changes queued
// during a commit share the next one.
func TestRepliesWaitForCommit(t *testing.T) {
	st := &slowStore{Memory: store.NewMemory(), gate: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(st.gate) }) }
	defer release()
	ts := startServer(t, "127.0.0.1:0", Options{Store: st})
	c := dial(t, ts.url)
	c.bind("a") // bind stores nothing: its ack went straight out
	var others []*client
	for i := range 5 {
		o := dial(t, ts.url)
		o.bind(fmt.Sprint("o", i))
		others = append(others, o)
	}
	c.send(`{"type":"claim","nameplate":"5"}`)
	select {
	case m := <-c.in:
		t.Fatalf("got %v before the commit", m)
	case <-time.After(200 * time.Millisecond):
	}
	// more clients claim while the first commit is stuck
	for i, o := range others {
		o.send(fmt.Sprintf(`{"type":"claim","nameplate":"%d"}`, 10+i))
	}
	time.Sleep(100 * time.Millisecond)
	release()
	c.expect("ack", "claimed")
	for _, o := range others {
		o.expect("ack", "claimed")
	}
	if n := st.applies.Load(); n != 2 {
		t.Fatalf("%d commits for 6 claims, want 2 (one stuck, one batch)", n)
	}
}

type failingStore struct{ *store.Memory }

func (failingStore) Apply([]store.Op) error { return errors.New("disk on fire") }

func TestStoreFailureClosesConnection(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", Options{Store: failingStore{store.NewMemory()}})
	c := dial(t, ts.url)
	c.bind("a")
	c.send(`{"type":"claim","nameplate":"5"}`)
	if err := c.closeErr(); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("close %v", err)
	}
}

// TestRestartResumes: state survives a server restart on the same SQLite
// file; a client re-binds with its side, re-claims and gets its messages
// replayed.
func TestRestartResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbox.sqlite")
	st, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "127.0.0.1:0", Options{Store: st})
	a := dial(t, ts.url)
	a.bind("aaaa")
	a.send(`{"type":"allocate"}`)
	np := a.expect("ack", "allocated")[1]["nameplate"].(string)
	a.send(`{"type":"claim","nameplate":"` + np + `"}`)
	mb := a.expect("ack", "claimed")[1]["mailbox"].(string)
	a.send(`{"type":"open","mailbox":"` + mb + `"}`)
	a.send(`{"type":"add","phase":"pake","body":"a1","id":"x"}`)
	a.expect("ack", "ack", "message")

	ts.close()
	if err := a.closeErr(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("shutdown close: %v", err)
	}
	st.Close()
	st2, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ts2 := startServer(t, ts.addr, Options{Store: st2})
	if s := ts2.srv.Stats(); s.Nameplates != 1 || s.Mailboxes != 1 || s.Messages != 1 {
		t.Fatalf("restored %+v", s)
	}
	a = dial(t, ts2.url)
	a.bind("aaaa")
	a.send(`{"type":"claim","nameplate":"` + np + `"}`)
	if m := a.expect("ack", "claimed")[1]; m["mailbox"] != mb {
		t.Fatalf("re-claim %v", m)
	}
	a.send(`{"type":"open","mailbox":"` + mb + `"}`)
	if m := a.expect("ack", "message")[1]; m["body"] != "a1" || m["id"] != "x" || m["side"] != "aaaa" {
		t.Fatalf("replay %v", m)
	}
	b := dial(t, ts2.url)
	b.bind("bbbb")
	b.send(`{"type":"claim","nameplate":"` + np + `"}`)
	b.expect("ack", "claimed")
	b.send(`{"type":"open","mailbox":"` + mb + `"}`)
	b.expect("ack", "message")
}

func TestAdmin(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, "127.0.0.1:0", Options{Registerer: reg})
	a := dial(t, ts.url)
	a.bind("a")
	a.send(`{"type":"claim","nameplate":"3"}`)
	mb := a.expect("ack", "claimed")[1]["mailbox"].(string)
	a.send(`{"type":"open","mailbox":"` + mb + `"}`)
	a.send(`{"type":"add","phase":"pake","body":"00"}`)
	a.expect("ack", "ack", "message")

	list := ts.srv.ListMailboxes()
	if len(list) != 1 || list[0].ID != mb || list[0].Nameplate != "3" || list[0].Messages != 1 ||
		len(list[0].Sides) != 1 || list[0].Listeners != 1 || list[0].AppID != testApp {
		t.Fatalf("list %+v", list)
	}
	ts.srv.SetMOTD("new motd")
	if ts.srv.MOTD() != "new motd" {
		t.Fatal("MOTD")
	}
	if w := dial(t, ts.url).expect("welcome")[0]["welcome"].(map[string]any); w["motd"] != "new motd" {
		t.Fatalf("welcome %v", w)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			names[mf.GetName()] += v
		}
	}
	for name, want := range map[string]float64{
		"wasmhole_mailbox_connections": 2, "wasmhole_mailbox_nameplates": 1, "wasmhole_mailbox_mailboxes": 1,
		"wasmhole_mailbox_messages_total": 1, "wasmhole_mailbox_stored_messages": 1,
	} {
		if names[name] != want {
			t.Errorf("%s = %v, want %v (all: %v)", name, names[name], want, names)
		}
	}

	if err := ts.srv.CloseMailbox(context.Background(), "nope"); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("close unknown: %v", err)
	}
	if err := ts.srv.CloseMailbox(context.Background(), mb); err != nil {
		t.Fatal(err)
	}
	if m := a.next(); m["type"] != "error" || m["error"] != "mailbox closed by the server operator" {
		t.Fatalf("listener got %v", m)
	}
	if len(ts.srv.ListMailboxes()) != 0 || ts.srv.Stats().Nameplates != 0 {
		t.Fatal("mailbox still listed")
	}
	mfs, _ = reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "wasmhole_mailbox_sessions_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "closed" && m.GetCounter().GetValue() == 1 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("sessions_total{mood=closed} missing")
	}

	// Shutdown: clients see 1001, new requests are refused, a second
	// server can register the same metrics.
	ts.close()
	if err := a.closeErr(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close %v", err)
	}
	if err := ts.srv.Shutdown(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Fatalf("second shutdown: %v", err)
	}
	if _, err := New(Options{Registerer: reg}); err != nil {
		t.Fatalf("re-register: %v", err)
	}
}

// TestManyConcurrentSessions runs sessions in parallel (as the benchmark
// does) and checks every one completes and leaves nothing behind.
func TestManyConcurrentSessions(t *testing.T) {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "m.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := startServer(t, "127.0.0.1:0", Options{Store: st})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if err := runSession(context.Background(), ts.url, fmt.Sprintf("%02d%02d", w, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := ts.srv.Stats()
	if s.Mailboxes != 0 || s.Nameplates != 0 || s.Sessions["lonely"] != 160 {
		t.Fatalf("stats %+v", s)
	}
	snap, _ := st.Load()
	if len(snap.Mailboxes)+len(snap.Nameplates)+len(snap.Messages) != 0 {
		t.Fatalf("store not empty")
	}
}

// TestHashcashPermission: with Hashcash set, the welcome asks for a stamp,
// a bind without one is refused and the connection closed (1008), and a
// client that mints a stamp for its resource gets through.
func TestHashcashPermission(t *testing.T) {
	ts := startServer(t, "127.0.0.1:0", Options{Hashcash: 6})
	c := dial(t, ts.url)
	w := c.expect("welcome")[0]["welcome"].(map[string]any)
	hc := w["permission-required"].(map[string]any)["hashcash"].(map[string]any)
	if hc["bits"] != float64(6) {
		t.Fatalf("welcome %v", w)
	}
	c.send(`{"type":"bind","appid":"a","side":"s"}`)
	if m := c.expect("ack", "error")[1]; m["error"] != "permission denied" {
		t.Fatalf("got %v", m)
	}
	if err := c.closeErr(); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("close %v", err)
	}

	d := dial(t, ts.url)
	res := d.expect("welcome")[0]["welcome"].(map[string]any)["permission-required"].(map[string]any)["hashcash"].(map[string]any)["resource"].(string)
	var stamp string
	for i := 0; ; i++ {
		stamp = fmt.Sprintf("1:6:%s:%s::c2FsdA:%d", "MjAyNjA3MDE", res, i)
		if mailboxVerify(stamp, res, 6) {
			break
		}
	}
	d.send(`{"type":"submit-permission","method":"hashcash","stamp":"` + stamp + `"}`)
	d.expect("ack")
	d.send(`{"type":"bind","appid":"a","side":"s"}`)
	d.expect("ack")
	d.send(`{"type":"allocate"}`)
	d.expect("ack", "allocated")
}
