package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// decodePakeJSON is DecodePake as it was written with encoding/json: the
// reference the reflection-free decoder must agree with.
func decodePakeJSON(body []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrBadPake, err)
	}
	raw, ok := obj["pake_v1"]
	if !ok {
		return nil, fmt.Errorf("%w: no \"pake_v1\" key", ErrBadPake)
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return nil, fmt.Errorf("%w: \"pake_v1\" is not a string", ErrBadPake)
	}
	msg, err := hex.DecodeString(*s)
	if err != nil {
		return nil, fmt.Errorf("%w: \"pake_v1\" is not hex: %v", ErrBadPake, err)
	}
	return msg, nil
}

// reason is what an error says after the sentinel, up to any detail from
// the parser (whose wording differs between the two decoders).
func reason(err error) string {
	if err == nil {
		return ""
	}
	r := strings.TrimPrefix(err.Error(), ErrBadPake.Error()+": ")
	r, _, _ = strings.Cut(r, ": ")
	return r
}

// checkSameAsJSON fails unless DecodePake and the encoding/json version
// agree on body: the same bytes, or errors giving the same reason.
func checkSameAsJSON(t *testing.T, body []byte) {
	t.Helper()
	got, err := DecodePake(body)
	want, wantErr := decodePakeJSON(body)
	if !bytes.Equal(got, want) || (got == nil) != (want == nil) || reason(err) != reason(wantErr) {
		t.Errorf("DecodePake(%q) = %x, %v\nencoding/json gives %x, %v", body, got, err, want, wantErr)
	}
	if err != nil && !errors.Is(err, ErrBadPake) {
		t.Errorf("DecodePake(%q) error %v does not wrap ErrBadPake", body, err)
	}
}

func TestDecodePakeSameAsJSON(t *testing.T) {
	for _, body := range []string{
		`{"pake_v1": "00ff"}`,
		` {"pake_v1":"00ff"} ` + "\n",
		`{"pake_v1":"00","pake_v1":"ff"}`, // duplicates: the last wins
		`{"pake_v1":"00","pake_v1":1}`,
		`{"pake_v1":1,"pake_v1":"ab"}`,
		`{"pake_v1":null,"pake_v1":"ab"}`,
		`{"pake_v1":"ab","pake_v1":null}`,
		`{"pake\u005fv1":"ab"}`, // escaped key
		`{"pake_v1":"\u0061\u0042"}`,
		`{"pake_v1":"\ud800"}`, // lone surrogate: U+FFFD, not hex
		`{"pake_v1":"ab\u0000"}`,
		"{\"pake_v1\":\"ab\",\"\xff\":1}", // invalid UTF-8 elsewhere
		"{\"pake_v1\":\"a\xffb\"}",
		`{"Pake_V1":"ab"}`,
		`{"pake_v1":["ab"]}`,
		`{"pake_v1":{"x":"ab"}}`,
		`{"pake_v1":true}`,
		`{"pake_v1":"ab"}x`,
		`{"pake_v1":"ab",}`,
		`{"pake_v1":'ab'}`,
		`{"pake_v1":"ab"` + "\x00}",
		"\ufeff{\"pake_v1\":\"ab\"}", // a BOM is not JSON
		`null`, ` null `, `[]`, `"pake_v1"`, `12`, `true`, `{}`, ``, ` `,
		`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"pake_v1":"01"}`,
		`{"pake_v1":"` + strings.Repeat("ab", 33) + `"}`,
	} {
		checkSameAsJSON(t, []byte(body))
	}
}

// The errors are built without fmt (the browser build leaves it out); they
// must still read exactly as the fmt.Errorf forms they replaced.
func TestErrorMessages(t *testing.T) {
	key := make([]byte, KeySize)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"seal short key", second(Seal(key[:3], nil, bytes.NewReader(nil))),
			fmt.Errorf("keys: seal: %w", fmt.Errorf("key is %d bytes, want %d", 3, KeySize))},
		{"seal no nonce", second(Seal(key, nil, bytes.NewReader(nil))),
			fmt.Errorf("keys: seal: reading nonce: %w", io.EOF)},
		{"open short key", second(Open(key[:1], nil)),
			fmt.Errorf("%w: %v", ErrDecrypt, fmt.Errorf("key is %d bytes, want %d", 1, KeySize))},
		{"open short box", second(Open(key, make([]byte, 7))),
			fmt.Errorf("%w: box is %d bytes, need at least %d", ErrDecrypt, 7, Overhead)},
		{"open forged box", second(Open(key, make([]byte, Overhead))),
			fmt.Errorf("%w: authentication failed", ErrDecrypt)},
	} {
		if tc.err == nil || tc.err.Error() != tc.want.Error() {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	defer func() {
		want := fmt.Sprintf("keys: DeriveKey(%q): negative length %d", "p\"", -1)
		if got := recover(); got != want {
			t.Errorf("panic %v, want %v", got, want)
		}
	}()
	DeriveKey(key, "p\"", -1)
}

func second(_ []byte, err error) error { return err }
