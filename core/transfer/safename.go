package transfer

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// ErrUnsafeName means a received name cannot be made safe: it is absolute,
// climbs out with "..", names a drive, contains NUL, is not UTF-8 or is
// empty.
var ErrUnsafeName = errors.New("unsafe name")

// maxComponent is the usual file-system limit on one name (bytes).
const maxComponent = 255

// SafeName turns a zip entry name from the peer into a relative,
// slash-separated path that stays inside the extraction directory on every
// OS. Backslashes count as separators (zips made on Windows, and tricks
// like `..\x`); "." and empty components are dropped; a trailing "/" is
// removed. Absolute paths (also `C:\`), ".." components, NUL and
// invalid UTF-8 are refused with ErrUnsafeName. Each component is then made
// portable, so a tree received on Linux can be opened on Windows and a
// browser can save it anywhere: the characters <>:"|?* and control
// characters become "_", trailing dots and spaces become "_", and reserved
// device names (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$, with
// any extension, any case) get a "_" prefix. SafeName is idempotent.
func SafeName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", errs.Wrap("transfer: name "+quote(name, 200)+": "+why, ErrUnsafeName)
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return bad("contains NUL")
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") {
		return bad("absolute path")
	}
	// "C:/x" and `C:\x` are absolute on Windows. A drive-relative "c:x"
	// needs no refusal: the colon is mapped below.
	if len(n) >= 2 && n[1] == ':' && isASCIILetter(n[0]) && (len(n) == 2 || n[2] == '/') {
		return bad("drive letter")
	}
	var out []string
	for c := range strings.SplitSeq(n, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return bad(`".." component`)
		}
		c = portable(c)
		if len(c) > maxComponent {
			return bad("component longer than 255 bytes")
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return bad("empty")
	}
	return strings.Join(out, "/"), nil
}

// SafeFilename turns the filename of a single-file offer (or the dirname
// of a directory offer) into a safe base name: like Python's
// os.path.basename it keeps what follows the last "/" or "\", then applies
// SafeName's per-component rules. Empty, ".", "..", NUL and invalid UTF-8
// are refused.
func SafeFilename(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", errs.Wrap("transfer: filename "+quote(name, 200)+": "+why, ErrUnsafeName)
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return bad("contains NUL")
	}
	base := name[strings.LastIndexAny(name, `/\`)+1:]
	if base == "" || base == "." || base == ".." {
		return bad("no usable base name")
	}
	if base = portable(base); len(base) > maxComponent {
		return bad("longer than 255 bytes")
	}
	return base, nil
}

func isASCIILetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// portable maps one non-empty path component (not "." or "..") to a name
// every common file system accepts as an ordinary file name.
func portable(c string) string {
	b := []byte(c)
	for i, ch := range b {
		if ch < 0x20 || ch == 0x7f || strings.IndexByte(`<>:"|?*`, ch) >= 0 {
			b[i] = '_'
		}
	}
	// Windows drops trailing dots and spaces, which would merge "a." with
	// "a" and turn "..." into a reference to the parent.
	for i := len(b) - 1; i >= 0 && (b[i] == '.' || b[i] == ' '); i-- {
		b[i] = '_'
	}
	s := string(b)
	if reservedDevice(s) {
		s = "_" + s
	}
	return s
}

// reservedDevice reports whether Windows would open a device instead of a
// file: the part before the first dot, ignoring trailing spaces and case,
// is a DOS device name.
func reservedDevice(s string) bool {
	stem := s
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(stem) >= 4 && (stem[:3] == "COM" || stem[:3] == "LPT") {
		switch stem[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}
