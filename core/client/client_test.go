package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/keys"
	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/core/mailbox/mailboxtest"
	"github.com/wasmhole/wasmhole/core/spake2"
	"github.com/wasmhole/wasmhole/core/words"
)

// prg is python-spake2's test PRG: SHA256("prng-<counter>-<seed>")...
type prg struct {
	seed string
	n    int
	buf  []byte
}

func (p *prg) Read(b []byte) (int, error) {
	for len(p.buf) < len(b) {
		h := sha256.Sum256(fmt.Appendf(nil, "prng-%d-%s", p.n, p.seed))
		p.n++
		p.buf = append(p.buf, h[:]...)
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// switchRand reads from whatever src currently is.
type switchRand struct{ src io.Reader }

func (s *switchRand) Read(b []byte) (int, error) { return s.src.Read(b) }

// nonceRand hands out the vector nonce 00 01 .. 17 for every 24-byte read
// (only secretbox nonces are that long) and filler otherwise.
type nonceRand struct{ filler io.Reader }

func (n nonceRand) Read(b []byte) (int, error) {
	if len(b) == keys.NonceSize {
		for i := range b {
			b[i] = byte(i)
		}
		return len(b), nil
	}
	return n.filler.Read(b)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

const appID = "lothar.com/wormhole/text-or-file-xfer"

// TestVector checks our wire bytes against the end-to-end vector of
// docs/protocol.md §5, made with magic-wormhole 0.12.0 and python-spake2:
// code 7-guitarist-revenge, side A entropy PRG(1), side B PRG(2).
func TestVector(t *testing.T) {
	const (
		pakeA     = "5324d2fa436e391825bea277b3ba32e9d40424ee688af99fd72408aacbcca5821f"
		pakeB     = "53499d6c39fb675869ec983bfa78281a032a767de6c8e0b430aba4a873043c54f4"
		sharedKey = "b2a4468bf2c7d8cb72cc874a3e7bd367f944aac50696bba09e40e74ee5abff1a"
		verifier  = "fbf85d7fdbe3cdec123936f738d8dcb1c4c556f63746316eb9566e4b5dcda5a5"
		phase0Key = "cea8cbc1125ff017fb568617672076183db044c1a8f1f81c777f9ae1d30b3219"
		version   = "000102030405060708090a0b0c0d0e0f10111213141516171aeaa32c1efb097907864211cfd0384e52f2f20f025310e2ca21b75375828bd1e50cd9c7"
		transit   = "c650af6ed01f0ecc538d16491fd0168a8fe72fa95e2d44e7af1d21131539b0ec"
		code      = "7-guitarist-revenge"
	)
	r := &switchRand{src: &prg{seed: "filler"}}
	m, err := New(Config{AppID: appID, Side: "aaaaaaaaaa", Rand: r})
	if err != nil {
		t.Fatal(err)
	}
	var sent []map[string]any
	var outs []Action
	feed := func(ev Event) {
		for _, a := range m.Handle(ev) {
			if s, ok := a.(mailbox.Send); ok {
				var msg map[string]any
				if err := json.Unmarshal(s.Data, &msg); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, msg)
			} else {
				outs = append(outs, a)
			}
		}
	}
	lastAdd := func(phase string) string {
		for i := len(sent) - 1; i >= 0; i-- {
			if sent[i]["type"] == "add" && sent[i]["phase"] == phase {
				return sent[i]["body"].(string)
			}
		}
		t.Fatalf("no add for phase %q in %v", phase, sent)
		return ""
	}
	// The code is set before connecting so that SPAKE2 is the only reader
	// of PRG(1).
	r.src = &prg{seed: "1"}
	feed(SetCode{Code: code})
	r.src = &prg{seed: "filler"}
	feed(mailbox.Connected{Now: t0})
	feed(mailbox.Received{Now: t0, Data: []byte(`{"type":"welcome","welcome":{}}`)})
	feed(mailbox.Received{Now: t0, Data: []byte(`{"type":"claimed","mailbox":"og5rg7k5evsva"}`)})

	wantPake := hex.EncodeToString([]byte(`{"pake_v1": "` + pakeA + `"}`))
	if got := lastAdd("pake"); got != wantPake {
		t.Fatalf("pake body\n got %s\nwant %s", got, wantPake)
	}
	if cr, ok := find[CodeReady](outs); !ok || cr.Code != code {
		t.Fatalf("CodeReady missing: %v", outs)
	}

	// Side B's pake, as produced by python-spake2 with PRG(2).
	b, err := spake2.NewSymmetric([]byte(code), []byte(appID), &prg{seed: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b.Message()); got != pakeB {
		t.Fatalf("B's pake %s", got)
	}
	r.src = nonceRand{filler: &prg{seed: "filler2"}}
	feed(peerMsg("bbbbbbbbbb", "pake", keys.EncodePake(b.Message())))
	if got := lastAdd("version"); got != version {
		t.Fatalf("version body\n got %s\nwant %s", got, version)
	}
	if m.Verified() {
		t.Fatal("verified before any peer message decrypted")
	}
	if _, err := m.DeriveKey("x", 32); !errors.Is(err, ErrNoKey) {
		t.Fatalf("DeriveKey before confirmation: %v", err)
	}
	// Queued until confirmation.
	feed(Send{Data: []byte("hello")})
	for _, s := range sent {
		if s["phase"] == "0" {
			t.Fatal("app message sent before key confirmation")
		}
	}

	// B's version, sealed under the vector key.
	key := unhex(t, sharedKey)
	box, err := keys.Seal(keys.PhaseKey(key, "bbbbbbbbbb", "version"), []byte(`{"app_versions": {"x": 1}}`), &prg{seed: "n"})
	if err != nil {
		t.Fatal(err)
	}
	feed(peerMsg("bbbbbbbbbb", "version", box))
	kc, ok := find[KeyConfirmed](outs)
	if !ok || hex.EncodeToString(kc.Verifier) != verifier {
		t.Fatalf("KeyConfirmed %x, want %s", kc.Verifier, verifier)
	}
	if pv, ok := find[PeerVersion](outs); !ok || string(pv.AppVersions) != `{"x": 1}` {
		t.Fatalf("PeerVersion %v", outs)
	}
	body := unhex(t, lastAdd("0"))
	plain, err := keys.Open(unhex(t, phase0Key), body)
	if err != nil || string(plain) != "hello" {
		t.Fatalf("phase 0 does not open with the vector key: %q %v", plain, err)
	}
	tk, err := m.DeriveKey(keys.TransitPurpose, 32)
	if err != nil || hex.EncodeToString(tk) != transit {
		t.Fatalf("transit key %x %v", tk, err)
	}
	if v, err := m.Verifier(); err != nil || hex.EncodeToString(v) != verifier {
		t.Fatalf("Verifier() %x %v", v, err)
	}
}

func peerMsg(side, phase string, body []byte) mailbox.Received {
	b, _ := json.Marshal(map[string]any{"type": "message", "side": side, "phase": phase, "body": hex.EncodeToString(body), "id": nil})
	return mailbox.Received{Now: t0, Data: b}
}

func find[T any](acts []Action) (T, bool) {
	for _, a := range acts {
		if v, ok := a.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func findAll[T any](acts []Action) []T {
	var vs []T
	for _, a := range acts {
		if v, ok := a.(T); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// end is one machine wired to the in-memory server, with the driver played
// synchronously.
type end struct {
	t    testing.TB
	m    *Machine
	conn *mailboxtest.Conn
	srv  *mailboxtest.Server
	outs []Action
}

func newEnd(t testing.TB, srv *mailboxtest.Server, side string, av string) *end {
	t.Helper()
	cfg := Config{AppID: appID, Side: side, Rand: &prg{seed: side}}
	if av != "" {
		cfg.AppVersions = json.RawMessage(av)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &end{t: t, m: m, srv: srv}
	e.conn = srv.Connect()
	e.feed(mailbox.Connected{Now: t0})
	return e
}

func (e *end) feed(ev Event) {
	for _, a := range e.m.Handle(ev) {
		switch a := a.(type) {
		case mailbox.Send:
			e.conn.Receive(a.Data)
		case mailbox.Hangup:
			e.conn.Close()
		case mailbox.Dial, mailbox.SetTimer:
			e.t.Fatalf("unexpected %T", a)
		default:
			e.outs = append(e.outs, a)
		}
	}
}

func run(ends ...*end) {
	for moved := true; moved; {
		moved = false
		for _, e := range ends {
			for _, d := range e.conn.Drain() {
				moved = true
				e.feed(mailbox.Received{Now: t0, Data: d})
			}
		}
	}
}

func moods(srv *mailboxtest.Server) []string {
	var ms []string
	for _, e := range srv.Log {
		if e.Dir == "c2s" && e.Msg["type"] == "close" {
			ms = append(ms, fmt.Sprint(e.Msg["mood"]))
		}
	}
	return ms
}

func TestTwoMachines(t *testing.T) {
	srv := mailboxtest.NewServer()
	a := newEnd(t, srv, "aaaaaaaaaa", `{"tool": "a"}`)
	a.feed(AllocateCode{Words: 3})
	// Messages queue before the key exists.
	a.feed(Send{Data: []byte("a0")})
	a.feed(Send{Data: []byte("a1")})
	run(a)
	cr, ok := find[CodeReady](a.outs)
	if !ok || words.Validate(cr.Code) != nil || strings.Count(cr.Code, "-") != 3 || !strings.HasPrefix(cr.Code, "1-") {
		t.Fatalf("code %q", cr.Code)
	}
	b := newEnd(t, srv, "bbbbbbbbbb", "")
	b.feed(SetCode(cr))
	run(a, b)
	b.feed(Send{Data: []byte("b0")})
	run(a, b)

	ka, _ := find[KeyConfirmed](a.outs)
	kb, _ := find[KeyConfirmed](b.outs)
	if len(ka.Verifier) != 32 || !bytes.Equal(ka.Verifier, kb.Verifier) {
		t.Fatalf("verifiers %x / %x", ka.Verifier, kb.Verifier)
	}
	if pv, _ := find[PeerVersion](b.outs); string(pv.AppVersions) != `{"tool": "a"}` {
		t.Fatalf("b saw versions %s", pv.AppVersions)
	}
	if pv, _ := find[PeerVersion](a.outs); string(pv.AppVersions) != `{}` {
		t.Fatalf("a saw versions %s", pv.AppVersions)
	}
	if got := findAll[AppMessage](b.outs); !reflect.DeepEqual(got, []AppMessage{{0, []byte("a0")}, {1, []byte("a1")}}) {
		t.Fatalf("b got %+v", got)
	}
	if got := findAll[AppMessage](a.outs); !reflect.DeepEqual(got, []AppMessage{{0, []byte("b0")}}) {
		t.Fatalf("a got %+v", got)
	}
	if got := findAll[Sent](a.outs); !reflect.DeepEqual(got, []Sent{{0}, {1}}) {
		t.Fatalf("a Sent %+v", got)
	}
	ka1, _ := a.m.DeriveKey("app", 16)
	kb1, _ := b.m.DeriveKey("app", 16)
	if len(ka1) != 16 || !bytes.Equal(ka1, kb1) {
		t.Fatalf("derived keys differ")
	}
	a.feed(Close{})
	b.feed(Close{})
	run(a, b)
	for _, e := range []*end{a, b} {
		if c, ok := find[Closed](e.outs); !ok || c.Mood != MoodHappy {
			t.Fatalf("closed %v", e.outs)
		}
		if _, ok := find[Failed](e.outs); ok {
			t.Fatalf("failed: %v", e.outs)
		}
	}
	if got := moods(srv); !reflect.DeepEqual(got, []string{"happy", "happy"}) {
		t.Fatalf("moods %v", got)
	}
	if srv.Mailboxes() != 0 || len(srv.Nameplates()) != 0 {
		t.Fatal("server not cleaned up")
	}
}

func TestWrongCode(t *testing.T) {
	srv := mailboxtest.NewServer()
	a := newEnd(t, srv, "aaaaaaaaaa", "")
	b := newEnd(t, srv, "bbbbbbbbbb", "")
	a.feed(SetCode{Code: "7-aa-bb"})
	b.feed(SetCode{Code: "7-aa-cc"})
	a.feed(Send{Data: []byte("secret")})
	run(a, b)
	for _, e := range []*end{a, b} {
		f, ok := find[Failed](e.outs)
		if !ok || !errors.Is(f.Err, ErrWrongCode) || !strings.Contains(f.Err.Error(), "wrong code") {
			t.Fatalf("%v", e.outs)
		}
		if c, ok := find[Closed](e.outs); !ok || c.Mood != MoodScary {
			t.Fatalf("closed %v", e.outs)
		}
		if _, ok := find[KeyConfirmed](e.outs); ok {
			t.Fatal("key confirmed with a wrong code")
		}
		if len(findAll[AppMessage](e.outs)) != 0 {
			t.Fatal("app message delivered with a wrong code")
		}
	}
	if got := moods(srv); !reflect.DeepEqual(got, []string{"scary", "scary"}) {
		t.Fatalf("moods %v", got)
	}
	// The queued message never left.
	for _, e := range srv.Log {
		if e.Msg["phase"] == "0" {
			t.Fatal("app message sent with an unconfirmed key")
		}
	}
}

func TestLonely(t *testing.T) {
	srv := mailboxtest.NewServer()
	a := newEnd(t, srv, "aaaaaaaaaa", "")
	a.feed(AllocateCode{})
	run(a)
	a.feed(Close{})
	run(a)
	if c, ok := find[Closed](a.outs); !ok || c.Mood != MoodLonely {
		t.Fatalf("%v", a.outs)
	}
	if srv.Mailboxes() != 0 || len(srv.Nameplates()) != 0 {
		t.Fatal("server not cleaned up")
	}
}

// TestPeerMessages feeds crafted peer messages to a machine with a known
// key: order, duplicates, unknown phases, a bad pake, a bad box.
func TestPeerMessages(t *testing.T) {
	const code = "4-purple-sausages"
	type step struct {
		phase string
		body  func(key []byte) []byte
	}
	seal := func(phase, plain string) func([]byte) []byte {
		return func(key []byte) []byte {
			b, err := keys.Seal(keys.PhaseKey(key, "bbbbbbbbbb", phase), []byte(plain), &prg{seed: phase})
			if err != nil {
				panic(err)
			}
			return b
		}
	}
	tests := []struct {
		name     string
		steps    []step
		want     []string // AppMessage data in order
		wrong    bool     // ErrWrongCode expected
		verified bool
	}{
		{name: "in order", steps: []step{{"version", seal("version", `{"app_versions": {}}`)}, {"0", seal("0", "m0")}, {"1", seal("1", "m1")}},
			want: []string{"m0", "m1"}, verified: true},
		{name: "reordered", steps: []step{{"2", seal("2", "m2")}, {"0", seal("0", "m0")}, {"version", seal("version", `{}`)}, {"1", seal("1", "m1")}},
			want: []string{"m0", "m1", "m2"}, verified: true},
		{name: "duplicates dropped", steps: []step{{"0", seal("0", "m0")}, {"0", seal("0", "again")}},
			want: []string{"m0"}, verified: true},
		{name: "unknown and non-canonical phases ignored", steps: []step{{"dilate-0", seal("dilate-0", "{}")}, {"00", seal("00", "x")}, {"-1", seal("-1", "x")}, {"0", seal("0", "m0")}},
			want: []string{"m0"}, verified: true},
		{name: "far ahead dropped", steps: []step{{fmt.Sprint(MaxAhead), seal(fmt.Sprint(MaxAhead), "x")}, {"0", seal("0", "m0")}},
			want: []string{"m0"}, verified: true},
		{name: "bad box", steps: []step{{"version", func([]byte) []byte { return bytes.Repeat([]byte{1}, 60) }}}, wrong: true},
		{name: "wrong phase key", steps: []step{{"version", seal("0", `{}`)}}, wrong: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(Config{AppID: appID, Side: "aaaaaaaaaa", Rand: &prg{seed: "me"}})
			if err != nil {
				t.Fatal(err)
			}
			var outs []Action
			feed := func(ev Event) { outs = append(outs, m.Handle(ev)...) }
			feed(mailbox.Connected{Now: t0})
			feed(SetCode{Code: code})
			feed(mailbox.Received{Now: t0, Data: []byte(`{"type":"claimed","mailbox":"mb"}`)})
			// The peer's side of the exchange, to know the key.
			peer, _ := spake2.NewSymmetric([]byte(code), []byte(appID), &prg{seed: "peer"})
			var myPake []byte
			for _, a := range outs {
				if s, ok := a.(mailbox.Send); ok && bytes.Contains(s.Data, []byte(`"pake"`)) {
					var msg struct{ Body string }
					if err := json.Unmarshal(s.Data, &msg); err != nil {
						t.Fatal(err)
					}
					myPake, _ = keys.DecodePake(unhex(t, msg.Body))
				}
			}
			key, err := peer.Finish(myPake)
			if err != nil {
				t.Fatal(err)
			}
			// Messages before the pake are held, not failed.
			first := tt.steps[0]
			feed(peerMsg("bbbbbbbbbb", first.phase, first.body(key)))
			feed(peerMsg("bbbbbbbbbb", "pake", keys.EncodePake(peer.Message())))
			for _, s := range tt.steps[1:] {
				feed(peerMsg("bbbbbbbbbb", s.phase, s.body(key)))
			}
			var got []string
			for _, am := range findAll[AppMessage](outs) {
				got = append(got, string(am.Data))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("delivered %q, want %q", got, tt.want)
			}
			f, failed := find[Failed](outs)
			if tt.wrong != (failed && errors.Is(f.Err, ErrWrongCode)) {
				t.Fatalf("failed=%v (%v), want wrong code %v", failed, f.Err, tt.wrong)
			}
			if m.Verified() != tt.verified {
				t.Fatalf("verified = %v", m.Verified())
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Run("bad pake", func(t *testing.T) {
		for _, body := range []string{`{"pake_v1": "00"}`, `{"nope": 1}`, `not json`} {
			m, _ := New(Config{AppID: appID, Side: "aaaaaaaaaa", Rand: &prg{seed: "x"}})
			var outs []Action
			for _, ev := range []Event{mailbox.Connected{Now: t0}, SetCode{Code: "5-a-b"},
				mailbox.Received{Now: t0, Data: []byte(`{"type":"claimed","mailbox":"mb"}`)},
				peerMsg("bbbbbbbbbb", "pake", []byte(body))} {
				outs = append(outs, m.Handle(ev)...)
			}
			f, ok := find[Failed](outs)
			if !ok || !errors.Is(f.Err, ErrWrongCode) {
				t.Fatalf("%s: %v", body, outs)
			}
		}
	})
	t.Run("bad code", func(t *testing.T) {
		m, _ := New(Config{AppID: appID})
		outs := m.Handle(SetCode{Code: "x-y"})
		f, ok := find[Failed](outs)
		if !ok || !errors.Is(f.Err, ErrBadCode) || !errors.Is(f.Err, words.ErrBadNameplate) {
			t.Fatalf("%v", outs)
		}
	})
	t.Run("bad app versions", func(t *testing.T) {
		if _, err := New(Config{AppID: appID, AppVersions: json.RawMessage(`[]`)}); err == nil {
			t.Fatal("accepted a JSON array")
		}
	})
}

// FuzzPeerMessages: arbitrary peer bodies in arbitrary phases never panic
// and never deliver an app message that was not sealed under the key.
func FuzzPeerMessages(f *testing.F) {
	f.Add("pake", []byte(`{"pake_v1": "53"}`), "0", []byte{1, 2, 3})
	f.Add("version", bytes.Repeat([]byte{0}, 50), "1", []byte("x"))
	f.Fuzz(func(t *testing.T, p1 string, b1 []byte, p2 string, b2 []byte) {
		m, _ := New(Config{AppID: appID, Side: "aaaaaaaaaa", Rand: &prg{seed: "x"}})
		var outs []Action
		for _, ev := range []Event{mailbox.Connected{Now: t0}, SetCode{Code: "5-a-b"},
			mailbox.Received{Now: t0, Data: []byte(`{"type":"claimed","mailbox":"mb"}`)},
			peerMsg("bbbbbbbbbb", p1, b1), peerMsg("bbbbbbbbbb", p2, b2), Close{}} {
			outs = append(outs, m.Handle(ev)...)
		}
		if len(findAll[AppMessage](outs)) != 0 || m.Verified() {
			t.Fatalf("unauthenticated input accepted: %v", outs)
		}
	})
}
