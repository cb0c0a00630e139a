package zipread

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// pyZip64 writes zips with Python's zipfile (the module the Python
// wormhole CLI zips folders with): more entries than a classic end record
// counts, which needs the Zip64 end record (stored: Python makes a
// compressor per deflated entry, slowly), and entries written with
// force_zip64, which carry Zip64 extra fields in their local headers.
const pyZip64 = `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
    for i in range(70000):
        zf.writestr("many/%05d" % i, b"")
    zf.writestr("last.txt", b"the last entry " * 100, compress_type=zipfile.ZIP_DEFLATED)
with zipfile.ZipFile(sys.argv[2], "w", compression=zipfile.ZIP_DEFLATED) as zf:
    for name in ("forced-1.txt", "sub/forced-2.bin"):
        with zf.open(name, "w", force_zip64=True) as w:
            w.write(name.encode() * 1000)
`

func TestZip64Python(t *testing.T) {
	py := peers.Python(t)
	dir := t.TempDir()
	many, forced := filepath.Join(dir, "many.zip"), filepath.Join(dir, "forced.zip")
	if out, err := exec.Command(py, "-c", pyZip64, many, forced).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	data, err := os.ReadFile(many)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data[len(data)-200:], []byte("PK\x06\x06")) {
		t.Fatal("python wrote no Zip64 end record")
	}
	zr := crossCheck(t, data)
	if len(zr.File) != 70001 || zr.File[69999].Name != "many/69999" {
		t.Fatalf("%d entries", len(zr.File))
	}
	if got, err := readEntry(zr.File[70000].Open); err != nil || !bytes.Equal(got, bytes.Repeat([]byte("the last entry "), 100)) {
		t.Fatalf("last.txt: %.40q, %v", got, err)
	}

	data, err = os.ReadFile(forced)
	if err != nil {
		t.Fatal(err)
	}
	zr = crossCheck(t, data)
	for _, f := range zr.File {
		got, err := readEntry(f.Open)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte(f.Name), 1000)) {
			t.Fatalf("%s: %.40q, %v", f.Name, got, err)
		}
	}
	if len(zr.File) != 2 {
		t.Fatalf("%d entries", len(zr.File))
	}
}

// pyRead lists a zip with Python's zipfile: name and content of each
// entry, after testzip checked every CRC.
const pyRead = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    assert zf.testzip() is None
    json.dump([[i.filename, zf.read(i).decode()] for i in zf.infolist()], sys.stdout)
`

// TestRawZip64Python: the hand-made Zip64 layouts of the tests are real
// Zip64, as an independent reader sees them.
func TestRawZip64Python(t *testing.T) {
	py := peers.Python(t)
	for _, tc := range acceptTests {
		if tc.name != "Zip64 extra fields and end record" {
			continue
		}
		p := filepath.Join(t.TempDir(), "z64.zip")
		if err := os.WriteFile(p, tc.zip(t), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "-c", pyRead, p).Output()
		if err != nil {
			t.Fatalf("python: %v", err)
		}
		var got [][2]string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("python read %d entries", len(got))
		}
		for i, w := range tc.want {
			if got[i][0] != w.name || got[i][1] != w.content {
				t.Errorf("python read %q = %.30q, want %q = %.30q", got[i][0], got[i][1], w.name, w.content)
			}
		}
		return
	}
	t.Fatal("test zip not found")
}

// TestWrappedCount: a zip of more than 65535 entries without Zip64 (some
// writers let the 16-bit count wrap) is read to the end of its directory.
func TestWrappedCount(t *testing.T) {
	var z rawZip
	for i := range 65538 {
		z.entries = append(z.entries, rawEntry{name: strconv.Itoa(i), plain: "x"})
	}
	data := z.bytes(t)
	zr := crossCheck(t, data)
	if len(zr.File) != 65538 {
		t.Fatalf("%d entries", len(zr.File))
	}
	// A count that does not match modulo 65536 is refused.
	z.count = 3
	if _, err := NewReader(bytes.NewReader(z.bytes(t)), int64(len(data))); err == nil {
		t.Fatal("accepted a wrong count")
	}
}

// zeros reads as n zero bytes.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// sparse writes runs of zeros as holes, so that a zip of more than
// 4 GiB costs no disk space.
type sparse struct{ f *os.File }

func (w sparse) Write(p []byte) (int, error) {
	if len(p) >= 4096 && bytes.Count(p, []byte{0}) == len(p) {
		_, err := w.f.Seek(int64(len(p)), io.SeekCurrent)
		return len(p), err
	}
	return w.f.Write(p)
}

// TestOver4GiB: an entry of more than 4 GiB (Zip64 sizes), one after it
// (Zip64 offset) and a directory past 4 GiB (Zip64 end record), as
// archive/zip writes them, read back with the CRC checked.
func TestOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 4 GiB twice")
	}
	const big = 1<<32 + 1
	f, err := os.Create(filepath.Join(t.TempDir(), "big.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	zw := zip.NewWriter(sparse{f})
	for _, e := range []struct {
		name string
		r    io.Reader
	}{{"big.bin", &zeros{big}}, {"after.txt", bytes.NewReader([]byte("after the big one"))}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyBuffer(w, e.r, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		t.Fatal(err)
	}
	written := time.Since(start)
	zr, err := NewReader(f, size)
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 2 || zr.File[0].UncompressedSize64 != big || zr.File[1].headerOffset < big {
		t.Fatalf("%d entries, first %d bytes, second at %d", len(zr.File), zr.File[0].UncompressedSize64, zr.File[1].headerOffset)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	// Hiding io.Discard's ReaderFrom keeps the big buffer in use.
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, rc, make([]byte, 4<<20))
	if n != big || err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	got, err := readEntry(zr.File[1].Open)
	if string(got) != "after the big one" || err != nil {
		t.Fatalf("after.txt: %q, %v", got, err)
	}
	t.Logf("%d-byte zip written in %v, read with its CRC checked in %v", size, written, time.Since(start)-written)
}
