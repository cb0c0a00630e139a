package transit

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testSide = "0123456789abcdef"

var (
	sendHS    = SenderHandshake(e2eKey)
	recvHS    = ReceiverHandshake(e2eKey)
	relayLine = RelayLine(e2eKey, testSide)
)

func cfg(sender bool) RaceConfig {
	return RaceConfig{Sender: sender, TransitKey: e2eKey, Side: testSide, AllowTCP: true, AllowWebSocket: true}
}

func direct(addrs ...string) []DirectHint {
	var out []DirectHint
	for _, a := range addrs {
		host, port, _ := strings.Cut(a, ":")
		var p int
		fmt.Sscan(port, &p)
		out = append(out, DirectHint{Hostname: host, Port: p})
	}
	return out
}

func tcpRelay(addr string, prio float64) RelayHint {
	d := direct(addr)
	d[0].Priority = prio
	return RelayHint{TCP: d}
}

// step is one event and the actions it must produce. A Failed action
// matches by errors.Is and by the substring in failText.
type step struct {
	ev       Event
	want     []Action
	failText string
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func runSteps(t *testing.T, r *Race, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := r.Handle(s.ev)
		if len(got) != len(s.want) {
			t.Fatalf("step %d %#v:\n got  %s\n want %s", i, s.ev, show(got), show(s.want))
		}
		for j := range got {
			if wf, ok := s.want[j].(Failed); ok {
				gf, ok := got[j].(Failed)
				if !ok || !errors.Is(gf.Err, wf.Err) || !strings.Contains(gf.Err.Error(), s.failText) {
					t.Fatalf("step %d action %d: got %s, want Failed(%v) containing %q", i, j, show(got[j:j+1]), wf.Err, s.failText)
				}
				continue
			}
			if !reflect.DeepEqual(got[j], s.want[j]) {
				t.Fatalf("step %d %#v action %d:\n got  %s\n want %s", i, s.ev, j, show(got), show(s.want))
			}
		}
	}
}

func show(acts []Action) string {
	var parts []string
	for _, a := range acts {
		switch a := a.(type) {
		case Write:
			parts = append(parts, fmt.Sprintf("Write{%d %q}", a.ID, a.Bytes))
		case Won:
			parts = append(parts, fmt.Sprintf("Won{%d %q relay=%v %s}", a.ID, a.Leftover, a.Relay, a.Desc))
		default:
			parts = append(parts, fmt.Sprintf("%#v", a))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func dialTCP(id int, addr string, relay bool) []Action {
	return []Action{Dial{ID: id, Kind: KindTCP, Addr: addr, Relay: relay}, SetTimer{"conn/" + fmt.Sprint(id), DefaultConnTimeout}}
}

func acts(groups ...[]Action) []Action {
	var out []Action
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var timeoutTimer = []Action{SetTimer{TimerTimeout, DefaultTimeout}}

func TestRace(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func() RaceConfig
		steps []step
	}{
		{
			name: "sender direct: handshake, go",
			cfg:  func() RaceConfig { c := cfg(true); c.Peer.Direct = direct("10.0.0.1:1234"); return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1234", false))},
				{ev: Connected{1}, want: []Action{Write{1, sendHS}}},
				{ev: Data{1, recvHS[:10]}, want: nil},
				{ev: Data{1, recvHS[10:]}, want: []Action{Write{1, goLine}, Won{ID: 1, Leftover: []byte{}, Desc: "direct tcp:10.0.0.1:1234"}}},
				{ev: Data{1, []byte("late")}, want: nil},
			},
		},
		{
			name: "receiver direct: go, records already behind it",
			cfg:  func() RaceConfig { c := cfg(false); c.Peer.Direct = direct("10.0.0.1:1234"); return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1234", false))},
				{ev: Connected{1}, want: []Action{Write{1, recvHS}}},
				{ev: Data{1, cat(sendHS, []byte("go\n\x00\x00\x00\x2d"))}, want: []Action{Won{ID: 1, Leftover: []byte("\x00\x00\x00\x2d"), Desc: "direct tcp:10.0.0.1:1234"}}},
			},
		},
		{
			name: "relay: line, wait for ok, then handshake (one byte at a time)",
			cfg:  func() RaceConfig { c := cfg(true); c.OwnRelays = []RelayHint{tcpRelay("relay:4001", 0)}; return c },
			steps: func() []step {
				s := []step{
					{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "relay:4001", true))},
					{ev: Connected{1}, want: []Action{Write{1, relayLine}}},
					{ev: Data{1, []byte("o")}, want: nil},
					{ev: Data{1, []byte("k")}, want: nil},
					{ev: Data{1, []byte("\n")}, want: []Action{Write{1, sendHS}}},
				}
				for i := 0; i < len(recvHS)-1; i++ {
					s = append(s, step{ev: Data{1, recvHS[i : i+1]}})
				}
				return append(s, step{ev: Data{1, recvHS[len(recvHS)-1:]}, want: []Action{
					Write{1, goLine}, Won{ID: 1, Leftover: []byte{}, Relay: true, Desc: "relay tcp:relay:4001"}}})
			}(),
		},
		{
			name: "relay: ok and the peer's handshake in one read",
			cfg:  func() RaceConfig { c := cfg(false); c.Peer.Relays = []RelayHint{tcpRelay("relay:4001", 0)}; return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "relay:4001", true))},
				{ev: Connected{1}, want: []Action{Write{1, relayLine}}},
				{ev: Data{1, cat([]byte("ok\n"), sendHS, goLine)}, want: []Action{
					SetTimer{"hold/1", HoldDelay}, Write{1, recvHS}, Won{ID: 1, Leftover: []byte{}, Relay: true, Desc: "relay tcp:relay:4001"}}},
			},
		},
		{
			name: "relay receiver answers the sender's handshake instead of speaking first",
			cfg:  func() RaceConfig { c := cfg(false); c.Peer.Relays = []RelayHint{tcpRelay("relay:4001", 0)}; return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "relay:4001", true))},
				{ev: Connected{1}, want: []Action{Write{1, relayLine}}},
				{ev: Data{1, []byte("ok\n")}, want: []Action{SetTimer{"hold/1", HoldDelay}}},
				{ev: Data{1, sendHS[:9]}, want: nil},
				{ev: Data{1, sendHS[9:]}, want: []Action{Write{1, recvHS}}},
				{ev: TimerFired{"hold/1"}, want: nil},
				{ev: Data{1, goLine}, want: []Action{Won{ID: 1, Leftover: []byte{}, Relay: true, Desc: "relay tcp:relay:4001"}}},
			},
		},
		{
			name: "relay receiver speaks after the hold if the sender waits for it",
			cfg:  func() RaceConfig { c := cfg(false); c.Peer.Relays = []RelayHint{tcpRelay("relay:4001", 0)}; return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "relay:4001", true))},
				{ev: Connected{1}, want: []Action{Write{1, relayLine}}},
				{ev: TimerFired{"hold/1"}, want: nil},
				{ev: Data{1, []byte("ok\n")}, want: []Action{SetTimer{"hold/1", HoldDelay}}},
				{ev: TimerFired{"hold/1"}, want: []Action{Write{1, recvHS}}},
				{ev: TimerFired{"hold/1"}, want: nil},
				{ev: TimerFired{"hold/x"}, want: nil},
				{ev: Data{1, sendHS}, want: nil},
				{ev: Data{1, goLine}, want: []Action{Won{ID: 1, Leftover: []byte{}, Relay: true, Desc: "relay tcp:relay:4001"}}},
			},
		},
		{
			name: "relay says impatient: connection dropped, nothing left",
			cfg:  func() RaceConfig { c := cfg(true); c.OwnRelays = []RelayHint{tcpRelay("relay:4001", 0)}; return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "relay:4001", true))},
				{ev: Connected{1}, want: []Action{Write{1, relayLine}}},
				{ev: Data{1, []byte("impatient\n")}, want: []Action{CloseConn{1}, Failed{ErrNoConnection}}, failText: `relay said "impatient\n"`},
				{ev: Closed{1, nil}, want: nil},
				{ev: Connected{1}, want: []Action{CloseConn{1}}},
			},
		},
		{
			name: "bad handshake on one connection, the other wins",
			cfg:  func() RaceConfig { c := cfg(true); c.Peer.Direct = direct("10.0.0.1:1", "10.0.0.2:2"); return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false), dialTCP(2, "10.0.0.2:2", false))},
				{ev: Connected{1}, want: []Action{Write{1, sendHS}}},
				{ev: Connected{2}, want: []Action{Write{2, sendHS}}},
				{ev: Data{1, []byte("SSH-2.0-OpenSSH_9.2\r\n")}, want: []Action{CloseConn{1}}},
				{ev: Data{2, recvHS}, want: []Action{Write{2, goLine}, Won{ID: 2, Leftover: []byte{}, Desc: "direct tcp:10.0.0.2:2"}}},
			},
		},
		{
			name: "handshake for the wrong role (both sides senders) is a mismatch",
			cfg:  func() RaceConfig { c := cfg(true); c.Peer.Direct = direct("10.0.0.1:1"); return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false))},
				{ev: Connected{1}, want: []Action{Write{1, sendHS}}},
				{ev: Data{1, sendHS}, want: []Action{CloseConn{1}, Failed{ErrNoConnection}}, failText: "bad handshake"},
			},
		},
		{
			name: "two connections complete: first gets go, second nevermind",
			cfg: func() RaceConfig {
				c := cfg(true)
				c.Peer.Direct = direct("10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:3")
				c.Listening = true
				return c
			},
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false), dialTCP(2, "10.0.0.2:2", false), dialTCP(3, "10.0.0.3:3", false))},
				{ev: Accepted{ID: -1, From: "10.0.0.9:5555"}, want: []Action{Write{-1, sendHS}, SetTimer{"conn/-1", DefaultConnTimeout}}},
				{ev: Connected{2}, want: []Action{Write{2, sendHS}}},
				{ev: Data{2, recvHS[:5]}, want: nil},
				{ev: Data{-1, recvHS}, want: []Action{
					Write{-1, goLine},
					CloseConn{1},
					Write{2, nevermind}, CloseConn{2},
					CloseConn{3},
					Won{ID: -1, Leftover: []byte{}, Desc: "inbound from 10.0.0.9:5555"}}},
				{ev: Data{2, recvHS[5:]}, want: nil},
				{ev: Connected{3}, want: []Action{CloseConn{3}}},
				{ev: Accepted{ID: -2}, want: []Action{CloseConn{-2}}},
				{ev: TimerFired{TimerTimeout}, want: nil},
			},
		},
		{
			name: "receiver: nevermind on one, go on the other",
			cfg:  func() RaceConfig { c := cfg(false); c.Peer.Direct = direct("10.0.0.1:1", "10.0.0.2:2"); return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false), dialTCP(2, "10.0.0.2:2", false))},
				{ev: Connected{1}, want: []Action{Write{1, recvHS}}},
				{ev: Connected{2}, want: []Action{Write{2, recvHS}}},
				{ev: Data{1, sendHS}, want: nil},
				{ev: Data{2, sendHS}, want: nil},
				{ev: Data{1, nevermind}, want: []Action{CloseConn{1}}},
				{ev: Data{2, []byte("go")}, want: nil},
				{ev: Data{2, []byte("\n")}, want: []Action{Won{ID: 2, Leftover: []byte{}, Desc: "direct tcp:10.0.0.2:2"}}},
			},
		},
		{
			name: "relays wait 2 s behind direct hints, then each lower priority tier 2 s more",
			cfg: func() RaceConfig {
				c := cfg(true)
				c.Peer.Direct = direct("10.0.0.1:1")
				c.Peer.Relays = []RelayHint{tcpRelay("low:1", 0), {WebSocket: []WebSocketHint{{URL: "wss://ws/", Priority: 2.5}}}}
				c.OwnRelays = []RelayHint{tcpRelay("high:1", 2.5), tcpRelay("low:1", 0)}
				return c
			},
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false),
					[]Action{SetTimer{"relay/0", 2 * time.Second}, SetTimer{"relay/1", 4 * time.Second}})},
				{ev: TimerFired{"relay/0"}, want: acts(dialTCP(2, "high:1", true),
					[]Action{Dial{ID: 3, Kind: KindWS, URL: "wss://ws/", Relay: true}, SetTimer{"conn/3", DefaultConnTimeout}})},
				{ev: TimerFired{"relay/0"}, want: nil},
				{ev: TimerFired{"relay/1"}, want: dialTCP(4, "low:1", true)},
				{ev: Connected{3}, want: []Action{Write{3, relayLine}}},
				{ev: Closed{1, errors.New("refused")}, want: nil},
				{ev: Closed{2, nil}, want: nil},
				{ev: Closed{4, nil}, want: nil},
				{ev: Closed{3, errors.New("reset")}, want: []Action{Failed{ErrNoConnection}}, failText: "direct tcp:10.0.0.1:1: refused; relay tcp:high:1: connection closed; relay tcp:low:1: connection closed; relay wss://ws/: reset"},
			},
		},
		{
			name: "fast failover: dead direct hint starts the relay at once",
			cfg: func() RaceConfig {
				c := cfg(false)
				c.Peer.Direct = direct("10.0.0.1:1")
				c.OwnRelays = []RelayHint{tcpRelay("relay:1", 0)}
				return c
			},
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false), []Action{SetTimer{"relay/0", 2 * time.Second}})},
				{ev: Closed{1, errors.New("connection refused")}, want: dialTCP(2, "relay:1", true)},
				{ev: TimerFired{"relay/0"}, want: nil},
				{ev: Connected{2}, want: []Action{Write{2, relayLine}}},
			},
		},
		{
			name: "per-connection timeout, then overall timeout",
			cfg: func() RaceConfig {
				c := cfg(true)
				c.Peer.Direct = direct("10.0.0.1:1", "10.0.0.2:2")
				c.ConnTimeout = 5 * time.Second
				c.Timeout = 9 * time.Second
				return c
			},
			steps: []step{
				{ev: Start{}, want: []Action{SetTimer{TimerTimeout, 9 * time.Second},
					Dial{ID: 1, Kind: KindTCP, Addr: "10.0.0.1:1"}, SetTimer{"conn/1", 5 * time.Second},
					Dial{ID: 2, Kind: KindTCP, Addr: "10.0.0.2:2"}, SetTimer{"conn/2", 5 * time.Second}}},
				{ev: Connected{2}, want: []Action{Write{2, sendHS}}},
				{ev: TimerFired{"conn/1"}, want: []Action{CloseConn{1}}},
				{ev: TimerFired{"conn/1"}, want: nil},
				{ev: Connected{1}, want: []Action{CloseConn{1}}},
				{ev: TimerFired{TimerTimeout}, want: []Action{CloseConn{2}, Failed{ErrTimeout}}, failText: "direct tcp:10.0.0.1:1: timed out"},
			},
		},
		{
			name: "listening with nothing to dial waits for an inbound connection",
			cfg:  func() RaceConfig { c := cfg(false); c.Listening = true; return c },
			steps: []step{
				{ev: Start{}, want: timeoutTimer},
				{ev: Accepted{ID: -2}, want: []Action{Write{-2, recvHS}, SetTimer{"conn/-2", DefaultConnTimeout}}},
				{ev: Closed{-2, nil}, want: nil},
				{ev: Accepted{ID: -2}, want: nil}, // IDs are never reused
				{ev: Accepted{ID: -3}, want: []Action{Write{-3, recvHS}, SetTimer{"conn/-3", DefaultConnTimeout}}},
				{ev: Data{-3, cat(sendHS, goLine, []byte("x"))}, want: []Action{Won{ID: -3, Leftover: []byte("x"), Desc: "inbound"}}},
			},
		},
		{
			name: "relay-only skips direct hints; the browser dials only WebSocket",
			cfg: func() RaceConfig {
				c := cfg(true)
				c.RelayOnly = true
				c.AllowTCP = false
				c.Peer.Direct = direct("10.0.0.1:1")
				c.Peer.Relays = []RelayHint{{TCP: direct("r:4001"), WebSocket: []WebSocketHint{{URL: "ws://r:4002/"}}}}
				return c
			},
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, []Action{Dial{ID: 1, Kind: KindWS, URL: "ws://r:4002/", Relay: true}, SetTimer{"conn/1", DefaultConnTimeout}})},
			},
		},
		{
			name: "relay delay below zero dials everything at once",
			cfg: func() RaceConfig {
				c := cfg(true)
				c.RelayDelay = -1
				c.AllowWebSocket = false
				c.Peer.Direct = direct("10.0.0.1:1")
				c.Peer.Relays = []RelayHint{{TCP: direct("r:4001"), WebSocket: []WebSocketHint{{URL: "ws://r:4002/"}}}, tcpRelay("s:1", -1)}
				return c
			},
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false), dialTCP(2, "r:4001", true), dialTCP(3, "s:1", true))},
				{ev: Start{}, want: nil},
			},
		},
		{
			name:  "no hints and not listening",
			cfg:   func() RaceConfig { c := cfg(true); c.RelayOnly = true; c.Peer.Direct = direct("10.0.0.1:1"); return c },
			steps: []step{{ev: Start{}, want: []Action{Failed{ErrNoConnection}}, failText: "no usable hints"}},
		},
		{
			name:  "no transit key",
			cfg:   func() RaceConfig { c := cfg(true); c.TransitKey = nil; return c },
			steps: []step{{ev: Start{}, want: []Action{Failed{ErrConfig}}}},
		},
		{
			name: "bad side with relays",
			cfg: func() RaceConfig {
				c := cfg(true)
				c.Side = "short"
				c.OwnRelays = []RelayHint{tcpRelay("r:1", 0)}
				return c
			},
			steps: []step{{ev: Start{}, want: []Action{Failed{ErrConfig}}, failText: "side"}},
		},
		{
			name: "events for unknown connections are ignored",
			cfg:  func() RaceConfig { c := cfg(true); c.Peer.Direct = direct("10.0.0.1:1"); return c },
			steps: []step{
				{ev: Start{}, want: acts(timeoutTimer, dialTCP(1, "10.0.0.1:1", false))},
				{ev: Data{1, recvHS}, want: nil}, // still dialling: no data yet
				{ev: Data{7, recvHS}, want: nil},
				{ev: Connected{7}, want: nil},
				{ev: Closed{7, nil}, want: nil},
				{ev: TimerFired{"conn/x"}, want: nil},
				{ev: TimerFired{"relay/x"}, want: nil},
				{ev: TimerFired{"relay/9"}, want: nil},
				{ev: TimerFired{"bogus"}, want: nil},
				{ev: Connected{1}, want: []Action{Write{1, sendHS}}},
				{ev: Connected{1}, want: nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, NewRace(tt.cfg()), tt.steps)
		})
	}
}

// Before Start, an inbound connection cannot be handled yet: close it.
func TestRaceAcceptedBeforeStart(t *testing.T) {
	r := NewRace(cfg(true))
	if got := r.Handle(Accepted{ID: -1}); !reflect.DeepEqual(got, []Action{CloseConn{-1}}) {
		t.Errorf("got %s", show(got))
	}
}

// raceEvents decodes fuzz input into events that mostly make sense, so
// the machine gets deep: handshake fragments, relay answers, timers.
func raceEvents(data []byte) []Event {
	menu := [][]byte{relayOK, sendHS, recvHS, goLine, nevermind, []byte("impatient\n"), sendHS[:7], recvHS[20:], []byte("ok\n" + string(recvHS))}
	timers := []string{TimerTimeout, "relay/0", "relay/1", "conn/1", "conn/2", "conn/-1", "conn/x", "hold/1", "hold/2", "hold/x"}
	var evs []Event
	for len(data) >= 2 {
		op, arg := data[0], data[1]
		data = data[2:]
		id := int(arg%8) - 2
		switch op % 6 {
		case 0:
			evs = append(evs, Start{})
		case 1:
			evs = append(evs, Connected{id})
		case 2:
			evs = append(evs, Accepted{ID: id})
		case 3:
			b := menu[int(arg>>3)%len(menu)]
			if op&0x80 != 0 && len(data) > 0 { // raw bytes from the input
				n := min(int(data[0]), len(data)-1)
				b, data = data[1:1+n], data[1+n:]
			}
			evs = append(evs, Data{id, b})
		case 4:
			evs = append(evs, Closed{id, errors.New("gone")})
		case 5:
			evs = append(evs, TimerFired{timers[int(arg)%len(timers)]})
		}
	}
	return evs
}

func FuzzRace(f *testing.F) {
	f.Add(byte(0), []byte{0, 0, 1, 2, 3, 2, 3, 0x12, 3, 0x0a})
	f.Add(byte(3), []byte{0, 0, 2, 1, 3, 0x11, 3, 0x19, 5, 0, 4, 3})
	f.Add(byte(1), []byte{0, 0, 1, 3, 3, 3, 0x83, 3, 5, 'o', 'k', '\n', 'x', 'y'})
	f.Fuzz(func(t *testing.T, flags byte, data []byte) {
		c := cfg(flags&1 != 0)
		c.Listening = flags&2 != 0
		c.RelayOnly = flags&4 != 0
		c.AllowWebSocket = flags&8 != 0
		c.Peer.Direct = direct("10.0.0.1:1", "10.0.0.2:2")
		c.Peer.Relays = []RelayHint{tcpRelay("r:1", float64(flags>>4)), {WebSocket: []WebSocketHint{{URL: "ws://w/"}}}}
		c.OwnRelays = []RelayHint{tcpRelay("s:1", 1)}
		r := NewRace(c)
		relays := map[int]bool{}
		fed := map[int]bool{}            // a relay connection got data
		writes := map[int]int{}          // writes before that
		own, hs := recvHS, map[int]int{} // own handshakes written
		if c.Sender {
			own = sendHS
		}
		terminal := false
		for _, ev := range raceEvents(data) {
			if d, ok := ev.(Data); ok {
				fed[d.ID] = true
			}
			for _, a := range r.Handle(ev) {
				if terminal {
					if _, ok := a.(CloseConn); !ok {
						t.Fatalf("%s after the race ended", show([]Action{a}))
					}
					continue
				}
				switch a := a.(type) {
				case Dial:
					if a.ID <= 0 {
						t.Fatalf("dial ID %d", a.ID)
					}
					if a.Relay {
						relays[a.ID] = true
					}
				case Write:
					if bytes.Equal(a.Bytes, own) {
						if hs[a.ID]++; hs[a.ID] > 1 {
							t.Fatalf("handshake written twice on %d", a.ID)
						}
					}
					if relays[a.ID] && !fed[a.ID] {
						if writes[a.ID]++; writes[a.ID] > 1 || !bytes.Equal(a.Bytes, relayLine) {
							t.Fatalf("wrote %q to a relay before it answered", a.Bytes)
						}
					}
				case Won:
					d, ok := ev.(Data)
					if !ok || d.ID != a.ID {
						t.Fatalf("Won %d while handling %#v", a.ID, ev)
					}
					terminal = true
				case Failed:
					terminal = true
				}
			}
		}
	})
}
