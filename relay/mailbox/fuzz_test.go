package mailbox

import (
	"encoding/json"
	mrand "math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeCommand feeds arbitrary frames to the decoder and, on a bound
// connection with an open mailbox, to the machine: nothing may panic, and
// every frame the server sends must be a valid UTF-8 JSON object.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"bind","appid":"a","side":"s","client_version":["python","0.12.0"],"id":"5e69"}`,
		`{"type":"claim","nameplate":"7","id":"18ba"}`,
		`{"type":"add","phase":"pake","body":"7b22","id":"3f5f"}`,
		`{"type":"close","mailbox":"og5rg7k5evsva","mood":"happy"}`,
		`{"type":"ping","ping":{"x":[1,2,"\u2028"]}}`,
		`{"type":"release","nameplate":7}`, `{"type":null}`, `[]`, `{`, "\xff", `{"type":"open","mailbox":"\ud800"}`,
		`{"type":"submit-permissions","method":"hashcash","stamp":"1:1:x:r::a:b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd := DecodeCommand(data)
		if !utf8.Valid(cmd.Raw) {
			t.Fatalf("Raw not UTF-8")
		}
		if !cmd.Invalid && !json.Valid(cmd.Raw) {
			t.Fatalf("valid command with invalid Raw %q", cmd.Raw)
		}
		m := New(Config{Rand: mrand.NewChaCha8([32]byte{})})
		now := time.Unix(1e9, 0)
		var acts []Action
		acts = append(acts, m.Handle(Connected{Conn: 1, Now: now})...)
		acts = append(acts, m.Handle(Received{Conn: 1, Now: now, Cmd: cmd})...)
		acts = append(acts, m.Handle(Received{Conn: 1, Now: now, Cmd: DecodeCommand([]byte(`{"type":"bind","appid":"a","side":"s"}`))})...)
		acts = append(acts, m.Handle(Received{Conn: 1, Now: now, Cmd: DecodeCommand([]byte(`{"type":"open","mailbox":"m"}`))})...)
		acts = append(acts, m.Handle(Received{Conn: 1, Now: now, Cmd: cmd})...)
		for _, a := range acts {
			if s, ok := a.(Send); ok {
				var v map[string]any
				if !utf8.Valid(s.Data) || json.Unmarshal(s.Data, &v) != nil {
					t.Fatalf("bad frame %q for input %q", s.Data, data)
				}
			}
		}
	})
}
