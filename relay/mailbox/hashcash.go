package mailbox

import (
	"crypto/sha1"
	"math/bits"
	"strings"
)

// maxStampLen bounds the work spent on a submitted stamp.
const maxStampLen = 512

// VerifyHashcash reports whether stamp is a hashcash v1 stamp
// ("1:bits:date:resource:ext:rand:counter") for resource whose SHA-1 starts
// with at least wantBits zero bits. The date field is not checked: clients
// disagree on its format (docs/protocol.md §1.4; magic-wormhole.rs puts
// base64 of YYYYMMDD there), and the per-connection resource already stops replays.
func VerifyHashcash(stamp, resource string, wantBits int) bool {
	if len(stamp) > maxStampLen || wantBits > 160 {
		return false
	}
	parts := strings.Split(stamp, ":")
	if len(parts) != 7 || parts[0] != "1" || parts[3] != resource {
		return false
	}
	return leadingZeroBits(sha1.Sum([]byte(stamp))) >= wantBits
}

func leadingZeroBits(sum [sha1.Size]byte) int {
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}
