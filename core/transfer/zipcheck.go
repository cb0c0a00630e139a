package transfer

import (
	"errors"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"unicode"

	"github.com/wasmhole/wasmhole/core/internal/nfc"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/zipread"
)

// ErrNameCollision means two entries of a zip would land on the same file
// somewhere: their names differ only in letter case or in Unicode
// normalisation ("é" as one character or as e + combining accent). A
// case-insensitive file system (Windows, macOS by default) or a normalising
// one (macOS) would let the second replace the first, so such a zip is
// refused everywhere. It wraps ErrBadZip.
var ErrNameCollision = errs.Wrap("names differ only in case or Unicode normalisation", ErrBadZip)

// Limits bound what CheckZip (and so Extract) accepts, against zip bombs. A receiver should
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
	// cdBudgetPerEntry and cdBudgetFixed bound how many bytes zipread.NewReader
	// may read for the central directory, which it loads into memory
	// whole: an entry with a 4096-byte name and generous extra fields, plus
	// the end-of-directory search (up to 66 KiB) and read-ahead.
	cdBudgetPerEntry = 46 + maxLinkTarget + 512
	cdBudgetFixed    = 512 << 10
)

// EntryKind is what a zip entry creates.
type EntryKind int

// The kinds of entries CheckZip accepts.
const (
	EntryDir EntryKind = iota + 1
	EntryFile
	EntrySymlink
)

// ZipEntry is one checked entry.
type ZipEntry struct {
	File *zipread.File
	Name string // SafeName of File.Name: relative, slash-separated
	Kind EntryKind
}

// CheckOptions say what CheckZip accepts.
type CheckOptions struct {
	// Limits bound the number of entries and the declared unpacked bytes.
	Limits Limits
	// NoLinks is for destinations that cannot create symlinks or special
	// files, such as a folder in the browser: those entries are skipped
	// and listed in CheckedZip.Skipped. Otherwise symlinks are kept
	// (checked when unpacked: see Extract) and special files refused.
	NoLinks bool
}

// CheckedZip is a zip whose every entry was checked, in the zip's order.
type CheckedZip struct {
	Entries []ZipEntry
	Skipped []Skipped
	// MaxBytes is the effective byte limit for everything unpacked (files
	// and symlink targets); negative means none. Unpackers must enforce it
	// while copying: declared sizes can lie.
	MaxBytes int64
}

// CheckZip opens the zip in r (size bytes) and checks every entry before
// anything is written, for Extract and for the browser's unpacker alike:
//   - the central directory is read within a memory budget derived from
//     Limits.MaxFiles, and the entry count is bounded by it;
//   - every name goes through SafeName;
//   - a name given twice, a file that is also a parent directory, and two
//     names that differ only in case or Unicode normalisation
//     (ErrNameCollision) are refused; a directory may be listed twice;
//   - the declared sizes of files (and symlinks) are bounded by
//     Limits.MaxBytes;
//   - devices, pipes and sockets are refused (skipped with NoLinks).
//
// Errors wrap ErrBadZip, ErrTooManyFiles, ErrTooLarge or ErrUnsafeName.
func CheckZip(r io.ReaderAt, size int64, opts CheckOptions) (*CheckedZip, error) {
	maxFiles, maxBytes := opts.Limits.MaxFiles, opts.Limits.MaxBytes
	if maxFiles == 0 {
		maxFiles = DefaultMaxFiles
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	br := &budgetReader{r: r, left: -1}
	if maxFiles > 0 {
		br.left = cdBudgetFixed + int64(maxFiles)*cdBudgetPerEntry
	}
	zr, err := zipread.NewReader(br, size)
	br.left = -1
	if errors.Is(err, errBudget) {
		return nil, errs.Wrap("transfer: zip: central directory too large for a limit of "+strconv.Itoa(maxFiles)+" entries", ErrTooManyFiles)
	}
	if err != nil {
		return nil, errs.Wrap("transfer: zip: "+err.Error(), ErrBadZip)
	}
	if maxFiles > 0 && len(zr.File) > maxFiles {
		return nil, errs.Wrap("transfer: zip: "+strconv.Itoa(len(zr.File))+" entries, limit "+strconv.Itoa(maxFiles), ErrTooManyFiles)
	}
	c := &CheckedZip{Entries: make([]ZipEntry, 0, len(zr.File)), MaxBytes: maxBytes}
	names := make(names, len(zr.File))
	var declared uint64
	for _, f := range zr.File {
		kind, why := entryKind(f)
		if why != "" {
			if opts.NoLinks {
				c.Skipped = append(c.Skipped, Skipped{Name: f.Name, Mode: f.Mode(), Reason: why})
				continue
			}
			return nil, errs.Wrap("transfer: zip entry "+strconv.Quote(f.Name)+": "+why, ErrBadZip)
		}
		if kind == EntrySymlink && opts.NoLinks {
			c.Skipped = append(c.Skipped, Skipped{Name: f.Name, Mode: f.Mode(), Reason: "a symlink, which cannot be created here"})
			continue
		}
		name, err := SafeName(f.Name)
		if err != nil {
			return nil, err // names the entry already
		}
		if err := names.add(name, kind); err != nil {
			return nil, errs.Wrap("transfer: zip entry "+strconv.Quote(f.Name), err)
		}
		if kind != EntryDir {
			declared += f.UncompressedSize64
			if maxBytes >= 0 && declared > uint64(maxBytes) {
				return nil, errs.Wrap("transfer: zip: declared sizes exceed "+strconv.FormatInt(maxBytes, 10)+" bytes", ErrTooLarge)
			}
		}
		c.Entries = append(c.Entries, ZipEntry{File: f, Name: name, Kind: kind})
	}
	return c, nil
}

// entryKind classifies an entry; why is set for kinds no destination
// accepts (devices, pipes, sockets). Zips made on Windows mark folders
// only by a trailing separator.
func entryKind(f *zipread.File) (EntryKind, string) {
	mode := f.Mode()
	switch {
	case mode.IsDir() || (strings.HasSuffix(f.Name, "/") || strings.HasSuffix(f.Name, `\`)) && f.UncompressedSize64 == 0:
		return EntryDir, ""
	case mode&fs.ModeSymlink != 0:
		return EntrySymlink, ""
	case mode.Type() == 0:
		return EntryFile, ""
	}
	return 0, "special file (" + mode.Type().String() + ")"
}

// names tracks what each path of a zip is, keyed by its folded form (see
// foldName), so that every spelling of one path is found.
type names map[string]nameInfo

type nameInfo struct {
	spelling string // the path as the zip spells it (after SafeName)
	kind     EntryKind
}

// add records name and its parent directories, refusing duplicates, a
// file used as a directory and names that collide after folding.
func (n names) add(name string, kind EntryKind) error {
	for i := strings.IndexByte(name, '/'); i >= 0; i = next(name, i) {
		if err := n.put(name[:i], EntryDir, true); err != nil {
			return err
		}
	}
	return n.put(name, kind, false)
}

func (n names) put(p string, kind EntryKind, implicit bool) error {
	key := foldName(p)
	prev, ok := n[key]
	switch {
	case !ok:
		n[key] = nameInfo{spelling: p, kind: kind}
		return nil
	case prev.spelling != p:
		return errs.Wrap(strconv.Quote(prev.spelling)+" and "+strconv.Quote(p), ErrNameCollision)
	case implicit && prev.kind != EntryDir:
		return errs.Wrap(strconv.Quote(p)+" is a file and a folder", ErrBadZip)
	case implicit || prev.kind == EntryDir && kind == EntryDir:
		return nil
	case prev.kind == EntryDir:
		return errs.Wrap(strconv.Quote(p)+" is a folder and a file", ErrBadZip)
	}
	return errs.Wrap(strconv.Quote(p)+" appears twice", ErrBadZip)
}

// foldName maps every spelling of a path that a case-insensitive or
// normalising file system treats as the same name to one key: NFC, then
// each rune replaced by the smallest rune of its simple case-folding
// orbit (so "K", "k" and the Kelvin sign "K" all become "K").
func foldName(p string) string {
	p = nfc.String(p)
	var b strings.Builder
	b.Grow(len(p))
	for _, r := range p {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

var errBudget = errors.New("central directory read budget exhausted")

// budgetReader fails once left bytes have been read (left < 0: no
// limit). zipread.NewReader reads the end records and then the whole central
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
