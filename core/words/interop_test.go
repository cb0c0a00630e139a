package words

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pyDump prints the reference word list and the reference completions of
// every one-letter prefix at word positions 0 and 1, as JSON.
const pyDump = `
import json, string
from wormhole._wordlist import raw_words, PGPWordList
w = PGPWordList()
comps = {}
for head in ["", "guitarist-"]:
    for p in [""] + list(string.ascii_lowercase):
        # python appends '-' when more words are expected; Complete does not
        comps["7-" + head + p] = sorted("7-" + c.rstrip("-") for c in w.get_completions(head + p, num_words=9))
print(json.dumps({"raw": raw_words, "completions": comps}))
`

// TestInteropPythonWordlist compares the word table and Complete with the
// installed magic-wormhole Python package (Debian python3-magic-wormhole).
func TestInteropPythonWordlist(t *testing.T) {
	out, err := exec.Command("/usr/bin/python3", "-c", pyDump).Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("magic-wormhole python package is required under CI: %v", err)
		}
		t.Skipf("magic-wormhole python package not available: %v", err)
	}
	var ref struct {
		Raw         map[string][2]string
		Completions map[string][]string
	}
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Raw) != 256 {
		t.Fatalf("python word list has %d entries", len(ref.Raw))
	}
	for b := range 256 {
		key := fmt.Sprintf("%02X", b)
		pair := ref.Raw[key]
		want := [2]string{strings.ToLower(pair[0]), strings.ToLower(pair[1])}
		if pgpWords[b] != want {
			t.Errorf("byte %s: ours %v, python %v", key, pgpWords[b], want)
		}
	}
	if len(ref.Completions) != 54 {
		t.Fatalf("python gave %d completion sets", len(ref.Completions))
	}
	for prefix, want := range ref.Completions {
		if len(want) == 0 {
			want = nil
		}
		if got := Complete(prefix); !slices.Equal(got, want) {
			t.Errorf("Complete(%q) = %q, python %q", prefix, got, want)
		}
	}
}
