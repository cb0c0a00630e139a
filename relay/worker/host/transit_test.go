package host

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/relay/iplimit"
	"github.com/wasmhole/wasmhole/relay/transit"
)

var (
	token = strings.Repeat("a1", 32)
	lineA = []byte("please relay " + token + " for side " + strings.Repeat("1", 16) + "\n")
	lineB = []byte("please relay " + token + " for side " + strings.Repeat("2", 16) + "\n")
)

func kinds(cmds []Cmd) string {
	var s []string
	for _, c := range cmds {
		s = append(s, c.Kind.String())
	}
	return strings.Join(s, ",")
}

func sentTo(cmds []Cmd, conn uint64) []byte {
	var b []byte
	for _, c := range cmds {
		if c.Kind == KindSend && c.Conn == conn {
			if c.Text {
				panic("transit frame sent as TEXT")
			}
			b = append(b, c.Data...)
		}
	}
	return b
}

func has(cmds []Cmd, k Kind, conn uint64) bool {
	for _, c := range cmds {
		if c.Kind == k && c.Conn == conn {
			return true
		}
	}
	return false
}

func TestNewTransitConfig(t *testing.T) {
	for _, tc := range []struct {
		upstream string
		ok       bool
		bridging bool
	}{
		{"", true, false},
		{"127.0.0.1:4001", true, true},
		{"relay.example.org:4001", true, true},
		{"[::1]:4001", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.1:0", false, false},
		{"127.0.0.1:70000", false, false},
		{":4001", false, false},
		{"host:port", false, false},
	} {
		h, err := NewTransit(TransitConfig{Upstream: tc.upstream})
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.upstream, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrUpstream) {
				t.Errorf("%q: %v does not wrap ErrUpstream", tc.upstream, err)
			}
			continue
		}
		if h.Bridging() != tc.bridging {
			t.Errorf("%q: bridging %v", tc.upstream, h.Bridging())
		}
	}
}

func TestTransitPairing(t *testing.T) {
	h, err := NewTransit(TransitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h.Open(1, "", t0)
	h.Open(2, "", t0)
	if cmds := h.Frame(1, lineA, false, t0); len(sentTo(cmds, 1)) != 0 || has(cmds, KindPair, 1) {
		t.Fatalf("first side answered before its partner came: %+v", cmds)
	}
	// The WebSocket line may omit the newline.
	cmds := h.Frame(2, bytes.TrimSuffix(lineB, []byte("\n")), false, t0.Add(time.Second))
	if string(sentTo(cmds, 1)) != "ok\n" || string(sentTo(cmds, 2)) != "ok\n" {
		t.Fatalf("pairing replies: %+v", cmds)
	}
	var pair *Cmd
	for i := range cmds {
		if cmds[i].Kind == KindPair {
			pair = &cmds[i]
		}
	}
	if pair == nil || !(pair.Conn == 1 && pair.Peer == 2 || pair.Conn == 2 && pair.Peer == 1) {
		t.Fatalf("pair: %+v", cmds)
	}
	if s := h.Stats(); s.ActivePairs != 1 || s.TotalPairs != 1 {
		t.Fatalf("stats %+v", s)
	}
	first := h.Gone(1, 100, t0.Add(2*time.Second))
	second := h.Gone(2, 100, t0.Add(2*time.Second))
	if !strings.Contains(first[0].Reason, `"happy"`) || !strings.Contains(second[0].Reason, `"jilted"`) {
		t.Fatalf("usage: %+v %+v", first, second)
	}
	if strings.Contains(first[0].Reason, token) {
		t.Fatal("usage log holds the whole token")
	}
}

func TestTransitPairingErrors(t *testing.T) {
	h, _ := NewTransit(TransitConfig{UnpairedTimeout: time.Minute})
	for _, tc := range []struct {
		name   string
		frames [][]byte
		text   bool
		reply  string
		code   int
	}{
		{"bad handshake", [][]byte{[]byte("please relay nonsense\n")}, false, "bad handshake\n", 1000},
		{"impatient", [][]byte{lineA, []byte("data")}, false, "impatient\n", 1000},
		{"text frame", [][]byte{lineA}, true, "", 1003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmds []Cmd
			h.Open(9, "", t0)
			for _, f := range tc.frames {
				cmds = h.Frame(9, f, tc.text, t0)
			}
			if got := string(sentTo(cmds, 9)); got != tc.reply {
				t.Fatalf("reply %q, want %q (%s)", got, tc.reply, kinds(cmds))
			}
			var closed bool
			for _, c := range cmds {
				if c.Kind == KindClose && c.Conn == 9 {
					closed = c.Code == tc.code
				}
			}
			if !closed {
				t.Fatalf("not closed with %d: %+v", tc.code, cmds)
			}
			h.Gone(9, 0, t0)
			if s := h.Stats(); s.Connections != 0 || s.Waiting != 0 {
				t.Fatalf("leftover state %+v", s)
			}
		})
	}
}

func TestTransitUnpairedTimeout(t *testing.T) {
	h, _ := NewTransit(TransitConfig{UnpairedTimeout: 30 * time.Second})
	h.Open(1, "", t0)
	cmds := h.Frame(1, lineA, false, t0)
	if len(cmds) != 1 || cmds[0].Kind != KindTimer || cmds[0].After != 30*time.Second {
		t.Fatalf("waiting: %+v", cmds)
	}
	cmds = h.Timer(1, t0.Add(30*time.Second))
	if !has(cmds, KindClose, 1) {
		t.Fatalf("timeout: %+v", cmds)
	}
}

func TestTransitBridge(t *testing.T) {
	h, err := NewTransit(TransitConfig{Upstream: "127.0.0.1:4001"})
	if err != nil {
		t.Fatal(err)
	}
	h.Open(1, "", t0)
	for _, line := range [][]byte{lineA, bytes.TrimSuffix(lineA, []byte("\n"))} {
		h.Open(1, "", t0)
		cmds := h.Frame(1, line, false, t0)
		if len(cmds) != 1 || cmds[0].Kind != KindBridge || cmds[0].Host != "127.0.0.1" || cmds[0].Port != 4001 {
			t.Fatalf("bridge: %+v", cmds)
		}
		// The upstream gets exactly the line and its newline: anything
		// more before "ok" would make the relay answer impatient.
		if !bytes.Equal(cmds[0].Data, lineA) {
			t.Fatalf("line to upstream %q, want %q", cmds[0].Data, lineA)
		}
		if more := h.Frame(1, []byte("later"), false, t0); more != nil {
			t.Fatalf("frame after bridging: %+v", more)
		}
		usage := h.Gone(1, 1234, t0.Add(time.Second))
		if len(usage) != 1 || !strings.Contains(usage[0].Reason, `"bridged"`) || !strings.Contains(usage[0].Reason, `"bytes":1234`) {
			t.Fatalf("usage %+v", usage)
		}
	}
	// Garbage never opens an upstream connection.
	h.Open(2, "", t0)
	cmds := h.Frame(2, []byte("GET / HTTP/1.1\r\n"), false, t0)
	if string(sentTo(cmds, 2)) != "bad handshake\n" || !has(cmds, KindClose, 2) || has(cmds, KindBridge, 2) {
		t.Fatalf("bad line: %+v", cmds)
	}
	if h.Gone(2, 0, t0) != nil {
		t.Fatal("second usage record for a dropped connection")
	}
	// Transit is binary only.
	h.Open(3, "", t0)
	if cmds := h.Frame(3, lineA, true, t0); has(cmds, KindBridge, 3) || !has(cmds, KindClose, 3) {
		t.Fatalf("text line: %+v", cmds)
	}
	// A client that leaves before its line is an errory usage record.
	if u := h.Gone(3, 0, t0); len(u) != 1 || !strings.Contains(u[0].Reason, `"errory"`) {
		t.Fatalf("usage %+v", u)
	}
}

// FuzzTransitFrames feeds arbitrary first and second messages in both modes:
// only a line transit.ParseLine accepts may pair or bridge, and the bridge
// line is always the canonical one.
func FuzzTransitFrames(f *testing.F) {
	f.Add(lineA, []byte("x"), false)
	f.Add([]byte("please relay "+token), lineB, false)
	f.Add([]byte("please relay "+token+" for side 1234567812345678\n\n"), []byte{}, true)
	f.Add([]byte{0, 1, 2}, lineB, false)
	f.Fuzz(func(t *testing.T, first, second []byte, bridge bool) {
		cfg := TransitConfig{}
		if bridge {
			cfg.Upstream = "127.0.0.1:4001"
		}
		h, err := NewTransit(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h.Open(1, "", t0)
		h.Open(2, "", t0)
		req, perr := transit.ParseLine(first)
		cmds := append(h.Frame(1, first, false, t0), h.Frame(2, second, false, t0)...)
		cmds = append(cmds, h.Frame(1, second, false, t0)...)
		for _, c := range cmds {
			switch c.Kind {
			case KindBridge:
				if c.Conn == 1 && (perr != nil || string(c.Data) != req.String()) {
					t.Fatalf("bridged %q for first message %q (parse error %v)", c.Data, first, perr)
				}
			case KindPair:
				if perr != nil {
					t.Fatalf("paired after an invalid line %q", first)
				}
			case KindSend:
				if c.Text {
					t.Fatal("TEXT frame on transit")
				}
			}
		}
		h.Gone(1, 0, t0)
		h.Gone(2, 0, t0)
		if s := h.Stats(); s.Connections != 0 || s.Waiting != 0 {
			t.Fatalf("state left after both left: %+v", s)
		}
	})
}

func TestTransitPerAddressLimits(t *testing.T) {
	h, _ := NewTransit(TransitConfig{Limits: iplimit.Config{Rate: 1, Burst: 2}})
	const ip = "2001:db8::1"
	if h.Open(1, ip, t0) != nil || h.Open(2, "2001:db8::2", t0) != nil {
		t.Fatal("first two connections refused")
	}
	// The same /64 is one client: its burst of 2 is used up.
	cmds := h.Open(3, ip, t0)
	if len(cmds) != 1 || cmds[0].Kind != KindClose || cmds[0].Code != 1008 || !strings.Contains(cmds[0].Reason, "too fast") {
		t.Fatalf("third connection: %+v", cmds)
	}
	h.Gone(3, 0, t0)
	// A second later the bucket has a token again.
	if cmds := h.Open(4, ip, t0.Add(time.Second)); cmds != nil {
		t.Fatalf("after a second: %+v", cmds)
	}
}
