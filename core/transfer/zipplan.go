package transfer

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wasmhole/wasmhole/internal/errs"
)

var (
	// ErrInvalidName means an Entry name cannot go into a zip we send.
	ErrInvalidName = errors.New("invalid entry name")
	// ErrFileChanged means a file did not have its planned size when it
	// was streamed; the bytes already written are useless and the transfer
	// must be aborted.
	ErrFileChanged = errors.New("file changed while sending")

	errTooBig = errs.Wrap("transfer: zip would exceed "+strconv.FormatInt(math.MaxInt64, 10)+" bytes", ErrInvalidName)
)

// Entry is one file or directory to put in a directory zip.
type Entry struct {
	// Name is the slash-separated path inside the sent directory; a
	// directory's name ends with "/".
	Name string
	// Size is the exact file length; 0 for directories.
	Size int64
	// Mode supplies the permission bits (0 means 0644/0755) and the type:
	// a directory needs fs.ModeDir, a file no type bits.
	Mode fs.FileMode
	// Modified is stored as the MS-DOS time and as a Unix timestamp.
	Modified time.Time
	// Open returns the file's content; called once per WriteTo. Unused for
	// directories.
	Open func() (io.ReadCloser, error)
}

// ZipPlan is the precomputed layout of a stored zip. It is immutable;
// WriteTo may be called again (e.g. for another receiver).
type ZipPlan struct {
	items    []item
	size     int64
	numBytes int64
	cdStart  int64 // offset of the central directory
	cdSize   int64 // its length in bytes
}

type item struct {
	name             string
	dir              bool
	size             int64
	open             func() (io.ReadCloser, error)
	attrs            uint32 // external attributes: Unix mode << 16 | MS-DOS bits
	dosDate, dosTime uint16
	extra            []byte // extended timestamp, identical in local and central header
	offset           int64  // of the local header
}

// Sizes of zip records as archive/zip writes them (APPNOTE.TXT 4.3).
const (
	localHeaderLen   = 30
	centralHeaderLen = 46
	zip64ExtraLen    = 28 // id, size, uncompressed, compressed, offset
	descriptorLen    = 16 // signature, crc, 32-bit sizes
	descriptor64Len  = 24 // signature, crc, 64-bit sizes
	eocdLen          = 22
	eocd64Len        = 56 + 20 // zip64 end record and its locator
	uint32max        = 1<<32 - 1
	uint16max        = 1<<16 - 1

	creatorUnix  = 3 << 8
	flagDesc     = 0x8   // sizes and CRC follow the data
	flagUTF8     = 0x800 // name is UTF-8 (Python decodes cp437 otherwise)
	msdosDir     = 0x10
	unixTypeDir  = 0o040000
	unixTypeFile = 0o100000
	extTimeID    = 0x5455

	copyBufSize = 128 << 10
)

// zip64 reports whether archive/zip treats an entry of this size as Zip64
// (FileHeader.isZip64 uses >=, so 0xFFFFFFFF bytes already is one).
func (it *item) zip64() bool { return !it.dir && it.size >= uint32max }

// descriptor reports whether the entry gets a data descriptor. Empty files
// need none: their CRC is 0 and is known up front.
func (it *item) descriptor() bool { return !it.dir && it.size > 0 }

func (it *item) localLen() int64 {
	n := int64(localHeaderLen+len(it.name)+len(it.extra)) + it.size
	if it.descriptor() {
		if it.zip64() {
			n += descriptor64Len
		} else {
			n += descriptorLen
		}
	}
	return n
}

// centralZip64 reports whether the entry's central header needs a Zip64
// extra field: for its size or for its offset.
func (it *item) centralZip64() bool { return it.zip64() || it.offset >= uint32max }

func (it *item) centralLen() int64 {
	n := int64(centralHeaderLen + len(it.name) + len(it.extra))
	if it.centralZip64() {
		n += zip64ExtraLen
	}
	return n
}

// needsEnd64 reports whether the central directory's count, size or offset
// overflows the classic end record, so that Zip64 end records precede it.
func needsEnd64(records int, cdSize, cdStart int64) bool {
	return records >= uint16max || cdSize >= uint32max || cdStart >= uint32max
}

// NewZipPlan validates the entries and lays out the zip. Names must be
// relative, slash-separated UTF-8 without "." or ".." components, NUL or
// backslash, and unique; a file may not also be a parent directory of
// another entry. Directory entries are emitted only for directories with
// nothing below them, so that empty directories survive; receivers create
// the others from the file paths.
func NewZipPlan(entries []Entry) (*ZipPlan, error) {
	seen := make(map[string]bool, len(entries))    // trimmed name -> is dir
	parents := make(map[string]bool, len(entries)) // trimmed dir names having children
	for _, e := range entries {
		isDir := strings.HasSuffix(e.Name, "/")
		if err := validateName(e.Name, isDir); err != nil {
			return nil, err
		}
		if e.Mode.IsDir() != isDir || e.Mode.Type()&^fs.ModeDir != 0 {
			return nil, errs.Wrap("transfer: entry "+strconv.Quote(e.Name)+": mode "+e.Mode.String()+
				" does not match the name (directories end in /, files must be regular)", ErrInvalidName)
		}
		if isDir && e.Size != 0 {
			return nil, errs.Wrap("transfer: directory "+strconv.Quote(e.Name)+" has size "+strconv.FormatInt(e.Size, 10), ErrInvalidName)
		}
		if !isDir && (e.Size < 0 || e.Open == nil) {
			return nil, errs.Wrap("transfer: file "+strconv.Quote(e.Name)+" needs a size >= 0 and an Open func", ErrInvalidName)
		}
		key := strings.TrimSuffix(e.Name, "/")
		if _, dup := seen[key]; dup {
			return nil, errs.Wrap("transfer: duplicate entry "+strconv.Quote(e.Name), ErrInvalidName)
		}
		seen[key] = isDir
		for i := strings.IndexByte(key, '/'); i >= 0; i = next(key, i) {
			parents[key[:i]] = true
		}
	}
	for p := range parents {
		if isDir, ok := seen[p]; ok && !isDir {
			return nil, errs.Wrap("transfer: "+strconv.Quote(p)+" is a file and a parent directory", ErrInvalidName)
		}
	}

	p := &ZipPlan{}
	var off int64
	for _, e := range entries {
		isDir := strings.HasSuffix(e.Name, "/")
		if isDir && parents[strings.TrimSuffix(e.Name, "/")] {
			continue
		}
		it := item{name: e.Name, dir: isDir, size: e.Size, open: e.Open, offset: off}
		perm := uint32(e.Mode.Perm())
		if isDir {
			// Python receivers chmod each path as it is extracted; a
			// directory must stay writable for its owner.
			if perm == 0 {
				perm = 0o755
			}
			it.attrs = (unixTypeDir|perm|0o700)<<16 | msdosDir
		} else {
			if perm == 0 {
				perm = 0o644
			}
			it.attrs = (unixTypeFile | perm) << 16
		}
		it.dosDate, it.dosTime = msdosTime(e.Modified)
		it.extra = extTime(e.Modified)
		var ok bool
		if off, ok = addSize(off, it.localLen()); !ok {
			return nil, errTooBig
		}
		if !isDir {
			p.numBytes += e.Size // cannot overflow: off >= numBytes
		}
		p.items = append(p.items, it)
	}
	p.cdStart = off
	for i := range p.items {
		p.cdSize += p.items[i].centralLen()
	}
	total, ok := addSize(p.cdStart, p.cdSize+eocdLen)
	if ok && needsEnd64(len(p.items), p.cdSize, p.cdStart) {
		total, ok = addSize(total, eocd64Len)
	}
	if !ok {
		return nil, errTooBig
	}
	p.size = total
	return p, nil
}

func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func addSize(a, b int64) (int64, bool) {
	if b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}

// validateName checks a name we are about to send; see NewZipPlan.
func validateName(name string, isDir bool) error {
	bad := func(why string) error {
		return errs.Wrap("transfer: entry name "+strconv.Quote(name)+": "+why, ErrInvalidName)
	}
	trimmed := name
	if isDir {
		trimmed = strings.TrimSuffix(name, "/")
	}
	switch {
	case trimmed == "":
		return bad("empty")
	case len(name) > uint16max:
		return bad("longer than 65535 bytes")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.ContainsAny(name, "\x00\\"):
		return bad("contains NUL or backslash")
	case strings.HasPrefix(name, "/"):
		return bad("absolute")
	}
	for c := range strings.SplitSeq(trimmed, "/") {
		if c == "" || c == "." || c == ".." {
			return bad(`empty, "." or ".." component`)
		}
	}
	return nil
}

// msdosTime converts t (in local time, like Info-ZIP and Python) to MS-DOS
// date and time, clamped to the representable 1980..2107.
func msdosTime(t time.Time) (date, tm uint16) {
	if t.IsZero() {
		return 1<<5 | 1, 0 // 1980-01-01 00:00
	}
	t = t.Local()
	switch {
	case t.Year() < 1980:
		return 1<<5 | 1, 0
	case t.Year() > 2107:
		return 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29
	}
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, tm
}

// extTime is the Info-ZIP extended timestamp extra field (modification time
// only), which archive/zip reads back as FileHeader.Modified.
func extTime(t time.Time) []byte {
	if t.IsZero() || t.Unix() < 0 || t.Unix() > math.MaxUint32 {
		return nil
	}
	b := make([]byte, 9)
	binary.LittleEndian.PutUint16(b[0:], extTimeID)
	binary.LittleEndian.PutUint16(b[2:], 5)
	b[4] = 1 // flags: modification time present
	binary.LittleEndian.PutUint32(b[5:], uint32(t.Unix()))
	return b
}

// Size is the exact number of bytes WriteTo produces: the offer's zipsize.
func (p *ZipPlan) Size() int64 { return p.size }

// NumBytes is the sum of the file sizes: the offer's numbytes.
func (p *ZipPlan) NumBytes() int64 { return p.numBytes }

// NumFiles is the number of zip entries (files and empty directories): the
// offer's numfiles, which wormhole-william compares with the entry count.
func (p *ZipPlan) NumFiles() int { return len(p.items) }

// stream copies the file into fw, checking its length, and returns its CRC.
func (it *item) stream(fw io.Writer, buf []byte) (uint32, error) {
	rc, err := it.open()
	if err != nil {
		return 0, errs.Wrap("transfer: open "+strconv.Quote(it.name), err)
	}
	closed := false
	defer func() {
		if !closed {
			rc.Close()
		}
	}()
	cw := &crcWriter{w: fw}
	n, err := io.CopyBuffer(cw, io.LimitReader(rc, it.size), buf)
	if err != nil {
		return 0, errs.Wrap("transfer: copy "+strconv.Quote(it.name), err)
	}
	if n < it.size {
		return 0, errs.Wrap("transfer: "+strconv.Quote(it.name)+" shrank from "+strconv.FormatInt(it.size, 10)+" to "+strconv.FormatInt(n, 10)+" bytes", ErrFileChanged)
	}
	var one [1]byte
	switch k, err := io.ReadFull(rc, one[:]); {
	case k > 0:
		return 0, errs.Wrap("transfer: "+strconv.Quote(it.name)+" grew beyond "+strconv.FormatInt(it.size, 10)+" bytes", ErrFileChanged)
	case err != io.EOF:
		return 0, errs.Wrap("transfer: read "+strconv.Quote(it.name), err)
	}
	closed = true
	if err := rc.Close(); err != nil {
		return 0, errs.Wrap("transfer: close "+strconv.Quote(it.name), err)
	}
	return cw.crc, nil
}
