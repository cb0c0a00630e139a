package transfer

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"reflect"
	"testing"
	"time"
)

type zent struct {
	name string
	body string
	mode fs.FileMode
}

func makeTestZip(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Unix(1700000000, 0)}
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

// TestCheckZip: what every unpacker (Extract, the browser's) accepts and
// refuses. It also runs in the browser build under Node
// (TestCheckZipNode), where names are normalised by the browser.
func TestCheckZip(t *testing.T) {
	link := fs.ModeSymlink | 0o777
	tests := []struct {
		name    string
		ents    []zent
		opts    CheckOptions
		want    []string // "kind name" of each entry
		skipped int
		err     error
	}{
		{name: "files and folders", ents: []zent{{name: "a/"}, {name: "a/b.txt", body: "x"}, {name: "c.txt"}},
			want: []string{"dir a", "file a/b.txt", "file c.txt"}},
		{name: "a folder listed twice", ents: []zent{{name: "a/"}, {name: "a/"}}, want: []string{"dir a", "dir a"}},
		{name: "windows folder", ents: []zent{{name: `w\`}}, want: []string{"dir w"}},
		{name: "names made portable", ents: []zent{{name: `a\b:c`, body: "x"}}, want: []string{"file a/b_c"}},
		{name: "symlink kept", ents: []zent{{name: "l", body: "t", mode: link}}, want: []string{"link l"}},
		{name: "symlink skipped", ents: []zent{{name: "l", body: "t", mode: link}, {name: "f"}},
			opts: CheckOptions{NoLinks: true}, want: []string{"file f"}, skipped: 1},
		{name: "pipe refused", ents: []zent{{name: "p", mode: fs.ModeNamedPipe}}, err: ErrBadZip},
		{name: "pipe skipped", ents: []zent{{name: "p", mode: fs.ModeNamedPipe}}, opts: CheckOptions{NoLinks: true}, skipped: 1},
		{name: "dot-dot", ents: []zent{{name: "../x"}}, err: ErrUnsafeName},
		{name: "absolute", ents: []zent{{name: "/x"}}, err: ErrUnsafeName},
		{name: "duplicate file", ents: []zent{{name: "a"}, {name: "a"}}, err: ErrBadZip},
		{name: "file then folder", ents: []zent{{name: "a"}, {name: "a/"}}, err: ErrBadZip},
		{name: "folder then file", ents: []zent{{name: "a/"}, {name: "a"}}, err: ErrBadZip},
		{name: "file as parent", ents: []zent{{name: "a"}, {name: "a/b"}}, err: ErrBadZip},
		{name: "parent then file", ents: []zent{{name: "a/b"}, {name: "a"}}, err: ErrBadZip},
		{name: "portable names collide", ents: []zent{{name: "x:1"}, {name: "x_1"}}, err: ErrBadZip},
		{name: "case", ents: []zent{{name: "Readme"}, {name: "README"}}, err: ErrNameCollision},
		{name: "case of a folder", ents: []zent{{name: "Docs/a"}, {name: "docs/b"}}, err: ErrNameCollision},
		{name: "case of folder entries", ents: []zent{{name: "Docs/"}, {name: "docs/"}}, err: ErrNameCollision},
		{name: "case of a symlink", ents: []zent{{name: "f"}, {name: "F", body: "t", mode: link}}, err: ErrNameCollision},
		{name: "non-ASCII case", ents: []zent{{name: "Ärger"}, {name: "ärger"}}, err: ErrNameCollision},
		{name: "Kelvin sign", ents: []zent{{name: "\u212a"}, {name: "k"}}, err: ErrNameCollision},
		{name: "NFC and NFD", ents: []zent{{name: "caf\u00e9"}, {name: "cafe\u0301"}}, err: ErrNameCollision},
		{name: "NFD folder", ents: []zent{{name: "re\u0301sume\u0301/a"}, {name: "r\u00e9sum\u00e9/b"}}, err: ErrNameCollision},
		{name: "distinct accents pass", ents: []zent{{name: "caf\u00e9"}, {name: "caf\u00e8"}}, want: []string{"file caf\u00e9", "file caf\u00e8"}},
		{name: "too many entries", ents: []zent{{name: "a"}, {name: "b"}}, opts: CheckOptions{Limits: Limits{MaxFiles: 1}}, err: ErrTooManyFiles},
		{name: "too many bytes", ents: []zent{{name: "a", body: "1234"}, {name: "b", body: "5"}},
			opts: CheckOptions{Limits: Limits{MaxBytes: 4}}, err: ErrTooLarge},
		{name: "not a zip", err: ErrBadZip},
	}
	kinds := map[EntryKind]string{EntryDir: "dir", EntryFile: "file", EntrySymlink: "link"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := []byte("not a zip")
			if tt.ents != nil {
				z = makeTestZip(t, tt.ents...)
			}
			c, err := CheckZip(bytes.NewReader(z), int64(len(z)), tt.opts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range c.Entries {
				got = append(got, kinds[e.Kind]+" "+e.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries %q, want %q", got, tt.want)
			}
			if len(c.Skipped) != tt.skipped {
				t.Errorf("skipped %v, want %d", c.Skipped, tt.skipped)
			}
		})
	}
}

// TestFoldName: the key under which two spellings of a name meet.
func TestFoldName(t *testing.T) {
	same := [][2]string{
		{"abc", "ABC"}, {"\u212a", "k"}, {"\u00c5", "\u212b"}, {"caf\u00e9", "CAFE\u0301"},
		{"\u03c3", "\u03a3"}, {"\u03c2", "\u03c3"}, {"a/B", "A/b"},
	}
	for _, p := range same {
		if foldName(p[0]) != foldName(p[1]) {
			t.Errorf("%+q and %+q fold apart: %+q, %+q", p[0], p[1], foldName(p[0]), foldName(p[1]))
		}
	}
	differ := [][2]string{{"a", "b"}, {"caf\u00e9", "cafe"}, {"\ufb01", "fi"}, {"a_1", "a-1"}}
	for _, p := range differ {
		if foldName(p[0]) == foldName(p[1]) {
			t.Errorf("%+q and %+q fold together", p[0], p[1])
		}
	}
}

// FuzzCheckZip: whatever the bytes, CheckZip neither panics nor passes an
// unsafe name, two names that fold together, or more declared bytes than
// its limit.
func FuzzCheckZip(f *testing.F) {
	f.Add(makeTestZip(f, zent{name: "a/b.txt", body: "hi"}, zent{name: "c/"}))
	f.Add(makeTestZip(f, zent{name: "A"}, zent{name: "a"}))
	f.Add(makeTestZip(f, zent{name: "caf\u00e9"}, zent{name: "cafe\u0301"}))
	f.Add(makeTestZip(f, zent{name: "../x", body: "hi"}))
	f.Add(makeTestZip(f, zent{name: "l", body: "../t", mode: fs.ModeSymlink | 0o777}))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, z []byte) {
		const maxBytes = 1 << 20
		c, err := CheckZip(bytes.NewReader(z), int64(len(z)), CheckOptions{Limits: Limits{MaxFiles: 100, MaxBytes: maxBytes}})
		if err != nil {
			return
		}
		seen := map[string]string{}
		var declared uint64
		for _, e := range c.Entries {
			if s, err := SafeName(e.Name); err != nil || s != e.Name {
				t.Fatalf("passed unsafe name %q", e.Name)
			}
			if prev, ok := seen[foldName(e.Name)]; ok && (prev != e.Name || e.Kind != EntryDir) {
				t.Fatalf("passed %q and %q", prev, e.Name)
			}
			seen[foldName(e.Name)] = e.Name
			if e.Kind != EntryDir {
				declared += e.File.UncompressedSize64
			}
		}
		if declared > maxBytes {
			t.Fatalf("passed %d declared bytes", declared)
		}
	})
}
