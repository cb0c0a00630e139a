package unpack

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
)

// memDir records what Unpack creates.
type memDir struct {
	dirs  map[string]bool
	files map[string]*bytes.Buffer
}

func newMemDir() *memDir { return &memDir{dirs: map[string]bool{}, files: map[string]*bytes.Buffer{}} }

func (d *memDir) MkdirAll(p string) error {
	for ; p != ""; p = parent(p) {
		if _, ok := d.files[p]; ok {
			return errors.New("file in the way")
		}
		d.dirs[p] = true
	}
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (d *memDir) Create(p string) (io.WriteCloser, error) {
	if parent(p) != "" && !d.dirs[parent(p)] {
		return nil, errors.New("no parent folder " + parent(p))
	}
	b := &bytes.Buffer{}
	d.files[p] = b
	return nopCloser{b}, nil
}

func (d *memDir) tree() map[string]string {
	m := map[string]string{}
	for p := range d.dirs {
		m[p] = "dir"
	}
	for p, b := range d.files {
		m[p] = b.String()
	}
	return m
}

type zent struct {
	name   string
	body   string
	method uint16
	mode   fs.FileMode
}

func makeZip(t testing.TB, ents []zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: e.method, Modified: time.Unix(1700000000, 0)}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpack(t *testing.T) {
	tests := []struct {
		name    string
		ents    []zent
		limits  transfer.Limits
		want    map[string]string
		skipped int
		err     error
	}{
		{
			name: "nested, stored and deflated, empty folder, unicode",
			ents: []zent{
				{name: "top.txt", body: "top", method: zip.Store},
				{name: "sub/deeper/deepest.bin", body: "deep", method: zip.Deflate},
				{name: "empty-folder/"},
				{name: "日本語/ファイル.txt", body: "jp", method: zip.Deflate},
				{name: "empty.bin", method: zip.Store},
			},
			want: map[string]string{
				"top.txt": "top", "sub": "dir", "sub/deeper": "dir", "sub/deeper/deepest.bin": "deep",
				"empty-folder": "dir", "日本語": "dir", "日本語/ファイル.txt": "jp", "empty.bin": "",
			},
		},
		{
			name: "unsafe names are made portable",
			ents: []zent{{name: `win\dows:file?.txt`, body: "x"}},
			want: map[string]string{"win": "dir", "win/dows_file_.txt": "x"},
		},
		{name: "dot-dot refused", ents: []zent{{name: "../evil", body: "x"}}, err: transfer.ErrUnsafeName},
		{name: "absolute refused", ents: []zent{{name: "/etc/passwd", body: "x"}}, err: transfer.ErrUnsafeName},
		{name: "duplicate file", ents: []zent{{name: "a", body: "1"}, {name: "a", body: "2"}}, err: transfer.ErrBadZip},
		{name: "file and folder", ents: []zent{{name: "a", body: "1"}, {name: "a/b", body: "2"}}, err: transfer.ErrBadZip},
		{name: "duplicate folder is fine", ents: []zent{{name: "a/"}, {name: "a/"}}, want: map[string]string{"a": "dir"}},
		// Names a case-insensitive or normalising folder (Windows, macOS)
		// would merge: refused, so the second never replaces the first.
		{name: "names differing in case", ents: []zent{{name: "Readme.md", body: "1"}, {name: "README.md", body: "2"}}, err: transfer.ErrNameCollision},
		{name: "folders differing in case", ents: []zent{{name: "Docs/a", body: "1"}, {name: "docs/b", body: "2"}}, err: transfer.ErrNameCollision},
		{name: "composed and decomposed", ents: []zent{{name: "caf\u00e9.txt", body: "1"}, {name: "cafe\u0301.txt", body: "2"}}, err: transfer.ErrNameCollision},
		{name: "Kelvin sign and K", ents: []zent{{name: "\u212a", body: "1"}, {name: "k", body: "2"}}, err: transfer.ErrNameCollision},
		{name: "names mapped to one portable name", ents: []zent{{name: "x:1.txt", body: "1"}, {name: "x_1.txt", body: "2"}}, err: transfer.ErrBadZip},
		{
			name:    "symlink skipped",
			ents:    []zent{{name: "link", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}, {name: "f", body: "ok"}},
			want:    map[string]string{"f": "ok"},
			skipped: 1,
		},
		{
			name:   "too many entries",
			ents:   []zent{{name: "a", body: "1"}, {name: "b", body: "2"}, {name: "c", body: "3"}},
			limits: transfer.Limits{MaxFiles: 2},
			err:    transfer.ErrTooManyFiles,
		},
		{
			name:   "too many bytes",
			ents:   []zent{{name: "a", body: "12345"}, {name: "b", body: "678"}},
			limits: transfer.Limits{MaxBytes: 7},
			err:    transfer.ErrTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := makeZip(t, tt.ents)
			d := newMemDir()
			skipped, err := Unpack(bytes.NewReader(z), int64(len(z)), d, tt.limits)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				if len(d.files) != 0 {
					t.Fatalf("wrote %v before refusing", d.tree())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.tree(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tree %v, want %v", got, tt.want)
			}
			if len(skipped) != tt.skipped {
				t.Errorf("skipped %v, want %d", skipped, tt.skipped)
			}
		})
	}
}

// TestHeaderLies: an entry whose real data is longer than its header says
// (a classic zip bomb trick) must not write past the byte budget.
func TestHeaderLies(t *testing.T) {
	big := bytes.Repeat([]byte("A"), 1<<16)
	z := makeZip(t, []zent{{name: "bomb", body: string(big), method: zip.Deflate}})
	// Patch the uncompressed size in the central directory to 10.
	cd := bytes.LastIndex(z, []byte("PK\x01\x02"))
	if cd < 0 {
		t.Fatal("no central directory")
	}
	copy(z[cd+24:cd+28], []byte{10, 0, 0, 0})
	d := newMemDir()
	_, err := Unpack(bytes.NewReader(z), int64(len(z)), d, transfer.Limits{MaxBytes: 100})
	if err == nil {
		t.Fatal("accepted a zip whose entry is larger than declared")
	}
	if b := d.files["bomb"]; b != nil && b.Len() > 101 {
		t.Fatalf("wrote %d bytes with a budget of 100", b.Len())
	}
}

func TestCorruptData(t *testing.T) {
	z := makeZip(t, []zent{{name: "f", body: "hello world hello world", method: zip.Store}})
	i := bytes.Index(z, []byte("hello"))
	z[i] ^= 0xff // CRC no longer matches
	_, err := Unpack(bytes.NewReader(z), int64(len(z)), newMemDir(), transfer.Limits{})
	if !errors.Is(err, transfer.ErrBadZip) {
		t.Fatalf("got %v, want ErrBadZip", err)
	}
}

// TestCorruptDeflate: deflate data that cannot be decompressed is
// ErrBadZip, like a wrong CRC.
func TestCorruptDeflate(t *testing.T) {
	z := makeZip(t, []zent{{name: "f", body: strings.Repeat("some text ", 1000), method: zip.Deflate}})
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	off, err := zr.File[0].DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	z[off] |= 0x6 // the first deflate block's type: the reserved one
	_, err = Unpack(bytes.NewReader(z), int64(len(z)), newMemDir(), transfer.Limits{})
	if !errors.Is(err, transfer.ErrBadZip) {
		t.Fatalf("got %v, want ErrBadZip", err)
	}
	t.Logf("refused: %v", err)
}

func FuzzUnpack(f *testing.F) {
	f.Add(makeZip(f, []zent{{name: "a/b.txt", body: "hi", method: zip.Deflate}, {name: "c/"}}))
	f.Add(makeZip(f, []zent{{name: "../x", body: "hi"}}))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, z []byte) {
		d := newMemDir()
		_, err := Unpack(bytes.NewReader(z), int64(len(z)), d, transfer.Limits{MaxFiles: 100, MaxBytes: 1 << 20})
		total := 0
		for p, b := range d.files {
			if _, serr := transfer.SafeName(p); serr != nil {
				t.Fatalf("wrote unsafe name %q", p)
			}
			total += b.Len()
		}
		if total > 1<<20+1 {
			t.Fatalf("wrote %d bytes over budget (err %v)", total, err)
		}
	})
}
