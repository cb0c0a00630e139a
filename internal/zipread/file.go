package zipread

import (
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"
)

// File is one entry of the central directory. The fields mean what
// archive/zip's FileHeader fields of the same names mean.
type File struct {
	// Name is the entry's name as stored: slash-separated by the spec,
	// but a name from a stranger may be anything (absolute, "..",
	// backslashes, not UTF-8).
	Name    string
	Comment string
	// NonUTF8 is set when Name or Comment is not valid UTF-8, or uses
	// characters beyond ASCII without the UTF-8 flag (bit 11 of Flags).
	NonUTF8 bool

	CreatorVersion uint16
	ReaderVersion  uint16
	Flags          uint16
	Method         uint16

	// Modified is the modification time: from an extra field if there
	// is one (in a fixed zone estimated from the MS-DOS fields, if they
	// are set), else from the MS-DOS fields read as UTC, although most
	// writers store local time there.
	Modified     time.Time
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

// readDirectoryHeader reads one central directory record into f. It
// returns io.ErrUnexpectedEOF (or io.EOF) if the record is cut off and
// ErrFormat if there is no record signature.
func readDirectoryHeader(f *File, r io.Reader) error {
	var buf [directoryHeaderLen]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return err
	}
	b := readBuf(buf[:])
	if b.uint32() != directoryHeaderSignature {
		return ErrFormat
	}
	f.CreatorVersion = b.uint16()
	f.ReaderVersion = b.uint16()
	f.Flags = b.uint16()
	f.Method = b.uint16()
	f.ModifiedTime = b.uint16()
	f.ModifiedDate = b.uint16()
	f.CRC32 = b.uint32()
	csize, usize := b.uint32(), b.uint32()
	f.CompressedSize64, f.UncompressedSize64 = uint64(csize), uint64(usize)
	nameLen, extraLen, commentLen := int(b.uint16()), int(b.uint16()), int(b.uint16())
	b.skip(4) // disk number, internal attributes
	f.ExternalAttrs = b.uint32()
	offset := uint64(b.uint32())
	d := make([]byte, nameLen+extraLen+commentLen)
	if _, err := io.ReadFull(r, d); err != nil {
		return err
	}
	f.Name = string(d[:nameLen])
	f.Extra = d[nameLen : nameLen+extraLen]
	f.Comment = string(d[nameLen+extraLen:])
	f.NonUTF8 = nonUTF8(f)

	needUSize := usize == ^uint32(0)
	needCSize := csize == ^uint32(0)
	needOffset := offset == uint64(^uint32(0))
	var modified time.Time
	// Extra fields are read on a best-effort basis, as archive/zip does:
	// a malformed one ends the list, except a Zip64 field too short for
	// a value the record needs.
	for extra := readBuf(f.Extra); len(extra) >= 4; {
		tag, size := extra.uint16(), int(extra.uint16())
		if len(extra) < size {
			break
		}
		field := extra.sub(size)
		switch tag {
		case zip64ExtraID:
			// Only the values maxed out in the record are here, in this
			// order.
			for _, v := range []struct {
				need *bool
				val  *uint64
			}{{&needUSize, &f.UncompressedSize64}, {&needCSize, &f.CompressedSize64}, {&needOffset, &offset}} {
				if !*v.need {
					continue
				}
				*v.need = false
				if len(field) < 8 {
					return ErrFormat
				}
				*v.val = field.uint64()
			}
		case ntfsExtraID:
			if t, ok := ntfsTime(field); ok {
				modified = t
			}
		case unixExtraID, infoZipUnixExtraID:
			if len(field) >= 8 {
				field.skip(4) // access time
				modified = time.Unix(int64(field.uint32()), 0)
			}
		case extTimeExtraID:
			if len(field) >= 5 && field.uint8()&1 != 0 {
				modified = time.Unix(int64(field.uint32()), 0)
			}
		}
	}
	f.headerOffset = int64(offset)
	f.Modified = modTime(f.ModifiedDate, f.ModifiedTime, modified)
	// An uncompressed size of 0xFFFFFFFF without a Zip64 field is taken
	// as is (archive/zip does, for 42.zip); the other two are not.
	if needCSize || needOffset {
		return ErrFormat
	}
	return nil
}

// ntfsTime reads the modification time from an NTFS extra field: a
// reserved word, then tagged attributes, of which tag 1 (24 bytes) holds
// the times in 100 ns ticks since 1601.
func ntfsTime(field readBuf) (t time.Time, ok bool) {
	if len(field) < 4 {
		return t, false
	}
	field.skip(4)
	for len(field) >= 4 {
		tag, size := field.uint16(), int(field.uint16())
		if len(field) < size {
			break
		}
		attr := field.sub(size)
		if tag != 1 || size != 24 {
			continue
		}
		const ticksPerSecond = 1e7
		ts := int64(attr.uint64())
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

// nonUTF8 decides File.NonUTF8 as archive/zip does: invalid UTF-8 is
// not UTF-8; plain ASCII (without "\", "~" and controls, which some
// Asian code pages change) is either; anything else is what the flag
// says.
func nonUTF8(f *File) bool {
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
