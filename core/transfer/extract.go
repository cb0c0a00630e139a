package transfer

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	// ErrDestExists means the extraction target exists and is not an
	// empty directory.
	ErrDestExists = errors.New("destination exists")
	// ErrTooManyFiles means the zip has more entries than Limits.MaxFiles.
	ErrTooManyFiles = errors.New("too many files in zip")
	// ErrTooLarge means the zip unpacks to more than Limits.MaxBytes.
	ErrTooLarge = errors.New("zip unpacks to too many bytes")
	// ErrBadZip means the zip is unreadable or inconsistent: duplicate
	// names, a file that is also a directory, special files, bad data.
	ErrBadZip = errors.New("bad zip")
	// ErrUnsafeSymlink means a symlink entry could point outside the
	// destination.
	ErrUnsafeSymlink = errors.New("unsafe symlink")
)

// Limits bound what Extract accepts, against zip bombs. A receiver should
// derive them from the offer it accepted: numbytes, and numfiles plus some
// room for directory entries (Python 0.12 counts only files).
type Limits struct {
	// MaxFiles bounds the number of zip entries of any kind. 0 means
	// DefaultMaxFiles, negative means no limit.
	MaxFiles int
	// MaxBytes bounds the total unpacked size of files and link targets.
	// 0 means DefaultMaxBytes, negative means no limit.
	MaxBytes int64
}

// Limits used for zero Limits fields.
const (
	DefaultMaxFiles = 1 << 20
	DefaultMaxBytes = 1 << 40
)

const (

	// maxLinkTarget bounds a symlink target (PATH_MAX on Linux).
	maxLinkTarget = 4096
	// cdBudgetPerEntry and cdBudgetFixed bound how many bytes zip.NewReader
	// may read for the central directory, which it loads into memory
	// whole: an entry with a 4096-byte name and generous extra fields, plus
	// the end-of-directory search (up to 66 KiB) and read-ahead.
	cdBudgetPerEntry = 46 + maxLinkTarget + 512
	cdBudgetFixed    = 512 << 10
)

const (
	kindDir = iota + 1
	kindFile
	kindLink
)

type xEntry struct {
	f    *zip.File
	name string // SafeName result
	kind int
	perm fs.FileMode
}

// Extract unpacks the zip read from r (size bytes) into dest, which must
// not exist or be an empty directory. Every name goes through SafeName;
// duplicates, a file that is also a parent directory, devices and pipes
// are refused before anything is written, and so are zips over the
// Limits; symlinks whose target could resolve outside dest abort the
// extraction. Files are created exclusively (so names that only
// differ in case fail cleanly on case-insensitive file systems) with their
// zip permissions plus owner read/write; symlinks are created last, so no
// file is ever written through one. Everything is unpacked into a new
// temporary directory next to dest, which is renamed to dest only on
// success and removed on failure.
func Extract(r io.ReaderAt, size int64, dest string, limits Limits) error {
	maxFiles, maxBytes := limits.MaxFiles, limits.MaxBytes
	if maxFiles == 0 {
		maxFiles = DefaultMaxFiles
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := checkDest(dest); err != nil {
		return err
	}

	br := &budgetReader{r: r, left: -1}
	if maxFiles > 0 {
		br.left = cdBudgetFixed + int64(maxFiles)*cdBudgetPerEntry
	}
	zr, err := zip.NewReader(br, size)
	br.left = -1
	if errors.Is(err, errBudget) {
		return fmt.Errorf("transfer: extract: central directory too large for a limit of %d entries: %w", maxFiles, ErrTooManyFiles)
	}
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // we check names ourselves
		return fmt.Errorf("transfer: extract: %v: %w", err, ErrBadZip)
	}
	if maxFiles > 0 && len(zr.File) > maxFiles {
		return fmt.Errorf("transfer: extract: %d entries, limit %d: %w", len(zr.File), maxFiles, ErrTooManyFiles)
	}
	entries, err := planExtract(zr.File, maxBytes)
	if err != nil {
		return err
	}

	tmp, err := makeTemp(dest)
	if err != nil {
		return err
	}
	if err := unpack(entries, tmp, maxBytes); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := moveInto(tmp, dest); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

// planExtract validates all entries before touching the disk.
func planExtract(files []*zip.File, maxBytes int64) ([]xEntry, error) {
	kinds := make(map[string]int, len(files))
	out := make([]xEntry, 0, len(files))
	var declared uint64
	for _, f := range files {
		mode := f.Mode()
		e := xEntry{f: f}
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, `\`) && f.UncompressedSize64 == 0:
			e.kind, e.perm = kindDir, mode.Perm()|0o700
		case mode&fs.ModeSymlink != 0:
			e.kind = kindLink
		case mode.Type() == 0:
			e.kind, e.perm = kindFile, mode.Perm()|0o600
		default:
			return nil, fmt.Errorf("transfer: extract %q: special file (%v): %w", f.Name, mode.Type(), ErrBadZip)
		}
		name, err := SafeName(f.Name)
		if err != nil {
			return nil, err // names the entry already
		}
		e.name = name
		for i := strings.IndexByte(name, '/'); i >= 0; i = next(name, i) {
			switch kinds[name[:i]] {
			case 0:
				kinds[name[:i]] = kindDir
			case kindDir:
			default:
				return nil, fmt.Errorf("transfer: extract %q: %q is not a directory: %w", f.Name, name[:i], ErrBadZip)
			}
		}
		if k := kinds[name]; k != 0 && (k != kindDir || e.kind != kindDir) {
			return nil, fmt.Errorf("transfer: extract %q: duplicate name %q: %w", f.Name, name, ErrBadZip)
		}
		kinds[name] = e.kind
		if e.kind != kindDir {
			declared += f.UncompressedSize64
			if maxBytes >= 0 && declared > uint64(maxBytes) {
				return nil, fmt.Errorf("transfer: extract: declared sizes exceed %d bytes: %w", maxBytes, ErrTooLarge)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

type link struct{ name, target string }

// unpack writes the planned entries below root.
func unpack(entries []xEntry, root string, maxBytes int64) error {
	buf := make([]byte, copyBufSize)
	var written int64
	var links []link
	var dirs []xEntry
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.name))
		wrap := func(err error) error { return fmt.Errorf("transfer: extract %q: %w", e.f.Name, err) }
		if e.kind == kindDir {
			if err := os.MkdirAll(p, 0o777); err != nil {
				return wrap(err)
			}
			dirs = append(dirs, e)
			continue
		}
		// No symlink exists yet, so MkdirAll only walks directories made
		// here.
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			return wrap(err)
		}
		left := int64(-1)
		if maxBytes >= 0 {
			left = maxBytes - written
		}
		if e.kind == kindLink {
			target, err := readLink(e.f, left)
			if err != nil {
				return wrap(err)
			}
			if err := checkLinkTarget(e.name, target); err != nil {
				return wrap(err)
			}
			written += int64(len(target))
			links = append(links, link{p, target})
			continue
		}
		n, err := writeFile(e, p, left, buf)
		written += n
		if err != nil {
			return wrap(err)
		}
	}
	for _, d := range dirs {
		if err := os.Chmod(filepath.Join(root, filepath.FromSlash(d.name)), d.perm); err != nil {
			return fmt.Errorf("transfer: extract %q: %w", d.f.Name, err)
		}
	}
	for _, l := range links {
		if err := os.Symlink(l.target, l.name); err != nil {
			return fmt.Errorf("transfer: extract: symlink: %w", err)
		}
	}
	return nil
}

// writeFile creates p exclusively and copies the entry into it, at most
// left bytes (left < 0: no limit).
func writeFile(e xEntry, p string, left int64, buf []byte) (int64, error) {
	rc, err := e.f.Open()
	if err != nil {
		return 0, fmt.Errorf("%v: %w", err, ErrBadZip)
	}
	defer rc.Close()
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%v (names differing only in case?): %w", err, ErrBadZip)
		}
		return 0, err
	}
	var src io.Reader = rc
	if left >= 0 && left < math.MaxInt64 {
		src = io.LimitReader(rc, left+1)
	}
	n, err := io.CopyBuffer(out, src, buf)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%v: %w", err, ErrBadZip)
		}
		return n, err
	}
	if left >= 0 && n > left {
		return n, ErrTooLarge
	}
	if t := entryTime(e.f); !t.IsZero() {
		os.Chtimes(p, t, t) // best effort: the content is what matters
	}
	return n, nil
}

func readLink(f *zip.File, left int64) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, ErrBadZip)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, ErrBadZip)
	}
	if len(b) > maxLinkTarget {
		return "", fmt.Errorf("symlink target longer than %d bytes: %w", maxLinkTarget, ErrUnsafeSymlink)
	}
	if left >= 0 && int64(len(b)) > left {
		return "", ErrTooLarge
	}
	return string(b), nil
}

// checkLinkTarget accepts a relative target of the form "../../a/b": some
// ".." first, no more than the link's depth, then plain names. Resolving
// such a target only climbs through directories Extract created itself;
// any link met while descending was itself checked the same way, so the
// result stays inside the destination, whatever the file system's case or
// Unicode rules. "a/../b" is refused because "a" could be a link.
func checkLinkTarget(name, target string) error {
	bad := func(why string) error {
		return fmt.Errorf("symlink %q -> %.200q: %s: %w", name, target, why, ErrUnsafeSymlink)
	}
	if target == "" || !utf8.ValidString(target) {
		return bad("empty or not UTF-8")
	}
	for _, r := range target {
		if r < 0x20 || r == 0x7f || r == '\\' || r == ':' {
			return bad(`contains a control character, "\" or ":"`)
		}
	}
	if strings.HasPrefix(target, "/") {
		return bad("absolute")
	}
	depth := strings.Count(name, "/") // directories above the link
	descended := false
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if descended {
				return bad(`".." after a name`)
			}
			if depth--; depth < 0 {
				return bad("leaves the destination")
			}
		default:
			descended = true
		}
	}
	return nil
}

// entryTime is the modification time of an entry. Without an extended
// timestamp archive/zip reads the MS-DOS fields as UTC, but writers
// (Python, Info-ZIP) store local time there.
func entryTime(f *zip.File) time.Time {
	t := f.Modified
	if t.IsZero() || hasExtTime(f.Extra) {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
}

func hasExtTime(extra []byte) bool {
	for len(extra) >= 4 {
		id, n := binary.LittleEndian.Uint16(extra), int(binary.LittleEndian.Uint16(extra[2:]))
		if id == extTimeID {
			return true
		}
		if n > len(extra)-4 {
			return false
		}
		extra = extra[4+n:]
	}
	return false
}

func checkDest(dest string) error {
	fi, err := os.Lstat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transfer: extract: %w", err)
	}
	if fi.IsDir() {
		if empty, err := isEmptyDir(dest); err == nil && empty {
			return nil
		}
	}
	return fmt.Errorf("transfer: extract: %s: %w", dest, ErrDestExists)
}

func isEmptyDir(p string) (bool, error) {
	d, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0 && err == nil, err
}

// makeTemp creates the staging directory next to dest, so that the final
// rename stays on one file system. Mkdir with 0777 lets the umask decide
// the permissions, as for any directory the user creates.
func makeTemp(dest string) (string, error) {
	parent := filepath.Dir(dest)
	for range 100 {
		p := filepath.Join(parent, fmt.Sprintf(".wasmhole-extract-%016x", rand.Uint64()))
		err := os.Mkdir(p, 0o777)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("transfer: extract: %w", err)
		}
	}
	return "", fmt.Errorf("transfer: extract: no free temporary name in %s", parent)
}

// moveInto renames tmp to dest. POSIX rename replaces an empty directory;
// elsewhere the empty dest is removed first.
func moveInto(tmp, dest string) error {
	err := os.Rename(tmp, dest)
	if err != nil {
		if empty, _ := isEmptyDir(dest); empty && os.Remove(dest) == nil {
			err = os.Rename(tmp, dest)
		}
	}
	if err != nil {
		if _, serr := os.Lstat(dest); serr == nil {
			return fmt.Errorf("transfer: extract: %s: %w", dest, ErrDestExists)
		}
		return fmt.Errorf("transfer: extract: %w", err)
	}
	return nil
}

var errBudget = errors.New("central directory read budget exhausted")

// budgetReader fails once left bytes have been read (left < 0: no
// limit). zip.NewReader reads the end records and then the whole central
// directory into memory; the budget caps that memory by MaxFiles, however
// the entry counts in the end records are forged.
type budgetReader struct {
	r    io.ReaderAt
	left int64
}

func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if b.left >= 0 {
		if int64(len(p)) > b.left {
			return 0, errBudget
		}
		b.left -= int64(len(p))
	}
	return b.r.ReadAt(p, off)
}
