// Package qrcode turns the page's share link into a QR code module matrix.
//
// The page shows a QR code of a link such as https://example.org/#7-guitarist-revenge
// so a phone can open the receive form with the code filled in. Encoding is
// done by rsc.io/qr/coding (BSD-3-Clause, the Go authors); this package only
// picks the smallest version that fits, chooses the mask with the lowest
// penalty score of ISO/IEC 18004 §7.8.3 (so scanners lock on quickly), and
// hands the page a plain byte matrix to draw. It has no image dependencies,
// which keeps the wasm small.
package qrcode

import (
	"errors"
	"fmt"

	"rsc.io/qr/coding"
)

// ErrTooLong means the text does not fit in the largest QR version.
var ErrTooLong = errors.New("qrcode: text too long for a QR code")

// Code is a square matrix of modules; Modules[y*Size+x] is 1 for dark.
// It does not include the 4-module quiet zone a drawing must leave around it.
type Code struct {
	Size    int
	Modules []byte
}

// Dark reports whether module (x, y) is dark; outside the matrix is light.
func (c *Code) Dark(x, y int) bool {
	return x >= 0 && y >= 0 && x < c.Size && y < c.Size && c.Modules[y*c.Size+x] == 1
}

// Encode encodes text in byte mode at error-correction level M (15%), which
// survives a smudged phone screen and keeps a share link at version 4-5.
func Encode(text string) (*Code, error) {
	enc := coding.String(text)
	const level = coding.M
	v := coding.Version(coding.MinVersion)
	for ; v <= coding.MaxVersion; v++ {
		if enc.Bits(v) <= v.DataBytes(level)*8 {
			break
		}
	}
	if v > coding.MaxVersion {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLong, len(text))
	}
	var best *Code
	bestScore := -1
	for mask := coding.Mask(0); mask < 8; mask++ {
		plan, err := coding.NewPlan(v, level, mask)
		if err != nil {
			return nil, fmt.Errorf("qrcode: plan version %d mask %d: %w", v, mask, err)
		}
		cc, err := plan.Encode(enc)
		if err != nil {
			return nil, fmt.Errorf("qrcode: encode: %w", err)
		}
		c := &Code{Size: cc.Size, Modules: make([]byte, cc.Size*cc.Size)}
		for y := 0; y < cc.Size; y++ {
			for x := 0; x < cc.Size; x++ {
				if cc.Black(x, y) {
					c.Modules[y*c.Size+x] = 1
				}
			}
		}
		if s := c.penalty(); bestScore < 0 || s < bestScore {
			best, bestScore = c, s
		}
	}
	return best, nil
}

// penalty is the mask evaluation score of ISO/IEC 18004:2015 §7.8.3.1:
// runs of one colour, 2x2 blocks, finder-like patterns, and dark/light
// imbalance. Lower is better.
func (c *Code) penalty() int {
	n := c.Size
	score := 0
	at := func(x, y int, horizontal bool) byte {
		if horizontal {
			return c.Modules[y*n+x]
		}
		return c.Modules[x*n+y]
	}
	for _, horizontal := range []bool{true, false} {
		for y := 0; y < n; y++ {
			// N1: 3 + (run-5) for each run of 5 or more same-coloured modules.
			run := 1
			for x := 1; x <= n; x++ {
				if x < n && at(x, y, horizontal) == at(x-1, y, horizontal) {
					run++
					continue
				}
				if run >= 5 {
					score += 3 + run - 5
				}
				run = 1
			}
			// N3: 40 for each 1:1:3:1:1 dark pattern with 4 light modules on a side.
			for x := 0; x+7 <= n; x++ {
				if !finderLike(func(i int) byte { return at(x+i, y, horizontal) }) {
					continue
				}
				if lightRun(func(i int) (byte, bool) {
					if i < 0 || i >= n {
						return 0, false
					}
					return at(i, y, horizontal), true
				}, x-4, x) || lightRun(func(i int) (byte, bool) {
					if i < 0 || i >= n {
						return 0, false
					}
					return at(i, y, horizontal), true
				}, x+7, x+11) {
					score += 40
				}
			}
		}
	}
	// N2: 3 for each 2x2 block of one colour.
	for y := 0; y+1 < n; y++ {
		for x := 0; x+1 < n; x++ {
			m := c.Modules[y*n+x]
			if m == c.Modules[y*n+x+1] && m == c.Modules[(y+1)*n+x] && m == c.Modules[(y+1)*n+x+1] {
				score += 3
			}
		}
	}
	// N4: 10 for every 5% the dark share is away from 50%.
	dark := 0
	for _, m := range c.Modules {
		dark += int(m)
	}
	pct := dark * 100 / (n * n)
	dev := pct - 50
	if dev < 0 {
		dev = -dev
	}
	score += dev / 5 * 10
	return score
}

// finderLike reports the dark:light:dark:light:dark 1:1:3:1:1 pattern.
func finderLike(m func(int) byte) bool {
	want := [7]byte{1, 0, 1, 1, 1, 0, 1}
	for i, w := range want {
		if m(i) != w {
			return false
		}
	}
	return true
}

// lightRun reports whether positions [from, to) are all light; positions
// outside the matrix count as light (the quiet zone).
func lightRun(m func(int) (byte, bool), from, to int) bool {
	for i := from; i < to; i++ {
		if v, inside := m(i); inside && v != 0 {
			return false
		}
	}
	return true
}
