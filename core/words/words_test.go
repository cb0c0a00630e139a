package words

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestWordList(t *testing.T) {
	// Spot checks against magic-wormhole's _wordlist.py and docs/protocol.md §2.1.
	for _, tc := range []struct {
		b         byte
		even, odd string
	}{
		{0x00, "aardvark", "adroitness"},
		{0x09, "algol", "applicant"},
		{0x69, "gazelle", "guitarist"},
		{0xA9, "revenge", "passenger"},
		{0xFF, "zulu", "yucatan"},
	} {
		if got := pgpWords[tc.b]; got != [2]string{tc.even, tc.odd} {
			t.Errorf("byte 0x%02X = %v, want [%s %s]", tc.b, got, tc.even, tc.odd)
		}
	}
}

// TestEveryByteDistinctWord checks each column is a bijection from bytes
// to lowercase ASCII words, and that the columns do not share words (so a
// word's column, and a dropped word, are detectable).
func TestEveryByteDistinctWord(t *testing.T) {
	seen := map[string]string{}
	for col, name := range []string{"even", "odd"} {
		for b := range 256 {
			w := pgpWords[b][col]
			if w == "" || strings.ToLower(w) != w || strings.ContainsFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) {
				t.Errorf("%s word for 0x%02X is %q, want lowercase letters", name, b, w)
			}
			if prev, dup := seen[w]; dup {
				t.Errorf("%s word for 0x%02X (%q) already used as %s", name, b, w, prev)
			}
			seen[w] = name
			if !IsWord(w) {
				t.Errorf("IsWord(%q) = false", w)
			}
		}
	}
	if len(seen) != 512 {
		t.Errorf("%d distinct words, want 512", len(seen))
	}
}

func TestIsWord(t *testing.T) {
	for _, tc := range []struct {
		w    string
		want bool
	}{
		{"guitarist", true}, {"revenge", true}, {"zulu", true}, {"yucatan", true},
		{"Zulu", false}, {"guitaris", false}, {"", false}, {"guitarist ", false}, {"7", false},
	} {
		if got := IsWord(tc.w); got != tc.want {
			t.Errorf("IsWord(%q) = %v, want %v", tc.w, got, tc.want)
		}
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name      string
		random    []byte
		nameplate string
		numWords  int
		want      string
		wantErr   error
	}{
		{"protocol example", []byte{0x69, 0xA9}, "7", 2, "7-guitarist-revenge", nil},
		{"alternation", []byte{0x00, 0x00, 0x00, 0xFF}, "123", 4, "123-adroitness-aardvark-adroitness-zulu", nil},
		{"one word", []byte{0xFF}, "4", 1, "4-yucatan", nil},
		{"extra random unused", []byte{0x01, 0x01, 0x01}, "9", 2, "9-adviser-absurd", nil},
		{"zero words", []byte{1}, "7", 0, "", ErrNoWords},
		{"negative words", []byte{1}, "7", -1, "", ErrNoWords},
		{"empty nameplate", []byte{1, 2}, "", 2, "", ErrBadNameplate},
		{"letters nameplate", []byte{1, 2}, "7a", 2, "", ErrBadNameplate},
		{"nameplate with dash", []byte{1, 2}, "7-", 2, "", ErrBadNameplate},
		{"long nameplate", []byte{1, 2}, strings.Repeat("1", 41), 2, "", ErrBadNameplate},
		{"40-digit nameplate", []byte{1, 2}, strings.Repeat("1", 40), 1, strings.Repeat("1", 40) + "-adviser", nil},
		{"short random", []byte{1}, "7", 2, "", errShortRead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Generate(bytes.NewReader(tc.random), tc.nameplate, tc.numWords)
			switch {
			case tc.wantErr == errShortRead:
				if err == nil {
					t.Fatalf("Generate = %q, want an error", got)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Generate error = %v, want %v", err, tc.wantErr)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("Generate = %q, %v; want %q", got, err, tc.want)
				}
				if err := Validate(got); err != nil {
					t.Errorf("generated code %q does not validate: %v", got, err)
				}
			}
		})
	}
}

var errShortRead = errors.New("any error")

func TestGenerateUsesWholeByteRange(t *testing.T) {
	random := make([]byte, 512)
	for i := range random {
		random[i] = byte(i / 2)
	}
	code, err := Generate(bytes.NewReader(random), "1", 512)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Split(code, "-")[1:]
	for i, w := range words {
		if want := pgpWords[i/2][columnFor(i)]; w != want {
			t.Fatalf("word %d = %q, want %q", i, w, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"7-guitarist-revenge", nil},
		{"7-guitarist", nil},
		{"0-x", nil},
		{"123-any-words-you-like-Even-Capitals", nil},
		{"7-not-in-the-list", nil},
		{"7-üñíçødé", nil},
		{strings.Repeat("9", 40) + "-a", nil},
		{"", ErrEmptyCode},
		{" ", ErrSpaceInCode},
		{"7-guitarist revenge", ErrSpaceInCode},
		{"7-guitarist-revenge ", ErrSpaceInCode},
		{" 7-guitarist-revenge", ErrSpaceInCode},
		{"7-guitarist\trevenge", ErrSpaceInCode},
		{"7-guitarist\nrevenge", ErrSpaceInCode},
		{"7-guitarist\u00a0revenge", ErrSpaceInCode},
		{"7-guitarist\u3000revenge", ErrSpaceInCode},
		{"guitarist-revenge", ErrBadNameplate},
		{"-guitarist-revenge", ErrBadNameplate},
		{"7a-guitarist", ErrBadNameplate},
		{"-7-guitarist", ErrBadNameplate},
		{"+7-guitarist", ErrBadNameplate},
		{"٣-guitarist", ErrBadNameplate}, // Arabic-Indic digit: not ASCII
		{strings.Repeat("9", 41) + "-a", ErrBadNameplate},
		{"7", ErrNoWords},
		{"7-", ErrNoWords},
		{"7--", ErrNoWords},
		{"7--guitarist", ErrNoWords},
		{"7-guitarist--revenge", ErrNoWords},
		{"7-guitarist-", ErrNoWords},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			err := Validate(tc.code)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tc.code, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate(%q) = %v, want %v", tc.code, err, tc.want)
			}
			// The message must start with the sentence a person reads.
			if !strings.HasPrefix(err.Error(), tc.want.Error()) {
				t.Errorf("message %q does not lead with %q", err, tc.want)
			}
		})
	}
}

func TestNameplate(t *testing.T) {
	for _, tc := range []struct{ code, want string }{
		{"7-guitarist-revenge", "7"},
		{"0123-a", "0123"},
		{"42-a-b-c", "42"},
	} {
		got, err := Nameplate(tc.code)
		if err != nil || got != tc.want {
			t.Errorf("Nameplate(%q) = %q, %v; want %q", tc.code, got, err, tc.want)
		}
	}
	for _, code := range []string{"", "x-a", "7", "7 -a"} {
		if got, err := Nameplate(code); err == nil {
			t.Errorf("Nameplate(%q) = %q, want an error", code, got)
		}
	}
}

func TestComplete(t *testing.T) {
	tests := []struct {
		prefix string
		want   []string
	}{
		{"7-gui", []string{"7-guitarist"}},
		{"7-guitarist", []string{"7-guitarist"}},
		{"7-guitarist-rev", []string{"7-guitarist-revenge"}},
		// revenge is an even word; position 0 takes odd words
		{"7-rev", []string{"7-revenue", "7-revival", "7-revolver"}},
		{"7-revenge", nil},
		{"7-guitarist-gui", []string{"7-guitarist-guidance"}},
		{"7-guitarist-guitarist", nil},
		{"7-guitarist-revenge-gui", []string{"7-guitarist-revenge-guitarist"}},
		{"7-ad", []string{"7-adroitness", "7-adviser"}},
		{"7-a", []string{"7-adroitness", "7-adviser", "7-aftermath", "7-aggregate", "7-alkali",
			"7-almighty", "7-amulet", "7-amusement", "7-antenna", "7-apollo", "7-applicant",
			"7-armistice", "7-article", "7-asteroid", "7-atlantic", "7-atmosphere", "7-autopsy"}},
		{"12-x-a", []string{"12-x-aardvark", "12-x-absurd", "12-x-accrue", "12-x-acme", "12-x-adrift",
			"12-x-adult", "12-x-afflict", "12-x-ahead", "12-x-aimless", "12-x-algol", "12-x-allow",
			"12-x-alone", "12-x-ammo", "12-x-ancient", "12-x-apple", "12-x-artist", "12-x-assume",
			"12-x-athens", "12-x-atlas", "12-x-aztec"}},
		{"7-z", nil},
		{"7-y", []string{"7-yesteryear", "7-yucatan"}},
		{"7-guitarist-z", []string{"7-guitarist-zulu"}},
		{"7-GUI", nil},
		{"7-guitaristx", nil},
		{"", nil},
		{"7", nil},
		{"x-gui", nil},
		{"-gui", nil},
		{"7 -gui", nil},
		{"7-gui ", nil},
		{"7--gui", nil},
		{strings.Repeat("1", 41) + "-gui", nil},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			got := Complete(tc.prefix)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Complete(%q) = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
	// A trailing '-' offers the whole next column.
	for _, tc := range []struct {
		prefix string
		col    int
	}{{"7-", oddColumn}, {"7-guitarist-", evenColumn}, {"7-a-b-", oddColumn}} {
		got := Complete(tc.prefix)
		if len(got) != 256 || !slices.IsSorted(got) {
			t.Errorf("Complete(%q) gave %d sorted=%v candidates, want 256 sorted", tc.prefix, len(got), slices.IsSorted(got))
			continue
		}
		for _, c := range got {
			if !slices.Contains(sortedColumn[tc.col], strings.TrimPrefix(c, tc.prefix)) {
				t.Errorf("Complete(%q) offered %q from the wrong column", tc.prefix, c)
			}
		}
	}
}

// validRE is an independent statement of Validate's rule; the character
// class is exactly unicode.IsSpace (White_Space = \s, \v, U+0085, \pZ).
var validRE = regexp.MustCompile(`^[0-9]{1,40}(-[^-\s\v\x{85}\pZ]+)+$`)

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"7-guitarist-revenge", "", "7", "7-", "7--a", "a-b", "7-a b", "7-a\u2028b", "٣-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		err := Validate(code)
		if want := validRE.MatchString(code); (err == nil) != want {
			t.Fatalf("Validate(%q) = %v, regexp says valid=%v", code, err, want)
		}
		np, nerr := Nameplate(code)
		if (nerr == nil) != (err == nil) {
			t.Fatalf("Nameplate and Validate disagree on %q: %v vs %v", code, nerr, err)
		}
		if err == nil && !strings.HasPrefix(code, np+"-") {
			t.Fatalf("Nameplate(%q) = %q", code, np)
		}
		if err != nil && !errors.Is(err, ErrEmptyCode) && !errors.Is(err, ErrBadNameplate) &&
			!errors.Is(err, ErrSpaceInCode) && !errors.Is(err, ErrNoWords) {
			t.Fatalf("Validate(%q) error %v wraps no sentinel", code, err)
		}
	})
}

func FuzzComplete(f *testing.F) {
	for _, s := range []string{"7-gui", "7-", "7-guitarist-", "", "7", "7--a", "7-a-b-c-d-", "1-\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		got := Complete(prefix)
		if !slices.IsSorted(got) {
			t.Fatalf("Complete(%q) not sorted: %q", prefix, got)
		}
		// Count what a linear scan of the right column would offer.
		want := 0
		if Validate(prefix+"x") == nil && !strings.ContainsFunc(prefix, unicode.IsSpace) {
			i := strings.LastIndexByte(prefix, '-')
			last := prefix[i+1:]
			pos := strings.Count(prefix, "-") - 1
			for _, w := range sortedColumn[columnFor(pos)] {
				if strings.HasPrefix(w, last) {
					want++
				}
			}
		}
		if len(got) != want {
			t.Fatalf("Complete(%q) gave %d candidates, want %d: %q", prefix, len(got), want, got)
		}
		for _, c := range got {
			if !strings.HasPrefix(c, prefix) {
				t.Fatalf("candidate %q does not extend %q", c, prefix)
			}
			if err := Validate(c); err != nil {
				t.Fatalf("candidate %q is not a valid code: %v", c, err)
			}
			if !IsWord(c[strings.LastIndexByte(c, '-')+1:]) {
				t.Fatalf("candidate %q ends in a non-word", c)
			}
		}
	})
}
