// Package zipread reads zip archives: the central directory into a list of
// entries, and each entry as a stream, stored or deflated, checked against
// its CRC-32 and size.
//
// It reads what archive/zip's Reader reads, and refuses what it refuses,
// with the same sentinel errors ([ErrFormat], [ErrAlgorithm], [ErrChecksum]).
// It exists for the browser build: importing archive/zip links its writer
// too (its init registers flate.NewWriter), and with it fmt's printer,
// internal/godebug and internal/bisect, about 100 KB of wasm code. This
// package links only compress/flate's decompressor.
//
// Reading a zip that arrived over the network:
//
//	zr, err := zipread.NewReader(f, size) // f is an io.ReaderAt: a file, a Blob...
//	if err != nil {
//		return err // errors.Is(err, zipread.ErrFormat)
//	}
//	for _, e := range zr.File {
//		rc, err := e.Open()
//		...
//		_, err = io.Copy(dst, rc) // ErrChecksum or io.ErrUnexpectedEOF at the end if the data lies
//		rc.Close()
//	}
//
// # What it reads
//
//   - The end of central directory record, found in the last 64 KiB like
//     archive/zip does, and a prefix before the zip (a self-extractor's
//     stub) through the base offset it implies.
//   - Zip64: the end record and its locator, and the Zip64 extra field of
//     an entry for sizes and offsets of 0xFFFFFFFF.
//   - Entry counts that wrapped at 65536 (writers that do not use Zip64 for
//     many entries): the directory is read until its records end.
//   - Data descriptors (flag bit 3, with or without their signature): the
//     sizes come from the central directory, the CRC from the descriptor
//     must match it.
//   - Names and comments as the bytes they are; [File.NonUTF8] tells, like
//     archive/zip's field of that name, from the UTF-8 flag (bit 11) and
//     the bytes, whether they are in a legacy encoding.
//   - Modification times from the MS-DOS fields and the NTFS, Unix and
//     extended-timestamp extra fields, as archive/zip reports them
//     ([File.Modified]; a method, so that a program that does not ask
//     links none of it).
//
// # What it refuses
//
// Compression methods other than stored (0) and deflate (8) open with
// [ErrAlgorithm]. Every inconsistency is [ErrFormat]: no end record, a
// directory outside the input, a truncated directory whose count does not
// match, a missing local header, more data than the directory declares,
// corrupt deflate data. A CRC that does not match is [ErrChecksum], at the
// end of the entry; data that ends early is io.ErrUnexpectedEOF.
//
// Deliberate differences from archive/zip, all on broken input, so that
// every refusal of the input itself wraps ErrFormat (other errors are the
// io.ReaderAt's own): corrupt deflate data wraps ErrFormat and flate's
// CorruptInputError (archive/zip: the latter alone); a directory cut
// short wraps ErrFormat and io.ErrUnexpectedEOF (archive/zip: the latter
// alone); a record beyond the end of the input (a local header, the Zip64
// end record), a directory that runs exactly to the end of the input
// (archive/zip: io.EOF for all three) and a negative size are ErrFormat.
// An entry whose data ends early still reads as io.ErrUnexpectedEOF, as
// in archive/zip. There is no GODEBUG zipinsecurepath: checking names is
// the caller's job.
//
// The layout and checks follow Go's archive/zip (Copyright 2010 The Go
// Authors; BSD-style license), which the tests cross-check it against.
package zipread

import (
	"bufio"
	"errors"
	"io"

	"github.com/wasmhole/wasmhole/internal/errs"
)

var (
	// ErrFormat means the input is not a valid zip, or an entry's data
	// does not agree with its headers.
	ErrFormat = errors.New("zip: not a valid zip file")
	// ErrAlgorithm means an entry uses a compression method other than
	// stored or deflate.
	ErrAlgorithm = errors.New("zip: unsupported compression algorithm")
	// ErrChecksum means an entry's data does not match its CRC-32.
	ErrChecksum = errors.New("zip: checksum error")
)

// IsDataError reports whether err, from reading an entry that [File.Open]
// opened, means the zip's data is bad (a CRC or size that does not match,
// corrupt deflate data), as opposed to, say, a failed write of what was
// read.
func IsDataError(err error) bool {
	return errors.Is(err, ErrChecksum) || errors.Is(err, ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Compression methods.
const (
	Store   uint16 = 0
	Deflate uint16 = 8
)

const (
	fileHeaderSignature      = 0x04034b50
	directoryHeaderSignature = 0x02014b50
	directoryEndSignature    = 0x06054b50
	directory64LocSignature  = 0x07064b50
	directory64EndSignature  = 0x06064b50
	dataDescriptorSignature  = 0x08074b50

	fileHeaderLen      = 30 // + name + extra
	directoryHeaderLen = 46 // + name + extra + comment
	directoryEndLen    = 22 // + comment
	dataDescriptorLen  = 16 // signature, CRC-32, two 32-bit sizes
	directory64LocLen  = 20
	directory64EndLen  = 56 // + extensible data

	maxInt64 = 1<<63 - 1
)

// Reader is an open zip archive.
type Reader struct {
	// File lists the entries in the order of the central directory.
	File []*File
	// Comment is the archive's comment.
	Comment string
}

// directoryEnd is what the end records say about the central directory.
type directoryEnd struct {
	records uint64 // entries in the central directory
	size    uint64 // bytes of the central directory
	offset  uint64 // where it starts, relative to the base offset
	comment string
}

// NewReader reads the central directory of the zip in r, which has size
// bytes. The entries' data is read only when opened, from r, which must
// stay readable until then.
//
// The whole central directory is kept in memory: a caller that takes zips
// from strangers should bound it, for instance with an io.ReaderAt that
// fails after a budget of bytes.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < 0 {
		return nil, errs.With(ErrFormat, "negative size")
	}
	end, base, err := readDirectoryEnd(r, size)
	if err != nil {
		return nil, err
	}
	zr := &Reader{Comment: end.comment}
	// A forged count must not allocate: every entry also has a local
	// header of at least 30 bytes, so more than size/30 cannot be real.
	if end.size < uint64(size) && (uint64(size)-end.size)/30 >= end.records {
		zr.File = make([]*File, 0, end.records)
	}
	buf := bufio.NewReader(io.NewSectionReader(r, base+int64(end.offset), size-base-int64(end.offset)))
	// The count in a non-Zip64 end record is 16 bits: some writers let it
	// wrap. Read records until one is missing or cut short, then compare
	// only 16 bits of the count.
	for {
		f := &File{zipr: r}
		err = readDirectoryHeader(f, buf)
		if err == io.EOF {
			// The directory runs to the very end of the input: the end
			// record was swallowed by a name or an extra field.
			return nil, ErrFormat
		}
		if err == ErrFormat || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		f.headerOffset += base
		zr.File = append(zr.File, f)
	}
	if uint16(len(zr.File)) != uint16(end.records) {
		if err == io.ErrUnexpectedEOF {
			err = errs.Chain(ErrFormat, err)
		}
		return nil, err
	}
	return zr, nil
}

// readDirectoryEnd finds the end of central directory record (and the
// Zip64 one it points to) and returns it with the base offset: the number
// of bytes before the zip proper.
func readDirectoryEnd(r io.ReaderAt, size int64) (*directoryEnd, int64, error) {
	var buf []byte
	var endOffset int64
	// Look in the last 1 KiB, then in the last 65 KiB: the record is 22
	// bytes plus a comment of at most 65535.
	for i, n := range []int64{1024, 65 * 1024} {
		n = min(n, size)
		buf = make([]byte, n)
		if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
			return nil, 0, err
		}
		if p := findSignatureInBlock(buf); p >= 0 {
			buf = buf[p:]
			endOffset = size - n + int64(p)
			break
		}
		if i == 1 || n == size {
			return nil, 0, ErrFormat
		}
	}
	d := &directoryEnd{
		// 4: disk numbers, 8: entries on this disk
		records: uint64(le.Uint16(buf[10:])),
		size:    uint64(le.Uint32(buf[12:])),
		offset:  uint64(le.Uint32(buf[16:])),
	}
	n := int(le.Uint16(buf[20:]))
	d.comment = string(buf[directoryEndLen : directoryEndLen+n]) // findSignatureInBlock checked that it fits

	// Maxed-out fields point to the Zip64 end record. (The 0xffff size
	// test is archive/zip's; kept so both read the same zips.)
	if d.records == 0xffff || d.size == 0xffff || d.offset == 0xffffffff {
		p, err := findDirectory64End(r, endOffset)
		if err == nil && p >= 0 {
			endOffset = p
			err = readDirectory64End(r, p, d)
		}
		if err != nil {
			return nil, 0, err
		}
	}
	if d.size > maxInt64 || d.offset > maxInt64 {
		return nil, 0, ErrFormat
	}
	base := endOffset - int64(d.size) - int64(d.offset)
	if o := base + int64(d.offset); o < 0 || o >= size {
		return nil, 0, ErrFormat
	}
	// Some writers get the directory's offset or size wrong in a way
	// that implies a prefix; if the directory is where the offset says
	// without one, believe the offset.
	if base > 0 {
		off := int64(d.offset)
		if readDirectoryHeader(&File{}, io.NewSectionReader(r, off, size-off)) == nil {
			base = 0
		}
	}
	return d, base, nil
}

// findSignatureInBlock returns the offset of the last end record in b
// whose comment fits in b, or -1. Like archive/zip it gives up at the
// first signature (from the end) whose comment would be cut off.
func findSignatureInBlock(b []byte) int {
	for i := len(b) - directoryEndLen; i >= 0; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 0x05 && b[i+3] == 0x06 {
			n := int(b[i+directoryEndLen-2]) | int(b[i+directoryEndLen-1])<<8
			if n+directoryEndLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

// findDirectory64End reads the Zip64 locator just before the end record
// and returns the offset of the Zip64 end record, or -1 if there is no
// usable locator.
func findDirectory64End(r io.ReaderAt, endOffset int64) (int64, error) {
	locOffset := endOffset - directory64LocLen
	if locOffset < 0 {
		return -1, nil
	}
	buf := make([]byte, directory64LocLen)
	if err := readAt(r, buf, locOffset); err != nil {
		return -1, err
	}
	// The disk of the Zip64 end record must be 0, the number of disks 1.
	if le.Uint32(buf) != directory64LocSignature || le.Uint32(buf[4:]) != 0 || le.Uint32(buf[16:]) != 1 {
		return -1, nil
	}
	return int64(le.Uint64(buf[8:])), nil
}

// readDirectory64End overwrites d's counts with the Zip64 end record's.
func readDirectory64End(r io.ReaderAt, offset int64, d *directoryEnd) error {
	buf := make([]byte, directory64EndLen)
	if err := readAt(r, buf, offset); err != nil {
		return err
	}
	if le.Uint32(buf) != directory64EndSignature {
		return ErrFormat
	}
	// 4: record size, 12: versions, 16: disk numbers, 24: entries on this disk
	d.records = le.Uint64(buf[32:])
	d.size = le.Uint64(buf[40:])
	d.offset = le.Uint64(buf[48:])
	return nil
}

// readAt fills buf from offset off: a record that would lie outside the
// input is ErrFormat, other errors are r's.
func readAt(r io.ReaderAt, buf []byte, off int64) error {
	if off < 0 {
		return ErrFormat
	}
	_, err := r.ReadAt(buf, off)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrFormat
	}
	return err
}
