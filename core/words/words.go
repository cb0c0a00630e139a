// Package words makes and checks wormhole codes such as
// "7-guitarist-revenge".
//
// A code is a nameplate (the decimal number the mailbox server allocated,
// which both sides use to find each other) followed by words, all joined
// with '-'. The whole string, nameplate included, is the SPAKE2 password,
// so it must be typed exactly; only the nameplate part has a required
// shape (digits), the words are whatever the sender chose.
//
// Words come from the PGP word list: each byte value has an "even" word
// (two syllables) and an "odd" word (three syllables). magic-wormhole picks
// word i (counting from 0) from the odd column when i is even and from the
// even column when i is odd, one random byte per word, lowercased. So
// 0x69 0xA9 gives "guitarist-revenge". Completion follows the same
// alternation, which is why "7-rev" offers no "revenge" (an even-column
// word) but "7-guitarist-rev" does.
//
// The errors are meant to be shown to a person as they are.
package words

import (
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// MaxNameplateLen is the longest nameplate the mailbox server (≥0.7.0)
// accepts; it drops the connection on longer ones without an error.
const MaxNameplateLen = 40

var (
	// ErrEmptyCode: the code is the empty string.
	ErrEmptyCode = errors.New("the code is empty")
	// ErrBadNameplate: the part before the first '-' is not a number.
	ErrBadNameplate = errors.New("the code must start with a number followed by '-', like 7-guitarist-revenge")
	// ErrSpaceInCode: the code contains a space or other whitespace.
	ErrSpaceInCode = errors.New("the code must not contain spaces")
	// ErrNoWords: nothing, or an empty word, after the number.
	ErrNoWords = errors.New("the code needs words after the number, like 7-guitarist-revenge")
)

// Columns of pgpWords.
const (
	evenColumn = 0
	oddColumn  = 1
)

// columnFor returns the column word i (0-based, after the nameplate) is
// drawn from: odd words at even positions, even words at odd positions.
func columnFor(i int) int {
	if i%2 == 0 {
		return oddColumn
	}
	return evenColumn
}

// sortedColumn holds each column's words in sorted order for completion;
// wordSet holds every word of both columns for IsWord.
var (
	sortedColumn [2][]string
	wordSet      = make(map[string]struct{}, 512)
)

func init() {
	for col := range sortedColumn {
		words := make([]string, 0, 256)
		for b := range pgpWords {
			words = append(words, pgpWords[b][col])
			wordSet[pgpWords[b][col]] = struct{}{}
		}
		sort.Strings(words)
		sortedColumn[col] = words
	}
}

// Generate returns nameplate followed by numWords random words, reading
// one byte per word from rand.
func Generate(rand io.Reader, nameplate string, numWords int) (string, error) {
	if err := checkNameplate(nameplate); err != nil {
		return "", err
	}
	if numWords < 1 {
		return "", errs.Suffix(ErrNoWords, " (asked for "+strconv.Itoa(numWords)+" words)")
	}
	random := make([]byte, numWords)
	if _, err := io.ReadFull(rand, random); err != nil {
		return "", errs.Wrap("reading random bytes for the code", err)
	}
	var sb strings.Builder
	sb.WriteString(nameplate)
	for i, b := range random {
		sb.WriteByte('-')
		sb.WriteString(pgpWords[b][columnFor(i)])
	}
	return sb.String(), nil
}

// Validate checks the shape of a code typed by a person: a nameplate of
// digits before the first '-', at least one word after it, no empty words
// and no whitespace. It does not require the words to be in the list:
// senders may choose their own code.
func Validate(code string) error {
	_, err := split(code)
	return err
}

// Nameplate validates code and returns its nameplate.
func Nameplate(code string) (string, error) {
	nameplate, err := split(code)
	if err != nil {
		return "", err
	}
	return nameplate, nil
}

// split validates code and returns the nameplate.
func split(code string) (string, error) {
	if code == "" {
		return "", ErrEmptyCode
	}
	if i := strings.IndexFunc(code, unicode.IsSpace); i >= 0 {
		return "", errs.Suffix(ErrSpaceInCode, " ("+strconv.Quote(code)+" has one after "+strconv.Quote(code[:i])+")")
	}
	nameplate, words, found := strings.Cut(code, "-")
	if err := checkNameplate(nameplate); err != nil {
		return "", err
	}
	if !found || words == "" {
		return "", errs.Suffix(ErrNoWords, " (got "+strconv.Quote(code)+")")
	}
	if strings.HasPrefix(words, "-") || strings.HasSuffix(words, "-") || strings.Contains(words, "--") {
		return "", errs.Suffix(ErrNoWords, "; "+strconv.Quote(code)+" has an empty word (two '-' in a row or a '-' at the end)")
	}
	return nameplate, nil
}

func checkNameplate(nameplate string) error {
	if nameplate == "" {
		return errs.Suffix(ErrBadNameplate, " (nothing before the first '-')")
	}
	for _, c := range []byte(nameplate) {
		if c < '0' || c > '9' {
			return errs.Suffix(ErrBadNameplate, " ("+strconv.Quote(nameplate)+" is not a number)")
		}
	}
	if len(nameplate) > MaxNameplateLen {
		return errs.Suffix(ErrBadNameplate, " ("+strconv.Itoa(len(nameplate))+" digits is too long, at most "+strconv.Itoa(MaxNameplateLen)+")")
	}
	return nil
}

// Complete returns the full codes that extend prefix by finishing its last
// (possibly empty) word with a word from the right column, sorted. Given
// "7-gui" it returns ["7-guitarist"]; given "7-guitarist-" it returns all
// 256 even words after "7-guitarist-". Matching is case-sensitive because
// codes are lowercase and the code is a password. It returns nil for an
// empty prefix, a prefix without a '-' after the nameplate (nameplates
// come from the server, not the word list), and a prefix Validate would
// refuse for reasons other than the unfinished last word.
func Complete(prefix string) []string {
	if prefix == "" || strings.IndexFunc(prefix, unicode.IsSpace) >= 0 {
		return nil
	}
	nameplate, words, found := strings.Cut(prefix, "-")
	if !found || checkNameplate(nameplate) != nil {
		return nil
	}
	parts := strings.Split(words, "-")
	for _, p := range parts[:len(parts)-1] {
		if p == "" {
			return nil
		}
	}
	last := parts[len(parts)-1]
	head := prefix[:len(prefix)-len(last)]
	column := sortedColumn[columnFor(len(parts)-1)]
	var out []string
	for i := sort.SearchStrings(column, last); i < len(column) && strings.HasPrefix(column[i], last); i++ {
		out = append(out, head+column[i])
	}
	return out
}

// IsWord reports whether w is a word of the list, in either column, spelt
// as it appears in codes (lowercase).
func IsWord(w string) bool {
	_, ok := wordSet[w]
	return ok
}
