package transfer

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestZipMessages: the errors of CheckZip and Extract read as the
// fmt.Errorf forms they were written with before the browser build left
// fmt out.
func TestZipMessages(t *testing.T) {
	link := fs.ModeSymlink | 0o777
	long := "/" + strings.Repeat("é/", 150)
	cases := []struct {
		name   string
		zip    []byte
		limits Limits
		want   error
	}{
		{"collision", makeTestZip(t, zent{name: "Readme"}, zent{name: "README"}), Limits{},
			fmt.Errorf("transfer: extract: transfer: zip entry %q: %q and %q: %w", "README", "Readme", "README", ErrNameCollision)},
		{"twice", makeTestZip(t, zent{name: "a"}, zent{name: "a"}), Limits{},
			fmt.Errorf("transfer: extract: transfer: zip entry %q: %q appears twice: %w", "a", "a", ErrBadZip)},
		{"pipe", makeTestZip(t, zent{name: "p", mode: fs.ModeNamedPipe}), Limits{},
			fmt.Errorf("transfer: extract: transfer: zip entry %q: special file (%v): %w", "p", fs.ModeNamedPipe, ErrBadZip)},
		{"entries", makeTestZip(t, zent{name: "a"}, zent{name: "b"}), Limits{MaxFiles: 1},
			fmt.Errorf("transfer: extract: transfer: zip: %d entries, limit %d: %w", 2, 1, ErrTooManyFiles)},
		{"bytes", makeTestZip(t, zent{name: "a", body: "12345"}), Limits{MaxBytes: 4},
			fmt.Errorf("transfer: extract: transfer: zip: declared sizes exceed %d bytes: %w", 4, ErrTooLarge)},
		{"not a zip", []byte("nope"), Limits{},
			fmt.Errorf("transfer: extract: transfer: zip: %v: %w", "zip: not a valid zip file", ErrBadZip)},
		{"long link", makeTestZip(t, zent{name: "l", body: long, mode: link}), Limits{},
			fmt.Errorf("transfer: extract %q: symlink %q -> %.200q: %s: %w", "l", "l", long, "absolute", ErrUnsafeSymlink)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Extract(bytes.NewReader(tc.zip), int64(len(tc.zip)), filepath.Join(t.TempDir(), "d"), tc.limits)
			if err == nil || err.Error() != tc.want.Error() {
				t.Fatalf("got  %v\nwant %v", err, tc.want)
			}
			if !errors.Is(err, errors.Unwrap(tc.want)) {
				t.Fatalf("%v does not unwrap to %v", err, errors.Unwrap(tc.want))
			}
		})
	}
	if got, want := hex16(0xabc), fmt.Sprintf("%016x", 0xabc); got != want {
		t.Errorf("hex16 = %q, want %q", got, want)
	}
	for _, s := range []string{"", "short", strings.Repeat("ü", 300), "\xff\xfe" + strings.Repeat("x", 300)} {
		if got, want := quote(s, 200), fmt.Sprintf("%.200q", s); got != want {
			t.Errorf("quote = %s, want %s", got, want)
		}
	}
}

// TestCorruptDeflate: deflate data that cannot be decompressed is
// ErrBadZip, like a wrong CRC, and leaves nothing behind.
func TestCorruptDeflate(t *testing.T) {
	data := makeTestZip(t, zent{name: "f", body: strings.Repeat("some text ", 1000)})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	off, err := zr.File[0].DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	data[off] |= 0x6 // the first deflate block's type: the reserved one
	parent := t.TempDir()
	err = Extract(bytes.NewReader(data), int64(len(data)), filepath.Join(parent, "d"), Limits{})
	if !errors.Is(err, ErrBadZip) || !strings.Contains(err.Error(), "flate: corrupt input") {
		t.Fatalf("Extract = %v, want ErrBadZip with flate's message", err)
	}
	t.Logf("refused: %v", err)
	if names := dirNames(t, parent); len(names) != 0 {
		t.Fatalf("left %q behind", names)
	}
}
