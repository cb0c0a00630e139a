package transfer

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/internal/peers"
)

func strp(s string) *string { return &s }

// Messages as the references put them on the wire: the file-transfer
// protocol's examples (docs/protocol.md §3), Python's json.dumps spacing, wormhole-william's field order.
var validMessages = []struct {
	name string
	in   string
	want *Message
}{
	{"text offer", `{"offer": {"message": "hi there"}}`, &Message{Offer: &Offer{Message: strp("hi there")}}},
	{"empty text", `{"offer":{"message":""}}`, &Message{Offer: &Offer{Message: strp("")}}},
	{"unicode text", `{"offer": {"message": "gr\u00fc\u00dfe \ud83d\ude00"}}`, &Message{Offer: &Offer{Message: strp("grüße 😀")}}},
	{"message ack", `{"answer": {"message_ack": "ok"}}`, &Message{Answer: &Answer{MessageAck: "ok"}}},
	{"file ack", `{"answer": {"file_ack": "ok"}}`, &Message{Answer: &Answer{FileAck: "ok"}}},
	{"odd ack kept for the sender to judge", `{"answer": {"file_ack": "nope"}}`, &Message{Answer: &Answer{FileAck: "nope"}}},
	{"file offer", `{"offer": {"file": {"filename": "f.bin", "filesize": 100000}}}`,
		&Message{Offer: &Offer{File: &FileOffer{Filename: "f.bin", Filesize: 100000}}}},
	{"file offer, zero bytes, unknown keys", `{"offer":{"file":{"filesize":0,"filename":"e","mtime":1}},"x":1}`,
		&Message{Offer: &Offer{File: &FileOffer{Filename: "e", Filesize: 0}}}},
	{"huge file", `{"offer":{"file":{"filename":"big","filesize":9223372036854775807}}}`,
		&Message{Offer: &Offer{File: &FileOffer{Filename: "big", Filesize: 1<<63 - 1}}}},
	{"directory offer", `{"offer": {"directory": {"mode": "zipfile/deflated", "dirname": "d", "zipsize": 1234, "numbytes": 1000, "numfiles": 3}}}`,
		&Message{Offer: &Offer{Directory: &DirOffer{Mode: "zipfile/deflated", Dirname: "d", Zipsize: 1234, Numbytes: 1000, Numfiles: 3}}}},
	{"directory offer without counts", `{"offer":{"directory":{"mode":"zipfile/stored","dirname":"d","zipsize":22}}}`,
		&Message{Offer: &Offer{Directory: &DirOffer{Mode: "zipfile/stored", Dirname: "d", Zipsize: 22}}}},
	{"transit", `{"transit": {"abilities-v1": [{"type": "direct-tcp-v1"}], "hints-v1": []}}`,
		&Message{Transit: json.RawMessage(`{"abilities-v1": [{"type": "direct-tcp-v1"}], "hints-v1": []}`)}},
	{"rejected", `{"error": "transfer rejected"}`, &Message{Error: "transfer rejected"}},
	{"whitespace", " \n{\"error\" : \"unknown offer type\"}\n", &Message{Error: "unknown offer type"}},
}

func TestParseMessageValid(t *testing.T) {
	for _, tc := range validMessages {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			// Round trip through our encoder.
			b, err := got.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			again, err := ParseMessage(b)
			if err != nil {
				t.Fatalf("round trip %s: %v", b, err)
			}
			b2, err := again.Encode()
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("round trip changed %s to %s (%v)", b, b2, err)
			}
		})
	}
}

func TestParseMessageInvalid(t *testing.T) {
	cases := []struct {
		name, in string
		want     error
	}{
		{"not json", `hello`, ErrMalformed},
		{"array", `[1]`, ErrMalformed},
		{"string", `"offer"`, ErrMalformed},
		{"trailing data", `{"error":"x"} {}`, ErrMalformed},
		{"empty", ``, ErrMalformed},
		{"no known key", `{"dilate":{}}`, ErrUnknownMessage},
		{"empty object", `{}`, ErrUnknownMessage},
		{"two keys", `{"offer":{"message":"a"},"error":"b"}`, ErrMalformed},
		{"unknown offer", `{"offer":{"symlink":{"target":"/"}}}`, ErrUnknownOffer},
		{"empty offer", `{"offer":{}}`, ErrUnknownOffer},
		{"offer not object", `{"offer":"file"}`, ErrMalformed},
		{"offer null", `{"offer":null}`, ErrMalformed},
		{"two offers", `{"offer":{"message":"a","file":{"filename":"f","filesize":1}}}`, ErrMalformed},
		{"message null", `{"offer":{"message":null}}`, ErrMalformed},
		{"message number", `{"offer":{"message":5}}`, ErrMalformed},
		{"file missing size", `{"offer":{"file":{"filename":"f"}}}`, ErrMalformed},
		{"file missing name", `{"offer":{"file":{"filesize":1}}}`, ErrMalformed},
		{"file negative", `{"offer":{"file":{"filename":"f","filesize":-1}}}`, ErrMalformed},
		{"file float", `{"offer":{"file":{"filename":"f","filesize":1.5}}}`, ErrMalformed},
		{"file exponent", `{"offer":{"file":{"filename":"f","filesize":1e3}}}`, ErrMalformed},
		{"file size string", `{"offer":{"file":{"filename":"f","filesize":"12"}}}`, ErrMalformed},
		{"file size overflow", `{"offer":{"file":{"filename":"f","filesize":9223372036854775808}}}`, ErrMalformed},
		{"file name null", `{"offer":{"file":{"filename":null,"filesize":1}}}`, ErrMalformed},
		{"dir unknown mode", `{"offer":{"directory":{"mode":"tarball","dirname":"d","zipsize":1}}}`, ErrUnknownMode},
		{"dir missing zipsize", `{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d"}}}`, ErrMalformed},
		{"dir bad numfiles", `{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":1,"numfiles":-2}}}`, ErrMalformed},
		{"answer empty", `{"answer":{}}`, ErrMalformed},
		{"answer not string", `{"answer":{"file_ack":true}}`, ErrMalformed},
		{"transit array", `{"transit":[]}`, ErrMalformed},
		{"transit null", `{"transit":null}`, ErrMalformed},
		{"error empty", `{"error":""}`, ErrMalformed},
		{"error object", `{"error":{"text":"x"}}`, ErrMalformed},
		{"too big", `{"offer":{"message":"` + strings.Repeat("a", MaxMessageSize) + `"}}`, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseMessage(%.60q) = %+v, %v; want %v", tc.in, m, err, tc.want)
			}
			if m != nil {
				t.Fatalf("message returned with error: %+v", m)
			}
		})
	}
}

// The exact bytes we send, and the reply texts, are the wire strings of
// docs/protocol.md §3.
func TestEncodeWire(t *testing.T) {
	plan, err := NewZipPlan([]Entry{memEntry("a.txt", []byte("hello"))})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		m    *Message
		want string
	}{
		{TextOffer("hi there"), `{"offer":{"message":"hi there"}}`},
		{MessageAck(), `{"answer":{"message_ack":"ok"}}`},
		{FileAck(), `{"answer":{"file_ack":"ok"}}`},
		{FileOfferMessage("f.bin", 100000), `{"offer":{"file":{"filename":"f.bin","filesize":100000}}}`},
		{DirOfferMessage("d", plan), `{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":` +
			itoa(plan.Size()) + `,"numbytes":5,"numfiles":1}}}`},
		{ErrorMessage(ReplyText(ErrRejected)), `{"error":"transfer rejected"}`},
		{ErrorMessage(ReplyText(ErrUnknownOffer)), `{"error":"unknown offer type"}`},
		{ErrorMessage(ReplyText(ErrUnknownMode)), `{"error":"unknown mode"}`},
		{&Message{Transit: json.RawMessage(`{"hints-v1":[]}`)}, `{"transit":{"hints-v1":[]}}`},
	}
	for _, tc := range cases {
		b, err := tc.m.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", tc.m, err)
		}
		if string(b) != tc.want {
			t.Errorf("Encode = %s\n        want %s", b, tc.want)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestEncodeRefusesBadMessages(t *testing.T) {
	for _, m := range []*Message{
		{},
		{Offer: &Offer{}},
		{Offer: &Offer{Message: strp("a"), File: &FileOffer{}}},
		{Answer: &Answer{}, Error: "x"},
		{Transit: json.RawMessage(`[1]`)},
	} {
		if b, err := m.Encode(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Encode(%+v) = %s, %v; want ErrMalformed", m, b, err)
		}
	}
}

func TestPeerError(t *testing.T) {
	m, err := ParseMessage([]byte(`{"error": "transfer rejected"}`))
	if err != nil {
		t.Fatal(err)
	}
	perr := m.Err()
	var pe *PeerError
	if !errors.As(perr, &pe) || pe.Text != "transfer rejected" {
		t.Fatalf("Err() = %v", perr)
	}
	if !errors.Is(perr, ErrRejected) {
		t.Fatal("peer's transfer rejected does not match ErrRejected")
	}
	other := (&Message{Error: TextVerificationRejected}).Err()
	if errors.Is(other, ErrRejected) || !strings.Contains(other.Error(), TextVerificationRejected) {
		t.Fatalf("other error: %v", other)
	}
	if (&Message{Answer: &Answer{FileAck: "ok"}}).Err() != nil {
		t.Fatal("Err() non-nil for an answer")
	}
	if ReplyText(errors.New("disk full")) != "disk full" {
		t.Fatal("ReplyText of a plain error")
	}
}

// Python 0.12 encodes app messages with json.dumps and decodes ours with
// json.loads (wormhole.util dict_to_bytes / bytes_to_dict): both directions
// must agree.
func TestMessagesWithPython(t *testing.T) {
	py := peers.Python(t)
	script := `
import sys, json
from wormhole.util import dict_to_bytes, bytes_to_dict
out = []
for line in sys.stdin.buffer.read().split(b"\n"):
    if line:
        out.append(bytes_to_dict(line))
# what cmd_send / cmd_receive 0.12 build
out.append({"offer": {"message": "gr\u00fc\u00dfe"}})
out.append({"offer": {"file": {"filename": "r\u00e9sum\u00e9.pdf", "filesize": 123}}})
out.append({"offer": {"directory": {"mode": "zipfile/deflated", "dirname": "d", "zipsize": 10, "numbytes": 5, "numfiles": 1}}})
out.append({"answer": {"file_ack": "ok"}})
out.append({"error": "transfer rejected"})
for d in out:
    sys.stdout.buffer.write(dict_to_bytes(d) + b"\n")
`
	ours := []*Message{TextOffer("grüße"), FileAck(), ErrorMessage(TextUnknownOffer),
		FileOfferMessage("résumé.pdf", 123)}
	var in bytes.Buffer
	for _, m := range ours {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = &in
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := append(ours, TextOffer("grüße"), FileOfferMessage("résumé.pdf", 123),
		&Message{Offer: &Offer{Directory: &DirOffer{Mode: ModeZip, Dirname: "d", Zipsize: 10, Numbytes: 5, Numfiles: 1}}},
		FileAck(), ErrorMessage(TextRejected))
	if len(lines) != len(want) {
		t.Fatalf("python returned %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		got, err := ParseMessage([]byte(line))
		if err != nil {
			t.Fatalf("line %d %s: %v", i, line, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d: %s parsed as %+v, want %+v", i, line, got, want[i])
		}
	}
}
