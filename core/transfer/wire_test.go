package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Every message we send has the bytes encoding/json's Marshal gave the old
// structs (ref_test.go): peers compare nothing byte for byte, but the
// interop tests and captured transcripts do.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	tricky := "<b>&amp; \u2028\u2029 \x00\x1f\x7f \xff\xfe \"q\" \\ \t\n grüße 😀"
	transit := []byte(" {\"abilities-v1\" : [ {\"type\":\"direct-tcp-v1\"} ],\n\t\"hints-v1\": [],\"x\":\"a<b>&c \u2028 \\\" \\\\ \\u003c\"} ")
	for _, tc := range []struct {
		name string
		m    *Message
	}{
		{"text", TextOffer("hi there")},
		{"empty text", TextOffer("")},
		{"tricky text", TextOffer(tricky)},
		{"file", FileOfferMessage("f.bin", 100000)},
		{"file tricky name", FileOfferMessage(tricky, 0)},
		{"huge file", FileOfferMessage("big", 1<<63-1)},
		{"directory", &Message{Offer: &Offer{Directory: &DirOffer{Mode: ModeZip, Dirname: "d <&>", Zipsize: 1234, Numbytes: 1000, Numfiles: 3}}}},
		{"directory zero counts", &Message{Offer: &Offer{Directory: &DirOffer{Mode: "zipfile/stored", Dirname: "d", Zipsize: 22}}}},
		{"message ack", MessageAck()},
		{"file ack", FileAck()},
		{"both acks", &Message{Answer: &Answer{MessageAck: "ok", FileAck: "ok"}}},
		{"empty answer", &Message{Answer: &Answer{}}},
		{"transit compacted and escaped", &Message{Transit: transit}},
		{"transit compact", &Message{Transit: []byte(`{}`)}},
		{"error", ErrorMessage(TextRejected)},
		{"tricky error", ErrorMessage(tricky)},
		{"resume sender", ResumeMessage(&Resume{Attempt: 1, Transit: transit})},
		{"resume receiver", ResumeMessage(&Resume{Attempt: 7, Transit: []byte(`{}`), HasOffset: true, Offset: 0, SHA256: sum[:]})},
		{"resume receiver far", ResumeMessage(&Resume{Attempt: 1 << 20, Transit: []byte(`{"a":1}`), HasOffset: true, Offset: 1<<40 + 3, SHA256: sum[:]})},
		{"resume offset without hash", ResumeMessage(&Resume{Attempt: 2, Transit: []byte(`{}`), HasOffset: true, Offset: 5})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			want, err := refMarshal(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode:\n got %s\nwant %s", got, want)
			}
			// encoding/json still writes a Message the same way.
			if viaJSON, err := json.Marshal(tc.m); err != nil || !bytes.Equal(viaJSON, want) {
				t.Fatalf("json.Marshal(Message) = %s, %v", viaJSON, err)
			}
		})
	}
}

func TestEncodeInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Message
	}{
		{"nothing", &Message{}},
		{"two fields", &Message{Error: "x", Answer: &Answer{}}},
		{"offer of no kind", &Message{Offer: &Offer{}}},
		{"offer of two kinds", &Message{Offer: &Offer{Message: strp("a"), File: &FileOffer{}}}},
		{"transit not object", &Message{Transit: []byte(`[]`)}},
		{"transit invalid", &Message{Transit: []byte(`{"a":}`)}},
		{"transit with trailing data", &Message{Transit: []byte(`{} {}`)}},
		{"resume transit invalid", ResumeMessage(&Resume{Attempt: 1, Transit: []byte(`{`)})},
		{"resume transit missing", ResumeMessage(&Resume{Attempt: 1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.Encode()
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Encode = %s, %v; want ErrMalformed", got, err)
			}
		})
	}
}

func TestAckEncodeMatchesEncodingJSON(t *testing.T) {
	sum := sha256.Sum256(nil)
	for _, a := range []*Ack{NewAck(sum[:]), {Ack: "ok"}, {Ack: "<not ok> & \u2028"}, {}} {
		got, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(refAck(*a))
		if !bytes.Equal(got, want) {
			t.Errorf("Encode:\n got %s\nwant %s", got, want)
		}
	}
}

// Inputs on which decoding by hand could drift from encoding/json: wrong
// JSON types, missing and unknown fields, duplicate keys, escapes, and
// numbers an int64 field refuses.
var trickyMessages = []string{
	`{"offer":{"file":{"filename":"f","filesize":"12"}}}`,
	`{"offer":{"file":{"filename":"f","filesize":1e3}}}`,
	`{"offer":{"file":{"filename":"f","filesize":1E3}}}`,
	`{"offer":{"file":{"filename":"f","filesize":1.0}}}`,
	`{"offer":{"file":{"filename":"f","filesize":-0}}}`,
	`{"offer":{"file":{"filename":"f","filesize":0.0}}}`,
	`{"offer":{"file":{"filename":"f","filesize":null}}}`,
	`{"offer":{"file":{"filename":"f","filesize":true}}}`,
	`{"offer":{"file":{"filename":"f","filesize":[1]}}}`,
	`{"offer":{"file":{"filename":"f","filesize":99999999999999999999}}}`,
	`{"offer":{"file":{"filename":"f","filesize": 12 }}}`,
	`{"offer":{"file":{"filename":7,"filesize":1}}}`,
	`{"offer":{"file":{"filename":"f"}}}`,
	`{"offer":{"file":{"filesize":1}}}`,
	`{"offer":{"file":null}}`,
	`{"offer":{"file":[]}}`,
	`{"offer":{"file":{"filename":"f","filesize":1,"mtime":"x","filesize2":[]}},"extra":{"deep":[{}]}}`,
	`{"offer":{"file":{"filename":"a","filesize":1,"filename":"b","filesize":2}}}`,
	`{"offer":{"file":{"filename":"a","filesize":1,"filesize":"x"}}}`,
	`{"offer":{"file":{"filename":"a","filesize":"x","filesize":1}}}`,
	`{"offer":{"message":"a"},"offer":{"message":"b"}}`,
	`{"offer":{"message":"a"},"offer":null}`,
	`{"Offer":{"message":"case matters"}}`,
	`{"offer":{"Message":"case matters"}}`,
	`{"\u006fffer":{"m\u0065ssage":"escaped keys"}}`,
	`{"offer":{"message":"\u00e9\ud83d\ude00 \ud800 \udc00x \u0000 \/ \b\f\n\r\t"}}`,
	"{\"offer\":{\"message\":\"invalid \xff\xfe utf-8\"}}",
	"{\"offer\":{\"message\":\"raw \u2028 separator\"}}",
	`{"offer":{"message":"\ud83d"}}`,
	`{"offer":{"message":"\u12"}}`,
	`{"offer":{"message":"\x"}}`,
	"{\"offer\":{\"message\":\"control \x01\"}}",
	`{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":1,"numbytes":"2","numfiles":-1}}}`,
	`{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":1,"numbytes":1.5}}}`,
	`{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":1,"numfiles":1e2}}}`,
	`{"offer":{"directory":{"mode":"tar","dirname":"d","zipsize":"1"}}}`,
	`{"offer":{"directory":{"mode":"tar \"quoted\" \u00e9","dirname":"d","zipsize":1}}}`,
	`{"offer":{"directory":{"mode":null,"dirname":"d","zipsize":1}}}`,
	`{"offer":{"directory":{"dirname":"d","zipsize":1}}}`,
	`{"offer":{"directory":{"mode":"zipfile","dirname":"d","zipsize":1}}}`,
	`{"answer":{"file_ack":"ok","message_ack":null}}`,
	`{"answer":{"file_ack":""}}`,
	`{"answer":{"file_ack":"","message_ack":"ok"}}`,
	`{"answer":null}`,
	`{"answer":[]}`,
	`{"transit":{"hints-v1":[{"type":"direct-tcp-v1","hostname":"h","port":1}]} }`,
	`{"transit":{ "a" : 1 , "b":[ ] }}`,
	`{"transit":"{}"}`,
	`{"error":null}`,
	`{"error":"x","unknown":1}`,
	`{"error":"\u0000"}`,
	`{"wasmhole-resume":{"attempt":"1","transit":{}}}`,
	`{"wasmhole-resume":{"attempt":1.0,"transit":{}}}`,
	`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":null,"sha256":null}}`,
	`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":1,"sha256":"00"}}`,
	`{"wasmhole-resume":{"attempt":1,"transit":{},"offset":1,"sha256":"zz` + strings.Repeat("0", 62) + `"}}`,
	`{"wasmhole-resume":{"attempt":99999999999,"transit":{}}}`,
	`{"wasmhole-resume":[]}`,
	`{"a":1,}`,
	`{"a" 1}`,
	`{"a":1}x`,
	`{"a":01}`,
	`{"a":-}`,
	`{"a":.5}`,
	`{"a":1.}`,
	`{"a":1e}`,
	`{"a":tru}`,
	`{"a":nul}`,
	` {"error":"x"} `,
	"\t{\"error\":\"x\"}\r\n",
	`null`,
	`{}`,
	``,
	`"str"`,
	`{"offer":{"message":"` + strings.Repeat(`\u00e9`, 100) + `"}}`,
	`{"offer":{"file":{"filename":"f","filesize":"` + strings.Repeat("9", 100) + `"}}}`,
}

// TestDecodeMatchesEncodingJSON holds ParseMessage and ParseAck to the
// encoding/json decoders they replaced: the same message, or an error
// with the same text and sentinel.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, in := range trickyMessages {
		compareParse(t, []byte(in))
		// The same inputs as acks, where they are objects at all.
		compareAck(t, []byte(strings.Replace(in, `"offer"`, `"ack"`, 1)))
	}
	for _, in := range []string{
		`{"ack":"ok","sha256":"2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"}`,
		`{"ack":"ok","sha256":""}`, `{"ack":"ok","sha256":null}`, `{"ack":null}`, `{"ack":1}`, `{"sha256":"00"}`,
		`{"ack":"ok","ack":"no"}`, `{"ack":"\u006fk"}`, `{"ack":"ok","sha256":"` + strings.Repeat("g", 64) + `"}`,
		`{"ack":"ok","sha256":"` + strings.Repeat("é", 100) + `"}`,
	} {
		compareAck(t, []byte(in))
	}
}

func compareParse(t *testing.T, in []byte) {
	t.Helper()
	got, err := ParseMessage(in)
	want, wantErr := refParseMessage(in)
	if !sameErr(err, wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseMessage(%q)\n got %+v, %v\nwant %+v, %v", in, got, err, want, wantErr)
	}
}

func compareAck(t *testing.T, in []byte) {
	t.Helper()
	got, err := ParseAck(in)
	want, wantErr := refParseAck(in)
	if !sameErr(err, wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseAck(%q)\n got %+v, %v\nwant %+v, %v", in, got, err, want, wantErr)
	}
}

// sameErr: both nil, or the same message and the same sentinels.
func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	for _, s := range []error{ErrMalformed, ErrUnknownMessage, ErrUnknownOffer, ErrUnknownMode} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return a.Error() == b.Error()
}
