package zipread

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// wantEntry is what a test expects of one entry.
type wantEntry struct {
	name, content string
	mode          fs.FileMode
}

var testTime = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

// goZip writes entries with archive/zip's writer, streaming (data
// descriptors) unless raw, which stores them with CreateRaw.
func goZip(comment string, hdrs ...zip.FileHeader) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, h := range hdrs {
			body := h.Comment // the content rides in Comment; cleared below
			h.Comment = ""
			w, err := zw.CreateHeader(&h)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, body)
		}
		if err := zw.SetComment(comment); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
}

func raw(z rawZip) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return z.bytes(t) }
}

func withMode(h zip.FileHeader, m fs.FileMode) zip.FileHeader {
	h.SetMode(m)
	return h
}

var long = strings.Repeat("compressible text, ", 5000)

var acceptTests = []struct {
	name string
	zip  func(testing.TB) []byte
	want []wantEntry
}{
	{"empty zip", raw(rawZip{}), nil},
	{"archive/zip writer: deflate, store, modes, comment", goZip("archive comment",
		withMode(zip.FileHeader{Name: "dir/", Modified: testTime}, fs.ModeDir|0o755),
		withMode(zip.FileHeader{Name: "dir/run.sh", Method: zip.Deflate, Modified: testTime, Comment: "#!/bin/sh\n"}, 0o755),
		zip.FileHeader{Name: "long.txt", Method: zip.Deflate, Modified: testTime, Comment: long},
		zip.FileHeader{Name: "stored.bin", Method: zip.Store, Modified: testTime, Comment: "as is"},
		zip.FileHeader{Name: "empty", Method: zip.Deflate, Modified: testTime},
		withMode(zip.FileHeader{Name: "link", Modified: testTime, Comment: "dir/run.sh"}, fs.ModeSymlink|0o777),
		zip.FileHeader{Name: "日本語/ファイル.txt", Method: zip.Deflate, Modified: testTime, Comment: "utf-8"},
	), []wantEntry{
		{"dir/", "", fs.ModeDir | 0o755}, {"dir/run.sh", "#!/bin/sh\n", 0o755}, {"long.txt", long, 0o666},
		{"stored.bin", "as is", 0o666}, {"empty", "", 0o666}, {"link", "dir/run.sh", fs.ModeSymlink | 0o777},
		{"日本語/ファイル.txt", "utf-8", 0o666},
	}},
	{"stored, deflated, descriptors with and without signature", raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "stored"},
		{name: "b", plain: long, method: Deflate, desc: 1},
		{name: "c", plain: "no signature", desc: 2},
		{name: "d", plain: "", method: Deflate, desc: 2},
	}}), []wantEntry{{name: "a", content: "stored"}, {name: "b", content: long}, {name: "c", content: "no signature"}, {name: "d"}}},
	{"Zip64 extra fields and end record", raw(rawZip{zip64End: true, entries: []rawEntry{
		{name: "first", plain: "one", zip64: true},
		{name: "second", plain: long, method: Deflate, zip64: true, desc: 1},
		{name: "third", plain: "three"},
	}}), []wantEntry{{name: "first", content: "one"}, {name: "second", content: long}, {name: "third", content: "three"}}},
	{"prefix before the zip", raw(rawZip{prefix: []byte("#!/bin/sh\nexit 0\n"), entries: []rawEntry{
		{name: "a", plain: "after a stub"}, {name: "b", plain: long, method: Deflate},
	}}), []wantEntry{{name: "a", content: "after a stub"}, {name: "b", content: long}}},
	{"entry comments, UTF-8 flag, CP437 name", raw(rawZip{comment: "zip comment", entries: []rawEntry{
		{name: "caf\u00e9", plain: "flagged", flags: 0x800, comment: "entry comment"},
		{name: "caf\u00e9 unflagged", plain: "no flag"},
		{name: "caf\x82", plain: "cp437"},
	}}), []wantEntry{{name: "caf\u00e9", content: "flagged"}, {name: "caf\u00e9 unflagged", content: "no flag"}, {name: "caf\x82", content: "cp437"}}},
	{"times from extra fields", raw(rawZip{entries: []rawEntry{
		{name: "exttime", dosDate: 0x58a6, dosTime: 0x3904, extra: []byte{0x55, 0x54, 5, 0, 1, 0x80, 0x99, 0x38, 0x66}},
		{name: "ntfs", extra: append([]byte{0x0a, 0, 32, 0, 0, 0, 0, 0, 1, 0, 24, 0}, make([]byte, 24)...)},
		{name: "unix", dosDate: 0x58a6, extra: []byte{0x0d, 0, 8, 0, 0, 0, 0, 0, 0x80, 0x99, 0x38, 0x66}},
		{name: "dos only", dosDate: 0x58a6, dosTime: 0x3904},
		{name: "malformed extra", extra: []byte{0x55, 0x54, 9, 0, 1}},
	}}), []wantEntry{{name: "exttime"}, {name: "ntfs"}, {name: "unix"}, {name: "dos only"}, {name: "malformed extra"}}},
	{"Windows creator: directory and read-only bits", raw(rawZip{entries: []rawEntry{
		{name: `win\dir\`, creator: 11, attrs: 0x10},
		{name: `win\ro.txt`, plain: "ro", creator: 0, attrs: 0x01},
	}}), []wantEntry{{`win\dir\`, "", fs.ModeDir | 0o777}, {`win\ro.txt`, "ro", 0o444}}},
	{"a directory with a compressed size (Java's jar)", raw(rawZip{entries: []rawEntry{
		{name: "META-INF/", method: Deflate},
	}}), []wantEntry{{name: "META-INF/", mode: fs.ModeDir | 0o666}}},
	{"no CRC, no check", raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "unchecked", edit: func(h *rawHeader) { h.crc = 0 }},
	}}), []wantEntry{{name: "a", content: "unchecked"}}},
	{"uncompressed size 0xFFFFFFFF without Zip64 (42.zip)", raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "x", method: Deflate, edit: func(h *rawHeader) { h.usize = 1<<32 - 1 }},
	}}), nil},
}

// TestAccept reads zips of every supported layout, cross-checked with
// archive/zip, and compares names and contents with what was written.
func TestAccept(t *testing.T) {
	for _, tc := range acceptTests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.zip(t)
			zr := crossCheck(t, data)
			if zr == nil {
				t.Fatal("refused")
			}
			if tc.want == nil {
				return
			}
			if len(zr.File) != len(tc.want) {
				t.Fatalf("%d entries, want %d", len(zr.File), len(tc.want))
			}
			for i, w := range tc.want {
				f := zr.File[i]
				got, err := readEntry(f.Open)
				if f.Name != w.name || string(got) != w.content || err != nil {
					t.Errorf("entry %d: %q = %.30q (%v), want %q = %.30q", i, f.Name, got, err, w.name, w.content)
				}
				if w.mode != 0 && f.Mode() != w.mode {
					t.Errorf("%q: mode %v, want %v", f.Name, f.Mode(), w.mode)
				}
			}
		})
	}
}

// TestTimes: the modification times the extra fields give, as
// archive/zip reports them.
func TestTimes(t *testing.T) {
	var zr *Reader
	for _, tc := range acceptTests {
		if tc.name == "times from extra fields" {
			zr = crossCheck(t, tc.zip(t))
		}
	}
	unix := time.Unix(0x66389980, 0)
	want := map[string]time.Time{
		"exttime":         unix,
		"ntfs":            time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC),
		"unix":            unix,
		"dos only":        time.Date(2024, 5, 6, 7, 8, 8, 0, time.UTC),
		"malformed extra": time.Date(1980, 0, 0, 0, 0, 0, 0, time.UTC),
	}
	for _, f := range zr.File {
		if !f.Modified().Equal(want[f.Name]) {
			t.Errorf("%s: %v, want %v", f.Name, f.Modified(), want[f.Name])
		}
	}
	// DOS 07:08:08 against 08:49:04 UTC: the writer was at UTC-1:41,
	// rounded to a quarter hour.
	if _, off := zr.File[0].Modified().Zone(); off != -(1*3600 + 45*60) {
		t.Errorf("exttime: zone offset %d s", off)
	}
}

var refuseTests = []struct {
	name    string
	zip     func(testing.TB) []byte
	openErr error // Open's error; nil if NewReader or reading fails
	readErr error // reading's error
	dirErr  error // NewReader's error
}{
	{name: "empty input", zip: func(testing.TB) []byte { return nil }, dirErr: ErrFormat},
	{name: "not a zip", zip: func(testing.TB) []byte { return []byte("hello, not a zip at all") }, dirErr: ErrFormat},
	{name: "end record with a cut comment", zip: func(testing.TB) []byte { return []byte("PK\x05\x06" + strings.Repeat("\x00", 16) + "\x10\x00abc") }, dirErr: ErrFormat},
	{name: "count larger than the directory", zip: raw(rawZip{count: 3, entries: []rawEntry{{name: "a"}, {name: "b"}}}), dirErr: ErrFormat},
	{name: "directory larger than what precedes the end record", zip: func(t testing.TB) []byte {
		b := raw(rawZip{entries: []rawEntry{{name: "a"}}})(t)
		copy(b[len(b)-10:], []byte{0xff, 0xff, 0xff, 0x7f})
		return b
	}, dirErr: ErrFormat},
	{name: "directory swallowing the end record", zip: func(t testing.TB) []byte {
		b := raw(rawZip{entries: []rawEntry{{name: "a", plain: "x"}}})(t)
		i := bytes.LastIndex(b, []byte("PK\x01\x02"))
		b[i+32] = directoryEndLen // the entry's comment runs to the end
		return b
	}, dirErr: ErrFormat},
	{name: "Zip64 size needed, no Zip64 field", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "x", edit: func(h *rawHeader) { h.csize = 1<<32 - 1 }},
	}}), dirErr: ErrFormat},
	{name: "Zip64 field too short", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "x", edit: func(h *rawHeader) { h.offset = 1<<32 - 1; h.extra = []byte{1, 0, 4, 0, 0, 0, 0, 0} }},
	}}), dirErr: ErrFormat},
	{name: "Zip64 end record missing", zip: func(t testing.TB) []byte {
		b := raw(rawZip{zip64End: true, entries: []rawEntry{{name: "a", plain: "x"}}})(t)
		i := bytes.LastIndex(b, []byte("PK\x06\x06"))
		b[i+3] = 0
		return b
	}, dirErr: ErrFormat},
	{name: "unsupported method", zip: raw(rawZip{entries: []rawEntry{
		{name: "a.bz2", plain: "x", edit: func(h *rawHeader) { h.method = 12 }},
	}}), openErr: ErrAlgorithm},
	{name: "local header missing", zip: func(t testing.TB) []byte {
		b := raw(rawZip{entries: []rawEntry{{name: "a", plain: "x"}}})(t)
		b[0] = 'X'
		return b
	}, openErr: ErrFormat},
	{name: "local header beyond the input", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "x", edit: func(h *rawHeader) { h.offset = 1 << 20 }},
	}}), openErr: ErrFormat},
	{name: "local header beyond int64", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "x", zip64: true, edit: func(h *rawHeader) { h.offset = 1 << 63 }},
	}}), openErr: ErrFormat},
	{name: "bad CRC", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "hello", edit: func(h *rawHeader) { h.crc ^= 1 }},
	}}), readErr: ErrChecksum},
	{name: "bad CRC, deflated", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: long, method: Deflate, edit: func(h *rawHeader) { h.crc ^= 1 }},
	}}), readErr: ErrChecksum},
	{name: "descriptor CRC differs from the directory's", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "hello", desc: 1, edit: func(h *rawHeader) { h.crc ^= 1 }},
	}}), readErr: ErrChecksum},
	{name: "more data than declared", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: long, method: Deflate, edit: func(h *rawHeader) { h.usize = 10 }},
	}}), readErr: ErrFormat},
	{name: "less data than declared", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: "short", edit: func(h *rawHeader) { h.usize = 6 }},
	}}), readErr: io.ErrUnexpectedEOF},
	{name: "deflate data cut short", zip: raw(rawZip{entries: []rawEntry{
		{name: "a", plain: long, method: Deflate, edit: func(h *rawHeader) { h.csize /= 2 }},
	}}), readErr: io.ErrUnexpectedEOF},
	{name: "corrupt deflate data", zip: func(t testing.TB) []byte {
		b := raw(rawZip{entries: []rawEntry{{name: "a", plain: long, method: Deflate}}})(t)
		b[fileHeaderLen+1] |= 0x6 // the first block's type: reserved
		return b
	}, readErr: ErrFormat},
	{name: "directory with data", zip: raw(rawZip{entries: []rawEntry{{name: "d/", plain: "data"}}}), readErr: ErrFormat},
}

// TestRefuse: broken zips fail with the documented sentinel, where
// archive/zip fails too.
func TestRefuse(t *testing.T) {
	for _, tc := range refuseTests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.zip(t)
			crossCheck(t, data)
			zr, err := NewReader(bytes.NewReader(data), int64(len(data)))
			if tc.dirErr != nil || err != nil {
				if !errors.Is(err, tc.dirErr) || tc.dirErr == nil {
					t.Fatalf("NewReader: %v, want %v", err, tc.dirErr)
				}
				t.Logf("refused: %v", err)
				return
			}
			if len(zr.File) == 0 {
				t.Fatal("no entries")
			}
			rc, err := zr.File[0].Open()
			if tc.openErr != nil || err != nil {
				if !errors.Is(err, tc.openErr) || tc.openErr == nil {
					t.Fatalf("Open: %v, want %v", err, tc.openErr)
				}
				t.Logf("refused: %v", err)
				return
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			if !errors.Is(err, tc.readErr) || tc.readErr == nil {
				t.Fatalf("read %d bytes: %v, want %v", n, err, tc.readErr)
			}
			t.Logf("refused after %d bytes: %v", n, err)
		})
	}
}

// TestReadAfterError: errors stick, and Close makes reads fail.
func TestReadAfterError(t *testing.T) {
	data := raw(rawZip{entries: []rawEntry{{name: "a", plain: long, method: Deflate, edit: func(h *rawHeader) { h.crc ^= 1 }}}})(t)
	zr, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != ErrChecksum {
		t.Fatalf("first read to the end: %v", err)
	}
	if n, err := rc.Read(make([]byte, 10)); n != 0 || err != ErrChecksum {
		t.Fatalf("read again: %d, %v", n, err)
	}
	rc.Close()
	rc, _ = zr.File[0].Open()
	rc.Close()
	if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

func TestNegativeSize(t *testing.T) {
	if _, err := NewReader(bytes.NewReader(nil), -1); !errors.Is(err, ErrFormat) {
		t.Fatalf("got %v", err)
	}
}
