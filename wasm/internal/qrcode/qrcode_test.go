package qrcode

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestEncodeSizes(t *testing.T) {
	// Byte-mode capacities at level M (ISO/IEC 18004 table 7): v1 14, v2 26,
	// v3 42, v4 62, v5 84 bytes. Size = 17 + 4*version.
	tests := []struct {
		n    int
		size int
	}{
		{1, 21}, {14, 21}, {15, 25}, {26, 25}, {27, 29}, {42, 29}, {43, 33}, {62, 33}, {63, 37},
	}
	for _, tt := range tests {
		c, err := Encode(strings.Repeat("a", tt.n))
		if err != nil {
			t.Fatalf("%d bytes: %v", tt.n, err)
		}
		if c.Size != tt.size || len(c.Modules) != c.Size*c.Size {
			t.Errorf("%d bytes: size %d (%d modules), want %d", tt.n, c.Size, len(c.Modules), tt.size)
		}
	}
}

func TestTooLong(t *testing.T) {
	// Version 40-M holds 2331 bytes.
	if _, err := Encode(strings.Repeat("x", 2332)); !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if _, err := Encode(strings.Repeat("x", 2331)); err != nil {
		t.Fatalf("2331 bytes: %v", err)
	}
}

func TestFinderPatterns(t *testing.T) {
	c, err := Encode("https://example.org/wasmhole/#7-guitarist-revenge")
	if err != nil {
		t.Fatal(err)
	}
	// Each finder is a 7x7 dark ring, a light ring, a 3x3 dark core, with
	// a light separator row/column towards the inside.
	for _, o := range [][2]int{{0, 0}, {c.Size - 7, 0}, {0, c.Size - 7}} {
		for dy := 0; dy < 7; dy++ {
			for dx := 0; dx < 7; dx++ {
				ring := dx == 0 || dy == 0 || dx == 6 || dy == 6
				core := dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4
				if want := ring || core; c.Dark(o[0]+dx, o[1]+dy) != want {
					t.Fatalf("finder at %v: module (%d,%d) dark=%v", o, dx, dy, !want)
				}
			}
		}
	}
	// Timing patterns alternate between the finders on row and column 6.
	for i := 8; i < c.Size-8; i++ {
		if c.Dark(i, 6) != (i%2 == 0) || c.Dark(6, i) != (i%2 == 0) {
			t.Fatalf("timing pattern broken at %d", i)
		}
	}
}

func TestPenaltyPrefersBalanced(t *testing.T) {
	all := &Code{Size: 21, Modules: bytes.Repeat([]byte{1}, 21*21)}
	checker := &Code{Size: 21, Modules: make([]byte, 21*21)}
	for i := range checker.Modules {
		checker.Modules[i] = byte((i/21 + i%21) % 2)
	}
	if a, b := all.penalty(), checker.penalty(); a <= b {
		t.Fatalf("all-dark penalty %d should exceed checkerboard %d", a, b)
	}
	// A lone finder-like row pattern scores N3 once per direction it occurs in.
	row := &Code{Size: 11, Modules: make([]byte, 121)}
	for i, v := range []byte{1, 0, 1, 1, 1, 0, 1} {
		row.Modules[5*11+i] = v
	}
	base := *row
	base.Modules = append([]byte(nil), row.Modules...)
	base.Modules[5*11+3] = 0 // break the pattern
	// Breaking it also changes a few run and block scores by a handful of
	// points, so only the N3 weight (40) can explain a difference above 30.
	if row.penalty()-base.penalty() <= 30 {
		t.Fatalf("finder-like pattern not penalised: %d vs %d", row.penalty(), base.penalty())
	}
}

// TestDecodeWithZbar renders codes to PNG and reads them back with zbarimg
// (Debian zbar-tools), an independent QR decoder.
func TestDecodeWithZbar(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		// scripts/install-deps.sh does not install zbar-tools yet; once it
		// does, this should fail in CI like the interop tests.
		t.Skip("zbarimg not installed (apt-get install zbar-tools)")
	}
	for _, text := range []string{
		"http://127.0.0.1:4000/#7-guitarist-revenge",
		"https://example.org/some/deep/path/index.html#123-aardvark-adroitness-zulu-yucatan",
		"ünïcödé 日本語",
		strings.Repeat("0123456789abcdef", 20),
	} {
		c, err := Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "qr.png")
		writePNG(t, c, p)
		out, err := exec.Command(zbar, "--raw", "-q", "-Sbinary", p).Output()
		if err != nil {
			t.Fatalf("zbarimg %q: %v", text, err)
		}
		if got := strings.TrimSuffix(string(out), "\n"); got != text {
			t.Errorf("decoded %q, want %q", got, text)
		}
	}
}

func writePNG(t *testing.T, c *Code, path string) {
	t.Helper()
	const scale, quiet = 4, 4
	n := (c.Size + 2*quiet) * scale
	img := image.NewGray(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			v := color.Gray{0xFF}
			if c.Dark(x/scale-quiet, y/scale-quiet) {
				v = color.Gray{0}
			}
			img.SetGray(x, y, v)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
