package transit

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/internal/jsonx/jsonxtest"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{
			name: "python 0.12 (docs/protocol.md §3.1)",
			in: `{"abilities-v1": [{"type": "direct-tcp-v1"}, {"type": "relay-v1"}],
			      "hints-v1": [
			        {"type": "direct-tcp-v1", "priority": 0.0, "hostname": "192.168.1.5", "port": 40123},
			        {"type": "relay-v1", "hints": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "transit.magic-wormhole.io", "port": 4001}]}]}`,
			want: Message{
				Abilities: []string{"direct-tcp-v1", "relay-v1"},
				Hints: Hints{
					Direct: []DirectHint{{Hostname: "192.168.1.5", Port: 40123}},
					Relays: []RelayHint{{TCP: []DirectHint{{Hostname: "transit.magic-wormhole.io", Port: 4001}}}},
				},
			},
		},
		{
			name: "wormhole-william: every struct field, hints null, hostname empty, inner priority 2.0",
			in: `{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"relay-v1"}],
			      "hints-v1":[
			        {"type":"direct-tcp-v1","priority":0,"hostname":"10.0.0.2","port":4567,"hints":null},
			        {"type":"relay-v1","priority":0,"hostname":"","port":0,"hints":[{"type":"direct-tcp-v1","priority":2,"hostname":"transit.magic-wormhole.io","port":4001,"hints":null}]}]}`,
			want: Message{
				Abilities: []string{"direct-tcp-v1", "relay-v1"},
				Hints: Hints{
					Direct: []DirectHint{{Hostname: "10.0.0.2", Port: 4567}},
					Relays: []RelayHint{{TCP: []DirectHint{{Hostname: "transit.magic-wormhole.io", Port: 4001, Priority: 2}}}},
				},
			},
		},
		{
			name: "magic-wormhole.rs: name null or string, no priority, websocket",
			in: `{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"relay-v1"}],
			      "hints-v1":[
			        {"type":"direct-tcp-v1","hostname":"fe80::1","port":1000},
			        {"type":"relay-v1","name":null,"hints":[{"type":"direct-tcp-v1","hostname":"a.example","port":4001}]},
			        {"type":"relay-v1","name":"winden","hints":[{"type":"websocket","url":"wss://relay.winden.app/"}]}]}`,
			want: Message{
				Abilities: []string{"direct-tcp-v1", "relay-v1"},
				Hints: Hints{
					Direct: []DirectHint{{Hostname: "fe80::1", Port: 1000}},
					Relays: []RelayHint{
						{TCP: []DirectHint{{Hostname: "a.example", Port: 4001}}},
						{Name: "winden", WebSocket: []WebSocketHint{{URL: "wss://relay.winden.app/"}}},
					},
				},
			},
		},
		{
			name: "spec websocket-v1 with integer priority, LA fork direct-ws/wss",
			in: `{"hints-v1":[{"type":"relay-v1","name":"r","hints":[
			        {"type":"websocket-v1","url":"wss://relay.example.org:8000","priority":1},
			        {"type":"direct-ws-v1","hostname":"ws.example","port":4002,"priority":0.5},
			        {"type":"direct-wss-v1","hostname":"::1","port":443}]}]}`,
			want: Message{Hints: Hints{Relays: []RelayHint{{Name: "r", WebSocket: []WebSocketHint{
				{URL: "wss://relay.example.org:8000", Priority: 1},
				{URL: "ws://ws.example:4002/", Priority: 0.5},
				{URL: "wss://[::1]:443/"},
			}}}}},
		},
		{
			name: "hints-v1 null",
			in:   `{"abilities-v1":[{"type":"relay-v1"}],"hints-v1":null}`,
			want: Message{Abilities: []string{"relay-v1"}},
		},
		{name: "hints-v1 missing", in: `{}`},
		{name: "hints-v1 not a list", in: `{"hints-v1":{"type":"direct-tcp-v1"},"abilities-v1":"x"}`},
		{
			name: "duplicates dropped, highest priority kept; relay endpoints too, across relays",
			in: `{"hints-v1":[
			        {"type":"direct-tcp-v1","hostname":"10.0.0.1","port":1,"priority":0},
			        {"type":"direct-tcp-v1","hostname":"10.0.0.1","port":1,"priority":3},
			        {"type":"direct-tcp-v1","hostname":"10.0.0.1","port":2},
			        {"type":"relay-v1","hints":[{"type":"direct-tcp-v1","hostname":"R","port":4001},{"type":"direct-tcp-v1","hostname":"r","port":4001,"priority":1}]},
			        {"type":"relay-v1","hints":[{"type":"direct-tcp-v1","hostname":"r","port":4001}]},
			        {"type":"relay-v1","hints":[{"type":"websocket","url":"ws://w/"},{"type":"websocket-v1","url":"ws://w/","priority":2}]}]}`,
			want: Message{Hints: Hints{
				Direct: []DirectHint{{Hostname: "10.0.0.1", Port: 1, Priority: 3}, {Hostname: "10.0.0.1", Port: 2}},
				Relays: []RelayHint{
					{TCP: []DirectHint{{Hostname: "R", Port: 4001, Priority: 1}}},
					{WebSocket: []WebSocketHint{{URL: "ws://w/", Priority: 2}}},
				},
			}},
		},
		{
			name: "unusable and unknown hints are ignored",
			in: `{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"direct-tcp-v1"},"relay-v1",{"type":7},null],
			      "hints-v1":[
			        null, 7, "x", [], {},
			        {"type":"tor-tcp-v1","hostname":"abc.onion","port":80},
			        {"type":"future-v9","hostname":"10.0.0.9","port":9},
			        {"type":"direct-tcp-v1","hostname":"","port":1},
			        {"type":"direct-tcp-v1","hostname":null,"port":1},
			        {"type":"direct-tcp-v1","hostname":5,"port":1},
			        {"type":"direct-tcp-v1","hostname":"h","port":"1"},
			        {"type":"direct-tcp-v1","hostname":"h","port":0},
			        {"type":"direct-tcp-v1","hostname":"h","port":65536},
			        {"type":"direct-tcp-v1","hostname":"h","port":1.5},
			        {"type":"direct-tcp-v1","hostname":"h"},
			        {"type":"direct-tcp-v1","hostname":"h","port":2.0,"priority":"high"},
			        {"type":"relay-v1","hints":null},
			        {"type":"relay-v1"},
			        {"type":"relay-v1","hints":[{"type":"websocket","url":"http://x/"},{"type":"websocket","url":"wss://"},{"type":"websocket","url":5},{"type":"tor-tcp-v1","hostname":"x.onion","port":1}]},
			        {"TYPE":"direct-tcp-v1","hostname":"upper","port":1}]}`,
			want: Message{
				Abilities: []string{"direct-tcp-v1"},
				Hints:     Hints{Direct: []DirectHint{{Hostname: "h", Port: 2}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseMessageErrors(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `"transit"`, `7`, `{"a":`, `{} {}`, `{"hints-v1":[` + strings.Repeat(" ", MaxMessageSize) + `]}`} {
		if m, err := ParseMessage([]byte(in)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("ParseMessage(%.20q) = %v, %v; want ErrBadMessage", in, m, err)
		}
	}
}

func TestParseMessageLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"hints-v1":[`)
	for i := range 200 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"direct-tcp-v1","hostname":"10.0.0.1","port":` + strconv.Itoa(i+1) + `},`)
		b.WriteString(`{"type":"relay-v1","hints":[`)
		for j := range 30 {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"type":"direct-tcp-v1","hostname":"r` + strconv.Itoa(i) + `","port":` + strconv.Itoa(j+1) + `}`)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	m, err := ParseMessage([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Hints.Direct) != MaxDirectHints || len(m.Hints.Relays) != MaxRelays {
		t.Errorf("%d direct hints, %d relays", len(m.Hints.Direct), len(m.Hints.Relays))
	}
	for _, r := range m.Hints.Relays {
		if len(r.TCP) != MaxRelayEndpoint {
			t.Errorf("relay with %d endpoints", len(r.TCP))
		}
	}
}

func TestMarshalJSON(t *testing.T) {
	m := Message{Hints: Hints{
		Direct: []DirectHint{{Hostname: "192.168.1.5", Port: 40123}, {Hostname: "::1", Port: 7, Priority: 0.5}},
		Relays: []RelayHint{
			{TCP: []DirectHint{{Hostname: "transit.magic-wormhole.io", Port: 4001}}},
			{Name: "web <&>", TCP: []DirectHint{{Hostname: "h", Port: 1, Priority: 2}}, WebSocket: []WebSocketHint{{URL: "wss://h/t", Priority: 1e21}}},
		},
	}}
	got, err := json.Marshal(m) // through the Marshaler, as a caller embeds it
	if err != nil {
		t.Fatal(err)
	}
	want := `{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"relay-v1"}],"hints-v1":[` +
		`{"type":"direct-tcp-v1","priority":0.0,"hostname":"192.168.1.5","port":40123},` +
		`{"type":"direct-tcp-v1","priority":0.5,"hostname":"::1","port":7},` +
		`{"type":"relay-v1","hints":[{"type":"direct-tcp-v1","priority":0.0,"hostname":"transit.magic-wormhole.io","port":4001}]},` +
		`{"type":"relay-v1","name":"web \u003c\u0026\u003e","hints":[{"type":"direct-tcp-v1","priority":2.0,"hostname":"h","port":1},` +
		`{"type":"websocket","url":"wss://h/t"},{"type":"websocket-v1","priority":1e+21,"url":"wss://h/t"}]}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	back, err := ParseMessage(got)
	if err != nil {
		t.Fatal(err)
	}
	// The "websocket" twin has no priority and comes first; the
	// "websocket-v1" one raises it back: a lossless round trip.
	if !reflect.DeepEqual(back.Hints, m.Hints) || !reflect.DeepEqual(back.Abilities, DefaultAbilities) {
		t.Errorf("round trip: %+v", back)
	}

	empty, _ := Message{Abilities: []string{"relay-v1"}}.MarshalJSON()
	if string(empty) != `{"abilities-v1":[{"type":"relay-v1"}],"hints-v1":[]}` {
		t.Errorf("empty message: %s", empty)
	}
}

func TestPyFloat(t *testing.T) {
	for f, want := range map[float64]string{0: "0.0", 2: "2.0", 2.5: "2.5", -1: "-1.0", 0.1: "0.1", 1e21: "1e+21", 1e-7: "1e-07"} {
		if got := pyFloat(f); got != want {
			t.Errorf("pyFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestParseRelay(t *testing.T) {
	tests := []struct {
		in   string
		want RelayHint
	}{
		{"tcp:transit.magic-wormhole.io:4001", RelayHint{TCP: []DirectHint{{Hostname: "transit.magic-wormhole.io", Port: 4001}}}},
		{"tcp:127.0.0.1:4001:priority=2.5", RelayHint{TCP: []DirectHint{{Hostname: "127.0.0.1", Port: 4001, Priority: 2.5}}}},
		{"tcp:[::1]:4001", RelayHint{TCP: []DirectHint{{Hostname: "::1", Port: 4001}}}},
		{"ws://127.0.0.1:4002/transit", RelayHint{WebSocket: []WebSocketHint{{URL: "ws://127.0.0.1:4002/transit"}}}},
		{"tcp:r.example:4001, wss://r.example/transit", RelayHint{
			TCP:       []DirectHint{{Hostname: "r.example", Port: 4001}},
			WebSocket: []WebSocketHint{{URL: "wss://r.example/transit"}},
		}},
	}
	for _, tt := range tests {
		got, err := ParseRelay(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRelay(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "transit.example:4001", "tcp:host", "tcp::4001", "tcp:h:0", "tcp:h:65536", "tcp:h:x",
		"tcp:h:1:prio=2", "tcp:h:1:priority=x", "tcp:h:1:priority=NaN", "tcp:[::1", "tcp:[::1]4001", "http://h/", "wss://", "tcp:h:1,"} {
		if r, err := ParseRelay(bad); !errors.Is(err, ErrBadRelay) {
			t.Errorf("ParseRelay(%q) = %+v, %v; want ErrBadRelay", bad, r, err)
		}
	}
}

// The messages read as they did when fmt built them.
func TestParseRelayErrorText(t *testing.T) {
	for in, want := range map[string]string{
		"tcp:h:x":            `transit: bad relay address "tcp:h:x": bad port "x"`,
		"tcp:h:1:prio=2":     `transit: bad relay address "tcp:h:1:prio=2": unknown option "prio=2"`,
		"tcp:h:1:priority=x": `transit: bad relay address "tcp:h:1:priority=x": bad priority "x"`,
		"tcp:[::1":           `transit: bad relay address "tcp:[::1": missing ]`,
		"wss://":             `transit: bad relay address "wss://": not a ws:// or wss:// URL with a host`,
		"h\x00":              `transit: bad relay address "h\x00": want tcp:HOST:PORT, ws://URL or wss://URL`,
	} {
		if _, err := ParseRelay(in); err == nil || err.Error() != want {
			t.Errorf("ParseRelay(%q): %v, want %s", in, err, want)
		}
	}
}

// FuzzParseRelays: relay addresses come from the command line and from the
// page's settings; whatever is accepted can be dialled.
func FuzzParseRelays(f *testing.F) {
	for _, s := range []string{"tcp:a:1,ws://a/ ; tcp:b:2\ttcp:c:3", "tcp:[::1]:4001:priority=2.5", "wss://r.example/transit", "tcp:h:1:priority=1e400", "tcp:[a]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		relays, err := ParseRelays(s)
		if err != nil {
			if !errors.Is(err, ErrBadRelay) || relays != nil {
				t.Fatalf("ParseRelays(%q) = %+v, %v", s, relays, err)
			}
			return
		}
		for _, r := range relays {
			if len(r.TCP)+len(r.WebSocket) == 0 {
				t.Fatalf("relay without endpoints from %q", s)
			}
			for _, d := range r.TCP {
				if d.Hostname == "" || d.Port < 1 || d.Port > 65535 || math.IsNaN(d.Priority) || math.IsInf(d.Priority, 0) {
					t.Fatalf("unusable endpoint %+v from %q", d, s)
				}
			}
			for _, w := range r.WebSocket {
				if u, ok := wsURL(w.URL); !ok || u != w.URL {
					t.Fatalf("unusable URL %q from %q", w.URL, s)
				}
			}
		}
	})
}

func TestParseRelays(t *testing.T) {
	got, err := ParseRelays(" tcp:a:1,ws://a/ ; tcp:b:2\ttcp:c:3 ")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0].TCP) != 1 || len(got[0].WebSocket) != 1 || got[2].TCP[0].Hostname != "c" {
		t.Errorf("ParseRelays = %+v", got)
	}
	if got, err := ParseRelays(""); got != nil || err != nil {
		t.Errorf("ParseRelays(\"\") = %v, %v", got, err)
	}
	if _, err := ParseRelays("tcp:a:1;bogus"); !errors.Is(err, ErrBadRelay) {
		t.Errorf("ParseRelays with a bad relay: %v", err)
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{
		`{"abilities-v1": [{"type": "direct-tcp-v1"}, {"type": "relay-v1"}], "hints-v1": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "192.168.1.5", "port": 40123}, {"type": "relay-v1", "hints": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "transit.magic-wormhole.io", "port": 4001}]}]}`,
		`{"hints-v1":[{"type":"relay-v1","name":null,"hints":[{"type":"websocket","url":"wss://a/"},{"type":"websocket-v1","url":"ws://b:1","priority":1},{"type":"direct-wss-v1","hostname":"c","port":2}]}]}`,
		`{"hints-v1":null}`, `[]`, `{"hints-v1":[{"type":"direct-tcp-v1","hostname":"[::1]","port":1e3}]}`,
	} {
		f.Add([]byte(seed))
	}
	for _, s := range trickyTransit {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !jsonxtest.TooDeep(raw) {
			compareParse(t, raw) // the encoding/json decoder it replaced
		}
		m, err := ParseMessage(raw)
		if err != nil {
			return
		}
		check := func(d DirectHint) {
			if d.Hostname == "" || d.Port < 1 || d.Port > 65535 {
				t.Fatalf("unusable hint kept: %+v", d)
			}
		}
		if len(m.Hints.Direct) > MaxDirectHints || len(m.Hints.Relays) > MaxRelays {
			t.Fatalf("limits exceeded: %d, %d", len(m.Hints.Direct), len(m.Hints.Relays))
		}
		for _, d := range m.Hints.Direct {
			check(d)
		}
		for _, r := range m.Hints.Relays {
			if n := len(r.TCP) + len(r.WebSocket); n == 0 || n > MaxRelayEndpoint {
				t.Fatalf("relay with %d endpoints", n)
			}
			for _, d := range r.TCP {
				check(d)
			}
		}
		// What we parsed, we can write, and it reads back the same.
		out, err := m.MarshalJSON()
		if err != nil || !json.Valid(out) {
			t.Fatalf("MarshalJSON = %s, %v", out, err)
		}
		if want, _ := refMarshal(*m); !bytes.Equal(out, want) {
			t.Fatalf("MarshalJSON = %s, with encoding/json %s", out, want)
		}
		back, err := ParseMessage(out)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Hints, m.Hints) {
			t.Fatalf("round trip changed hints:\n%+v\n%+v", m.Hints, back.Hints)
		}
	})
}
