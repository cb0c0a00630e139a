//go:build !js

package transit

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// pyHints runs the Python CLI's own transit code (magic-wormhole 0.12) on
// our hints and returns what it made of them, and the hints it generates.
const pyHints = `
import json, sys
from wormhole.transit import TransitSender
from twisted.internet import defer
ts = TransitSender("tcp:relay.example:4001:priority=2.5")
ts.add_connection_hints(json.loads(sys.stdin.read())["hints-v1"])
out = {"direct": sorted([h.hostname, h.port, h.priority] for h in ts._their_direct_hints),
       "relays": sorted(sorted([h.hostname, h.port, h.priority] for h in r.hints) for r in ts._our_relay_hints)}
rhints = []
ts._my_direct_hints, ts._listener = [], None
ts._get_direct_hints = lambda: defer.succeed([])
ts.get_connection_hints().addCallback(rhints.append)
out["generated"] = {"abilities-v1": ts.get_connection_abilities(), "hints-v1": rhints[0]}
print(json.dumps(out))
`

// TestPythonHints checks both directions against the real Python code:
// Python accepts our hints (and ignores the WebSocket ones), and we read
// Python's.
func TestPythonHints(t *testing.T) {
	peers.NeedPython(t, "wormhole.transit")
	ours := Message{Hints: Hints{
		Direct: []DirectHint{{Hostname: "192.168.1.5", Port: 40123}, {Hostname: "10.1.1.1", Port: 5, Priority: 1.5}},
		Relays: []RelayHint{{Name: "mixed", TCP: []DirectHint{{Hostname: "t.example", Port: 4001, Priority: 2}}, WebSocket: []WebSocketHint{{URL: "wss://t.example/"}}}},
	}}
	in, _ := ours.MarshalJSON()
	cmd := exec.Command(peers.PythonPath, "-c", pyHints)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var res struct {
		Direct    [][]any
		Relays    [][][]any
		Generated json.RawMessage
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wantDirect := `[["10.1.1.1",5,1.5],["192.168.1.5",40123,0]]`
	wantRelays := `[[["relay.example",4001,2.5]],[["t.example",4001,2]]]`
	if d, _ := json.Marshal(res.Direct); string(d) != wantDirect {
		t.Errorf("python read our direct hints as %s, want %s", d, wantDirect)
	}
	if r, _ := json.Marshal(res.Relays); string(r) != wantRelays {
		t.Errorf("python read our relays as %s, want %s", r, wantRelays)
	}
	gen, err := ParseMessage(res.Generated)
	if err != nil {
		t.Fatal(err)
	}
	want := Message{Abilities: DefaultAbilities, Hints: Hints{Relays: []RelayHint{{TCP: []DirectHint{{Hostname: "relay.example", Port: 4001, Priority: 2.5}}}}}}
	if !reflect.DeepEqual(*gen, want) {
		t.Errorf("python's hints %s parsed as %+v", res.Generated, *gen)
	}
	// And we write Python's message back byte for byte, but for spacing.
	again, _ := gen.MarshalJSON()
	var a, b any
	json.Unmarshal(again, &a)
	json.Unmarshal(res.Generated, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("re-marshalled %s, python sent %s", again, res.Generated)
	}
}
