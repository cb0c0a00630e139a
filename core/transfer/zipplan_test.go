package transfer

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

var testTime = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

func memEntry(name string, data []byte) Entry {
	return Entry{Name: name, Size: int64(len(data)), Mode: 0o644, Modified: testTime,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func dirEntry(name string) Entry {
	return Entry{Name: name, Mode: fs.ModeDir | 0o755, Modified: testTime}
}

// pattern returns n deterministic, incompressible-looking bytes.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1103515245 + 12345
		b[i] = byte(x >> 16)
	}
	return b
}

type planCase struct {
	name    string
	entries []Entry
	// want: zip entry name -> content ("/"-suffixed names are directories)
	want map[string][]byte
}

func planCases() []planCase {
	many := []Entry{dirEntry("many/")}
	manyWant := map[string][]byte{}
	for i := range 70000 { // >= 65535 entries: Zip64 end of central directory
		n := fmt.Sprintf("many/f%05d", i)
		many = append(many, memEntry(n, nil))
		manyWant[n] = nil
	}
	many = append(many, memEntry("many/last.bin", pattern(1000, 9)))
	manyWant["many/last.bin"] = pattern(1000, 9)

	return []planCase{
		{"nothing", nil, map[string][]byte{}},
		{"empty dir", []Entry{dirEntry("empty/")}, map[string][]byte{"empty/": nil}},
		{"zero-byte file", []Entry{memEntry("zero", nil)}, map[string][]byte{"zero": nil}},
		{"nested dirs", []Entry{
			dirEntry("a/"), dirEntry("a/b/"), memEntry("a/b/c.txt", []byte("see")),
			dirEntry("a/d/"), dirEntry("a/d/e/"), memEntry("top.bin", pattern(70000, 1)),
			memEntry("x/y/z/deep.txt", []byte("implicit parents")),
		}, map[string][]byte{
			"a/b/c.txt": []byte("see"), "a/d/e/": nil, "top.bin": pattern(70000, 1),
			"x/y/z/deep.txt": []byte("implicit parents"),
		}},
		{"non-ASCII names", []Entry{
			dirEntry("répertoire/"), memEntry("répertoire/fichier-ü.txt", []byte("ü")),
			memEntry("日本語/ファイル.bin", pattern(5000, 2)), memEntry("emoji-😀 with space.txt", []byte("😀")),
			dirEntry("пусто/"), memEntry("a~b", []byte("tilde")),
		}, map[string][]byte{
			"répertoire/fichier-ü.txt": []byte("ü"), "日本語/ファイル.bin": pattern(5000, 2),
			"emoji-😀 with space.txt": []byte("😀"), "пусто/": nil, "a~b": []byte("tilde"),
		}},
		{"many files", many, manyWant},
	}
}

func TestZipPlanSizes(t *testing.T) {
	for _, tc := range planCases() {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := NewZipPlan(tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			n, err := plan.WriteTo(&buf)
			if err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			if n != plan.Size() || int64(buf.Len()) != plan.Size() {
				t.Fatalf("Size() = %d, WriteTo returned %d and wrote %d", plan.Size(), n, buf.Len())
			}
			checkGoZip(t, buf.Bytes(), plan, tc.want)

			// A second WriteTo gives the same bytes: the plan is reusable.
			var again bytes.Buffer
			if _, err := plan.WriteTo(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
				t.Fatalf("second WriteTo differs (err %v)", err)
			}

			p := filepath.Join(t.TempDir(), "out.zip")
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			checkPythonZip(t, p, tc.want, len(tc.want) < 1000)
		})
	}
}

// checkGoZip opens the zip with archive/zip and compares it with want; it
// also checks the two numbers wormhole-william's receiver compares with
// the offer (entry count and size sum).
func checkGoZip(t *testing.T, data []byte, plan *ZipPlan, want map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	if len(zr.File) != len(want) || plan.NumFiles() != len(want) {
		t.Fatalf("%d zip entries, NumFiles %d, want %d", len(zr.File), plan.NumFiles(), len(want))
	}
	var sum uint64
	for _, f := range zr.File {
		sum += f.UncompressedSize64
		content, ok := want[f.Name]
		if !ok {
			t.Fatalf("unexpected entry %q", f.Name)
		}
		if f.NonUTF8 || f.Flags&flagUTF8 == 0 {
			t.Errorf("%q: UTF-8 flag not set", f.Name)
		}
		if f.Method != zip.Store {
			t.Errorf("%q: method %d", f.Name, f.Method)
		}
		if !f.Modified.Equal(testTime) {
			t.Errorf("%q: modified %v, want %v", f.Name, f.Modified, testTime)
		}
		isDir := strings.HasSuffix(f.Name, "/")
		if f.Mode().IsDir() != isDir {
			t.Errorf("%q: mode %v", f.Name, f.Mode())
		}
		if wantPerm := fs.FileMode(0o644); isDir && f.Mode().Perm() != 0o755 || !isDir && f.Mode().Perm() != wantPerm {
			t.Errorf("%q: perm %v", f.Name, f.Mode().Perm())
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%q: %v", f.Name, err)
		}
		got, err := io.ReadAll(rc) // checks the CRC at EOF
		rc.Close()
		if err != nil {
			t.Fatalf("%q: %v", f.Name, err)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("%q: content differs (%d bytes, want %d)", f.Name, len(got), len(content))
		}
	}
	if sum != uint64(plan.NumBytes()) {
		t.Fatalf("sum of sizes %d, NumBytes %d", sum, plan.NumBytes())
	}
}

// pyCheckZip runs Python's zipfile on a zip: testzip, the entry list, and
// the extraction loop of the 0.12 receiver (cmd_receive._extract_file:
// zf.extract, then os.chmod(path, external_attr >> 16)), after which every
// extracted file must be readable. It prints name -> sha256 (or "dir").
const pyCheckZip = `
import hashlib, json, os, sys, zipfile
path = sys.argv[1]
out = {"bad": None, "names": [], "files": {}}
with zipfile.ZipFile(path, "r", zipfile.ZIP_DEFLATED) as zf:
    out["bad"] = zf.testzip()
    out["names"] = zf.namelist()
    dest = sys.argv[2]
    infos = zf.infolist() if sys.argv[3] == "1" else []
    for info in infos:
        out_path = os.path.join(dest, info.filename)
        zf.extract(info.filename, path=dest)
        os.chmod(out_path, info.external_attr >> 16)
for root, dirs, files in os.walk(dest) if infos else []:
    for d in dirs:
        p = os.path.join(root, d)
        if not os.listdir(p):
            out["files"][os.path.relpath(p, dest) + "/"] = "dir"
    for f in files:
        p = os.path.join(root, f)
        with open(p, "rb") as fh:
            out["files"][os.path.relpath(p, dest)] = hashlib.sha256(fh.read()).hexdigest()
json.dump(out, sys.stdout)
`

// checkPythonZip checks the zip at path with Python; extract adds the 0.12
// receiver's extraction loop (slow for tens of thousands of files).
func checkPythonZip(t *testing.T, path string, want map[string][]byte, extract bool) {
	t.Helper()
	py := peers.Python(t)
	x := "0"
	if extract {
		x = "1"
	}
	out, err := exec.Command(py, "-c", pyCheckZip, path, t.TempDir(), x).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python zipfile: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("python: %v", err)
	}
	var res struct {
		Bad   *string
		Names []string
		Files map[string]string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %s: %v", out, err)
	}
	if res.Bad != nil {
		t.Fatalf("python testzip: bad entry %q", *res.Bad)
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	slices.Sort(res.Names)
	if !slices.Equal(res.Names, wantNames) {
		t.Fatalf("python namelist %q, want %q", res.Names, wantNames)
	}
	if !extract {
		return
	}
	if len(res.Files) != len(want) {
		t.Fatalf("python extracted %d paths, want %d", len(res.Files), len(want))
	}
	for n, content := range want {
		wantSum := "dir"
		if !strings.HasSuffix(n, "/") {
			s := sha256.Sum256(content)
			wantSum = hex.EncodeToString(s[:])
		}
		if res.Files[n] != wantSum {
			t.Errorf("python extracted %q: %q, want %q", n, res.Files[n], wantSum)
		}
	}
}

func TestZipPlanModes(t *testing.T) {
	exe := memEntry("run.sh", []byte("#!/bin/sh\n"))
	exe.Mode = 0o755
	ro := memEntry("ro.txt", []byte("x"))
	ro.Mode = 0o444
	unset := memEntry("unset", []byte("x"))
	unset.Mode = 0
	rodir := Entry{Name: "rodir/", Mode: fs.ModeDir | 0o555}
	old := memEntry("old", nil)
	old.Modified = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	plan, err := NewZipPlan([]Entry{exe, ro, unset, rodir, old})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := plan.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{
		"run.sh": 0o100755, "ro.txt": 0o100444, "unset": 0o100644,
		"rodir/": 0o040755, // owner rwx added: Python chmods before extracting children
		"old":    0o100644,
	}
	for _, f := range zr.File {
		if got := f.ExternalAttrs >> 16; got != want[f.Name] {
			t.Errorf("%q: unix mode %o, want %o", f.Name, got, want[f.Name])
		}
		if f.CreatorVersion>>8 != 3 {
			t.Errorf("%q: creator %d is not Unix", f.Name, f.CreatorVersion>>8)
		}
		if f.Name == "old" && (f.ModifiedDate != 1<<5|1 || f.ModifiedTime != 0) {
			t.Errorf("pre-1980 time not clamped: %x %x", f.ModifiedDate, f.ModifiedTime)
		}
	}
}

func TestNewZipPlanRejects(t *testing.T) {
	file := func(n string) Entry { return memEntry(n, []byte("x")) }
	link := memEntry("link", nil)
	link.Mode = fs.ModeSymlink | 0o777
	slashFile := dirEntry("d/")
	slashFile.Mode = 0o644
	dirNoSlash := dirEntry("d")
	sized := dirEntry("d/")
	sized.Size = 3
	neg := file("neg")
	neg.Size = -1
	noOpen := file("noopen")
	noOpen.Open = nil
	cases := []struct {
		name    string
		entries []Entry
	}{
		{"absolute", []Entry{file("/etc/passwd")}},
		{"dotdot", []Entry{file("../x")}},
		{"inner dotdot", []Entry{file("a/../../x")}},
		{"dot", []Entry{file("./x")}},
		{"empty component", []Entry{file("a//b")}},
		{"empty", []Entry{file("")}},
		{"root dir", []Entry{dirEntry("/")}},
		{"backslash", []Entry{file(`a\b`)}},
		{"NUL", []Entry{file("a\x00b")}},
		{"not UTF-8", []Entry{file("caf\xe9")}},
		{"too long", []Entry{file(strings.Repeat("a", 70000))}},
		{"duplicate", []Entry{file("a"), file("a")}},
		{"file and dir", []Entry{file("a"), dirEntry("a/")}},
		{"file is a parent", []Entry{file("a"), file("a/b")}},
		{"file is a parent, other order", []Entry{file("a/b/c"), file("a/b")}},
		{"symlink", []Entry{link}},
		{"slash name, file mode", []Entry{slashFile}},
		{"dir mode, no slash", []Entry{dirNoSlash}},
		{"dir with size", []Entry{sized}},
		{"negative size", []Entry{neg}},
		{"no Open", []Entry{noOpen}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewZipPlan(tc.entries); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("NewZipPlan = %v, want ErrInvalidName", err)
			}
		})
	}
}

// lyingEntry claims size bytes but its reader yields actual bytes.
func lyingEntry(name string, size, actual int) Entry {
	e := memEntry(name, pattern(actual, 3))
	e.Size = int64(size)
	return e
}

func TestWriteToDetectsChangedFiles(t *testing.T) {
	openErr := errors.New("permission denied")
	failing := memEntry("gone", []byte("x"))
	failing.Open = func() (io.ReadCloser, error) { return nil, openErr }
	cases := []struct {
		name string
		e    Entry
		want error
	}{
		{"shrank", lyingEntry("f", 1000, 999), ErrFileChanged},
		{"shrank to nothing", lyingEntry("f", 1000, 0), ErrFileChanged},
		{"grew", lyingEntry("f", 1000, 1001), ErrFileChanged},
		{"empty file grew", lyingEntry("f", 0, 1), ErrFileChanged},
		{"open fails", failing, openErr},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := NewZipPlan([]Entry{memEntry("before", []byte("ok")), tc.e})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := plan.WriteTo(io.Discard); !errors.Is(err, tc.want) {
				t.Fatalf("WriteTo = %v, want %v", err, tc.want)
			}
		})
	}
}

type failWriter struct{ left int }

var errWrite = errors.New("connection lost")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errWrite
	}
	w.left -= len(p)
	return len(p), nil
}

func TestWriteToPropagatesWriteErrors(t *testing.T) {
	plan, err := NewZipPlan([]Entry{memEntry("a", pattern(500000, 4)), memEntry("b", []byte("b"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 10, 5000, 300000, int(plan.Size()) - 1} {
		n, err := plan.WriteTo(&failWriter{left: at})
		if !errors.Is(err, errWrite) || n != int64(at) {
			t.Errorf("fail at %d: WriteTo = %d, %v", at, n, err)
		}
	}
}

func TestDirEntries(t *testing.T) {
	root := t.TempDir()
	mk := func(p string, data string, mode fs.FileMode) {
		p = filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("a.txt", "alpha", 0o644)
	mk("sub/ü-ß.txt", "unicode", 0o600)
	mk("sub/run.sh", "#!/bin/sh", 0o755)
	mk("sub/deeper/zero", "", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "empty", "nested-empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link-to-a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, "sub", "link-out")); err != nil {
		t.Fatal(err)
	}
	mk(`back\slash`, "bs", 0o644)
	if err := os.Mkdir(filepath.Join(root, "bad\xffdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mk("bad\xffdir/inside", "hidden", 0o644)

	entries, skipped, err := DirEntries(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	wantNames := []string{"a.txt", "empty/", "empty/nested-empty/", "sub/", "sub/deeper/", "sub/deeper/zero",
		"sub/run.sh", "sub/ü-ß.txt"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("entries %q\nwant %q", names, wantNames)
	}
	var skippedNames []string
	for _, s := range skipped {
		skippedNames = append(skippedNames, s.Name)
		if s.Reason == "" {
			t.Errorf("skipped %q without a reason", s.Name)
		}
	}
	if want := []string{`back\slash`, "bad\xffdir", "link-to-a", "sub/link-out"}; !slices.Equal(skippedNames, want) {
		t.Fatalf("skipped %q, want %q", skippedNames, want)
	}

	plan, err := NewZipPlan(entries)
	if err != nil {
		t.Fatal(err)
	}
	// Empty directories get entries, the others are implied by their files.
	want := map[string][]byte{
		"a.txt": []byte("alpha"), "empty/nested-empty/": nil, "sub/deeper/zero": nil,
		"sub/run.sh": []byte("#!/bin/sh"), "sub/ü-ß.txt": []byte("unicode"),
	}
	var buf bytes.Buffer
	if _, err := plan.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != plan.Size() || plan.NumFiles() != len(want) || plan.NumBytes() != 5+9+7 {
		t.Fatalf("size %d/%d, files %d, bytes %d", buf.Len(), plan.Size(), plan.NumFiles(), plan.NumBytes())
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if _, ok := want[f.Name]; !ok {
			t.Errorf("unexpected zip entry %q", f.Name)
		}
		if f.Name == "sub/run.sh" && f.Mode().Perm() != 0o755 {
			t.Errorf("run.sh perm %v", f.Mode().Perm())
		}
	}

	// The full round trip: our receiver rebuilds the tree.
	dest := filepath.Join(t.TempDir(), "received")
	if err := Extract(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	for name, content := range want {
		p := filepath.Join(dest, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				t.Errorf("%s: not a directory (%v)", name, err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "sub", "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its exec bit: %v %v", fi.Mode(), err)
	}
}
