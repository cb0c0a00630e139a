package transfer

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// zEnt describes one entry of a hand-made (possibly hostile) zip.
type zEnt struct {
	name   string
	data   string
	mode   fs.FileMode // 0: archive/zip default
	method uint16
}

func buildZip(t testing.TB, ents ...zEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		fh := &zip.FileHeader{Name: e.name, Method: e.method, Modified: testTime}
		if e.mode != 0 {
			fh.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTree maps every path below root to its content, "<dir>" or
// "-> target" for symlinks.
func readTree(t testing.TB, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tree[rel] = "-> " + target
		case d.IsDir():
			tree[rel] = "<dir>"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestExtractRoundTrip(t *testing.T) {
	exe := memEntry("bin/run.sh", []byte("#!/bin/sh\necho hi\n"))
	exe.Mode = 0o755
	ro := memEntry("ro.txt", []byte("read only"))
	ro.Mode = 0o444
	entries := []Entry{
		dirEntry("empty/"), memEntry("zero", nil), exe, ro,
		memEntry("日本語/ファイル.bin", pattern(200000, 5)), memEntry("a/b/c/d.txt", []byte("deep")),
	}
	plan, err := NewZipPlan(entries)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := plan.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	dest := filepath.Join(parent, "got")
	if err := Extract(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dest, Limits{MaxFiles: plan.NumFiles(), MaxBytes: plan.NumBytes()}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"empty": "<dir>", "zero": "", "bin": "<dir>", "bin/run.sh": "#!/bin/sh\necho hi\n", "ro.txt": "read only",
		"日本語": "<dir>", "日本語/ファイル.bin": string(pattern(200000, 5)),
		"a": "<dir>", "a/b": "<dir>", "a/b/c": "<dir>", "a/b/c/d.txt": "deep",
	}
	got := readTree(t, dest)
	if len(got) != len(want) {
		t.Fatalf("extracted %d paths, want %d: %v", len(got), len(want), slices.Sorted(mapsKeys(got)))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %.40q, want %.40q", k, got[k], v)
		}
	}
	if names := dirNames(t, parent); !slices.Equal(names, []string{"got"}) {
		t.Errorf("parent holds %q: temporary directory left behind", names)
	}
	for name, perm := range map[string]fs.FileMode{"bin/run.sh": 0o700, "ro.txt": 0o600} {
		fi, err := os.Stat(filepath.Join(dest, name))
		if err != nil || fi.Mode().Perm()&perm != perm {
			t.Errorf("%s: mode %v, want at least %v (%v)", name, fi.Mode(), perm, err)
		}
		if !fi.ModTime().Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", name, fi.ModTime(), testTime)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "ro.txt")); err != nil || fi.Mode().Perm()&0o200 != 0o200 {
		t.Errorf("ro.txt not writable by its owner: %v", fi.Mode())
	}

	// An existing empty directory is replaced.
	dest2 := filepath.Join(parent, "emptydest")
	if err := os.Mkdir(dest2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Extract(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dest2, Limits{}); err != nil {
		t.Fatalf("into empty dir: %v", err)
	}
	if len(readTree(t, dest2)) != len(want) {
		t.Fatal("extraction into the empty directory incomplete")
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// pyMakeZip builds a directory tree and zips it exactly like the 0.12
// sender (cmd_send.py: os.walk, zf.write(path, relative name) into a
// ZipFile(ZIP_DEFLATED, allowZip64=True)), plus one member written with
// force_zip64 so that Zip64 extra fields appear in the file.
const pyMakeZip = `
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
files = {
    "hello.txt": b"hello world\n",
    "caf\u00e9/na\u00efve.txt": "na\u00efve \u00fc\u00f1\u00ee\u00e7\u00f8d\u00eb".encode("utf-8"),
    "\u65e5\u672c/\u30c6\u30b9\u30c8.txt": b"japanese",
    "e\u0301-nfd.txt": b"decomposed",
    "sub/deeper/compressible.bin": b"abcdefgh" * 262144,
    "sub/empty.dat": b"",
    "emoji \U0001F600.txt": b"smile",
}
for name, data in files.items():
    p = os.path.join(src, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
os.chmod(os.path.join(src, "hello.txt"), 0o755)
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
    for path, dirs, fnames in os.walk(src):
        for fn in fnames:
            local = os.path.join(path, fn)
            zf.write(local, os.path.relpath(local, src))
    with zf.open("forced-zip64.txt", "w", force_zip64=True) as w:
        w.write(b"zip64 local header")
`

func TestExtractPythonZip(t *testing.T) {
	py := peers.Python(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	zipPath := filepath.Join(dir, "py.zip")
	if out, err := exec.Command(py, "-c", pyMakeZip, src, zipPath).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	f, err := os.Open(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	deflated := 0
	for _, zf := range zr.File {
		if zf.Method == zip.Deflate {
			deflated++
		}
	}
	if deflated != len(zr.File) || len(zr.File) != 8 {
		t.Fatalf("python zip has %d entries, %d deflated", len(zr.File), deflated)
	}

	dest := filepath.Join(dir, "received")
	if err := Extract(f, fi.Size(), dest, Limits{MaxFiles: 8, MaxBytes: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	want := readTree(t, src)
	want["forced-zip64.txt"] = "zip64 local header"
	got := readTree(t, dest)
	if len(got) != len(want) {
		t.Fatalf("got %v\nwant %v", slices.Sorted(mapsKeys(got)), slices.Sorted(mapsKeys(want)))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q: got %.40q, want %.40q", k, got[k], v)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "hello.txt")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("hello.txt lost its exec bit: %v", fi.Mode())
	}
}

// Magic-wormhole >= 0.14 streams stored entries with data descriptors
// (zipstream-ng). Python's zipfile writes the same layout when its output
// is not seekable, here a pipe.
const pyStreamZip = `
import sys, zipfile
with zipfile.ZipFile(sys.stdout.buffer, "w", compression=zipfile.ZIP_STORED) as zf:
    zf.writestr("stream/\u00fcber.txt", "streamed \u00fc".encode("utf-8"))
    zf.writestr("stream/empty", b"")
    zf.writestr("big.bin", bytes(range(256)) * 4096)
    zf.writestr(zipfile.ZipInfo("emptydir/"), b"")
`

func TestExtractPythonStreamedZip(t *testing.T) {
	py := peers.Python(t)
	data, err := exec.Command(py, "-c", pyStreamZip).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Method != zip.Store || (!strings.HasSuffix(f.Name, "/") && f.Flags&flagDesc == 0) {
			t.Fatalf("%q: method %d flags %#x: not a streamed stored entry", f.Name, f.Method, f.Flags)
		}
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(bytes.NewReader(data), int64(len(data)), dest, Limits{MaxFiles: 4, MaxBytes: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	var ramp []byte
	for i := range 256 {
		ramp = append(ramp, byte(i))
	}
	want := map[string]string{
		"stream": "<dir>", "stream/über.txt": "streamed ü", "stream/empty": "",
		"big.bin":  strings.Repeat(string(ramp), 4096),
		"emptydir": "<dir>",
	}
	got := readTree(t, dest)
	if len(got) != len(want) {
		t.Fatalf("got %v", slices.Sorted(mapsKeys(got)))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q: got %.40q, want %.40q", k, got[k], v)
		}
	}
}

func TestExtractRejects(t *testing.T) {
	big := strings.Repeat("0", 2<<20)
	cases := []struct {
		name   string
		zip    func(t testing.TB) []byte
		limits Limits
		want   error
	}{
		{"dotdot", z(zEnt{name: "../evil", data: "x"}), Limits{}, ErrUnsafeName},
		{"inner dotdot", z(zEnt{name: "ok/../../evil", data: "x"}), Limits{}, ErrUnsafeName},
		{"backslash dotdot", z(zEnt{name: `..\evil`, data: "x"}), Limits{}, ErrUnsafeName},
		{"absolute", z(zEnt{name: "/tmp/evil", data: "x"}), Limits{}, ErrUnsafeName},
		{"drive", z(zEnt{name: `C:\evil`, data: "x"}), Limits{}, ErrUnsafeName},
		{"NUL", z(zEnt{name: "a\x00b", data: "x"}), Limits{}, ErrUnsafeName},
		{"not UTF-8", z(zEnt{name: "caf\xe9", data: "x"}), Limits{}, ErrUnsafeName},
		{"good then bad", z(zEnt{name: "fine.txt", data: "x"}, zEnt{name: "../evil", data: "x"}), Limits{}, ErrUnsafeName},
		{"duplicate", z(zEnt{name: "a", data: "1"}, zEnt{name: "a", data: "2"}), Limits{}, ErrBadZip},
		{"duplicate after mapping", z(zEnt{name: "ab:c", data: "1"}, zEnt{name: "ab_c", data: "2"}), Limits{}, ErrBadZip},
		{"file then dir", z(zEnt{name: "a", data: "1"}, zEnt{name: "a/b", data: "2"}), Limits{}, ErrBadZip},
		{"dir then file", z(zEnt{name: "a/b", data: "1"}, zEnt{name: "a", data: "2"}), Limits{}, ErrBadZip},
		{"fifo", z(zEnt{name: "pipe", mode: fs.ModeNamedPipe | 0o644}), Limits{}, ErrBadZip},
		{"device", z(zEnt{name: "dev", mode: fs.ModeDevice | 0o644}), Limits{}, ErrBadZip},
		{"symlink absolute", z(zEnt{name: "l", data: "/etc/passwd", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink up", z(zEnt{name: "l", data: "../x", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink up too far", z(zEnt{name: "a/l", data: "../../x", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink through name", z(zEnt{name: "l", data: "a/../../x", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink chain trick", z(
			zEnt{name: "a/up", data: "..", mode: fs.ModeSymlink | 0o777},
			zEnt{name: "l", data: "a/up/../x", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink backslash", z(zEnt{name: "l", data: `..\x`, mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink drive", z(zEnt{name: "l", data: `C:x`, mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink empty", z(zEnt{name: "l", data: "", mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"symlink huge", z(zEnt{name: "l", data: strings.Repeat("a/", 3000), mode: fs.ModeSymlink | 0o777}), Limits{}, ErrUnsafeSymlink},
		{"write through symlink", z(
			zEnt{name: "l", data: "d", mode: fs.ModeSymlink | 0o777},
			zEnt{name: "l/x", data: "x"}), Limits{}, ErrBadZip},
		{"too many files", z(zEnt{name: "a", data: "1"}, zEnt{name: "b", data: "2"}, zEnt{name: "c/", data: ""}), Limits{MaxFiles: 2}, ErrTooManyFiles},
		{"central directory too big", manyEntries(40000), Limits{MaxFiles: 1}, ErrTooManyFiles},
		{"bomb", z(zEnt{name: "bomb", data: big, method: zip.Deflate}), Limits{MaxBytes: 1 << 20}, ErrTooLarge},
		{"bytes summed", z(zEnt{name: "a", data: big[:600000], method: zip.Deflate}, zEnt{name: "b", data: big[:600000], method: zip.Deflate}), Limits{MaxBytes: 1 << 20}, ErrTooLarge},
		{"bad crc", corrupt(z(zEnt{name: "a.txt", data: "hello, world"}), "hello", "jello"), Limits{}, ErrBadZip},
		{"garbage", func(testing.TB) []byte { return []byte("PK\x05\x06 not really a zip") }, Limits{}, ErrBadZip},
		{"empty input", func(testing.TB) []byte { return nil }, Limits{}, ErrBadZip},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.zip(t)
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			err := Extract(bytes.NewReader(data), int64(len(data)), dest, tc.limits)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Extract = %v, want %v", err, tc.want)
			}
			if names := dirNames(t, parent); len(names) != 0 {
				t.Fatalf("failed extraction left %q behind", names)
			}
		})
	}
}

func z(ents ...zEnt) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return buildZip(t, ents...) }
}

// manyEntries is a zip of n empty files: a large central directory.
func manyEntries(n int) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		ents := make([]zEnt, n)
		for i := range ents {
			ents[i] = zEnt{name: fmt.Sprintf("f%06d", i)}
		}
		return buildZip(t, ents...)
	}
}

func corrupt(mk func(testing.TB) []byte, from, to string) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		b := mk(t)
		i := bytes.Index(b, []byte(from))
		if i < 0 {
			t.Fatal("corrupt: pattern not found")
		}
		copy(b[i:], to)
		return b
	}
}

// The central directory is refused while archive/zip reads it, before it
// can fill memory, not only by counting afterwards.
func TestExtractCentralDirectoryBudget(t *testing.T) {
	data := manyEntries(40000)(t)
	err := Extract(bytes.NewReader(data), int64(len(data)), filepath.Join(t.TempDir(), "d"), Limits{MaxFiles: 1})
	if !errors.Is(err, ErrTooManyFiles) || !strings.Contains(err.Error(), "central directory") {
		t.Fatalf("Extract = %v", err)
	}
	// The same zip passes with room for its entries.
	if err := Extract(bytes.NewReader(data), int64(len(data)), filepath.Join(t.TempDir(), "d"), Limits{MaxFiles: 40000}); err != nil {
		t.Fatal(err)
	}
}

func TestExtractSymlinksInside(t *testing.T) {
	data := buildZip(t,
		zEnt{name: "f.txt", data: "target"},
		zEnt{name: "d/sub/"},
		zEnt{name: "d/up", data: "../f.txt", mode: fs.ModeSymlink | 0o777},
		zEnt{name: "d/sub/root", data: "../..", mode: fs.ModeSymlink | 0o777},
		zEnt{name: "same", data: "f.txt", mode: fs.ModeSymlink | 0o777},
		zEnt{name: "chain", data: "d/sub/root/f.txt", mode: fs.ModeSymlink | 0o777},
		zEnt{name: "dangling", data: "nowhere/x", mode: fs.ModeSymlink | 0o777},
	)
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(bytes.NewReader(data), int64(len(data)), dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"d/up", "same", "chain"} {
		b, err := os.ReadFile(filepath.Join(dest, l))
		if err != nil || string(b) != "target" {
			t.Errorf("%s: %q, %v", l, b, err)
		}
	}
	got := readTree(t, dest)
	if got["dangling"] != "-> nowhere/x" || got["d/sub/root"] != "-> ../.." {
		t.Errorf("links: %v", got)
	}
}

func TestExtractPortableNames(t *testing.T) {
	data := buildZip(t,
		zEnt{name: "CON.txt", data: "1"}, zEnt{name: "x/ab:c?", data: "2"},
		zEnt{name: "trail.", data: "3"}, zEnt{name: `win\style\path.txt`, data: "4"},
		zEnt{name: `winDir\`}, zEnt{name: "./dot/./slash//x", data: "5"},
	)
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(bytes.NewReader(data), int64(len(data)), dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"_CON.txt": "1", "x": "<dir>", "x/ab_c_": "2", "trail_": "3",
		"win": "<dir>", "win/style": "<dir>", "win/style/path.txt": "4", "winDir": "<dir>",
		"dot": "<dir>", "dot/slash": "<dir>", "dot/slash/x": "5",
	}
	got := readTree(t, dest)
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func TestExtractDestination(t *testing.T) {
	data := buildZip(t, zEnt{name: "a", data: "1"})
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	if err := os.MkdirAll(filepath.Join(full, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	emptyDir := filepath.Join(parent, "emptydir")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(parent, "link")
	if err := os.Symlink(emptyDir, link); err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{full, file, link} {
		if err := Extract(bytes.NewReader(data), int64(len(data)), dest, Limits{}); !errors.Is(err, ErrDestExists) {
			t.Errorf("Extract into %s = %v, want ErrDestExists", filepath.Base(dest), err)
		}
	}
	if err := Extract(bytes.NewReader(data), int64(len(data)), filepath.Join(parent, "missing", "dest"), Limits{}); err == nil {
		t.Error("Extract into a missing parent succeeded")
	}
	if names := dirNames(t, parent); !slices.Equal(names, []string{"emptydir", "file", "full", "link"}) {
		t.Errorf("parent now holds %q", names)
	}
	if got := readTree(t, full); len(got) != 1 {
		t.Errorf("existing destination modified: %v", got)
	}
}

func TestCheckLinkTarget(t *testing.T) {
	cases := []struct {
		name, target string
		ok           bool
	}{
		{"l", "x", true}, {"l", "./x/y", true}, {"l", ".", true}, {"a/l", "..", true},
		{"a/b/l", "../../x/y", true}, {"a/l", "../a/l", true},
		{"l", "..", false}, {"a/l", "../..", false}, {"a/l", "x/../y", false},
		{"l", "/x", false}, {"l", `x\y`, false}, {"l", "c:x", false}, {"l", "x\ny", false},
		{"l", "", false}, {"l", "\xff", false},
	}
	for _, tc := range cases {
		err := checkLinkTarget(tc.name, tc.target)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUnsafeSymlink)) {
			t.Errorf("checkLinkTarget(%q, %q) = %v, want ok=%v", tc.name, tc.target, err, tc.ok)
		}
	}
}
