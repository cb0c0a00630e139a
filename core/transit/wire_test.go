package transit

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Transit messages on which decoding by hand could drift from
// encoding/json: wrong JSON types, null, missing and unknown fields,
// duplicate keys, escapes, odd numbers.
var trickyTransit = []string{
	`{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"direct-tcp-v1"},{"type":null},{"type":1},null,[],"relay-v1",{"type":"relay-v1","type":"tor-tcp-v1"}]}`,
	`{"abilities-v1":{"type":"relay-v1"},"hints-v1":{"type":"direct-tcp-v1","hostname":"h","port":1}}`,
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":"h","port":"1"},{"type":"direct-tcp-v1","hostname":"h","port":1.5},{"type":"direct-tcp-v1","hostname":"h","port":1e3}]}`,
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":"h","port":1.0,"priority":"2"},{"type":"direct-tcp-v1","hostname":"h2","port":2,"priority":1e400}]}`,
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":"h","port":1e400},{"type":"direct-tcp-v1","hostname":"h","port":-0},{"type":"direct-tcp-v1","hostname":"h","port":65536}]}`,
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":"\u0068","port":1,"hostname":"later","port":2}]}`,
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":null,"port":1},{"type":"direct-tcp-v1","port":1},{"type":"direct-tcp-v1","hostname":["h"],"port":1}]}`,
	`{"hints-v1":[{"Type":"direct-tcp-v1","hostname":"h","port":1},{"type":"DIRECT-TCP-V1","hostname":"h","port":1}]}`,
	`{"hints-v1":[{"type":"relay-v1","name":7,"hints":[{"type":"direct-tcp-v1","hostname":"r","port":4001}]}]}`,
	`{"hints-v1":[{"type":"relay-v1","name":"n","hints":{"type":"direct-tcp-v1","hostname":"r","port":4001}}]}`,
	`{"hints-v1":[{"type":"relay-v1","hints":[{"type":"websocket","url":"wss://r/t","priority":"1"},{"type":"websocket-v1","url":null},{"type":"websocket-v1","url":"ws://[::1]:1/","priority":2.5e-3}]}]}`,
	`{"hints-v1":[{"type":"relay-v1","hints":[{"type":"direct-ws-v1","hostname":"[::1]","port":4002},{"type":"direct-wss-v1","hostname":"r\u00e9","port":443}]}]}`,
	`{"hints-v1":null,"abilities-v1":null}`,
	`{"hints-v1":[],"hints-v1":[{"type":"direct-tcp-v1","hostname":"last","port":1}]}`,
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":"h","port":1}],"hints-v1":null}`,
	`{"unknown":{"deep":[[[{}]]]},"abilities-v1":[]}`,
	"{\"hints-v1\":[{\"type\":\"direct-tcp-v1\",\"hostname\":\"bad\xffutf8\",\"port\":1}]}",
	`{"hints-v1":[{"type":"direct-tcp-v1","hostname":"\ud800","port":1}]}`,
	`{}`, `null`, `[]`, `"x"`, `1`, `true`, ``, ` `, `{`, `{"a":1}x`, `{"a":01}`, `nul`,
}

// TestParseMatchesEncodingJSON holds ParseMessage to the encoding/json
// decoder it replaced: the same hints, or ErrBadMessage from both.
func TestParseMatchesEncodingJSON(t *testing.T) {
	for _, in := range trickyTransit {
		compareParse(t, []byte(in))
	}
}

func compareParse(t *testing.T, in []byte) {
	t.Helper()
	got, err := ParseMessage(in)
	want, wantErr := refParseMessage(in)
	if (err == nil) != (wantErr == nil) || err != nil && !errors.Is(err, ErrBadMessage) || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseMessage(%q)\n got %+v, %v\nwant %+v, %v", in, got, err, want, wantErr)
	}
}

// The message we send has the bytes it had with encoding/json writing
// its strings.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	tricky := "<b>&amp; \u2028\u2029 \x00\x1f\x7f \xff \"q\" \\ é"
	for _, m := range []Message{
		{},
		{Abilities: []string{tricky, "relay-v1"}},
		{Hints: Hints{
			Direct: []DirectHint{{Hostname: tricky, Port: 1, Priority: 0.5}, {Hostname: "::1", Port: 65535, Priority: -1}},
			Relays: []RelayHint{
				{Name: tricky, TCP: []DirectHint{{Hostname: "r", Port: 4001}}, WebSocket: []WebSocketHint{{URL: "wss://r/t?a=1&b=<2>", Priority: 1e21}}},
				{WebSocket: []WebSocketHint{{URL: "ws://[::1]:4002/", Priority: 1e-7}, {URL: tricky}}},
			},
		}},
	} {
		got, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := refMarshal(m)
		if !bytes.Equal(got, want) {
			t.Errorf("MarshalJSON:\n got %s\nwant %s", got, want)
		}
	}
}
