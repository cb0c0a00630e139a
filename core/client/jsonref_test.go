package client

// The package reads its JSON and builds its errors without encoding/json
// and fmt (the browser build leaves both out). These tests hold it to the
// code it replaced, kept here verbatim as the reference.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/wasmhole/wasmhole/core/keys"
	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/core/spake2"
	"github.com/wasmhole/wasmhole/core/words"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// appVersionsJSON is appVersions as written with encoding/json.
func appVersionsJSON(plain []byte) json.RawMessage {
	var v struct {
		AppVersions json.RawMessage `json:"app_versions"`
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(plain, &v) != nil || json.Unmarshal(v.AppVersions, &obj) != nil || obj == nil {
		return json.RawMessage(`{}`)
	}
	return v.AppVersions
}

func checkAppVersionsSameAsJSON(t *testing.T, plain []byte) {
	t.Helper()
	if got, want := appVersions(plain), appVersionsJSON(plain); !bytes.Equal(got, want) {
		t.Fatalf("appVersions(%q) = %s, encoding/json gives %s", plain, got, want)
	}
}

func TestAppVersionsSameAsJSON(t *testing.T) {
	for _, s := range []string{
		`{"app_versions": {"x": 1}}`,
		`{"app_versions": {}}`,
		` { "app_versions" : { "a" : [ 1 , {"b": null} ] } } `,
		`{"app_versions": {"a": 1}, "app_versions": {"b": 2}}`, // the last wins
		`{"app_versions": {"a": 1}, "app_versions": "x"}`,
		`{"app_versions": {"a": 1}, "App_Versions": {"b": 2}}`, // struct keys match in any case
		`{"APP_VERSIONS": {"a": 1}}`,
		"{\"app_ver\u017fions\": {\"long s\": 1}}", // U+017F folds to s
		"{\"app_ver\u212aions\": {}}",              // Kelvin sign: not a fold of s
		`{"app\u005fversions": {"k": "\u00e9\ud800"}}`,
		"{\"app_versions\": {\"\xff\": \"\xfe\"}}",
		`{"app_versions": null}`, `{"app_versions": []}`, `{"app_versions": "{}"}`,
		`{"app_versions": 1, "x": {"app_versions": {"nested": 1}}}`,
		`{}`, `null`, `[]`, `[{"app_versions": {}}]`, `"x"`, ``, `{`, `{"app_versions": {}} x`,
		`{"app_versions": {"a": 1},}`,
	} {
		checkAppVersionsSameAsJSON(t, []byte(s))
	}
}

// FuzzAppVersions: the peer's version message is read as encoding/json
// read it.
func FuzzAppVersions(f *testing.F) {
	f.Add([]byte(`{"app_versions": {"x": 1}}`))
	f.Add([]byte(`{"App_Versions": {}, "app_versions": []}`))
	f.Add([]byte(`{"app_versions": {"a": "\u00e9"}}`))
	f.Fuzz(func(t *testing.T, plain []byte) {
		if _, err := jsonx.Parse(plain); errors.Is(err, jsonx.ErrDepth) {
			return // deeper than any message; jsonx refuses it on purpose
		}
		checkAppVersionsSameAsJSON(t, plain)
	})
}

func TestNewAppVersionsSameAsJSON(t *testing.T) {
	for _, av := range []string{`{}`, ` {"a": [1]} `, `{"a":1,"a":2}`, `[]`, `null`, `"x"`, `1`, ``, `{`, `{} x`, "{\"\xff\":1}"} {
		var obj map[string]json.RawMessage
		var want error
		if err := json.Unmarshal([]byte(av), &obj); err != nil || obj == nil {
			want = fmt.Errorf("client: AppVersions must be a JSON object: %s", av)
		}
		_, err := New(Config{AppID: appID, AppVersions: []byte(av)})
		if (err == nil) != (want == nil) || err != nil && err.Error() != want.Error() {
			t.Errorf("New(AppVersions %q) = %v, want %v", av, err, want)
		}
	}
}

// The errors read as the fmt.Errorf forms they replaced.
func TestErrorMessages(t *testing.T) {
	setup := []Event{mailbox.Connected{Now: t0}, SetCode{Code: "5-a-b"},
		mailbox.Received{Now: t0, Data: []byte(`{"type":"claimed","mailbox":"mb"}`)}}
	failure := func(evs ...Event) error {
		t.Helper()
		m, err := New(Config{AppID: appID, Side: "aaaaaaaaaa", Rand: &prg{seed: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		var outs []Action
		for _, ev := range evs {
			outs = append(outs, m.Handle(ev)...)
		}
		f, ok := find[Failed](outs)
		if !ok {
			t.Fatalf("no Failed in %v", outs)
		}
		return f.Err
	}
	peer, err := spake2.NewSymmetric([]byte("5-c-d"), []byte(appID), &prg{seed: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	_, pakeErr := keys.DecodePake([]byte(`{"nope": 1}`))
	_, codeErr := words.Nameplate("x-y")
	for _, tc := range []struct {
		name string
		got  error
		want error
		is   []error
	}{
		{"bad code", failure(SetCode{Code: "x-y"}),
			fmt.Errorf("%w %q: %w", ErrBadCode, "x-y", codeErr), []error{ErrBadCode, words.ErrBadNameplate}},
		{"bad pake", failure(append(setup, peerMsg("bbbbbbbbbb", "pake", []byte(`{"nope": 1}`)))...),
			fmt.Errorf("%w (%v)", ErrWrongCode, pakeErr), []error{ErrWrongCode}},
		{"wrong code", failure(append(setup, peerMsg("bbbbbbbbbb", "pake", keys.EncodePake(peer.Message())),
			peerMsg("bbbbbbbbbb", "version", make([]byte, 60)))...),
			fmt.Errorf("%w (phase %q)", ErrWrongCode, "version"), []error{ErrWrongCode}},
	} {
		if tc.got.Error() != tc.want.Error() {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
		for _, target := range tc.is {
			if !errors.Is(tc.got, target) {
				t.Errorf("%s: %v does not unwrap to %v", tc.name, tc.got, target)
			}
		}
	}

	m, _ := New(Config{AppID: appID})
	m.verified, m.key = true, make([]byte, 32)
	if _, err := m.DeriveKey("p\"", 0); err == nil || err.Error() != fmt.Sprintf("client: derive key %q: length %d out of range", "p\"", 0) {
		t.Errorf("DeriveKey(0): %v", err)
	}
	for _, ev := range []Event{struct{}{}, new(int), mailbox.Add{}, nil} {
		func() {
			defer func() {
				if got, want := recover(), "client: unknown event"; got != want {
					t.Errorf("Handle(%#v) panicked with %v, want %v", ev, got, want)
				}
			}()
			m.Handle(ev)
		}()
	}
}
