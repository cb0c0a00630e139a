package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/mailbox/mailboxtest"
)

// prg is a deterministic byte stream for tests.
type prg struct {
	seed string
	n    int
	buf  []byte
}

func (p *prg) Read(b []byte) (int, error) {
	for len(p.buf) < len(b) {
		h := sha256.Sum256([]byte(fmt.Sprintf("test-%d-%s", p.n, p.seed)))
		p.n++
		p.buf = append(p.buf, h[:]...)
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// peer runs one Machine against the fake server, playing the driver.
type peer struct {
	t       testing.TB
	srv     *mailboxtest.Server
	m       *Machine
	conn    *mailboxtest.Conn
	now     time.Time
	outputs []Action // everything that is not a driver action
	timers  []SetTimer
	dials   int
	hungup  bool
}

func newPeer(t testing.TB, srv *mailboxtest.Server, side string) *peer {
	t.Helper()
	m, err := New(Config{AppID: "test/app", Side: side, ClientVersion: [2]string{"wasmhole", "test"}, Rand: &prg{seed: side}})
	if err != nil {
		t.Fatal(err)
	}
	return &peer{t: t, srv: srv, m: m, now: t0}
}

func (p *peer) feed(ev Event) {
	p.now = p.now.Add(time.Millisecond)
	for _, a := range p.m.Handle(ev) {
		switch a := a.(type) {
		case Send:
			if p.conn == nil {
				p.t.Fatalf("%s: Send while not connected: %s", p.m.Side(), a.Data)
			}
			if !json.Valid(a.Data) {
				p.t.Fatalf("invalid JSON sent: %q", a.Data)
			}
			p.conn.Receive(a.Data)
		case Dial:
			p.dials++
		case Hangup:
			p.hungup = true
			if p.conn != nil {
				p.conn.Close()
				p.conn = nil
			}
		case SetTimer:
			p.timers = append(p.timers, a)
		default:
			p.outputs = append(p.outputs, a)
		}
	}
}

func (p *peer) connect() {
	p.conn = p.srv.Connect()
	p.feed(Connected{Now: p.now})
}

// drop loses the connection; whatever the server had queued is lost too.
func (p *peer) drop() {
	p.conn.Close()
	p.conn = nil
	p.feed(Disconnected{Now: p.now, Err: errors.New("connection reset")})
}

// reconnect fires the pending reconnect timer and completes the Dial.
func (p *peer) reconnect() {
	p.t.Helper()
	if len(p.timers) == 0 {
		p.t.Fatal("no reconnect timer set")
	}
	tm := p.timers[len(p.timers)-1]
	p.feed(TimerFired{Name: tm.Name, Now: p.now.Add(tm.After)})
	if p.dials == 0 {
		p.t.Fatal("timer did not ask for Dial")
	}
	p.dials--
	p.connect()
}

// pump delivers queued server messages until nothing moves.
func pump(peers ...*peer) {
	for moved := true; moved; {
		moved = false
		for _, p := range peers {
			if p.conn == nil {
				continue
			}
			for _, d := range p.conn.Drain() {
				moved = true
				p.feed(Received{Now: p.now, Data: d})
			}
		}
	}
}

// take removes and returns the outputs so far.
func (p *peer) take() []Action {
	o := p.outputs
	p.outputs = nil
	return o
}

// sentTypes lists the types the client sent on connection n.
func sentTypes(srv *mailboxtest.Server, conn int) []string {
	var ts []string
	for _, e := range srv.Log {
		if e.Conn == conn && e.Dir == "c2s" {
			ts = append(ts, fmt.Sprint(e.Msg["type"]))
		}
	}
	return ts
}

func serverErrors(srv *mailboxtest.Server) []string {
	var es []string
	for _, e := range srv.Log {
		if e.Dir == "s2c" && e.Msg["type"] == "error" {
			es = append(es, fmt.Sprint(e.Msg["error"], " <- ", e.Msg["orig"]))
		}
	}
	return es
}

func peerMessages(acts []Action) []PeerMessage {
	var pm []PeerMessage
	for _, a := range acts {
		if m, ok := a.(PeerMessage); ok {
			pm = append(pm, m)
		}
	}
	return pm
}

func has[T Action](acts []Action) (T, bool) {
	for _, a := range acts {
		if v, ok := a.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func TestBindFirst(t *testing.T) {
	srv := mailboxtest.NewServer()
	p := newPeer(t, srv, "aaaaaaaaaa")
	p.connect()
	if len(srv.Log) < 2 || srv.Log[1].Dir != "c2s" {
		t.Fatalf("nothing sent on connect: %+v", srv.Log)
	}
	bind := srv.Log[1].Msg
	want := map[string]any{"type": "bind", "appid": "test/app", "side": "aaaaaaaaaa",
		"client_version": []any{"wasmhole", "test"}, "id": bind["id"]}
	if !reflect.DeepEqual(bind, want) {
		t.Fatalf("bind = %v\nwant %v", bind, want)
	}
	if id, _ := bind["id"].(string); len(id) != 4 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("id %q is not 4 hex digits", id)
	}
	pump(p)
	if w, ok := has[Welcome](p.take()); !ok || !bytes.Contains(w.Raw, []byte("0.12.0")) {
		t.Fatalf("no welcome output")
	}
}

func TestRandomSide(t *testing.T) {
	m, err := New(Config{AppID: "x", Rand: &prg{seed: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Side(); len(s) != 10 || strings.Trim(s, "0123456789abcdef") != "" {
		t.Fatalf("side %q", s)
	}
	if _, err := New(Config{AppID: "x", Rand: bytes.NewReader(nil)}); err == nil {
		t.Fatal("New with an empty rand succeeded")
	}
}

// TestSession runs two machines through a whole rendezvous: allocate,
// claim, exchange messages, release on the first peer message, close.
func TestSession(t *testing.T) {
	srv := mailboxtest.NewServer()
	a, b := newPeer(t, srv, "aaaaaaaaaa"), newPeer(t, srv, "bbbbbbbbbb")
	a.connect()
	a.feed(Allocate{})
	// The add is queued until the mailbox is open.
	a.feed(Add{Phase: "pake", Body: []byte("A-pake")})
	pump(a)
	outs := a.take()
	al, ok := has[Allocated](outs)
	if !ok || al.Nameplate != "1" {
		t.Fatalf("allocated %v", al)
	}
	// Allocation claims and opens by itself; the queued add goes out.
	if c, ok := has[Claimed](outs); !ok || c.Mailbox == "" || c.Mailbox != a.m.Mailbox() {
		t.Fatalf("claimed %v", c)
	}
	if d, ok := has[Delivered](outs); !ok || d.Phase != "pake" {
		t.Fatalf("no Delivered for pake in %+v", outs)
	}
	a.feed(Claim{Nameplate: al.Nameplate}) // a no-op: already claimed
	b.connect()
	b.feed(Claim{Nameplate: "1"})
	b.feed(Add{Phase: "pake", Body: []byte("B-pake")})
	pump(a, b)

	for _, p := range []*peer{a, b} {
		outs := p.take()
		pm := peerMessages(outs)
		other := map[*peer]string{a: "B-pake", b: "A-pake"}[p]
		if len(pm) != 1 || pm[0].Phase != "pake" || string(pm[0].Body) != other {
			t.Fatalf("%s got %+v", p.m.Side(), outs)
		}
		if d, ok := has[Delivered](outs); (p == b) != ok || (ok && d.Phase != "pake") {
			t.Fatalf("%s: Delivered for pake wrong in %+v", p.m.Side(), outs)
		}
	}
	// Both released the nameplate on seeing the peer.
	if nps := srv.Nameplates(); len(nps) != 0 {
		t.Fatalf("nameplates left: %v", nps)
	}
	a.feed(Add{Phase: "0", Body: []byte("hello")})
	a.feed(Add{Phase: "0", Body: []byte("duplicate phase is ignored")})
	pump(a, b)
	if pm := peerMessages(b.take()); len(pm) != 1 || string(pm[0].Body) != "hello" {
		t.Fatalf("b got %+v", pm)
	}
	a.feed(Close{Mood: "happy"})
	b.feed(Close{Mood: "happy"})
	pump(a, b)
	for _, p := range []*peer{a, b} {
		outs := p.take()
		if _, ok := has[Closed](outs); !ok || !p.hungup || !p.m.Done() {
			t.Fatalf("%s did not close: %+v", p.m.Side(), outs)
		}
	}
	if srv.Mailboxes() != 0 {
		t.Fatalf("%d mailboxes left", srv.Mailboxes())
	}
	if e := serverErrors(srv); len(e) != 0 {
		t.Fatalf("server errors: %v", e)
	}
	if got, want := sentTypes(srv, 1), []string{"bind", "allocate", "claim", "open", "add", "release", "add", "close"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("a sent %v, want %v", got, want)
	}
	if got, want := sentTypes(srv, 2), []string{"bind", "claim", "open", "add", "release", "close"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("b sent %v, want %v", got, want)
	}
	// Commands after the end do nothing.
	if acts := a.m.Handle(Add{Phase: "9", Body: nil}); len(acts) != 0 {
		t.Fatalf("after close: %v", acts)
	}
}

// TestResume drops the connection at each interesting point and checks
// that the next connection sends exactly what docs/protocol.md §1.7
// says, and that the session still completes without a server error
// and without the layer above seeing a peer phase twice.
func TestResume(t *testing.T) {
	tests := []struct {
		name string
		// setup runs until the drop; it may leave server output undrained
		// so that answers are lost with the connection.
		setup func(a, b *peer)
		want  []string // types a sends on its second connection
		// leak: the lost allocation stays on the server (as with the
		// reference client) until the server prunes it.
		leak bool
	}{
		{
			name: "claim unanswered",
			setup: func(a, b *peer) {
				a.feed(Claim{Nameplate: "4"})
				a.feed(Add{Phase: "pake", Body: []byte("A")})
			},
			want: []string{"bind", "claim", "open", "add"},
		},
		{
			name: "allocate unanswered",
			setup: func(a, b *peer) {
				a.feed(Allocate{})
			},
			want: []string{"bind", "allocate", "claim", "open"},
			leak: true,
		},
		{
			name: "claimed, add not echoed",
			setup: func(a, b *peer) {
				a.feed(Claim{Nameplate: "4"})
				pump(a)
				a.conn.Drain()
				a.feed(Add{Phase: "pake", Body: []byte("A")})
				a.conn.Drain() // the echo is lost
			},
			want: []string{"bind", "open", "add"},
		},
		{
			name: "add echoed, nothing to resend",
			setup: func(a, b *peer) {
				a.feed(Claim{Nameplate: "4"})
				a.feed(Add{Phase: "pake", Body: []byte("A")})
				pump(a)
			},
			want: []string{"bind", "open"},
		},
		{
			name: "release unanswered",
			setup: func(a, b *peer) {
				a.feed(Claim{Nameplate: "4"})
				a.feed(Add{Phase: "pake", Body: []byte("A")})
				pump(a)
				b.feed(Claim{Nameplate: "4"})
				b.feed(Add{Phase: "pake", Body: []byte("B")})
				pump(b)
				// a sees B's pake and sends release; the answer is lost.
				for _, d := range a.conn.Drain() {
					a.feed(Received{Now: a.now, Data: d})
				}
				a.conn.Drain()
			},
			want: []string{"bind", "release", "open"},
		},
		{
			name: "closing, closed unanswered",
			setup: func(a, b *peer) {
				a.feed(Claim{Nameplate: "4"})
				a.feed(Add{Phase: "pake", Body: []byte("A")})
				pump(a)
				b.feed(Claim{Nameplate: "4"})
				b.feed(Add{Phase: "pake", Body: []byte("B")})
				pump(a, b)
				a.feed(Add{Phase: "0", Body: []byte("x")})
				a.feed(Close{Mood: "happy"})
				a.conn.Drain()
			},
			want: []string{"bind", "close"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailboxtest.NewServer()
			a, b := newPeer(t, srv, "aaaaaaaaaa"), newPeer(t, srv, "bbbbbbbbbb")
			a.connect()
			pump(a)
			b.connect()
			pump(b)
			tt.setup(a, b)
			a.drop()
			a.reconnect()
			pump(a)
			if got := sentTypes(srv, 3); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("second connection sent %v, want %v\nlog: %v", got, tt.want, srv.Log)
			}
			pump(a, b)
			// Finish the session whatever state it was in.
			if !a.m.closing {
				if a.m.Nameplate() == "" {
					pump(a)
				}
				if !b.m.claimWanted {
					b.feed(Claim{Nameplate: a.m.Nameplate()})
					b.feed(Add{Phase: "pake", Body: []byte("B")})
				}
				pump(a, b)
				a.feed(Close{Mood: "happy"})
			}
			b.feed(Close{Mood: "happy"})
			pump(a, b)
			if e := serverErrors(srv); len(e) != 0 {
				t.Fatalf("server errors: %v", e)
			}
			for _, p := range []*peer{a, b} {
				outs := p.take()
				if _, ok := has[Closed](outs); !ok {
					t.Fatalf("%s not closed: %+v", p.m.Side(), outs)
				}
				seen := map[string]bool{}
				for _, pm := range peerMessages(outs) {
					if seen[pm.Phase] {
						t.Fatalf("%s saw phase %q twice", p.m.Side(), pm.Phase)
					}
					seen[pm.Phase] = true
				}
			}
			left := 0
			if tt.leak {
				left = 1
			}
			if srv.Mailboxes() != left || len(srv.Nameplates()) != left {
				t.Fatalf("server keeps %d mailboxes, nameplates %v", srv.Mailboxes(), srv.Nameplates())
			}
		})
	}
}

// TestReplayDeduplicated: a re-open replays the whole mailbox; the layer
// above must see each peer phase once and our own messages never.
func TestReplayDeduplicated(t *testing.T) {
	srv := mailboxtest.NewServer()
	a, b := newPeer(t, srv, "aaaaaaaaaa"), newPeer(t, srv, "bbbbbbbbbb")
	a.connect()
	b.connect()
	a.feed(Claim{Nameplate: "9"})
	b.feed(Claim{Nameplate: "9"})
	a.feed(Add{Phase: "pake", Body: []byte("A")})
	b.feed(Add{Phase: "pake", Body: []byte("B")})
	b.feed(Add{Phase: "0", Body: []byte("B0")})
	pump(a, b)
	if n := len(peerMessages(a.take())); n != 2 {
		t.Fatalf("a got %d peer messages, want 2", n)
	}
	a.drop()
	a.reconnect()
	pump(a, b)
	outs := a.take()
	if pm := peerMessages(outs); len(pm) != 0 {
		t.Fatalf("replay delivered again: %+v", pm)
	}
	if _, ok := has[Delivered](outs); ok {
		t.Fatalf("echo of an already delivered phase reported again: %+v", outs)
	}
	// The replay did reach the machine: the server sent it.
	replayed := 0
	for _, e := range srv.Log {
		if e.Conn == 3 && e.Dir == "s2c" && e.Msg["type"] == "message" {
			replayed++
		}
	}
	if replayed != 3 {
		t.Fatalf("server replayed %d messages, want 3", replayed)
	}
}

func TestBackoff(t *testing.T) {
	m, err := New(Config{AppID: "x", Side: "s", Rand: &prg{seed: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Handle(Connected{Now: t0})
	base := float64(BackoffInitial)
	var delays []time.Duration
	for i := 0; i < 20; i++ {
		acts := m.Handle(Disconnected{Now: t0, Err: errors.New("x")})
		if len(acts) != 1 {
			t.Fatalf("attempt %d: %v", i, acts)
		}
		st := acts[0].(SetTimer)
		if st.Name != ReconnectTimer {
			t.Fatalf("timer %q", st.Name)
		}
		want := min(base, float64(BackoffMax))
		if lo, hi := want*(1-BackoffJitter), want*(1+BackoffJitter); float64(st.After) < lo || float64(st.After) > hi {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, st.After, time.Duration(lo), time.Duration(hi))
		}
		delays = append(delays, st.After)
		base *= BackoffFactor
		// A second Disconnected while the timer is pending changes nothing.
		if acts := m.Handle(Disconnected{Now: t0}); len(acts) != 0 {
			t.Fatalf("duplicate disconnect: %v", acts)
		}
		// A stray timer does not dial.
		if acts := m.Handle(TimerFired{Name: "other", Now: t0}); len(acts) != 0 {
			t.Fatalf("stray timer: %v", acts)
		}
		acts = m.Handle(TimerFired{Name: ReconnectTimer, Now: t0})
		if len(acts) != 1 || acts[0] != (Dial{}) {
			t.Fatalf("timer fired: %v", acts)
		}
		// The timer fires once.
		if acts := m.Handle(TimerFired{Name: ReconnectTimer, Now: t0}); len(acts) != 0 {
			t.Fatalf("timer fired twice: %v", acts)
		}
	}
	if delays[len(delays)-1] < 48*time.Second {
		t.Fatalf("backoff did not reach the cap: %v", delays)
	}
	// Jitter: the same nominal delay does not come out identical.
	if delays[18] == delays[19] {
		t.Fatalf("no jitter: %v", delays)
	}
	// A connection that gets a welcome resets the backoff.
	m.Handle(Connected{Now: t0})
	m.Handle(Received{Now: t0, Data: []byte(`{"type":"welcome","welcome":{}}`)})
	acts := m.Handle(Disconnected{Now: t0})
	if d := acts[0].(SetTimer).After; d > time.Duration(float64(BackoffInitial)*(1+BackoffJitter)) {
		t.Fatalf("backoff not reset: %v", d)
	}
}

func TestErrors(t *testing.T) {
	t.Run("crowded", func(t *testing.T) {
		srv := mailboxtest.NewServer()
		a, b, c := newPeer(t, srv, "aaaaaaaaaa"), newPeer(t, srv, "bbbbbbbbbb"), newPeer(t, srv, "cccccccccc")
		for _, p := range []*peer{a, b, c} {
			p.connect()
			p.feed(Claim{Nameplate: "5"})
			pump(p)
		}
		outs := c.take()
		f, ok := has[Failed](outs)
		if !ok || !errors.Is(f.Err, ErrCrowded) || !strings.Contains(f.Err.Error(), "claim") {
			t.Fatalf("outputs %+v", outs)
		}
		if _, ok := has[Closed](outs); !ok || !c.hungup {
			t.Fatalf("crowded session did not end: %+v", outs)
		}
	})
	t.Run("unwelcome", func(t *testing.T) {
		srv := mailboxtest.NewServer()
		srv.Welcome = map[string]any{"error": "this server is closed"}
		a := newPeer(t, srv, "aaaaaaaaaa")
		a.connect()
		pump(a)
		outs := a.take()
		f, ok := has[Failed](outs)
		if !ok || !errors.Is(f.Err, ErrUnwelcome) || !strings.Contains(f.Err.Error(), "this server is closed") {
			t.Fatalf("outputs %+v", outs)
		}
		if _, ok := has[Welcome](outs); ok {
			t.Fatal("refusing welcome reported as Welcome")
		}
		if _, ok := has[Closed](outs); !ok || !a.hungup {
			t.Fatalf("not ended: %+v", outs)
		}
	})
	t.Run("server error closes errory", func(t *testing.T) {
		srv := mailboxtest.NewServer()
		a := newPeer(t, srv, "aaaaaaaaaa")
		a.connect()
		a.feed(Claim{Nameplate: "5"})
		pump(a)
		// A canned error as if the server had refused something.
		a.feed(Received{Now: a.now, Data: []byte(`{"type":"error","error":"reclaimed","orig":{"type":"claim","nameplate":"5"}}`)})
		pump(a)
		outs := a.take()
		f, ok := has[Failed](outs)
		if !ok || !errors.Is(f.Err, ErrServer) || !strings.Contains(f.Err.Error(), "reclaimed") {
			t.Fatalf("outputs %+v", outs)
		}
		if _, ok := has[Closed](outs); !ok {
			t.Fatalf("not closed: %+v", outs)
		}
		var mood any
		for _, e := range srv.Log {
			if e.Msg["type"] == "close" {
				mood = e.Msg["mood"]
			}
		}
		if mood != "errory" {
			t.Fatalf("close mood %v", mood)
		}
	})
}

func TestCloseWithNothingOpen(t *testing.T) {
	m, err := New(Config{AppID: "x", Side: "s"})
	if err != nil {
		t.Fatal(err)
	}
	acts := m.Handle(Close{Mood: "lonely"})
	if !reflect.DeepEqual(acts, []Action{Hangup{}, Closed{}}) {
		t.Fatalf("got %v", acts)
	}
	// Connected after the end hangs up again instead of binding.
	if acts := m.Handle(Connected{Now: t0}); !reflect.DeepEqual(acts, []Action{Hangup{}}) {
		t.Fatalf("got %v", acts)
	}
}

// TestTolerance: unknown types and keys, null ids, integer timestamps and
// malformed input are skipped without failing the session.
func TestTolerance(t *testing.T) {
	srv := mailboxtest.NewServer()
	a := newPeer(t, srv, "aaaaaaaaaa")
	a.connect()
	a.feed(Claim{Nameplate: "3"})
	pump(a)
	for _, in := range []string{
		`{"type":"gossip","what":1}`,
		`{"type":"ack","id":null,"server_tx":5}`,
		`{"type":"ack"}`,
		`not json`,
		`{"type":"message","side":"zzzzzzzzzz","phase":"0","body":"not hex"}`,
		`{"type":"message","side":"zzzzzzzzzz","phase":"1","body":"3031","server_rx":7,"id":null,"new":true}`,
		`{"type":"pong","pong":1}`,
		`{"type":"nameplates","nameplates":[]}`,
	} {
		a.feed(Received{Now: a.now, Data: []byte(in)})
	}
	outs := a.take()
	pm := peerMessages(outs)
	if len(pm) != 1 || pm[0].Phase != "1" || string(pm[0].Body) != "01" {
		t.Fatalf("outputs %+v", outs)
	}
	if _, ok := has[Failed](outs); ok {
		t.Fatalf("failed: %+v", outs)
	}
}

func TestTrace(t *testing.T) {
	srv := mailboxtest.NewServer()
	a, b := newPeer(t, srv, "aaaaaaaaaa"), newPeer(t, srv, "bbbbbbbbbb")
	a.connect()
	b.connect()
	a.feed(Claim{Nameplate: "2"})
	b.feed(Claim{Nameplate: "2"})
	a.feed(Add{Phase: "pake", Body: []byte("x")})
	pump(a, b)
	tr := a.m.Trace()
	var add *TraceEntry
	acked := 0
	for i, e := range tr {
		if e.Dir == "send" && !e.Acked.IsZero() {
			acked++
			if e.ServerTx == 0 || e.Acked.Before(e.At) {
				t.Fatalf("bad ack in %+v", e)
			}
		}
		if e.Dir == "send" && e.Type == "add" {
			add = &tr[i]
		}
	}
	if acked < 4 { // bind, claim, open, add (release too, by now)
		t.Fatalf("only %d acked sends in %+v", acked, tr)
	}
	if add == nil || add.ServerRx == 0 || add.Phase != "pake" {
		t.Fatalf("add entry %+v", add)
	}
	var doc struct {
		Side     string           `json:"side"`
		Messages []map[string]any `json:"messages"`
	}
	raw := a.m.TraceJSON()
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("trace JSON %s: %v", raw, err)
	}
	if doc.Side != "aaaaaaaaaa" || len(doc.Messages) != len(tr) {
		t.Fatalf("trace doc %s", raw)
	}
	first := doc.Messages[0]
	if first["dir"] != "send" || first["type"] != "bind" || first["acked"] == nil || first["server_tx"] == nil {
		t.Fatalf("first entry %v", first)
	}
	// Bounded.
	m, _ := New(Config{AppID: "x", Side: "s", MaxTrace: 2})
	m.Handle(Connected{Now: t0})
	for i := 0; i < 5; i++ {
		m.Handle(Received{Now: t0, Data: []byte(`{"type":"ack"}`)})
	}
	if n := len(m.Trace()); n != 2 || !bytes.Contains(m.TraceJSON(), []byte(`"dropped":4`)) {
		t.Fatalf("trace not bounded: %d %s", n, m.TraceJSON())
	}
}

// FuzzMachine feeds arbitrary server input to a machine with an open
// mailbox: it must never panic, and whatever it outputs must be coherent
// (Sends are JSON, at most one Closed and nothing after it).
func FuzzMachine(f *testing.F) {
	f.Add([]byte(`{"type":"message","side":"bbbbbbbbbb","phase":"0","body":"00"}`), []byte(`{"type":"closed"}`))
	f.Add([]byte(`{"type":"error","error":"crowded"}`), []byte(`{"type":"claimed","mailbox":"x"}`))
	f.Add([]byte(`{"type":"welcome","welcome":{"error":"no"}}`), []byte(`{"type":"released"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		m, err := New(Config{AppID: "x", Side: "aaaaaaaaaa", Rand: &prg{seed: "f"}})
		if err != nil {
			t.Fatal(err)
		}
		var all []Action
		all = append(all, m.Handle(Connected{Now: t0})...)
		all = append(all, m.Handle(Claim{Nameplate: "1"})...)
		all = append(all, m.Handle(Received{Now: t0, Data: []byte(`{"type":"claimed","mailbox":"mb"}`)})...)
		all = append(all, m.Handle(Add{Phase: "pake", Body: []byte("x")})...)
		for _, d := range [][]byte{a, b, a} {
			all = append(all, m.Handle(Received{Now: t0, Data: d})...)
		}
		all = append(all, m.Handle(Close{Mood: "happy"})...)
		all = append(all, m.Handle(Received{Now: t0, Data: []byte(`{"type":"released"}`)})...)
		all = append(all, m.Handle(Received{Now: t0, Data: []byte(`{"type":"closed"}`)})...)
		closed := false
		for _, act := range all {
			if closed {
				t.Fatalf("action after Closed: %#v", act)
			}
			switch act := act.(type) {
			case Send:
				if !json.Valid(act.Data) {
					t.Fatalf("invalid JSON %q", act.Data)
				}
			case Closed:
				closed = true
			}
		}
		if !closed {
			t.Fatalf("session did not close: %#v", all)
		}
		if !json.Valid(m.TraceJSON()) {
			t.Fatal("trace is not JSON")
		}
	})
}

// TestOpenKnownMailbox: a mailbox id known in advance is opened directly,
// without a nameplate, and closing it needs no release.
func TestOpenKnownMailbox(t *testing.T) {
	srv := mailboxtest.NewServer()
	a := newPeer(t, srv, "aaaaaaaaaa")
	a.connect()
	a.feed(Open{Mailbox: "directbox"})
	a.feed(Add{Phase: "x", Body: []byte{0, 1}})
	a.feed(Claim{Nameplate: "3"}) // ignored: the mailbox is already chosen
	pump(a)
	a.feed(Close{Mood: "lonely"})
	pump(a)
	if got, want := sentTypes(srv, 1), []string{"bind", "open", "add", "close"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if _, ok := has[Closed](a.take()); !ok || srv.Mailboxes() != 0 {
		t.Fatalf("not closed, %d mailboxes left", srv.Mailboxes())
	}
}
