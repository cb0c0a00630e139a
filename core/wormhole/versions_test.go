package wormhole

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// jsonResumeVersions is how resumeVersions was written with
// encoding/json, when AppVersions was a map: the oracle for the bytes we
// send.
func jsonResumeVersions(t *testing.T, appVersions []byte) []byte {
	av := map[string]any{}
	if appVersions != nil {
		if err := json.Unmarshal(appVersions, &av); err != nil {
			t.Fatal(err)
		}
	}
	av[resumeKey] = map[string]any{"resume": transfer.ResumeVersion}
	b, err := json.Marshal(av)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeVersions: our advertisement joins the caller's app_versions,
// written as encoding/json wrote the map they used to be: keys sorted,
// the caller's values as they were written (for compact JSON with sorted
// keys and no "<", ">" or "&", what encoding/json wrote too). What is not
// an object is left for client.New to refuse.
func TestResumeVersions(t *testing.T) {
	for _, av := range []string{
		"",
		`{}`,
		`{"tool":"x"}`,
		`{"z":1,"a":[1,2],"m":{"a":null,"b":true}}`,
		`{"wasmhole":{"resume":0,"other":"x"},"b":"y"}`,
		`{"a":1,"a":2}`,
	} {
		in := []byte(av)
		if av == "" {
			in = nil
		}
		c := &Client{AppVersions: in}
		got := c.resumeVersions(true)
		if want := jsonResumeVersions(t, in); !bytes.Equal(got, want) {
			t.Errorf("resumeVersions(%s) = %s, want %s", av, got, want)
		}
		if !advertisesResume(got) {
			t.Errorf("resumeVersions(%s) = %s does not advertise resume", av, got)
		}
		if got := c.resumeVersions(false); !bytes.Equal(got, in) {
			t.Errorf("resumeVersions(%s) disabled = %s", av, got)
		}
	}
	for _, bad := range []string{`[]`, `"x"`, `{`, `null`} {
		c := &Client{AppVersions: []byte(bad)}
		if got := c.resumeVersions(true); string(got) != bad {
			t.Errorf("resumeVersions(%s) = %s, want it unchanged", bad, got)
		}
	}
}

// jsonAdvertisesResume is advertisesResume as it was written with
// encoding/json: the oracle for what we accept from a peer.
func jsonAdvertisesResume(raw []byte) bool {
	var av struct {
		Wasmhole struct {
			Resume int `json:"resume"`
		} `json:"wasmhole"`
	}
	return json.Unmarshal(raw, &av) == nil && av.Wasmhole.Resume >= transfer.ResumeVersion
}

var advertiseCases = []struct {
	av   string
	want bool
}{
	{`{"wasmhole":{"resume":1}}`, true},
	{`{"wasmhole":{"resume":2},"tool":"x"}`, true},
	{` { "wasmhole" : { "resume" : 1 } } `, true},
	{`{"wasmhole":{"resume":0}}`, false},
	{`{"wasmhole":{"resume":-1}}`, false},
	{`{"wasmhole":{"resume":1.5}}`, false},
	{`{"wasmhole":{"resume":1e0}}`, false},
	{`{"wasmhole":{"resume":"1"}}`, false},
	{`{"wasmhole":{"resume":99999999999999999999}}`, false},
	{`{"wasmhole":{}}`, false},
	{`{"wasmhole":null}`, false},
	{`{"wasmhole":[1]}`, false},
	{`{"wasmhole":{"resume":1},"wasmhole":{"resume":0}}`, false},
	{`{"wasmhole":{"resume":0},"wasmhole":{"resume":1}}`, true},
	{`{"wasmhole":{"resume":1},"x":}`, false},
	{`{}`, false},
	{`[]`, false},
	{`null`, false},
	{``, false},
}

func TestAdvertisesResume(t *testing.T) {
	for _, tc := range advertiseCases {
		if got := advertisesResume([]byte(tc.av)); got != tc.want {
			t.Errorf("advertisesResume(%s) = %v, want %v", tc.av, got, tc.want)
		}
		if old := jsonAdvertisesResume([]byte(tc.av)); old != tc.want {
			t.Errorf("encoding/json said %v for %s", old, tc.av)
		}
	}
}

// FuzzAdvertisesResume: the peer's app_versions are untrusted. Whatever
// they hold, advertisesResume answers as encoding/json did, except where
// encoding/json matched keys case-insensitively ("Wasmhole", "ſ" for
// "s", "K" for "k") or nesting is deeper than jsonx allows.
func FuzzAdvertisesResume(f *testing.F) {
	for _, tc := range advertiseCases {
		f.Add([]byte(tc.av))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := advertisesResume(raw)
		s := string(raw)
		low := strings.ToLower(s)
		if strings.Count(low, "wasmhole") != strings.Count(s, "wasmhole") ||
			strings.Count(low, "resume") != strings.Count(s, "resume") ||
			strings.ContainsAny(s, "ſ\u212a\\") ||
			strings.Count(s, "[")+strings.Count(s, "{") > jsonx.MaxDepth {
			return
		}
		if want := jsonAdvertisesResume(raw); got != want {
			t.Fatalf("advertisesResume(%q) = %v, encoding/json says %v", raw, got, want)
		}
	})
}
