package spake2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// The errors are built without fmt (the browser build leaves it out); they
// must still read exactly as the fmt.Errorf forms they replaced.
func TestErrorMessages(t *testing.T) {
	peer, err := NewSymmetric([]byte("pw"), nil, newPRG("2"))
	if err != nil {
		t.Fatal(err)
	}
	good := peer.Message()
	withSide := func(side byte) []byte { return append([]byte{side}, good[1:]...) }
	for _, tc := range []struct {
		msg  []byte
		want error
	}{
		{good[:5], fmt.Errorf("%w: %d bytes, want %d", ErrBadMessage, 5, MessageSize)},
		{withSide('A'), fmt.Errorf("%w: peer runs asymmetric SPAKE2 as side %q", ErrBadMessage, byte('A'))},
		{withSide('B'), fmt.Errorf("%w: peer runs asymmetric SPAKE2 as side %q", ErrBadMessage, byte('B'))},
		{withSide(0), fmt.Errorf("%w: unknown side byte 0x%02x", ErrBadMessage, byte(0))},
		{withSide(0xAF), fmt.Errorf("%w: unknown side byte 0x%02x", ErrBadMessage, byte(0xAF))},
		{withSide('s'), fmt.Errorf("%w: unknown side byte 0x%02x", ErrBadMessage, byte('s'))},
		{append([]byte("S"), unhex(t, badElements[0].hex)...), fmt.Errorf("%w: element is not a curve point", ErrBadMessage)},
		{append([]byte("S"), unhex(t, badElements[1].hex)...), fmt.Errorf("%w: element is the identity", ErrBadMessage)},
		{append([]byte("S"), mixedOrder(t, good[1:])...), fmt.Errorf("%w: element is not in the prime-order subgroup", ErrBadMessage)},
	} {
		s, err := NewSymmetric([]byte("pw"), nil, newPRG("1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(tc.msg); err == nil || err.Error() != tc.want.Error() || !errors.Is(err, ErrBadMessage) {
			t.Errorf("Finish(%x) = %v, want %v", tc.msg, err, tc.want)
		}
	}
	_, err = NewSymmetric(nil, nil, bytes.NewReader(nil))
	if want := fmt.Errorf("spake2: reading %d bytes of entropy: %w", EntropySize, io.EOF); err == nil || err.Error() != want.Error() || !errors.Is(err, io.EOF) {
		t.Errorf("NewSymmetric without entropy = %v, want %v", err, want)
	}
}
