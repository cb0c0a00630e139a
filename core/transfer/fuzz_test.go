package transfer

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wasmhole/wasmhole/internal/jsonx/jsonxtest"
)

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzParseMessage(f *testing.F) {
	for _, tc := range validMessages {
		f.Add([]byte(tc.in))
	}
	for _, s := range []string{
		`{"offer":{"symlink":{}}}`, `{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":-1}}}`,
		`{"transit":{"hints-v1":null}}`, `{"answer":{"message_ack":null}}`, `{"error":1}`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	for _, s := range trickyMessages {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !jsonxtest.TooDeep(b) {
			compareParse(t, b) // the encoding/json decoder it replaced
		}
		m, err := ParseMessage(b)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}

		// Whatever we accept we can send again, unchanged.
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", b, err)
		}
		// What encoding/json would have sent for it, we send.
		if want, err := refMarshal(m); err != nil || !bytes.Equal(enc, want) {
			t.Fatalf("Encode(%+v) = %q, encoding/json %q (%v)", m, enc, want, err)
		}
		m2, err := ParseMessage(enc)
		if err != nil {
			t.Fatalf("cannot parse our own %q: %v", enc, err)
		}
		enc2, err := m2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed %q to %q (%v)", enc, enc2, err)
		}
		if o := m.Offer; o != nil {
			if o.File != nil && o.File.Filesize < 0 || o.Directory != nil && (o.Directory.Zipsize < 0 ||
				o.Directory.Numbytes < 0 || o.Directory.Numfiles < 0 || !strings.HasPrefix(o.Directory.Mode, "zipfile")) {
				t.Fatalf("accepted invalid offer %q", b)
			}
		}
	})
}

func FuzzParseAck(f *testing.F) {
	f.Add([]byte(`{"ack": "ok", "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}`))
	f.Add([]byte(`{"ack":"ok"}`))
	f.Add([]byte(`{"ack":"no","sha256":null}`))
	f.Add([]byte(`{"ack":"ok","sha256":"2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824","ack":"\u006fk"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !jsonxtest.TooDeep(b) {
			compareAck(t, b) // the encoding/json decoder it replaced
		}
		a, err := ParseAck(b)
		if err != nil {
			return
		}
		if want, _ := json.Marshal(refAck(*a)); !bytes.Equal(must(a.Encode()), want) {
			t.Fatalf("Encode(%+v) = %q, encoding/json %q", a, must(a.Encode()), want)
		}
		if a.SHA256 != "" && len(a.SHA256) != 64 {
			t.Fatalf("accepted sha256 %q", a.SHA256)
		}
		enc, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if a2, err := ParseAck(enc); err != nil || *a2 != *a {
			t.Fatalf("round trip %q: %+v, %v", enc, a2, err)
		}
	})
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{
		"a/b.txt", "../x", `..\..\x`, "/abs", `C:\x`, "CON.txt", "a:b", "...", "dir/", "a/./b//c",
		"\x00", "caf\xe9", "日本語/ファイル", "nul .txt", "COM¹", ". .", "x/../y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		out, err := SafeName(name)
		if err == nil {
			checkSafePath(t, name, out)
			if again, err := SafeName(out); err != nil || again != out {
				t.Fatalf("SafeName(%q) = %q is not stable: %q, %v", name, out, again, err)
			}
		} else if !errors.Is(err, ErrUnsafeName) {
			t.Fatalf("SafeName(%q): %v is not ErrUnsafeName", name, err)
		}
		base, err := SafeFilename(name)
		if err == nil {
			checkSafePath(t, name, base)
			if strings.Contains(base, "/") {
				t.Fatalf("SafeFilename(%q) = %q has a separator", name, base)
			}
		}
	})
}

// checkSafePath asserts that out is a relative path that stays below any
// directory it is joined to, on Unix and Windows alike.
func checkSafePath(t *testing.T, in, out string) {
	t.Helper()
	fail := func(why string) { t.Fatalf("%q -> %q: %s", in, out, why) }
	if out == "" || !utf8.ValidString(out) {
		fail("empty or not UTF-8")
	}
	if strings.ContainsAny(out, "\\:<>\"|?*") || strings.HasPrefix(out, "/") {
		fail("separator, drive or reserved character")
	}
	if path.Clean(out) != out || !filepath.IsLocal(filepath.FromSlash(out)) {
		fail("not a clean local path")
	}
	for c := range strings.SplitSeq(out, "/") {
		if c == "" || c == "." || c == ".." || len(c) > maxComponent {
			fail("bad component")
		}
		if strings.HasSuffix(c, ".") || strings.HasSuffix(c, " ") || reservedDevice(c) {
			fail("component Windows would alter")
		}
		for _, r := range c {
			if r < 0x20 || r == 0x7f {
				fail("control character")
			}
		}
	}
}

func FuzzExtract(f *testing.F) {
	seeds := [][]zEnt{
		{{name: "a.txt", data: "hello"}, {name: "d/"}, {name: "d/b", data: "x", method: zip.Deflate}},
		{{name: "../evil", data: "x"}},
		{{name: `..\evil`, data: "x"}, {name: "/abs", data: "y"}},
		{{name: "l", data: "../x", mode: fs.ModeSymlink | 0o777}},
		{{name: "d/l", data: "..", mode: fs.ModeSymlink | 0o777}, {name: "m", data: "d/l/x", mode: fs.ModeSymlink | 0o777}},
		{{name: "l", data: "d", mode: fs.ModeSymlink | 0o777}, {name: "l/x", data: "x"}},
		{{name: "CON", data: "1"}, {name: "a:b/", mode: fs.ModeDir | 0o755}},
		{{name: "x", data: "1"}, {name: "x", data: "2"}},
	}
	for _, s := range seeds {
		f.Add(buildZip(f, s...))
	}
	plan, err := NewZipPlan([]Entry{memEntry("p/q.txt", []byte("planned")), dirEntry("e/")})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := plan.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(out, "dest")
		err := Extract(bytes.NewReader(data), int64(len(data)), dest, Limits{MaxFiles: 200, MaxBytes: 1 << 22})

		if names := dirNames(t, root); len(names) != 1 || names[0] != "out" {
			t.Fatalf("wrote outside the destination's parent: %q", names)
		}
		names := dirNames(t, out)
		if err != nil {
			if len(names) != 0 {
				t.Fatalf("failed (%v) but left %q", err, names)
			}
			return
		}
		if len(names) != 1 || names[0] != "dest" {
			t.Fatalf("left %q next to dest", names)
		}
		// Every symlink must resolve, through any chain, inside dest.
		realDest, err := filepath.EvalSymlinks(dest)
		if err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return err
			}
			rel, _ := filepath.Rel(dest, p)
			got, ok := resolve(filepath.Join(realDest, rel))
			if ok && got != realDest && !strings.HasPrefix(got, realDest+string(filepath.Separator)) {
				target, _ := os.Readlink(p)
				t.Fatalf("symlink %s -> %s resolves to %s, outside %s", rel, target, got, realDest)
			}
			return nil
		})
	})
}

// resolve follows p like the kernel would when creating or opening it:
// symlinks in every component, ".." applied to the resolved directory.
// ok is false when p cannot be reached at all (a missing directory before
// the last component, or a symlink loop).
func resolve(p string) (string, bool) {
	queue := strings.Split(filepath.ToSlash(p), "/")
	cur := string(filepath.Separator)
	for hops := 0; len(queue) > 0; {
		c := queue[0]
		queue = queue[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			if hasName(queue) {
				return "", false
			}
			return next, true // could be created
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", false
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", false
		}
		if filepath.IsAbs(target) {
			cur = string(filepath.Separator)
		}
		queue = append(strings.Split(filepath.ToSlash(target), "/"), queue...)
	}
	return cur, true
}

func hasName(comps []string) bool {
	for _, c := range comps {
		if c != "" && c != "." {
			return true
		}
	}
	return false
}
