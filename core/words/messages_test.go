package words

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// The errors are built without fmt (the browser build leaves it out); they
// must still read exactly as the fmt.Errorf forms they replaced.
func TestErrorMessages(t *testing.T) {
	long := strings.Repeat("9", MaxNameplateLen+1)
	for _, tc := range []struct {
		code string
		want error
	}{
		{"7-a b", fmt.Errorf("%w (%q has one after %q)", ErrSpaceInCode, "7-a b", "7-a")},
		{"7-\u00e9\u3000x", fmt.Errorf("%w (%q has one after %q)", ErrSpaceInCode, "7-\u00e9\u3000x", "7-\u00e9")},
		{"7", fmt.Errorf("%w (got %q)", ErrNoWords, "7")},
		{"7-a--b", fmt.Errorf("%w; %q has an empty word (two '-' in a row or a '-' at the end)", ErrNoWords, "7-a--b")},
		{"-a", fmt.Errorf("%w (nothing before the first '-')", ErrBadNameplate)},
		{"7\x00\"-a", fmt.Errorf("%w (%q is not a number)", ErrBadNameplate, "7\x00\"")},
		{long + "-a", fmt.Errorf("%w (%d digits is too long, at most %d)", ErrBadNameplate, len(long), MaxNameplateLen)},
	} {
		if err := Validate(tc.code); err == nil || err.Error() != tc.want.Error() {
			t.Errorf("Validate(%q) = %v, want %v", tc.code, err, tc.want)
		}
	}
	_, err := Generate(bytes.NewReader(nil), "7", -2)
	if want := fmt.Errorf("%w (asked for %d words)", ErrNoWords, -2); err == nil || err.Error() != want.Error() {
		t.Errorf("Generate(-2 words) = %v, want %v", err, want)
	}
	_, err = Generate(bytes.NewReader(nil), "7", 2)
	if want := "reading random bytes for the code: EOF"; err == nil || err.Error() != want {
		t.Errorf("Generate with no randomness = %v, want %v", err, want)
	}
}
