package errs

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

var errBad = errors.New("bad code")

func TestSameAsFmt(t *testing.T) {
	for _, tc := range []struct {
		got, want error
		is        []error
	}{
		{Wrap("reading offer", io.ErrUnexpectedEOF), fmt.Errorf("reading offer: %w", io.ErrUnexpectedEOF), []error{io.ErrUnexpectedEOF}},
		{With(errBad, "7-x"), fmt.Errorf("%w: %s", errBad, "7-x"), []error{errBad}},
		{Chain(errBad, io.EOF), fmt.Errorf("%w: %w", errBad, io.EOF), []error{errBad, io.EOF}},
		{New("outer: "+errBad.Error()+" ("+io.EOF.Error()+")", errBad, io.EOF), fmt.Errorf("outer: %w (%w)", errBad, io.EOF), []error{errBad, io.EOF}},
		{Suffix(errBad, " (got \"x\")"), fmt.Errorf("%w (got %q)", errBad, "x"), []error{errBad}},
		{Chain(Suffix(errBad, ` "7"`), io.EOF), fmt.Errorf("%w %q: %w", errBad, "7", io.EOF), []error{errBad, io.EOF}},
		{Wrap("outer", With(errBad, "x")), fmt.Errorf("outer: %w", fmt.Errorf("%w: x", errBad)), []error{errBad}},
	} {
		if tc.got.Error() != tc.want.Error() {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
		for _, target := range tc.is {
			if !errors.Is(tc.got, target) {
				t.Errorf("%q does not unwrap to %q", tc.got, target)
			}
		}
	}
	if Wrap("x", nil) != nil || Chain(errBad, nil) != errBad {
		t.Error("nil inner errors must pass through")
	}
}

func ExampleWrap() {
	err := Wrap("reading offer", io.ErrUnexpectedEOF)
	fmt.Println(err, errors.Is(err, io.ErrUnexpectedEOF))
	// Output: reading offer: unexpected EOF true
}
