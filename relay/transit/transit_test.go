package transit

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The relay line from docs/protocol.md §5 (generated with magic-wormhole 0.12).
const vectorLine = "please relay 6d5de652b11d83728b570a955b4742903e15d5781c86ec6a5d6b78b7bbbf3059 for side 0123456789abcdef\n"

var (
	tokA = strings.Repeat("a", 64)
	tokB = strings.Repeat("b", 64)
)

func line(tok, side string) []byte { return []byte(Request{Token: tok, Side: side}.String()) }

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Request
		err  error
	}{
		{"vector", vectorLine, Request{"6d5de652b11d83728b570a955b4742903e15d5781c86ec6a5d6b78b7bbbf3059", "0123456789abcdef"}, nil},
		{"no newline (websocket)", strings.TrimSuffix(vectorLine, "\n"), Request{"6d5de652b11d83728b570a955b4742903e15d5781c86ec6a5d6b78b7bbbf3059", "0123456789abcdef"}, nil},
		{"legacy unsided", "please relay " + tokA + "\n", Request{tokA, ""}, nil},
		{"word chars", "please relay " + strings.Repeat("Z_9", 21) + "x for side ABCDEFGH_1234567\n", Request{strings.Repeat("Z_9", 21) + "x", "ABCDEFGH_1234567"}, nil},
		{"two newlines", "please relay " + tokA + "\n\n", Request{}, ErrBadHandshake},
		{"crlf", "please relay " + tokA + "\r\n", Request{}, ErrBadHandshake},
		{"short token", "please relay " + tokA[:63] + "\n", Request{}, ErrBadHandshake},
		{"long token", "please relay " + tokA + "a\n", Request{}, ErrBadHandshake},
		{"non-word token", "please relay " + tokA[:63] + "-\n", Request{}, ErrBadHandshake},
		{"short side", "please relay " + tokA + " for side 0123456789abcde\n", Request{}, ErrBadHandshake},
		{"long side", "please relay " + tokA + " for side 0123456789abcdef0\n", Request{}, ErrBadHandshake},
		{"bad separator", "please relay " + tokA + " for sid 0123456789abcdef\n", Request{}, ErrBadHandshake},
		{"trailing data", vectorLine + "XYZ", Request{}, ErrBadHandshake},
		{"wrong verb", "please relax " + tokA + "\n", Request{}, ErrBadHandshake},
		{"empty", "", Request{}, ErrBadHandshake},
		{"unicode word", "please relay " + strings.Repeat("é", 32) + "\n", Request{}, ErrBadHandshake},
		{"too long", "please relay " + strings.Repeat("a", 2000) + "\n", Request{}, ErrLineTooLong},
		{"1024 with newline", strings.Repeat("a", 1023) + "\n", Request{}, ErrBadHandshake},
		{"1024 without newline", strings.Repeat("a", 1024), Request{}, ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.in == vectorLine && got.String() != vectorLine {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestSplitLine(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		line, rest string
		ok         bool
		err        error
	}{
		{"partial", "please relay", "", "", false, nil},
		{"exact", vectorLine, vectorLine, "", true, nil},
		{"with rest", vectorLine + "abc", vectorLine, "abc", true, nil},
		{"second newline stays in rest", "x\ny\n", "x\n", "y\n", true, nil},
		{"1023 without newline", strings.Repeat("a", 1023), "", "", false, nil},
		{"1024 without newline", strings.Repeat("a", 1024), "", "", false, ErrLineTooLong},
		{"newline at 1024", strings.Repeat("a", 1023) + "\n", strings.Repeat("a", 1023) + "\n", "", true, nil},
		{"newline after limit", strings.Repeat("a", 1024) + "\n", "", "", false, ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, r, ok, err := SplitLine([]byte(tt.in))
			if !errors.Is(err, tt.err) || ok != tt.ok || string(l) != tt.line || string(r) != tt.rest {
				t.Fatalf("got %q %q %v %v", l, r, ok, err)
			}
		})
	}
}

var t0 = time.Unix(1_700_000_000, 0)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// hs feeds Connected+Handshake for id and returns the handshake's actions.
func hs(m *Machine, id ConnID, l []byte, s int) []Action {
	m.Handle(Connected{Conn: id, Now: at(s)})
	return m.Handle(Handshake{Conn: id, Line: l, Now: at(s)})
}

func TestMachinePairing(t *testing.T) {
	m := New(Config{UnpairedTimeout: time.Minute})
	if got, want := hs(m, 1, line(tokA, "1111111111111111"), 0), []Action{SetTimer{Conn: 1, After: time.Minute}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first: %#v", got)
	}
	// Same side never pairs with itself; it waits too.
	if got := hs(m, 2, line(tokA, "1111111111111111"), 1); len(got) != 1 {
		t.Fatalf("same side: %#v", got)
	}
	// Another token is independent.
	hs(m, 3, line(tokB, "2222222222222222"), 1)
	got := hs(m, 4, line(tokA, "2222222222222222"), 3)
	want := []Action{
		StopTimer{Conn: 2}, Close{Conn: 2, Why: ErrRedundant},
		Usage{Conn: 2, Mood: MoodRedundant, Token: tokA, Waiting: 2 * time.Second, Duration: 2 * time.Second},
		StopTimer{Conn: 1}, Send{Conn: 1, Data: ReplyOK}, Send{Conn: 4, Data: ReplyOK}, Pair{A: 1, B: 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pair:\n got %#v\nwant %#v", got, want)
	}
	if s := m.Stats(); s != (Stats{Connections: 3, Waiting: 1, ActivePairs: 1, TotalPairs: 1}) {
		t.Fatalf("stats %+v", s)
	}
	// Data after pairing is the driver's business.
	if got := m.Handle(Data{Conn: 1, Now: at(4)}); got != nil {
		t.Fatalf("data after pair: %#v", got)
	}
	got = m.Handle(Disconnected{Conn: 4, Bytes: 100, Now: at(10)})
	if want := []Action{Usage{Conn: 4, Mood: MoodHappy, Token: tokA, Duration: 7 * time.Second, Bytes: 100}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first disconnect: %#v", got)
	}
	got = m.Handle(Disconnected{Conn: 1, Bytes: 5, Now: at(11)})
	if want := []Action{Usage{Conn: 1, Mood: MoodJilted, Token: tokA, Waiting: 3 * time.Second, Duration: 11 * time.Second, Bytes: 5}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second disconnect: %#v", got)
	}
	if got := m.Handle(Disconnected{Conn: 1, Now: at(12)}); got != nil {
		t.Fatalf("repeated disconnect: %#v", got)
	}
	if s := m.Stats(); s != (Stats{Connections: 1, Waiting: 1, ActivePairs: 0, TotalPairs: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestMachineUnsided(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		paired bool
	}{
		{"both unsided", "", "", true},
		{"old unsided", "", "1111111111111111", true},
		{"new unsided", "1111111111111111", "", true},
		{"different sides", "1111111111111111", "2222222222222222", true},
		{"same side", "1111111111111111", "1111111111111111", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Config{})
			if acts := hs(m, 1, line(tokA, tt.a), 0); acts != nil {
				t.Fatalf("no timeout configured, yet %#v", acts)
			}
			acts := hs(m, 2, line(tokA, tt.b), 1)
			paired := len(acts) > 0 && reflect.DeepEqual(acts[len(acts)-1], Pair{A: 1, B: 2})
			if paired != tt.paired {
				t.Fatalf("paired=%v: %#v", paired, acts)
			}
		})
	}
}

func TestMachineFailures(t *testing.T) {
	t.Run("bad handshake", func(t *testing.T) {
		m := New(Config{})
		got := hs(m, 1, []byte("please relay x\n"), 0)
		if len(got) != 3 || !reflect.DeepEqual(got[0], Send{Conn: 1, Data: ReplyBadHandshake}) {
			t.Fatalf("%#v", got)
		}
		if c, ok := got[1].(Close); !ok || !errors.Is(c.Why, ErrBadHandshake) {
			t.Fatalf("%#v", got[1])
		}
		if u := got[2].(Usage); u.Mood != MoodErrory {
			t.Fatalf("%#v", u)
		}
		if m.Stats().Connections != 0 {
			t.Fatal("connection kept")
		}
	})
	t.Run("impatient", func(t *testing.T) {
		m := New(Config{UnpairedTimeout: time.Second})
		hs(m, 1, line(tokA, ""), 0)
		got := m.Handle(Data{Conn: 1, Now: at(1)})
		want := []Action{StopTimer{Conn: 1}, Send{Conn: 1, Data: ReplyImpatient}, Close{Conn: 1, Why: ErrImpatient},
			Usage{Conn: 1, Mood: MoodImpatient, Token: tokA, Waiting: time.Second, Duration: time.Second}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v", got)
		}
		// The token is free again: a newcomer waits instead of pairing.
		if got := hs(m, 2, line(tokA, ""), 2); len(got) != 1 {
			t.Fatalf("%#v", got)
		}
	})
	t.Run("unpaired timeout", func(t *testing.T) {
		m := New(Config{UnpairedTimeout: time.Second})
		hs(m, 1, line(tokA, ""), 0)
		got := m.Handle(TimerFired{Conn: 1, Now: at(1)})
		want := []Action{StopTimer{Conn: 1}, Close{Conn: 1, Why: ErrUnpairedTimeout},
			Usage{Conn: 1, Mood: MoodLonely, Token: tokA, Waiting: time.Second, Duration: time.Second}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v", got)
		}
		if got := m.Handle(TimerFired{Conn: 1, Now: at(2)}); got != nil {
			t.Fatalf("late timer: %#v", got)
		}
	})
	t.Run("timer after pairing", func(t *testing.T) {
		m := New(Config{UnpairedTimeout: time.Second})
		hs(m, 1, line(tokA, ""), 0)
		hs(m, 2, line(tokA, ""), 0)
		if got := m.Handle(TimerFired{Conn: 1, Now: at(1)}); got != nil {
			t.Fatalf("%#v", got)
		}
	})
	t.Run("lonely disconnect", func(t *testing.T) {
		m := New(Config{})
		hs(m, 1, line(tokA, ""), 0)
		got := m.Handle(Disconnected{Conn: 1, Now: at(5)})
		want := []Action{StopTimer{Conn: 1}, Usage{Conn: 1, Mood: MoodLonely, Token: tokA, Waiting: 5 * time.Second, Duration: 5 * time.Second}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v", got)
		}
	})
	t.Run("no handshake", func(t *testing.T) {
		m := New(Config{})
		m.Handle(Connected{Conn: 1, Now: at(0)})
		got := m.Handle(Disconnected{Conn: 1, Now: at(2)})
		want := []Action{Usage{Conn: 1, Mood: MoodErrory, Duration: 2 * time.Second}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%#v", got)
		}
	})
	t.Run("second handshake ignored", func(t *testing.T) {
		m := New(Config{})
		hs(m, 1, line(tokA, ""), 0)
		if got := m.Handle(Handshake{Conn: 1, Line: line(tokA, ""), Now: at(1)}); got != nil {
			t.Fatalf("%#v", got)
		}
	})
}

// FuzzHandshakeLine checks the line parser and splitter on arbitrary input:
// no panics, accepted lines round-trip, and the splitter never returns a
// line longer than MaxLineLength.
func FuzzHandshakeLine(f *testing.F) {
	f.Add([]byte(vectorLine))
	f.Add([]byte("please relay " + tokA + "\n"))
	f.Add([]byte(vectorLine + "extra"))
	f.Add([]byte("please relay \x00\n"))
	f.Add(bytes.Repeat([]byte("a"), 1100))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseLine(b)
		if err == nil {
			s := req.String()
			if s != string(b) && s != string(b)+"\n" {
				t.Fatalf("round trip %q -> %q", b, s)
			}
			if len(req.Token) != TokenLength || (req.Side != "" && len(req.Side) != SideLength) {
				t.Fatalf("bad lengths %+v", req)
			}
		}
		l, rest, ok, err := SplitLine(b)
		if ok {
			if len(l) > MaxLineLength || l[len(l)-1] != '\n' || len(l)+len(rest) != len(b) {
				t.Fatalf("split %q -> %q %q", b, l, rest)
			}
		} else if (err != nil) != (len(b) >= MaxLineLength) {
			t.Fatalf("split err %v for %d bytes", err, len(b))
		}
		// The machine must survive any line without panicking.
		m := New(Config{UnpairedTimeout: time.Second})
		hs(m, 1, b, 0)
		hs(m, 2, b, 0)
		m.Handle(Data{Conn: 1, Now: at(1)})
		m.Handle(Disconnected{Conn: 2, Now: at(1)})
	})
}
