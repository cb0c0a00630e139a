package transfer

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// zeroReader yields left zero bytes: a virtual file of any size.
type zeroReader struct{ left int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.left {
		p = p[:z.left]
	}
	clear(p)
	z.left -= int64(len(p))
	return len(p), nil
}

func zeroEntry(name string, size int64) Entry {
	return Entry{Name: name, Size: size, Mode: 0o644, Modified: testTime,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(&zeroReader{left: size}), nil }}
}

// sparseWriter writes runs of zeros as holes, so a multi-GiB zip of zero
// files costs no disk space yet reads back like the real thing.
type sparseWriter struct{ f *os.File }

var zeroBlock = make([]byte, 64<<10)

func (w *sparseWriter) Write(p []byte) (int, error) {
	if len(p) >= 4096 && allZero(p) {
		_, err := w.f.Seek(int64(len(p)), io.SeekCurrent)
		return len(p), err
	}
	return w.f.Write(p)
}

func allZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeroBlock))
		if !bytes.Equal(p[:n], zeroBlock[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// writeSparse streams plan into a sparse file and checks the byte count.
func writeSparse(t *testing.T, plan *ZipPlan) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "big.zip"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n, err := plan.WriteTo(&sparseWriter{f: f})
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if n != plan.Size() || fi.Size() != plan.Size() {
		t.Fatalf("Size() = %d, WriteTo returned %d, file has %d bytes", plan.Size(), n, fi.Size())
	}
	return f
}

// pyCheckBig checks a big zip with Python's zipfile without extracting it:
// the entry sizes, one small member read after the big one (so offsets
// past 4 GiB must be right) and, when asked, testzip (CRCs of everything).
const pyCheckBig = `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    out = {"sizes": {i.filename: i.file_size for i in zf.infolist()},
           "last": zf.read(sys.argv[2]).decode("utf-8"),
           "bad": zf.testzip() if sys.argv[3] == "1" else None}
json.dump(out, sys.stdout)
`

func checkBigWithPython(t *testing.T, path, last string, testzip bool, sizes map[string]int64, lastContent string) {
	t.Helper()
	py := peers.Python(t)
	tz := "0"
	if testzip {
		tz = "1"
	}
	out, err := exec.Command(py, "-c", pyCheckBig, path, last, tz).CombinedOutput()
	if err != nil {
		t.Fatalf("python zipfile: %v\n%s", err, out)
	}
	var res struct {
		Sizes map[string]int64
		Last  string
		Bad   *string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %s: %v", out, err)
	}
	if res.Bad != nil {
		t.Fatalf("python testzip: bad entry %q", *res.Bad)
	}
	if res.Last != lastContent {
		t.Fatalf("python read %q = %q", last, res.Last)
	}
	if len(res.Sizes) != len(sizes) {
		t.Fatalf("python sizes %v, want %v", res.Sizes, sizes)
	}
	for n, s := range sizes {
		if res.Sizes[n] != s {
			t.Fatalf("python size of %q = %d, want %d", n, res.Sizes[n], s)
		}
	}
}

// A file over 4 GiB needs Zip64 sizes; the entry after it and the central
// directory sit past 4 GiB and need Zip64 offsets and end records.
func TestZipPlanOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 4 GiB three times")
	}
	const big = 1<<32 + 1
	plan, err := NewZipPlan([]Entry{
		memEntry("first.txt", []byte("first")),
		zeroEntry("big.bin", big),
		memEntry("after/last.txt", []byte("after the big one")),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f := writeSparse(t, plan)

	zr, err := zip.NewReader(f, plan.Size())
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	if len(zr.File) != 3 || plan.NumFiles() != 3 || plan.NumBytes() != big+5+17 {
		t.Fatalf("%d entries, NumFiles %d, NumBytes %d", len(zr.File), plan.NumFiles(), plan.NumBytes())
	}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		// Verifies the CRC at EOF. A large buffer (and hiding io.Discard's
		// ReaderFrom, which uses 8 KiB) keeps the syscall count down.
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, rc, make([]byte, 4<<20))
		rc.Close()
		if err != nil || uint64(n) != zf.UncompressedSize64 {
			t.Fatalf("%q: read %d of %d: %v", zf.Name, n, zf.UncompressedSize64, err)
		}
	}
	if zr.File[1].UncompressedSize64 != big {
		t.Fatalf("big.bin size %d", zr.File[1].UncompressedSize64)
	}
	t.Logf("written and read back with archive/zip after %v", time.Since(start))
	checkBigWithPython(t, f.Name(), "after/last.txt", true,
		map[string]int64{"first.txt": 5, "big.bin": big, "after/last.txt": 17}, "after the big one")
}

// archive/zip switches to Zip64 at exactly 0xFFFFFFFF bytes; Size() must
// follow it on both sides of the boundary.
func TestZipPlanZip64Boundary(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 4 GiB twice")
	}
	for _, size := range []int64{uint32max - 1, uint32max} {
		plan, err := NewZipPlan([]Entry{zeroEntry("edge.bin", size), memEntry("z", []byte("tail"))})
		if err != nil {
			t.Fatal(err)
		}
		f := writeSparse(t, plan)
		zr, err := zip.NewReader(f, plan.Size())
		if err != nil {
			t.Fatalf("size %d: archive/zip: %v", size, err)
		}
		if zr.File[0].UncompressedSize64 != uint64(size) {
			t.Fatalf("size %d: read back %d", size, zr.File[0].UncompressedSize64)
		}
		rc, err := zr.File[1].Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if err != nil || string(got) != "tail" {
			t.Fatalf("size %d: entry after the edge: %q, %v", size, got, err)
		}
		checkBigWithPython(t, f.Name(), "z", false, map[string]int64{"edge.bin": size, "z": 4}, "tail")
	}
}
