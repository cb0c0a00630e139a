package mailbox

import (
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID is a mailbox id as the reference makes them: lowercase base32
// of 8 random bytes, 13 characters.
func (m *Machine) randomID() string {
	var b [8]byte
	m.fill(b[:])
	return strings.ToLower(b32.EncodeToString(b[:]))
}

func (m *Machine) fill(b []byte) {
	if _, err := io.ReadFull(m.cfg.Rand, b); err != nil {
		// crypto/rand does not fail on supported platforms; a test
		// reader that runs dry is a bug in the test.
		panic(fmt.Sprintf("mailbox: random source failed: %v", err))
	}
}

// randIntn returns a uniform int in [0, n) by rejection sampling.
func (m *Machine) randIntn(n int) int {
	limit := ^uint64(0) - ^uint64(0)%uint64(n)
	for {
		var b [8]byte
		m.fill(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v < limit {
			return int(v % uint64(n))
		}
	}
}
