package mailbox

// The package reads and writes its JSON without encoding/json (the browser
// build leaves it out). These tests hold it to what encoding/json did: the
// references below are the encoding/json code it replaced, kept verbatim.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// clientMsgJSON is clientMsg with the tags encoding/json marshalled it by.
type clientMsgJSON struct {
	Type          string   `json:"type"`
	ID            string   `json:"id"`
	AppID         string   `json:"appid,omitempty"`
	Side          string   `json:"side,omitempty"`
	ClientVersion []string `json:"client_version,omitempty"`
	Nameplate     string   `json:"nameplate,omitempty"`
	Mailbox       string   `json:"mailbox,omitempty"`
	Phase         *string  `json:"phase,omitempty"`
	Body          *string  `json:"body,omitempty"`
	Mood          string   `json:"mood,omitempty"`
}

func TestClientMsgSameAsJSON(t *testing.T) {
	ptr := func(s string) *string { return &s }
	for _, msg := range []clientMsg{
		{Type: "bind", ID: "1a2b", AppID: "lothar.com/wormhole/text-or-file-xfer", Side: "0123456789", ClientVersion: []string{"wasmhole", "dev"}},
		{Type: "bind", ID: "1a2b", AppID: "<a&b>\u2028\u2029", Side: "s", ClientVersion: []string{"", "\"\\\n\x00\x7f"}},
		{Type: "bind", ID: "ffff", ClientVersion: []string{}},
		{Type: "allocate", ID: "0000"},
		{Type: "claim", ID: "0001", Nameplate: "4"},
		{Type: "release", ID: "0002", Nameplate: "123"},
		{Type: "open", ID: "0003", Mailbox: "og5rg7k5evsva"},
		{Type: "add", ID: "0004", Phase: ptr("pake"), Body: ptr("7b2270616b655f7631223a20223533227d")},
		{Type: "add", ID: "0005", Phase: ptr(""), Body: ptr("")},
		{Type: "add", ID: "0006", Phase: ptr("ph\u00e4se \U0001F600 \xff"), Body: ptr("00")},
		{Type: "close", ID: "0007", Mailbox: "m", Mood: "happy"},
		{Type: "", ID: ""},
	} {
		want, err := json.Marshal(clientMsgJSON(msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := msg.marshal(); !bytes.Equal(got, want) {
			t.Errorf("marshal = %s\nencoding/json: %s", got, want)
		}
	}
}

// traceEntryJSON is TraceEntry.MarshalJSON as written with encoding/json.
func traceEntryJSON(e TraceEntry) ([]byte, error) {
	type wire struct {
		Dir      string   `json:"dir"`
		Type     string   `json:"type"`
		ID       string   `json:"id,omitempty"`
		Phase    *string  `json:"phase,omitempty"`
		Side     string   `json:"side,omitempty"`
		Conn     int      `json:"conn"`
		Size     int      `json:"size"`
		At       float64  `json:"at"`
		Acked    *float64 `json:"acked,omitempty"`
		ServerTx *float64 `json:"server_tx,omitempty"`
		ServerRx *float64 `json:"server_rx,omitempty"`
	}
	w := wire{Dir: e.Dir, Type: e.Type, ID: e.ID, Side: e.Side, Conn: e.Conn, Size: e.Size, At: epoch(e.At)}
	if e.Type == "add" || e.Type == "message" {
		w.Phase = &e.Phase
	}
	if !e.Acked.IsZero() {
		a := epoch(e.Acked)
		w.Acked = &a
	}
	if e.ServerTx != 0 {
		w.ServerTx = &e.ServerTx
	}
	if e.ServerRx != 0 {
		w.ServerRx = &e.ServerRx
	}
	return json.Marshal(w)
}

type traceEntryRef TraceEntry

func (e traceEntryRef) MarshalJSON() ([]byte, error) { return traceEntryJSON(TraceEntry(e)) }

func TestTraceSameAsJSON(t *testing.T) {
	at := time.Unix(1795322793, 839868000)
	entries := []TraceEntry{
		{Dir: "send", Type: "bind", ID: "1a2b", Conn: 1, Size: 120, At: at},
		{Dir: "send", Type: "add", ID: "1a2c", Phase: "", Conn: 1, Size: 80, At: at, Acked: at.Add(3 * time.Millisecond), ServerTx: 1795322793.842, ServerRx: 1795322793.8415},
		{Dir: "recv", Type: "message", ID: "1a2c", Phase: "pake", Side: "<side&>", Conn: 2, Size: 1 << 20, At: at, ServerTx: 1e21, ServerRx: 1e-7},
		{Dir: "recv", Type: "malformed", Conn: 3, Size: 5},
		{Dir: "recv", Type: "ack", ID: "\u2028", Conn: 1, ServerTx: -0.5, At: time.Unix(0, 1)},
		{Dir: "recv", Type: "welcome", ServerTx: 123456789012345678},
	}
	for _, e := range entries {
		want, err := traceEntryJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.MarshalJSON(); err != nil || !bytes.Equal(got, want) {
			t.Errorf("MarshalJSON = %s, %v\nencoding/json: %s", got, err, want)
		}
	}
	for _, n := range []int{0, 1, len(entries)} {
		m := &Machine{side: "<me>", tr: trace{entries: entries[:n:n], dropped: n * 7}}
		doc := struct {
			Side     string          `json:"side"`
			Dropped  int             `json:"dropped"`
			Messages []traceEntryRef `json:"messages"`
		}{m.side, m.tr.dropped, []traceEntryRef{}}
		for _, e := range m.tr.entries {
			doc.Messages = append(doc.Messages, traceEntryRef(e))
		}
		want, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.TraceJSON(); !bytes.Equal(got, want) {
			t.Errorf("TraceJSON = %s\nencoding/json: %s", got, want)
		}
	}
}

// parseServerMessageJSON is ParseServerMessage as written with
// encoding/json.
func parseServerMessageJSON(data []byte) (*ServerMessage, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrMalformed, len(data), MaxMessageSize)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	m := &ServerMessage{}
	var ok bool
	if m.Type, ok = strJSON(obj["type"]); !ok {
		return nil, fmt.Errorf("%w: no string \"type\"", ErrMalformed)
	}
	m.ID, _ = strJSON(obj["id"])
	m.ServerTx = numJSON(obj["server_tx"])
	switch m.Type {
	case "welcome":
		var w map[string]json.RawMessage
		if raw := obj["welcome"]; json.Unmarshal(raw, &w) == nil && w != nil {
			m.Welcome = bytes.Clone(raw)
			m.MOTD, _ = strJSON(w["motd"])
			if e, present := w["error"]; present {
				if m.Refusal, ok = strJSON(e); !ok || m.Refusal == "" {
					m.Refusal = string(e)
				}
			}
		}
	case "allocated":
		if m.Nameplate, ok = strJSON(obj["nameplate"]); !ok || m.Nameplate == "" {
			return nil, fmt.Errorf("%w: allocated without a nameplate", ErrMalformed)
		}
	case "claimed":
		if m.Mailbox, ok = strJSON(obj["mailbox"]); !ok || m.Mailbox == "" {
			return nil, fmt.Errorf("%w: claimed without a mailbox", ErrMalformed)
		}
	case "message":
		var side, phase, body bool
		m.Side, side = strJSON(obj["side"])
		m.Phase, phase = strJSON(obj["phase"])
		var hexBody string
		hexBody, body = strJSON(obj["body"])
		if !side || !phase || !body {
			return nil, fmt.Errorf("%w: message needs string side, phase and body", ErrMalformed)
		}
		b, err := hex.DecodeString(hexBody)
		if err != nil {
			return nil, fmt.Errorf("%w: message body is not hex", ErrMalformed)
		}
		m.Body = b
		m.ServerRx = numJSON(obj["server_rx"])
	case "error":
		if m.Error, ok = strJSON(obj["error"]); !ok {
			m.Error = string(obj["error"])
		}
		if o := obj["orig"]; len(o) > 0 {
			m.Orig = bytes.Clone(o)
		}
	}
	return m, nil
}

func strJSON(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func numJSON(raw json.RawMessage) float64 {
	var f float64
	if len(raw) == 0 || json.Unmarshal(raw, &f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	return f
}

// origTypeJSON is how the machine read an error's orig with encoding/json.
func origTypeJSON(orig []byte) string {
	var v struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(orig, &v) != nil {
		return ""
	}
	return v.Type
}

// checkParseSameAsJSON fails unless ParseServerMessage and the
// encoding/json version agree on data: both refuse it with the same
// message, or both return the same fields. It also holds origType to the
// struct decoding it replaced.
func checkParseSameAsJSON(t *testing.T, data []byte) {
	t.Helper()
	got, err := ParseServerMessage(data)
	want, wantErr := parseServerMessageJSON(data)
	if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("ParseServerMessage(%q) error %v, encoding/json's %v", data, err, wantErr)
	}
	if err != nil {
		return
	}
	if got.Type != want.Type || got.ID != want.ID || !sameFloat(got.ServerTx, want.ServerTx) || !sameFloat(got.ServerRx, want.ServerRx) ||
		got.MOTD != want.MOTD || got.Refusal != want.Refusal || got.Nameplate != want.Nameplate || got.Mailbox != want.Mailbox ||
		got.Side != want.Side || got.Phase != want.Phase || !bytes.Equal(got.Body, want.Body) || (got.Body == nil) != (want.Body == nil) ||
		got.Error != want.Error || !bytes.Equal(got.Welcome, want.Welcome) || !bytes.Equal(got.Orig, want.Orig) {
		t.Fatalf("ParseServerMessage(%q)\n got %+v\nwant %+v", data, *got, *want)
	}
	if g, w := origType(got.Orig), origTypeJSON(want.Orig); g != w {
		t.Fatalf("origType(%q) = %q, encoding/json reads %q", got.Orig, g, w)
	}
}

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

func TestParseServerMessageSameAsJSON(t *testing.T) {
	for _, s := range []string{
		// duplicates: the last wins, whatever its type
		`{"type":"ack","type":"message","side":"a","phase":"p","body":"00"}`,
		`{"type":"ack","id":"1","id":2}`,
		`{"type":"ack","id":null,"id":"x","server_tx":1,"server_tx":"2"}`,
		`{"type":"message","side":"a","phase":"p","body":"zz","body":"0A"}`,
		`{"type":"welcome","welcome":{"motd":"a"},"welcome":5}`,
		`{"type":"welcome","welcome":{"error":"no","error":""}}`,
		// wrong types and missing fields
		`{"type":"welcome","welcome":[]}`, `{"type":"welcome","welcome":null}`,
		`{"type":"welcome","welcome":{"motd":3,"error":null}}`,
		`{"type":"welcome","welcome":{"error":false}}`,
		`{"type":"welcome","welcome":{ "error" : [ 1 , 2 ] } }`,
		`{"type":"allocated","nameplate":""}`, `{"type":"allocated","nameplate":7}`,
		`{"type":"claimed"}`, `{"type":"message","side":"a","phase":null,"body":"00"}`,
		`{"type":"message","side":"a","phase":"p","body":"00","server_rx":"1"}`,
		`{"type":"error"}`, `{"type":"error","error":null,"orig":null}`,
		`{"type":"error","error":{"a": [1, 2]},"orig":[1]}`,
		`{"type":"ack","server_tx":1e400}`, `{"type":"ack","server_tx":-1e-400}`,
		`{"type":"ack","server_tx":-0}`, `{"type":"ack","server_tx":0.1e1}`,
		`{"type":"ack","server_tx":12345678901234567890123}`,
		// unicode escapes, invalid UTF-8, odd keys
		`{"t\u0079pe":"\u0061ck","id":"\ud83d\ude00"}`,
		`{"type":"ack","id":"\ud800x\udc00"}`,
		"{\"type\":\"ack\",\"id\":\"\xff\xfe\"}",
		`{"Type":"ack"}`, `{"TYPE":"ack","type":"x"}`,
		`{"type":"message","side":"\u0000","phase":"\/","body":"\u0030\u0030"}`,
		`{"type":"error","error":"x","orig":{"TYPE":"claim"}}`,
		`{"type":"error","error":"x","orig":{"type":"claim","Type":"open"}}`,
		`{"type":"error","error":"x","orig":{"type":"claim","type":null}}`,
		`{"type":"error","error":"x","orig":{"type":"claim","type":1}}`,
		`{"type":"error","error":"x","orig":{"type":1,"type":"claim"}}`,
		`{"type":"error","error":"x","orig":{"ty\u0070e":"claim","x":[{}]}}`,
		`{"type":"error","error":"x","orig":"claim"}`,
		// not objects, not JSON
		``, ` `, `null`, `[]`, `"type"`, `{"type":"ack"} x`, `{"type":"ack",}`, `{'type':'ack'}`,
		"\ufeff{\"type\":\"ack\"}", `{"type":"ack"}` + "\n\t ",
		`{"type":"ack","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	} {
		checkParseSameAsJSON(t, []byte(s))
	}
}

// The messages of the server's refusals and errors read as the fmt forms
// they replaced.
func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
		is   error
	}{
		{`{"type":"error","error":"no \"such\" nameplate\n"}`, fmt.Errorf("%w: %q", ErrServer, "no \"such\" nameplate\n"), ErrServer},
		{`{"type":"error","error":"bad","orig":{"type":"claim"}}`, fmt.Errorf("mailbox: %s: %w", "claim", fmt.Errorf("%w: %q", ErrServer, "bad")), ErrServer},
		{`{"type":"error","error":"crowded","orig":{"type":"open"}}`, fmt.Errorf("mailbox: %s: %w", "open", ErrCrowded), ErrCrowded},
		{`{"type":"welcome","welcome":{"error":"closed for repairs"}}`, fmt.Errorf("%w: %s", ErrUnwelcome, "closed for repairs"), ErrUnwelcome},
	} {
		m, err := New(Config{AppID: "x", Side: "aaaaaaaaaa", Rand: &prg{seed: "e"}})
		if err != nil {
			t.Fatal(err)
		}
		m.Handle(Connected{Now: t0})
		var got error
		for _, a := range m.Handle(Received{Now: t0, Data: []byte(tc.in)}) {
			if f, ok := a.(Failed); ok {
				got = f.Err
			}
		}
		if got == nil || got.Error() != tc.want.Error() || !errors.Is(got, tc.is) {
			t.Errorf("%s: Failed %v, want %v", tc.in, got, tc.want)
		}
	}
	big := make([]byte, MaxMessageSize+1)
	_, err := ParseServerMessage(big)
	if _, want := parseServerMessageJSON(big); err == nil || err.Error() != want.Error() {
		t.Errorf("oversized message: %v, want %v", err, want)
	}
	_, err = New(Config{Rand: strings.NewReader("")})
	if want := "mailbox: choosing a side: EOF"; err == nil || err.Error() != want {
		t.Errorf("New without randomness: %v, want %s", err, want)
	}
}

// BenchmarkParseServerMessage compares the decoder with the encoding/json
// one it replaced, on an ack and on a message carrying 1 MiB.
func BenchmarkParseServerMessage(b *testing.B) {
	big := `{"type":"message","side":"fb4955f747","phase":"0","body":"` + strings.Repeat("0a", 1<<20) +
		`","server_rx":1795322793.86,"id":"3f5f","server_tx":1795322793.87}`
	for _, in := range []struct{ name, data string }{
		{"ack", `{"type":"ack","id":"5e69","server_tx":1795322793.839868}`},
		{"1MiB", big},
	} {
		for _, dec := range []struct {
			name  string
			parse func([]byte) (*ServerMessage, error)
		}{{"jsonx", ParseServerMessage}, {"encoding-json", parseServerMessageJSON}} {
			b.Run(in.name+"/"+dec.name, func(b *testing.B) {
				data := []byte(in.data)
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := dec.parse(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
