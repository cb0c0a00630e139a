package mailbox

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wasmhole/wasmhole/relay/store"
)

const appID = "lothar.com/wormhole/text-or-file-xfer"

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// harness drives a Machine and applies its Persist actions to a Memory
// store, like the real driver.
type harness struct {
	t      *testing.T
	m      *Machine
	st     *store.Memory
	now    time.Time
	timers map[string]time.Duration
	closed map[ConnID]CloseConn
	log    []store.Op // every op persisted, in order (Send.After counts them)
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Rand == nil {
		cfg.Rand = mrand.NewChaCha8([32]byte{1})
	}
	h := &harness{t: t, m: New(cfg), st: store.NewMemory(), now: t0,
		timers: map[string]time.Duration{}, closed: map[ConnID]CloseConn{}}
	h.do(Start{Now: h.now})
	return h
}

// restart builds a new machine from the harness's store, as a server
// restart would.
func (h *harness) restart(cfg Config) {
	h.t.Helper()
	if cfg.Rand == nil {
		cfg.Rand = mrand.NewChaCha8([32]byte{2})
	}
	snap, err := h.st.Load()
	if err != nil {
		h.t.Fatal(err)
	}
	h.m = New(cfg)
	if err := h.m.Restore(snap); err != nil {
		h.t.Fatal(err)
	}
	h.do(Start{Now: h.now})
}

type sent struct {
	conn  ConnID
	raw   []byte
	msg   map[string]any
	after uint64
}

func (s sent) String() string {
	typ, _ := s.msg["type"].(string)
	switch typ {
	case "error":
		return fmt.Sprintf("%d>error:%v", s.conn, s.msg["error"])
	case "message":
		return fmt.Sprintf("%d>message:%v:%v:%v", s.conn, s.msg["side"], s.msg["phase"], s.msg["body"])
	}
	return fmt.Sprintf("%d>%s", s.conn, typ)
}

func (h *harness) do(ev Event) []sent {
	h.t.Helper()
	var out []sent
	var ops []store.Op
	for _, a := range h.m.Handle(ev) {
		switch a := a.(type) {
		case Send:
			if !utf8.Valid(a.Data) {
				h.t.Fatalf("invalid UTF-8 frame %q", a.Data)
			}
			var msg map[string]any
			if err := json.Unmarshal(a.Data, &msg); err != nil {
				h.t.Fatalf("frame is not a JSON object: %q: %v", a.Data, err)
			}
			if _, ok := msg["server_tx"].(float64); !ok || !strings.Contains(string(a.Data), `"server_tx":`) {
				h.t.Fatalf("frame without float server_tx: %s", a.Data)
			}
			if a.After > uint64(len(h.log)+len(ops)) {
				h.t.Fatalf("frame %s depends on %d ops, only %d emitted", a.Data, a.After, len(h.log)+len(ops))
			}
			out = append(out, sent{a.Conn, a.Data, msg, a.After})
		case Persist:
			ops = append(ops, a.Op)
		case CloseConn:
			h.closed[a.Conn] = a
		case SetTimer:
			h.timers[a.Name] = a.After
		}
	}
	if len(ops) > 0 {
		if err := h.st.Apply(ops); err != nil {
			h.t.Fatal(err)
		}
	}
	h.log = append(h.log, ops...)
	return out
}

// after returns each frame's Send.After, as "conn>type@after".
func afters(got []sent) []string {
	var s []string
	for _, g := range got {
		s = append(s, fmt.Sprintf("%s@%d", g, g.after))
	}
	return s
}

// TestSendAfter: frames that reveal no stored state (welcome, ack, pong)
// depend on no op; a claim or open that changed nothing depends only on
// the ops that stored its nameplate, mailbox and messages; everything else
// on every op emitted so far. And the dependency is enough: the state
// after just that many ops (what a crash could leave on disk) already has
// what the frame told.
func TestSendAfter(t *testing.T) {
	h := newHarness(t, Config{})
	step := func(got []sent, want ...string) []sent {
		t.Helper()
		if g := afters(got); !reflect.DeepEqual(g, want) {
			t.Fatalf("got  %q\nwant %q", g, want)
		}
		return got
	}
	// stateAt is what a restart would load had only the first k ops
	// reached the disk.
	stateAt := func(k uint64) *store.Snapshot {
		t.Helper()
		st := store.NewMemory()
		if err := st.Apply(h.log[:k]); err != nil {
			t.Fatal(err)
		}
		snap, err := st.Load()
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	step(h.connect(1), "1>welcome@0")
	step(h.recv(1, `{"type":"bind","appid":"`+appID+`","side":"a","id":"b"}`), "1>ack@0")
	step(h.recv(1, `{"type":"ping","ping":7}`), "1>ack@0", "1>pong@0")
	got := step(h.recv(1, `{"type":"allocate"}`), "1>ack@0", "1>allocated@2")
	np := h.field(got, "allocated", "nameplate").(string)
	// Another client's change comes between: the claim does not wait for it.
	h.bound(2, "x")
	step(h.recv(2, `{"type":"allocate"}`), "2>ack@0", "2>allocated@4")
	got = step(h.recv(1, `{"type":"claim","nameplate":"`+np+`"}`), "1>ack@0", "1>claimed@2")
	mb := h.field(got, "claimed", "mailbox").(string)
	if snap := stateAt(2); len(snap.Nameplates) != 1 || snap.Nameplates[0].Name != np || snap.Nameplates[0].MailboxID != mb {
		t.Fatalf("after 2 ops the store has %+v, but the claim said %s -> %s", snap.Nameplates, np, mb)
	}
	// The second side's claim stores its side (nameplate, then mailbox).
	h.bound(3, "b")
	step(h.recv(3, `{"type":"claim","nameplate":"`+np+`"}`), "3>ack@0", "3>claimed@6")
	step(h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`), "1>ack@0")
	step(h.recv(1, `{"type":"add","phase":"pake","body":"aa"}`), "1>ack@0", "1>message:a:pake:aa@7")
	// Side a reconnects: its claim and open change nothing, and depend on
	// the ops up to the message (the newest change of that mailbox), not
	// on later ones of other mailboxes.
	h.bound(4, "x2")
	step(h.recv(4, `{"type":"allocate"}`), "4>ack@0", "4>allocated@9")
	h.bound(5, "a")
	step(h.recv(5, `{"type":"claim","nameplate":"`+np+`"}`), "5>ack@0", "5>claimed@7")
	step(h.recv(5, `{"type":"open","mailbox":"`+mb+`"}`), "5>ack@0", "5>message:a:pake:aa@7")
	if snap := stateAt(7); len(snap.Messages) != 1 || snap.Messages[0].Body != "aa" {
		t.Fatalf("after 7 ops the store has messages %+v", snap.Messages)
	}
	// Anything else depends on all ops so far.
	step(h.recv(5, `{"type":"list"}`), "5>ack@0", "5>nameplates@9")
	step(h.recv(5, `{"type":"claim","nameplate":"1"}`), "5>ack@0", "5>error:only one claim per connection@9")
}

func (h *harness) connect(c ConnID) []sent { return h.do(Connected{Conn: c, Now: h.now}) }
func (h *harness) recv(c ConnID, s string) []sent {
	return h.do(Received{Conn: c, Now: h.now, Cmd: DecodeCommand([]byte(s))})
}
func (h *harness) drop(c ConnID) []sent { return h.do(Disconnected{Conn: c, Now: h.now}) }

// bound connects c and binds it as side.
func (h *harness) bound(c ConnID, side string) {
	h.t.Helper()
	h.connect(c)
	h.expect(h.recv(c, `{"type":"bind","appid":"`+appID+`","side":"`+side+`"}`), fmt.Sprintf("%d>ack", c))
}

func (h *harness) expect(got []sent, want ...string) []sent {
	h.t.Helper()
	var g []string
	for _, s := range got {
		g = append(g, s.String())
	}
	if !reflect.DeepEqual(g, want) && !(len(g) == 0 && len(want) == 0) {
		h.t.Fatalf("got  %q\nwant %q", g, want)
	}
	return got
}

func (h *harness) field(got []sent, typ, key string) any {
	h.t.Helper()
	for _, s := range got {
		if s.msg["type"] == typ {
			return s.msg[key]
		}
	}
	h.t.Fatalf("no %s in %v", typ, got)
	return nil
}

// TestCommandTable walks every command and every error path, checking the
// exact reference error strings, ack-before-error, and "orig".
func TestCommandTable(t *testing.T) {
	type step struct {
		conn ConnID
		in   string
		want []string
	}
	bind := func(c ConnID, side string) step {
		return step{c, `{"type":"bind","appid":"app","side":"` + side + `"}`, []string{fmt.Sprintf("%d>ack", c)}}
	}
	long := strings.Repeat("1", 41)
	cases := []struct {
		name  string
		steps []step
	}{
		{"missing type", []step{{1, `{"id":"x"}`, []string{"1>error:missing 'type'"}}}},
		{"not an object", []step{{1, `[1,2]`, []string{"1>error:message is not a JSON object"}}}},
		{"not json", []step{{1, `hello`, []string{"1>error:message is not a JSON object"}}}},
		{"truncated json", []step{{1, `{"type":"ping"`, []string{"1>error:message is not a JSON object"}}}},
		{"ping before bind", []step{{1, `{"type":"ping","ping":5}`, []string{"1>ack", "1>pong"}}}},
		{"ping requires ping", []step{{1, `{"type":"ping"}`, []string{"1>ack", "1>error:ping requires 'ping'"}}}},
		{"must bind first", []step{{1, `{"type":"list"}`, []string{"1>ack", "1>error:must bind first"}}}},
		{"unknown before bind", []step{{1, `{"type":"frob"}`, []string{"1>ack", "1>error:must bind first"}}}},
		{"unknown after bind", []step{bind(1, "a"), {1, `{"type":"frob"}`, []string{"1>ack", "1>error:unknown type"}}}},
		{"non-string type", []step{bind(1, "a"), {1, `{"type":7}`, []string{"1>ack", "1>error:unknown type"}}}},
		{"already bound", []step{bind(1, "a"), {1, `{"type":"bind","appid":"app","side":"a"}`, []string{"1>ack", "1>error:already bound"}}}},
		{"bind requires appid", []step{{1, `{"type":"bind","side":"a"}`, []string{"1>ack", "1>error:bind requires 'appid'"}}}},
		{"bind requires side", []step{{1, `{"type":"bind","appid":"app"}`, []string{"1>ack", "1>error:bind requires 'side'"}}}},
		{"appid not string", []step{{1, `{"type":"bind","appid":1,"side":"a"}`, []string{"1>ack", "1>error:'appid' must be a string"}}}},
		{"side too long", []step{{1, `{"type":"bind","appid":"x","side":"` + strings.Repeat("s", 129) + `"}`, []string{"1>ack", "1>error:'side' is too long (limit 128 characters)"}}}},
		{"list", []step{bind(1, "a"), {1, `{"type":"list"}`, []string{"1>ack", "1>nameplates"}}}},
		{"allocate", []step{bind(1, "a"), {1, `{"type":"allocate"}`, []string{"1>ack", "1>allocated"}}}},
		{"greedy", []step{bind(1, "a"), {1, `{"type":"allocate"}`, []string{"1>ack", "1>allocated"}},
			{1, `{"type":"allocate"}`, []string{"1>ack", "1>error:you already allocated one, don't be greedy"}}}},
		{"claim", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}}}},
		{"claim requires nameplate", []step{bind(1, "a"), {1, `{"type":"claim"}`, []string{"1>ack", "1>error:claim requires 'nameplate'"}}}},
		{"one claim", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}},
			{1, `{"type":"claim","nameplate":"8"}`, []string{"1>ack", "1>error:only one claim per connection"}}}},
		{"non-numeric nameplate", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"7a"}`, []string{"1>ack", "1>error:invalid nameplate: must be digits only"}}}},
		{"empty nameplate", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":""}`, []string{"1>ack", "1>error:invalid nameplate: must be digits only"}}}},
		{"long nameplate", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"` + long + `"}`, []string{"1>ack", "1>error:invalid nameplate: longer than 40 characters"}}}},
		{"40-digit nameplate ok", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"` + long[:40] + `"}`, []string{"1>ack", "1>claimed"}}}},
		{"numeric nameplate value", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":7}`, []string{"1>ack", "1>error:'nameplate' must be a string"}}}},
		{"crowded claim", []step{bind(1, "a"), bind(2, "b"), bind(3, "c"),
			{1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}},
			{2, `{"type":"claim","nameplate":"7"}`, []string{"2>ack", "2>claimed"}},
			{3, `{"type":"claim","nameplate":"7"}`, []string{"3>ack", "3>error:crowded"}}}},
		{"reclaimed", []step{bind(1, "a"),
			{1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}},
			bind(2, "b"),
			{2, `{"type":"claim","nameplate":"7"}`, []string{"2>ack", "2>claimed"}},
			{1, `{"type":"release"}`, []string{"1>ack", "1>released"}},
			bind(3, "a"),
			{3, `{"type":"claim","nameplate":"7"}`, []string{"3>ack", "3>error:reclaimed"}}}},
		{"release", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}},
			{1, `{"type":"release","nameplate":"7"}`, []string{"1>ack", "1>released"}}}},
		{"one release", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}},
			{1, `{"type":"release"}`, []string{"1>ack", "1>released"}},
			{1, `{"type":"release"}`, []string{"1>ack", "1>error:only one release per connection"}}}},
		{"release same nameplate", []step{bind(1, "a"), {1, `{"type":"claim","nameplate":"7"}`, []string{"1>ack", "1>claimed"}},
			{1, `{"type":"release","nameplate":"8"}`, []string{"1>ack", "1>error:release and claim must use same nameplate"}}}},
		{"release needs claim", []step{bind(1, "a"),
			{1, `{"type":"release"}`, []string{"1>ack", "1>error:release without nameplate must follow claim"}}}},
		{"release unknown nameplate", []step{bind(1, "a"),
			{1, `{"type":"release","nameplate":"55"}`, []string{"1>ack", "1>released"}}}},
		{"open", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}}}},
		{"one open", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack", "1>error:only one open per connection"}}}},
		{"open requires mailbox", []step{bind(1, "a"), {1, `{"type":"open"}`, []string{"1>ack", "1>error:open requires 'mailbox'"}}}},
		{"open mailbox not string", []step{bind(1, "a"), {1, `{"type":"open","mailbox":null}`, []string{"1>ack", "1>error:'mailbox' must be a string"}}}},
		{"crowded open", []step{bind(1, "a"), bind(2, "b"), bind(3, "c"),
			{1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{2, `{"type":"open","mailbox":"mb1"}`, []string{"2>ack"}},
			{3, `{"type":"open","mailbox":"mb1"}`, []string{"3>ack", "3>error:crowded"}}}},
		{"add echo", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"add","phase":"pake","body":"00"}`, []string{"1>ack", "1>message:a:pake:00"}}}},
		{"must open before adding", []step{bind(1, "a"),
			{1, `{"type":"add","phase":"pake","body":"00"}`, []string{"1>ack", "1>error:must open mailbox before adding"}}}},
		{"missing phase", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"add","body":"00"}`, []string{"1>ack", "1>error:missing 'phase'"}}}},
		{"missing body", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"add","phase":"pake"}`, []string{"1>ack", "1>error:missing 'body'"}}}},
		{"body not string", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"add","phase":"pake","body":{}}`, []string{"1>ack", "1>error:'body' must be a string"}}}},
		{"close", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"close","mood":"happy"}`, []string{"1>ack", "1>closed"}}}},
		{"one close", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"close","mailbox":"mb1"}`, []string{"1>ack", "1>closed"}},
			{1, `{"type":"close","mailbox":"mb1"}`, []string{"1>ack", "1>error:only one close per connection"}}}},
		{"close same mailbox", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"close","mailbox":"mb2"}`, []string{"1>ack", "1>error:open and close must use same mailbox"}}}},
		{"close needs open", []step{bind(1, "a"),
			{1, `{"type":"close"}`, []string{"1>ack", "1>error:close without mailbox must follow open"}}}},
		{"close unknown mailbox", []step{bind(1, "a"),
			{1, `{"type":"close","mailbox":"nope"}`, []string{"1>ack", "1>closed"}}}},
		{"crowded close", []step{bind(1, "a"), bind(2, "b"), bind(3, "c"),
			{1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{2, `{"type":"open","mailbox":"mb1"}`, []string{"2>ack"}},
			{3, `{"type":"close","mailbox":"mb1"}`, []string{"3>ack", "3>error:crowded"}}}},
		{"add after close", []step{bind(1, "a"), {1, `{"type":"open","mailbox":"mb1"}`, []string{"1>ack"}},
			{1, `{"type":"close"}`, []string{"1>ack", "1>closed"}},
			{1, `{"type":"add","phase":"x","body":""}`, []string{"1>ack", "1>error:must open mailbox before adding"}}}},
		{"permissions ignored when off", []step{{1, `{"type":"submit-permissions","method":"hashcash","stamp":"x"}`, []string{"1>ack"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			for _, c := range []ConnID{1, 2, 3} {
				h.expect(h.connect(c), fmt.Sprintf("%d>welcome", c))
			}
			for i, s := range tc.steps {
				got := h.recv(s.conn, s.in)
				h.expect(got, s.want...)
				for _, g := range got {
					if g.msg["type"] != "error" {
						continue
					}
					// orig is the offending command (null when it
					// was not an object).
					var want any
					if err := json.Unmarshal([]byte(s.in), &want); err != nil || !strings.HasPrefix(s.in, "{") {
						want = nil
					}
					if !reflect.DeepEqual(g.msg["orig"], want) {
						t.Fatalf("step %d: orig = %v, want %v", i, g.msg["orig"], want)
					}
				}
			}
		})
	}
}

func TestAckCopiesID(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(1)
	for _, tc := range []struct{ in, want string }{
		{`{"type":"ping","ping":1,"id":"5e69"}`, `"id":"5e69"`},
		{`{"type":"ping","ping":1,"id":17}`, `"id":17`},
		{`{"type":"ping","ping":1}`, `"id":null`},
		{`{"type":"ping","ping":1,"id": { "a" : [1, 2] }}`, `"id":{"a":[1,2]}`},
	} {
		got := h.recv(1, tc.in)
		if !strings.Contains(string(got[0].raw), tc.want) || got[0].msg["type"] != "ack" {
			t.Errorf("%s: ack %s lacks %s", tc.in, got[0].raw, tc.want)
		}
		if got[1].msg["pong"] != float64(1) {
			t.Errorf("%s: pong %s", tc.in, got[1].raw)
		}
		// Like the reference, only ack and message carry the id.
		if strings.Contains(string(got[1].raw), `"id"`) {
			t.Errorf("pong carries id: %s", got[1].raw)
		}
	}
}

func TestServerTimesAreFloats(t *testing.T) {
	h := newHarness(t, Config{})
	h.now = time.Unix(1795322793, 0) // whole second: still written as a float
	got := h.connect(1)
	if !strings.Contains(string(got[0].raw), `"server_tx":1795322793.0}`) {
		t.Fatalf("welcome %s", got[0].raw)
	}
	h.now = time.Unix(1795322793, 839868000)
	h.bound(1, "a")
	h.recv(1, `{"type":"open","mailbox":"m"}`)
	got = h.recv(1, `{"type":"add","phase":"p","body":"b","id":"x"}`)
	if !strings.Contains(string(got[1].raw), `"server_rx":1795322793.839868`) ||
		!strings.Contains(string(got[1].raw), `"server_tx":1795322793.839868}`) ||
		!strings.Contains(string(got[1].raw), `"id":"x"`) {
		t.Fatalf("message %s", got[1].raw)
	}
}

func TestWelcome(t *testing.T) {
	h := newHarness(t, Config{MOTD: "hello \"world\"\n", AdvertiseVersion: "0.12.0", SignalError: "go away"})
	w := h.field(h.connect(1), "welcome", "welcome").(map[string]any)
	want := map[string]any{"motd": "hello \"world\"\n", "current_cli_version": "0.12.0", "error": "go away"}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("welcome %v", w)
	}
	h.m.SetMOTD("")
	if w := h.field(h.connect(2), "welcome", "welcome").(map[string]any); len(w) != 2 {
		t.Fatalf("welcome after SetMOTD(\"\") %v", w)
	}
	h2 := newHarness(t, Config{})
	if got := h2.connect(1); !strings.Contains(string(got[0].raw), `"welcome":{}`) {
		t.Fatalf("empty welcome %s", got[0].raw)
	}
}

func TestAllocateOrder(t *testing.T) {
	h := newHarness(t, Config{})
	seen := map[string]bool{}
	for i := 1; i <= 12; i++ {
		c := ConnID(i)
		h.bound(c, fmt.Sprintf("side%d", i))
		got := h.recv(c, `{"type":"allocate"}`)
		np := h.field(got, "allocated", "nameplate").(string)
		if seen[np] {
			t.Fatalf("nameplate %s allocated twice", np)
		}
		seen[np] = true
		if i <= 9 && len(np) != 1 || i > 9 && len(np) != 2 {
			t.Fatalf("allocation %d got %q: want 1–9 first, then 10–99", i, np)
		}
	}
	// Allocation claims for the side: the same side's claim is
	// idempotent and returns the mailbox.
	h.connect(100)
	h.recv(100, `{"type":"bind","appid":"`+appID+`","side":"side1"}`)
	got := h.recv(100, `{"type":"list"}`)
	if n := len(h.field(got, "nameplates", "nameplates").([]any)); n != 12 {
		t.Fatalf("list has %d nameplates", n)
	}
}

func TestAllocateBeyond999(t *testing.T) {
	h := newHarness(t, Config{})
	h.bound(1, "a")
	a := h.m.apps[appID]
	for i := 1; i < 1000; i++ {
		a.nameplates[fmt.Sprint(i)] = &nameplate{name: fmt.Sprint(i), mb: &mailbox{app: a, id: "x"}}
	}
	np := h.field(h.recv(1, `{"type":"allocate"}`), "allocated", "nameplate").(string)
	if len(np) < 4 || len(np) > 6 {
		t.Fatalf("allocated %q with 1–999 taken", np)
	}
}

func TestMailboxIDFormat(t *testing.T) {
	h := newHarness(t, Config{Rand: nil})
	re := regexp.MustCompile(`^[a-z2-7]{13}$`)
	for i := 1; i <= 20; i++ {
		h.bound(ConnID(i), "a")
		mb := h.field(h.recv(ConnID(i), fmt.Sprintf(`{"type":"claim","nameplate":"%d"}`, i)), "claimed", "mailbox").(string)
		if !re.MatchString(mb) {
			t.Fatalf("mailbox id %q", mb)
		}
	}
}

// TestTwoSides runs a whole text transfer as the Python CLI pipelines it.
func TestTwoSides(t *testing.T) {
	h := newHarness(t, Config{})
	h.bound(1, "aaaa")
	got := h.recv(1, `{"type":"allocate","id":"1"}`)
	np := h.field(got, "allocated", "nameplate").(string)
	mb := h.field(h.recv(1, `{"type":"claim","nameplate":"`+np+`"}`), "claimed", "mailbox").(string)
	h.expect(h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`), "1>ack")
	h.expect(h.recv(1, `{"type":"add","phase":"pake","body":"aa01","id":"p1"}`), "1>ack", "1>message:aaaa:pake:aa01")

	h.bound(2, "bbbb")
	h.expect(h.recv(2, `{"type":"claim","nameplate":"`+np+`"}`), "2>ack", "2>claimed")
	h.expect(h.recv(2, `{"type":"open","mailbox":"`+mb+`"}`), "2>ack", "2>message:aaaa:pake:aa01")
	got = h.expect(h.recv(2, `{"type":"add","phase":"pake","body":"bb01","id":"p2"}`),
		"2>ack", "1>message:bbbb:pake:bb01", "2>message:bbbb:pake:bb01")
	if got[1].msg["id"] != "p2" || string(got[1].raw) != string(got[2].raw) {
		t.Fatalf("broadcast frames differ or lack id: %s / %s", got[1].raw, got[2].raw)
	}
	h.expect(h.recv(1, `{"type":"release","nameplate":"`+np+`"}`), "1>ack", "1>released")
	h.expect(h.recv(2, `{"type":"release"}`), "2>ack", "2>released")
	if st := h.m.Stats(); st.Nameplates != 0 || st.Mailboxes != 1 || st.Messages != 2 {
		t.Fatalf("stats after release %+v", st)
	}
	h.expect(h.recv(1, `{"type":"close","mailbox":"`+mb+`","mood":"happy"}`), "1>ack", "1>closed")
	h.expect(h.recv(2, `{"type":"add","phase":"0","body":"cc"}`), "2>ack", "2>message:bbbb:0:cc")
	h.expect(h.recv(2, `{"type":"close","mood":"happy"}`), "2>ack", "2>closed")
	st := h.m.Stats()
	if st.Mailboxes != 0 || st.Messages != 0 || st.Sessions["happy"] != 1 || st.MessagesTotal != 3 {
		t.Fatalf("stats after close %+v", st)
	}
	snap, _ := h.st.Load()
	if len(snap.Mailboxes)+len(snap.Nameplates)+len(snap.Messages) != 0 {
		t.Fatalf("store not empty after both closed: %+v", snap)
	}
	if len(h.m.apps) != 1 { // both connections are still bound
		t.Fatalf("apps %d", len(h.m.apps))
	}
	h.drop(1)
	h.drop(2)
	if len(h.m.apps) != 0 || len(h.m.conns) != 0 {
		t.Fatalf("leftover apps %d conns %d", len(h.m.apps), len(h.m.conns))
	}
}

func TestReplayOrderWhenClockStepsBack(t *testing.T) {
	h := newHarness(t, Config{})
	h.bound(1, "a")
	h.recv(1, `{"type":"open","mailbox":"m"}`)
	for i, d := range []time.Duration{0, -time.Hour, time.Second, -time.Minute} {
		h.now = t0.Add(d)
		h.recv(1, fmt.Sprintf(`{"type":"add","phase":"%d","body":""}`, i))
	}
	h.bound(2, "b")
	got := h.recv(2, `{"type":"open","mailbox":"m"}`)[1:]
	last := 0.0
	for i, g := range got {
		if g.msg["phase"] != fmt.Sprint(i) {
			t.Fatalf("replay order %v", got)
		}
		rx := g.msg["server_rx"].(float64)
		if rx <= last {
			t.Fatalf("server_rx not increasing: %v after %v", rx, last)
		}
		last = rx
	}
}

// TestReconnectResume: a client loses its connection (and the server
// restarts from its store) between every step, and resumes as docs/protocol.md
// §1.7 describes.
func TestReconnectResume(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			h := newHarness(t, Config{})
			bounce := func(c ConnID, side string) {
				h.drop(c)
				if restart {
					h.restart(Config{})
				}
				h.bound(c, side)
			}
			h.bound(1, "a")
			np := h.field(h.recv(1, `{"type":"allocate"}`), "allocated", "nameplate").(string)
			mb := h.field(h.recv(1, `{"type":"claim","nameplate":"`+np+`"}`), "claimed", "mailbox").(string)
			h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`)
			h.expect(h.recv(1, `{"type":"add","phase":"pake","body":"a1"}`), "1>ack", "1>message:a:pake:a1")

			bounce(1, "a")
			// re-claim is idempotent for the same side
			if got := h.field(h.recv(1, `{"type":"claim","nameplate":"`+np+`"}`), "claimed", "mailbox"); got != mb {
				t.Fatalf("re-claim gave %v, want %v", got, mb)
			}
			h.expect(h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`), "1>ack", "1>message:a:pake:a1")

			h.bound(2, "b")
			h.expect(h.recv(2, `{"type":"claim","nameplate":"`+np+`"}`), "2>ack", "2>claimed")
			h.expect(h.recv(2, `{"type":"open","mailbox":"`+mb+`"}`), "2>ack", "2>message:a:pake:a1")
			h.expect(h.recv(2, `{"type":"add","phase":"pake","body":"b1"}`), "2>ack", "1>message:b:pake:b1", "2>message:b:pake:b1")

			bounce(2, "b")
			// re-release after reconnect (release was pending)
			h.expect(h.recv(2, `{"type":"release","nameplate":"`+np+`"}`), "2>ack", "2>released")
			h.expect(h.recv(2, `{"type":"open","mailbox":"`+mb+`"}`), "2>ack", "2>message:a:pake:a1", "2>message:b:pake:b1")
			// re-add of a message whose echo was lost: stored twice, as
			// in the reference (clients de-duplicate by phase)
			// (after a restart, connection 1 died with the old server)
			want := []string{"2>ack", "1>message:b:version:b2", "2>message:b:version:b2"}
			if restart {
				want = []string{"2>ack", "2>message:b:version:b2"}
			}
			h.expect(h.recv(2, `{"type":"add","phase":"version","body":"b2"}`), want...)
			bounce(1, "a")
			h.expect(h.recv(1, `{"type":"release"}`), "1>ack", "1>error:release without nameplate must follow claim")
			h.expect(h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`), "1>ack",
				"1>message:a:pake:a1", "1>message:b:pake:b1", "1>message:b:version:b2")
			h.expect(h.recv(1, `{"type":"close","mood":"happy"}`), "1>ack", "1>closed")
			bounce(2, "b")
			h.expect(h.recv(2, `{"type":"close","mailbox":"`+mb+`","mood":"happy"}`), "2>ack", "2>closed")
			// a re-sent close after the mailbox is gone still gets closed
			bounce(2, "b")
			h.expect(h.recv(2, `{"type":"close","mailbox":"`+mb+`","mood":"happy"}`), "2>ack", "2>closed")
			snap, _ := h.st.Load()
			if len(snap.Mailboxes)+len(snap.Nameplates)+len(snap.Messages) != 0 {
				t.Fatalf("store not empty: %+v", snap)
			}
			if st := h.m.Stats(); st.Mailboxes != 0 || st.Nameplates != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestCrowdedDoesNotPoison: a third side is refused everywhere and leaves
// no trace, so the two real sides finish their session.
func TestCrowdedDoesNotPoison(t *testing.T) {
	h := newHarness(t, Config{})
	h.bound(1, "a")
	h.bound(2, "b")
	h.bound(3, "evil")
	mb := h.field(h.recv(1, `{"type":"claim","nameplate":"4"}`), "claimed", "mailbox").(string)
	h.recv(2, `{"type":"claim","nameplate":"4"}`)
	h.expect(h.recv(3, `{"type":"claim","nameplate":"4"}`), "3>ack", "3>error:crowded")
	h.bound(4, "evil2")
	h.expect(h.recv(4, `{"type":"open","mailbox":"`+mb+`"}`), "4>ack", "4>error:crowded")
	h.bound(5, "evil3")
	h.expect(h.recv(5, `{"type":"close","mailbox":"`+mb+`"}`), "5>ack", "5>error:crowded")
	h.expect(h.recv(5, `{"type":"add","phase":"x","body":"y"}`), "5>ack", "5>error:must open mailbox before adding")

	h.expect(h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`), "1>ack")
	h.expect(h.recv(2, `{"type":"open","mailbox":"`+mb+`"}`), "2>ack")
	h.expect(h.recv(1, `{"type":"add","phase":"pake","body":"1"}`), "1>ack", "1>message:a:pake:1", "2>message:a:pake:1")
	h.expect(h.recv(1, `{"type":"release"}`), "1>ack", "1>released")
	h.expect(h.recv(2, `{"type":"release"}`), "2>ack", "2>released")
	h.expect(h.recv(1, `{"type":"close","mood":"happy"}`), "1>ack", "1>closed")
	h.expect(h.recv(2, `{"type":"close","mood":"happy"}`), "2>ack", "2>closed")
	st := h.m.Stats()
	if st.Sessions["happy"] != 1 || st.Errors["crowded"] != 3 {
		t.Fatalf("stats %+v", st)
	}
	// With only a and b recorded, a retry of the crowded claim after the
	// session is over gets a fresh nameplate.
	h.bound(6, "evil")
	h.expect(h.recv(6, `{"type":"claim","nameplate":"4"}`), "6>ack", "6>claimed")
}

// TestCloseBeforeRelease: a side that closes without releasing its
// nameplate (the reference 0.4.1 crashes there) cleans the nameplate up.
func TestCloseBeforeRelease(t *testing.T) {
	h := newHarness(t, Config{})
	h.bound(1, "a")
	h.bound(2, "b")
	mb := h.field(h.recv(1, `{"type":"claim","nameplate":"9"}`), "claimed", "mailbox").(string)
	h.recv(2, `{"type":"claim","nameplate":"9"}`)
	h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`)
	h.expect(h.recv(1, `{"type":"close","mood":"lonely"}`), "1>ack", "1>closed")
	h.expect(h.recv(2, `{"type":"close","mailbox":"`+mb+`","mood":"happy"}`), "2>ack", "2>closed")
	snap, _ := h.st.Load()
	if len(snap.Mailboxes)+len(snap.Nameplates) != 0 {
		t.Fatalf("left behind %+v", snap)
	}
	if st := h.m.Stats(); st.Nameplates != 0 || st.Sessions["lonely"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// release after the close is harmless
	h.expect(h.recv(1, `{"type":"release"}`), "1>ack", "1>released")
}

func TestPrune(t *testing.T) {
	h := newHarness(t, Config{Expiry: 11 * time.Minute, PruneInterval: 5 * time.Minute})
	if h.timers[PruneTimer] != 5*time.Minute {
		t.Fatalf("timers %v", h.timers)
	}
	h.bound(1, "listener")
	h.bound(2, "gone")
	h.recv(1, `{"type":"open","mailbox":"kept"}`)
	h.recv(2, `{"type":"claim","nameplate":"3"}`)
	h.drop(2) // claimed, never opened by a connection, then gone
	h.bound(3, "fresh")

	h.now = t0.Add(6 * time.Minute)
	h.recv(3, `{"type":"open","mailbox":"young"}`)
	h.drop(3)
	h.do(TimerFired{Name: PruneTimer, Now: h.now})
	if st := h.m.Stats(); st.Mailboxes != 3 {
		t.Fatalf("pruned too early: %+v", st)
	}

	h.now = t0.Add(11 * time.Minute)
	h.do(TimerFired{Name: PruneTimer, Now: h.now})
	list := h.m.ListMailboxes()
	var ids []string
	for _, l := range list {
		ids = append(ids, l.ID)
	}
	if len(list) != 2 || ids[0] != "kept" || ids[1] != "young" {
		t.Fatalf("after prune: %v", ids)
	}
	if st := h.m.Stats(); st.Nameplates != 0 || st.Sessions["pruney"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// the listened mailbox was touched at the prune and so survives
	// another 11 minutes without traffic; the young one does not
	h.now = t0.Add(21 * time.Minute)
	h.do(TimerFired{Name: PruneTimer, Now: h.now})
	if list := h.m.ListMailboxes(); len(list) != 1 || list[0].ID != "kept" || !list[0].Updated.Equal(h.now) {
		t.Fatalf("after second prune: %+v", list)
	}
	snap, _ := h.st.Load()
	if len(snap.Mailboxes) != 1 || snap.Mailboxes[0].Updated != h.now.UnixMicro() || len(snap.Nameplates) != 0 {
		t.Fatalf("store after prune %+v", snap)
	}
}

// mint makes a hashcash stamp the way clients do.
func mint(resource string, bits int) string {
	for i := 0; ; i++ {
		s := fmt.Sprintf("1:%d:MjAyNjA3MDE=:%s::cmFuZG9t:%x", bits, resource, i)
		if VerifyHashcash(s, resource, bits) {
			return s
		}
	}
}

func TestHashcash(t *testing.T) {
	h := newHarness(t, Config{HashcashBits: 8, MOTD: "m"})
	welcome := func(c ConnID) map[string]any {
		w := h.field(h.connect(c), "welcome", "welcome").(map[string]any)
		if w["motd"] != "m" {
			t.Fatalf("welcome %v", w)
		}
		return w["permission-required"].(map[string]any)["hashcash"].(map[string]any)
	}
	hc := welcome(1)
	res := hc["resource"].(string)
	if hc["bits"] != float64(8) || len(res) != 13 {
		t.Fatalf("hashcash %v", hc)
	}
	// ping is fine, bind without permission is denied and closes
	h.expect(h.recv(1, `{"type":"ping","ping":1}`), "1>ack", "1>pong")
	h.expect(h.recv(1, `{"type":"bind","appid":"x","side":"a"}`), "1>ack", "1>error:permission denied")
	if h.closed[1].Code != ClosePolicyViolation {
		t.Fatalf("not closed: %v", h.closed)
	}
	// wrong resource, too few bits, wrong method
	hc2 := welcome(2)
	other := mint("other", 8)
	h.expect(h.recv(2, `{"type":"submit-permissions","method":"hashcash","stamp":"`+other+`"}`), "2>ack", "2>error:permission denied")
	hc3 := welcome(3)
	weak := "1:8:x:" + hc3["resource"].(string) + "::r:0"
	for i := 0; VerifyHashcash(weak, hc3["resource"].(string), 8); i++ {
		weak = fmt.Sprintf("1:8:x:%s::r:%d", hc3["resource"], i)
	}
	h.expect(h.recv(3, `{"type":"submit-permissions","method":"hashcash","stamp":"`+weak+`"}`), "3>ack", "3>error:permission denied")
	welcome(4)
	h.expect(h.recv(4, `{"type":"submit-permissions","method":"none"}`), "4>ack", "4>error:permission denied")
	// both spellings with a good stamp
	_ = hc2
	for i, typ := range []string{"submit-permissions", "submit-permission"} {
		c := ConnID(10 + i)
		r := welcome(c)["resource"].(string)
		h.expect(h.recv(c, `{"type":"`+typ+`","method":"hashcash","stamp":"`+mint(r, 8)+`"}`), fmt.Sprintf("%d>ack", c))
		h.expect(h.recv(c, `{"type":"bind","appid":"x","side":"a"}`), fmt.Sprintf("%d>ack", c))
		h.expect(h.recv(c, `{"type":"list"}`), fmt.Sprintf("%d>ack", c), fmt.Sprintf("%d>nameplates", c))
	}
	if _, ok := h.closed[10]; ok {
		t.Fatal("permitted connection closed")
	}
}

func TestVerifyHashcashVector(t *testing.T) {
	// The example stamp of the server-protocol specification
	// (magic-wormhole-protocols server-protocol.md, "Permission to Use the Server").
	// Its SHA-1 is 017efc5f…: 7 leading zero bits.
	stamp := "1:6:210723:resource-string::NmZNF4eIbk87mqYz:000003n"
	if !VerifyHashcash(stamp, "resource-string", 6) || !VerifyHashcash(stamp, "resource-string", 7) ||
		VerifyHashcash(stamp, "resource-string", 8) || VerifyHashcash(stamp, "other", 0) {
		t.Fatal("spec example stamp misjudged")
	}
	for _, bad := range []string{"", "1:6", "2:6:210723:resource-string::NmZNF4eIbk87mqYz:000003n",
		strings.Repeat("1", 600)} {
		if VerifyHashcash(bad, "resource-string", 0) {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestAdminCloseMailbox(t *testing.T) {
	h := newHarness(t, Config{})
	h.bound(1, "a")
	h.bound(2, "b")
	mb := h.field(h.recv(1, `{"type":"claim","nameplate":"5"}`), "claimed", "mailbox").(string)
	h.recv(1, `{"type":"open","mailbox":"`+mb+`"}`)
	h.recv(2, `{"type":"open","mailbox":"`+mb+`"}`)
	if !h.m.HasMailbox(mb) || h.m.HasMailbox("nope") {
		t.Fatal("HasMailbox")
	}
	h.expect(h.do(CloseMailbox{ID: mb, Now: h.now}),
		"1>error:mailbox closed by the server operator", "2>error:mailbox closed by the server operator")
	if h.m.HasMailbox(mb) || h.m.Stats().Nameplates != 0 || h.m.Stats().Sessions["closed"] != 1 {
		t.Fatalf("still there: %+v", h.m.Stats())
	}
	h.expect(h.recv(1, `{"type":"add","phase":"x","body":""}`), "1>ack", "1>error:must open mailbox before adding")
	h.expect(h.recv(2, `{"type":"close","mood":"errory"}`), "2>ack", "2>closed")
	snap, _ := h.st.Load()
	if len(snap.Mailboxes)+len(snap.Nameplates) != 0 {
		t.Fatalf("store %+v", snap)
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, Config{MaxMailboxBytes: 10})
	h.bound(1, "a")
	h.expect(h.do(TooLarge{Conn: 1, Now: h.now, Size: 2000, Limit: 1000}),
		"1>error:message too large: 2000 bytes exceeds the limit of 1000 bytes")
	h.recv(1, `{"type":"open","mailbox":"m"}`)
	h.expect(h.recv(1, `{"type":"add","phase":"p","body":"123456789"}`), "1>ack", "1>message:a:p:123456789")
	h.expect(h.recv(1, `{"type":"add","phase":"p","body":"1"}`), "1>ack", "1>error:mailbox full: its messages may total at most 10 bytes")
	if h.m.Stats().Errors["too_large"] != 1 || h.m.Stats().Errors["mailbox_full"] != 1 {
		t.Fatalf("errors %v", h.m.Stats().Errors)
	}
}

func TestListDisallowed(t *testing.T) {
	h := newHarness(t, Config{DisallowList: true})
	h.bound(1, "a")
	h.recv(1, `{"type":"claim","nameplate":"3"}`)
	got := h.recv(1, `{"type":"list"}`)
	if !strings.Contains(string(got[1].raw), `"nameplates":[]`) {
		t.Fatalf("list %s", got[1].raw)
	}
	h2 := newHarness(t, Config{})
	h2.bound(1, "a")
	for _, n := range []string{"3", "12", "100"} {
		h2.bound(ConnID(len(n)+10), "x")
		h2.recv(ConnID(len(n)+10), `{"type":"claim","nameplate":"`+n+`"}`)
	}
	got = h2.recv(1, `{"type":"list"}`)
	if !strings.Contains(string(got[1].raw), `"nameplates":[{"id":"100"},{"id":"12"},{"id":"3"}]`) {
		t.Fatalf("list %s", got[1].raw)
	}
}

func TestInvalidUTF8IsRepaired(t *testing.T) {
	h := newHarness(t, Config{})
	h.connect(1)
	got := h.recv(1, "{\"type\":\"bind\",\"appid\":\"\xff\xfe\"}")
	h.expect(got, "1>ack", "1>error:bind requires 'side'")
}

func TestRestoreRepairsOrphans(t *testing.T) {
	m := New(Config{})
	err := m.Restore(&store.Snapshot{
		Nameplates: []store.Nameplate{{AppID: "a", Name: "4", MailboxID: "gone", Created: 5,
			Sides: []store.NameplateSide{{Side: "x", Claimed: true}}}},
		Messages: []store.Message{{AppID: "a", MailboxID: "m2", Seq: 1, Side: "x", Phase: "1", ServerRX: 9},
			{AppID: "a", MailboxID: "m2", Seq: 0, Side: "x", Phase: "0", ServerRX: 8}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	if st.Mailboxes != 2 || st.Nameplates != 1 || st.Messages != 2 {
		t.Fatalf("%+v", st)
	}
	if m.Restore(&store.Snapshot{}) == nil {
		t.Fatal("second restore accepted")
	}
}
