// Package hexstr decodes the hex strings of the magic-wormhole protocols
// (mailbox bodies, transit keys, hashes) without encoding/hex, whose
// InvalidByteError formats its message with fmt: that alone would keep
// fmt's printer in the browser build. Encode with encoding/hex's
// EncodeToString, which does not.
package hexstr

import "errors"

// ErrHex is returned for a string that is not an even number of hex
// digits.
var ErrHex = errors.New("invalid hex string")

// Decode returns the bytes that s, in upper- or lower-case hex, encodes.
func Decode(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, ErrHex
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		hi, ok1 := nibble(s[2*i])
		lo, ok2 := nibble(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, ErrHex
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
