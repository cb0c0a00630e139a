package zipread

import (
	"encoding/binary"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"
)

// File is one entry of the central directory. The fields, and the methods
// Modified and NonUTF8, mean what archive/zip's FileHeader fields of the
// same names mean.
type File struct {
	// Name is the entry's name as stored: slash-separated by the spec,
	// but a name from a stranger may be anything (absolute, "..",
	// backslashes, not UTF-8).
	Name    string
	Comment string

	CreatorVersion uint16
	ReaderVersion  uint16
	Flags          uint16
	Method         uint16

	ModifiedTime uint16 // MS-DOS time
	ModifiedDate uint16 // MS-DOS date

	CRC32              uint32
	CompressedSize64   uint64
	UncompressedSize64 uint64

	Extra         []byte
	ExternalAttrs uint32

	zipr         io.ReaderAt
	headerOffset int64 // of the local header, base offset included
}

// Extra field IDs.
const (
	zip64ExtraID       = 0x0001
	ntfsExtraID        = 0x000a
	unixExtraID        = 0x000d
	extTimeExtraID     = 0x5455
	infoZipUnixExtraID = 0x5855
)

var le = binary.LittleEndian

// readDirectoryHeader reads one central directory record into f. It
// returns io.ErrUnexpectedEOF (or io.EOF) if the record is cut off and
// ErrFormat if there is no record signature.
func readDirectoryHeader(f *File, r io.Reader) error {
	var b [directoryHeaderLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if le.Uint32(b[0:]) != directoryHeaderSignature {
		return ErrFormat
	}
	f.CreatorVersion = le.Uint16(b[4:])
	f.ReaderVersion = le.Uint16(b[6:])
	f.Flags = le.Uint16(b[8:])
	f.Method = le.Uint16(b[10:])
	f.ModifiedTime = le.Uint16(b[12:])
	f.ModifiedDate = le.Uint16(b[14:])
	f.CRC32 = le.Uint32(b[16:])
	f.CompressedSize64 = uint64(le.Uint32(b[20:]))
	f.UncompressedSize64 = uint64(le.Uint32(b[24:]))
	nameLen, extraLen, commentLen := int(le.Uint16(b[28:])), int(le.Uint16(b[30:])), int(le.Uint16(b[32:]))
	// 34: disk number, 36: internal attributes
	f.ExternalAttrs = le.Uint32(b[38:])
	offset := uint64(le.Uint32(b[42:]))
	d := make([]byte, nameLen+extraLen+commentLen)
	if _, err := io.ReadFull(r, d); err != nil {
		return err
	}
	f.Name = string(d[:nameLen])
	f.Extra = d[nameLen : nameLen+extraLen]
	f.Comment = string(d[nameLen+extraLen:])

	// Values maxed out in the record are in the Zip64 extra field, in
	// this order, and only those.
	needUSize := f.UncompressedSize64 == 0xffffffff
	needCSize := f.CompressedSize64 == 0xffffffff
	needOffset := offset == 0xffffffff
	if field, ok := extraField(f.Extra, zip64ExtraID); ok {
		for _, v := range []struct {
			need bool
			val  *uint64
		}{{needUSize, &f.UncompressedSize64}, {needCSize, &f.CompressedSize64}, {needOffset, &offset}} {
			if !v.need {
				continue
			}
			if *v.val, field, ok = take64(field); !ok {
				return ErrFormat
			}
		}
		needCSize, needOffset = false, false
	}
	f.headerOffset = int64(offset)
	// An uncompressed size of 0xFFFFFFFF without a Zip64 field is taken
	// as is (archive/zip does, for 42.zip); the other two are not.
	if needCSize || needOffset {
		return ErrFormat
	}
	return nil
}

// extraField returns the data of the first extra field with the given
// tag.
func extraField(extra []byte, tag uint16) ([]byte, bool) {
	for {
		t, data, rest, ok := nextField(extra)
		if !ok {
			return nil, false
		}
		if t == tag {
			return data, true
		}
		extra = rest
	}
}

// nextField splits the first field (tag, 16-bit size, data) off a list of
// extra fields or NTFS attributes. Like archive/zip, it reads them on a
// best-effort basis: ok is false at the end of the list and for a field
// that overruns it, which ends it.
func nextField(b []byte) (tag uint16, data, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, nil, nil, false
	}
	tag, size := le.Uint16(b), int(le.Uint16(b[2:]))
	if len(b)-4 < size {
		return 0, nil, nil, false
	}
	return tag, b[4 : 4+size], b[4+size:], true
}

func take64(b []byte) (uint64, []byte, bool) {
	if len(b) < 8 {
		return 0, b, false
	}
	return le.Uint64(b), b[8:], true
}

// Modified returns the modification time as archive/zip's
// FileHeader.Modified has it: from an extra field (NTFS, Unix or extended
// timestamp; the last one in the list wins) if there is one, in the fixed
// zone that the difference to the MS-DOS fields suggests, if those are
// set; else from the MS-DOS fields read as UTC, although most writers
// store local time there.
func (f *File) Modified() time.Time {
	var modified time.Time
	for extra := f.Extra; ; {
		tag, field, rest, ok := nextField(extra)
		if !ok {
			break
		}
		extra = rest
		switch tag {
		case ntfsExtraID:
			if t, ok := ntfsTime(field); ok {
				modified = t
			}
		case unixExtraID, infoZipUnixExtraID:
			if len(field) >= 8 { // access time, modification time
				modified = time.Unix(int64(le.Uint32(field[4:])), 0)
			}
		case extTimeExtraID:
			if len(field) >= 5 && field[0]&1 != 0 { // flags: modification time present
				modified = time.Unix(int64(le.Uint32(field[1:])), 0)
			}
		}
	}
	return modTime(f.ModifiedDate, f.ModifiedTime, modified)
}

// ntfsTime reads the modification time from an NTFS extra field: a
// reserved word, then tagged attributes, of which tag 1 (24 bytes) holds
// the times in 100 ns ticks since 1601.
func ntfsTime(field []byte) (t time.Time, ok bool) {
	if len(field) < 4 {
		return t, false
	}
	for attrs := field[4:]; ; {
		tag, attr, rest, more := nextField(attrs)
		if !more {
			break
		}
		attrs = rest
		if tag != 1 || len(attr) != 24 {
			continue
		}
		const ticksPerSecond = 1e7
		ts := int64(le.Uint64(attr))
		epoch := time.Date(1601, time.January, 1, 0, 0, 0, 0, time.UTC)
		t, ok = time.Unix(epoch.Unix()+ts/ticksPerSecond, (1e9/ticksPerSecond)*(ts%ticksPerSecond)), true
	}
	return t, ok
}

// modTime combines the MS-DOS time with one from an extra field as
// archive/zip does: the extra field wins, in the zone that the
// difference between the two suggests the writer was in.
func modTime(dosDate, dosTime uint16, extra time.Time) time.Time {
	dos := time.Date(int(dosDate>>9+1980), time.Month(dosDate>>5&0xf), int(dosDate&0x1f),
		int(dosTime>>11), int(dosTime>>5&0x3f), int(dosTime&0x1f*2), 0, time.UTC)
	if extra.IsZero() {
		return dos
	}
	if dosDate == 0 && dosTime == 0 {
		return extra.UTC()
	}
	offset := dos.Sub(extra).Round(15 * time.Minute)
	if offset < -12*time.Hour || offset > 14*time.Hour {
		offset = 0
	}
	return extra.In(time.FixedZone("", int(offset/time.Second)))
}

// NonUTF8 reports what archive/zip's FileHeader.NonUTF8 does: whether
// Name and Comment are in some legacy encoding. Invalid UTF-8 is; plain
// ASCII (without "\", "~" and controls, which some Asian code pages
// change) is either; anything else is what the UTF-8 flag (bit 11 of
// Flags) says.
func (f *File) NonUTF8() bool {
	valid1, require1 := detectUTF8(f.Name)
	valid2, require2 := detectUTF8(f.Comment)
	switch {
	case !valid1 || !valid2:
		return true
	case !require1 && !require2:
		return false
	}
	return f.Flags&0x800 == 0
}

func detectUTF8(s string) (valid, require bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r < 0x20 || r > 0x7d || r == 0x5c {
			if !utf8.ValidRune(r) || (r == utf8.RuneError && size == 1) {
				return false, false
			}
			require = true
		}
	}
	return true, require
}

// Creator systems whose external attributes Mode understands.
const (
	creatorFAT    = 0
	creatorUnix   = 3
	creatorNTFS   = 11
	creatorVFAT   = 14
	creatorMacOSX = 19
)

// Mode returns the entry's permission and type bits: Unix modes for
// entries made on Unix or macOS, the MS-DOS directory and read-only bits
// for FAT and NTFS, and fs.ModeDir for any name ending in "/".
func (f *File) Mode() fs.FileMode {
	var mode fs.FileMode
	switch f.CreatorVersion >> 8 {
	case creatorUnix, creatorMacOSX:
		mode = unixMode(f.ExternalAttrs >> 16)
	case creatorNTFS, creatorVFAT, creatorFAT:
		mode = msdosMode(f.ExternalAttrs)
	}
	if strings.HasSuffix(f.Name, "/") {
		mode |= fs.ModeDir
	}
	return mode
}

func msdosMode(m uint32) fs.FileMode {
	const dir, readOnly = 0x10, 0x01
	mode := fs.FileMode(0o666)
	if m&dir != 0 {
		mode = fs.ModeDir | 0o777
	}
	if m&readOnly != 0 {
		mode &^= 0o222
	}
	return mode
}

func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0xf000 {
	case 0x6000:
		mode |= fs.ModeDevice
	case 0x2000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0x4000:
		mode |= fs.ModeDir
	case 0x1000:
		mode |= fs.ModeNamedPipe
	case 0xa000:
		mode |= fs.ModeSymlink
	case 0xc000:
		mode |= fs.ModeSocket
	}
	for _, b := range []struct {
		bit  uint32
		mode fs.FileMode
	}{{0x800, fs.ModeSetuid}, {0x400, fs.ModeSetgid}, {0x200, fs.ModeSticky}} {
		if m&b.bit != 0 {
			mode |= b.mode
		}
	}
	return mode
}
