package transfer

import (
	"errors"
	"strings"
	"testing"
)

func TestSafeName(t *testing.T) {
	long := strings.Repeat("x", 255)
	cases := []struct{ in, want string }{ // want "" means ErrUnsafeName
		{"a/b.txt", "a/b.txt"},
		{"dir/", "dir"},
		{"./a//b/./c", "a/b/c"},
		{`a\b\c`, "a/b/c"},
		{".hidden/.x", ".hidden/.x"},
		{"日本語/ファイル.txt", "日本語/ファイル.txt"},
		{"a~b c", "a~b c"},
		{long, long},
		// refused
		{"", ""}, {".", ""}, {"./", ""}, {"/", ""}, {"//", ""},
		{"../x", ""}, {"a/../../x", ""}, {"a/..", ""}, {"..", ""},
		{`..\x`, ""}, {`a\..\..\x`, ""},
		{"/etc/passwd", ""}, {`\\server\share\x`, ""}, {`\x`, ""},
		{`C:\Windows\x`, ""}, {"Z:/x", ""}, {"c:", ""}, {`d:\`, ""},
		{"c:foo", "c_foo"}, {"a:b", "a_b"},
		{"a\x00b", ""}, {"caf\xe9", ""},
		{long + "x", ""},
		{"CON." + long[4:], ""}, // 255 bytes, would need a "_" prefix
		// mapped to portable names
		{"CON", "_CON"}, {"con.txt", "_con.txt"}, {"a/Lpt1.log", "a/_Lpt1.log"},
		{"COM¹.txt", "_COM¹.txt"}, {"CONIN$", "_CONIN$"}, {"aux .tar.gz", "_aux .tar.gz"},
		{"nul/x", "_nul/x"}, {"COM0", "_COM0"},
		{"COM10", "COM10"}, {"CONSOLE", "CONSOLE"}, {"xCON", "xCON"},
		{"ab:c", "ab_c"}, {"d/c:x", "d/c_x"}, {`what?<>|"*.txt`, "what______.txt"},
		{"tab\there\x7f", "tab_here_"}, {"trail.", "trail_"}, {"dots...", "dots___"},
		{"...", "___"}, {"spaces  ", "spaces__"}, {". .", "___"}, {"nul ", "nul_"},
		{"CON.", "CON_"},
	}
	for _, tc := range cases {
		got, err := SafeName(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrUnsafeName) {
				t.Errorf("SafeName(%q) = %q, %v; want ErrUnsafeName", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SafeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if again, err := SafeName(got); err != nil || again != got {
			t.Errorf("SafeName not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

func TestSafeFilename(t *testing.T) {
	cases := []struct{ in, want string }{
		{"f.bin", "f.bin"},
		{"résumé.pdf", "résumé.pdf"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\x\evil.exe`, "evil.exe"},
		{"/abs/name", "name"},
		{"c:name", "c_name"},
		{"CON", "_CON"},
		{"a:b?", "a_b_"},
		{"name.", "name_"},
		{"dir/", ""}, {"..", ""}, {".", ""}, {"", ""}, {"a/..", ""},
		{"x\x00", ""}, {"\xff", ""}, {strings.Repeat("y", 256), ""},
	}
	for _, tc := range cases {
		got, err := SafeFilename(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrUnsafeName) {
				t.Errorf("SafeFilename(%q) = %q, %v; want ErrUnsafeName", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SafeFilename(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
