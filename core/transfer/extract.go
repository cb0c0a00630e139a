package transfer

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/zipread"
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

// Extract unpacks the zip read from r (size bytes) into dest, which must
// not exist or be an empty directory. CheckZip checks every entry first
// (safe names; no duplicates, no names that differ only in case or Unicode
// normalisation, no file that is also a parent directory; no devices or
// pipes; the Limits), so a refused zip writes nothing; symlinks whose target
// could resolve outside dest abort the extraction. Files are created
// exclusively (a last guard against any collision the checks missed) with
// their zip permissions plus owner read/write; symlinks are created last,
// so no file is ever written through one. Everything is unpacked into a new
// temporary directory next to dest, which is renamed to dest only on
// success and removed on failure.
func Extract(r io.ReaderAt, size int64, dest string, limits Limits) error {
	if err := checkDest(dest); err != nil {
		return err
	}
	z, err := CheckZip(r, size, CheckOptions{Limits: limits})
	if err != nil {
		return errs.Wrap("transfer: extract", err)
	}
	tmp, err := makeTemp(dest)
	if err != nil {
		return err
	}
	if err := unpack(z.Entries, tmp, z.MaxBytes); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := moveInto(tmp, dest); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

type link struct{ name, target string }

// unpack writes the planned entries below root.
func unpack(entries []ZipEntry, root string, maxBytes int64) error {
	buf := make([]byte, copyBufSize)
	var written int64
	var links []link
	var dirs []ZipEntry
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.Name))
		wrap := func(err error) error { return errs.Wrap("transfer: extract "+strconv.Quote(e.File.Name), err) }
		if e.Kind == EntryDir {
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
		if e.Kind == EntrySymlink {
			target, err := readLink(e.File, left)
			if err != nil {
				return wrap(err)
			}
			if err := checkLinkTarget(e.Name, target); err != nil {
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
		if err := os.Chmod(filepath.Join(root, filepath.FromSlash(d.Name)), d.File.Mode().Perm()|0o700); err != nil {
			return errs.Wrap("transfer: extract "+strconv.Quote(d.File.Name), err)
		}
	}
	for _, l := range links {
		if err := os.Symlink(l.target, l.name); err != nil {
			return errs.Wrap("transfer: extract: symlink", err)
		}
	}
	return nil
}

// writeFile creates p exclusively and copies the entry into it, at most
// left bytes (left < 0: no limit).
func writeFile(e ZipEntry, p string, left int64, buf []byte) (int64, error) {
	rc, err := e.File.Open()
	if err != nil {
		return 0, errs.Wrap(err.Error(), ErrBadZip)
	}
	defer rc.Close()
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.File.Mode().Perm()|0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, errs.Wrap(err.Error()+" (names differing only in case?)", ErrBadZip)
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
		if zipread.IsDataError(err) {
			err = errs.Wrap(err.Error(), ErrBadZip)
		}
		return n, err
	}
	if left >= 0 && n > left {
		return n, ErrTooLarge
	}
	if t := entryTime(e.File); !t.IsZero() {
		os.Chtimes(p, t, t) // best effort: the content is what matters
	}
	return n, nil
}

func readLink(f *zipread.File, left int64) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", errs.Wrap(err.Error(), ErrBadZip)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
	if err != nil {
		return "", errs.Wrap(err.Error(), ErrBadZip)
	}
	if len(b) > maxLinkTarget {
		return "", errs.Wrap("symlink target longer than "+strconv.Itoa(maxLinkTarget)+" bytes", ErrUnsafeSymlink)
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
		return errs.Wrap("symlink "+strconv.Quote(name)+" -> "+quote(target, 200)+": "+why, ErrUnsafeSymlink)
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
// timestamp zipread (like archive/zip) reads the MS-DOS fields as UTC, but
// writers (Python, Info-ZIP) store local time there.
func entryTime(f *zipread.File) time.Time {
	t := f.Modified()
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
		return errs.Wrap("transfer: extract", err)
	}
	if fi.IsDir() {
		if empty, err := isEmptyDir(dest); err == nil && empty {
			return nil
		}
	}
	return errs.Wrap("transfer: extract: "+dest, ErrDestExists)
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
		p := filepath.Join(parent, ".wasmhole-extract-"+hex16(rand.Uint64()))
		err := os.Mkdir(p, 0o777)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", errs.Wrap("transfer: extract", err)
		}
	}
	return "", errors.New("transfer: extract: no free temporary name in " + parent)
}

// hex16 is x in 16 hex digits.
func hex16(x uint64) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, x))
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
			return errs.Wrap("transfer: extract: "+dest, ErrDestExists)
		}
		return errs.Wrap("transfer: extract", err)
	}
	return nil
}
