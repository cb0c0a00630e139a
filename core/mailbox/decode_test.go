package mailbox

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wasmhole/wasmhole/internal/jsonx/jsonxtest"
)

func TestParseServerMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ServerMessage
		err  bool
	}{
		{name: "ack with id", in: `{"id":"5e69","type":"ack","server_tx":1795322793.839868}`,
			want: ServerMessage{Type: "ack", ID: "5e69", ServerTx: 1795322793.839868}},
		{name: "ack with null id", in: `{"id":null,"type":"ack","server_tx":12}`,
			want: ServerMessage{Type: "ack", ServerTx: 12}},
		{name: "ack without id or server_tx", in: `{"type":"ack"}`, want: ServerMessage{Type: "ack"}},
		{name: "numeric id ignored", in: `{"type":"ack","id":7}`, want: ServerMessage{Type: "ack"}},
		{name: "string server_tx ignored", in: `{"type":"ack","server_tx":"soon"}`, want: ServerMessage{Type: "ack"}},
		{name: "welcome motd", in: `{"type":"welcome","welcome":{"motd":"hi","current_cli_version":"0.12.0"},"server_tx":1.5}`,
			want: ServerMessage{Type: "welcome", MOTD: "hi", ServerTx: 1.5, Welcome: []byte(`{"motd":"hi","current_cli_version":"0.12.0"}`)}},
		{name: "welcome error", in: `{"type":"welcome","welcome":{"error":"go away"}}`,
			want: ServerMessage{Type: "welcome", Refusal: "go away", Welcome: []byte(`{"error":"go away"}`)}},
		{name: "welcome non-string error", in: `{"type":"welcome","welcome":{"error":{"code":1}}}`,
			want: ServerMessage{Type: "welcome", Refusal: `{"code":1}`, Welcome: []byte(`{"error":{"code":1}}`)}},
		{name: "welcome without object", in: `{"type":"welcome"}`, want: ServerMessage{Type: "welcome"}},
		{name: "allocated", in: `{"type":"allocated","nameplate":"7","server_tx":1}`,
			want: ServerMessage{Type: "allocated", Nameplate: "7", ServerTx: 1}},
		{name: "allocated without nameplate", in: `{"type":"allocated"}`, err: true},
		{name: "claimed", in: `{"type":"claimed","mailbox":"og5rg7k5evsva"}`,
			want: ServerMessage{Type: "claimed", Mailbox: "og5rg7k5evsva"}},
		{name: "claimed numeric mailbox", in: `{"type":"claimed","mailbox":5}`, err: true},
		{name: "message", in: `{"side":"fb4955f747","phase":"pake","body":"7b7d","server_rx":1795322793.86,"id":"3f5f","type":"message","server_tx":1795322793.87,"extra":[1,2]}`,
			want: ServerMessage{Type: "message", ID: "3f5f", Side: "fb4955f747", Phase: "pake", Body: []byte("{}"), ServerRx: 1795322793.86, ServerTx: 1795322793.87}},
		{name: "message empty body", in: `{"type":"message","side":"a","phase":"0","body":""}`,
			want: ServerMessage{Type: "message", Side: "a", Phase: "0", Body: []byte{}}},
		{name: "message bad hex", in: `{"type":"message","side":"a","phase":"0","body":"zz"}`, err: true},
		{name: "message missing side", in: `{"type":"message","phase":"0","body":"00"}`, err: true},
		{name: "error", in: `{"type":"error","error":"crowded","orig":{"type":"claim","nameplate":"4"}}`,
			want: ServerMessage{Type: "error", Error: "crowded", Orig: []byte(`{"type":"claim","nameplate":"4"}`)}},
		{name: "unknown type kept", in: `{"type":"gossip","x":1}`, want: ServerMessage{Type: "gossip"}},
		{name: "released", in: `{"type":"released","server_tx":3}`, want: ServerMessage{Type: "released", ServerTx: 3}},
		{name: "no type", in: `{"id":"1"}`, err: true},
		{name: "numeric type", in: `{"type":1}`, err: true},
		{name: "array", in: `[1]`, err: true},
		{name: "null", in: `null`, err: true},
		{name: "garbage", in: `{"type":`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServerMessage([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Type != w.Type || got.ID != w.ID || got.ServerTx != w.ServerTx || got.ServerRx != w.ServerRx ||
				got.MOTD != w.MOTD || got.Refusal != w.Refusal || got.Nameplate != w.Nameplate || got.Mailbox != w.Mailbox ||
				got.Side != w.Side || got.Phase != w.Phase || !bytes.Equal(got.Body, w.Body) || got.Error != w.Error ||
				!bytes.Equal(got.Welcome, w.Welcome) || !bytes.Equal(got.Orig, w.Orig) {
				t.Fatalf("got %+v\nwant %+v", *got, w)
			}
		})
	}
}

func TestParseServerMessageTooLarge(t *testing.T) {
	big := make([]byte, MaxMessageSize+1)
	if _, err := ParseServerMessage(big); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParseServerMessage: no input may panic, errors are always
// ErrMalformed, a parsed message always has its body, and the result is
// what the encoding/json decoder made of the same input.
func FuzzParseServerMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"welcome","welcome":{"motd":"x"}}`,
		`{"type":"message","side":"a","phase":"pake","body":"7b7d","server_rx":1.5,"id":null}`,
		`{"type":"ack","id":"abcd","server_tx":1e300}`,
		`{"type":"error","error":"crowded","orig":{}}`,
		`{"type":"allocated","nameplate":"12"}`,
		`{"type":"claimed","mailbox":"m"}`,
		`[]`, `"x"`, `{"type":"message","body":"0"}`,
		`{"type":"error","error":"x","orig":{"type":"claim","TYPE":null}}`,
		`{"type":"ack","type":"welcome","welcome":{"error":""}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !jsonxtest.TooDeep(data) {
			checkParseSameAsJSON(t, data)
		}
		m, err := ParseServerMessage(data)
		if err != nil {
			if m != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v with message %v", err, m)
			}
			return
		}
		if m.Type == "message" && m.Body == nil {
			t.Fatalf("message without body: %q", data)
		}
	})
}
