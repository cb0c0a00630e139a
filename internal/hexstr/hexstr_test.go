package hexstr

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "00ff", "ABcd", "0", "zz", "0g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Decode(s)
		want, stdErr := hex.DecodeString(s)
		if (err == nil) != (stdErr == nil) || (err == nil && !bytes.Equal(got, want)) {
			t.Fatalf("Decode(%q) = %x, %v; encoding/hex %x, %v", s, got, err, want, stdErr)
		}
	})
}
