package transfer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strconv"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// The zip records are written here rather than by archive/zip's Writer,
// whose init registers flate's compressor and with it fmt, which the
// browser build leaves out. They are the bytes archive/zip wrote for
// these stored entries (CreateRaw, then Close), through the same 4 KiB
// buffer so that even the writes reaching w are the same; the tests
// compare the two byte for byte, Zip64 included.

// Signatures and Zip64 fields (APPNOTE.TXT 4.3, 4.5.3).
const (
	sigLocal       = 0x04034b50
	sigCentral     = 0x02014b50
	sigDescriptor  = 0x08074b50
	sigEnd         = 0x06054b50
	sigEnd64       = 0x06064b50
	sigEnd64Loc    = 0x07064b50
	zip64ExtraID   = 0x0001
	zipVersion20   = 20
	zipVersion45   = 45
	zipWriteBuffer = 4096 // archive/zip's bufio size
)

// WriteTo streams the zip to w: Size() bytes, using one copy buffer
// whatever the file sizes. Each file is opened in turn and must yield
// exactly its planned Size, otherwise WriteTo stops with ErrFileChanged.
// After any error the output is truncated and must be discarded.
func (p *ZipPlan) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, zipWriteBuffer)
	buf := make([]byte, copyBufSize)
	crcs := make([]uint32, len(p.items))
	var rec []byte
	for i := range p.items {
		it := &p.items[i]
		rec = it.appendLocal(rec[:0])
		if _, err := bw.Write(rec); err != nil {
			return cw.n, errs.Wrap("transfer: zip "+strconv.Quote(it.name), err)
		}
		if it.dir {
			continue
		}
		crc, err := it.stream(bw, buf)
		if err != nil {
			return cw.n, err
		}
		crcs[i] = crc
		if it.descriptor() {
			rec = it.appendDescriptor(rec[:0], crc)
			if _, err := bw.Write(rec); err != nil {
				return cw.n, errs.Wrap("transfer: zip "+strconv.Quote(it.name), err)
			}
		}
	}
	if err := p.writeDirectory(bw, crcs); err != nil {
		return cw.n, errs.Wrap("transfer: zip", err)
	}
	if cw.n != p.size {
		// Only a mistake in the layout could cause this; the peer would
		// read a truncated or overlong stream.
		return cw.n, errors.New("transfer: internal error: wrote " + strconv.FormatInt(cw.n, 10) + " zip bytes, planned " + strconv.FormatInt(p.size, 10))
	}
	return cw.n, nil
}

// versions are the entry's "version made by" (Unix) and "needed to
// extract": 2.0, or 4.5 for Zip64 sizes.
func (it *item) versions() (made, needed uint16) {
	if it.zip64() {
		return creatorUnix | zipVersion45, zipVersion45
	}
	return creatorUnix | zipVersion20, zipVersion20
}

func (it *item) flags() uint16 {
	if it.descriptor() {
		return flagUTF8 | flagDesc
	}
	return flagUTF8
}

// appendLocal appends the local file header. Its CRC and sizes are zero:
// with a data descriptor they follow the data, without one the entry is
// empty.
func (it *item) appendLocal(b []byte) []byte {
	b = le32(b, sigLocal)
	b = it.appendShared(b, 0, 0, len(it.extra))
	b = append(b, it.name...)
	return append(b, it.extra...)
}

// appendShared appends the fields the local and the central header have in
// common, from "version needed" to the extra field's length.
func (it *item) appendShared(b []byte, crc, size32 uint32, extraLen int) []byte {
	_, needed := it.versions()
	b = le16(b, needed)
	b = le16(b, it.flags())
	b = le16(b, 0) // stored
	b = le16(b, it.dosTime)
	b = le16(b, it.dosDate)
	b = le32(b, crc)
	b = le32(b, size32) // compressed
	b = le32(b, size32) // uncompressed
	b = le16(b, uint16(len(it.name)))
	return le16(b, uint16(extraLen))
}

// appendDescriptor appends the data descriptor, with 64-bit sizes for a
// Zip64 entry.
func (it *item) appendDescriptor(b []byte, crc uint32) []byte {
	b = le32(b, sigDescriptor)
	b = le32(b, crc)
	if it.zip64() {
		b = le64(b, uint64(it.size))
		return le64(b, uint64(it.size))
	}
	b = le32(b, uint32(it.size))
	return le32(b, uint32(it.size))
}

// appendCentral appends the central directory header, with a Zip64 extra
// field (sizes and offset) when the size or the offset needs one.
func (it *item) appendCentral(b []byte, crc uint32) []byte {
	made, _ := it.versions()
	z64 := it.centralZip64()
	size32, extra := uint32(it.size), len(it.extra)
	if z64 {
		size32, extra = uint32max, extra+zip64ExtraLen
	}
	b = le32(b, sigCentral)
	b = le16(b, made)
	b = it.appendShared(b, crc, size32, extra)
	b = le16(b, 0) // comment
	b = le16(b, 0) // disk number
	b = le16(b, 0) // internal attributes
	b = le32(b, it.attrs)
	b = le32(b, uint32(min(it.offset, uint32max)))
	b = append(b, it.name...)
	b = append(b, it.extra...)
	if z64 {
		b = le16(b, zip64ExtraID)
		b = le16(b, zip64ExtraLen-4)
		b = le64(b, uint64(it.size))
		b = le64(b, uint64(it.size))
		b = le64(b, uint64(it.offset))
	}
	return b
}

// writeDirectory writes the central directory and the end records, Zip64
// ones when the count, size or offset overflow the classic fields, then
// flushes bw.
func (p *ZipPlan) writeDirectory(bw *bufio.Writer, crcs []uint32) error {
	var rec []byte
	for i := range p.items {
		rec = p.items[i].appendCentral(rec[:0], crcs[i])
		if _, err := bw.Write(rec); err != nil {
			return err
		}
	}
	records, csize, offset := uint64(len(p.items)), uint64(p.cdSize), uint64(p.cdStart)
	rec = rec[:0]
	if needsEnd64(len(p.items), p.cdSize, p.cdStart) {
		rec = le32(rec, sigEnd64)
		rec = le64(rec, 56-12) // the record's length after this field
		rec = le16(rec, zipVersion45)
		rec = le16(rec, zipVersion45)
		rec = le32(rec, 0) // this disk
		rec = le32(rec, 0) // disk of the central directory
		rec = le64(rec, records)
		rec = le64(rec, records)
		rec = le64(rec, csize)
		rec = le64(rec, offset)
		rec = le32(rec, sigEnd64Loc)
		rec = le32(rec, 0) // disk of the Zip64 end record
		rec = le64(rec, uint64(p.cdStart+p.cdSize))
		rec = le32(rec, 1) // disks
		records, csize, offset = uint16max, uint32max, uint32max
	}
	rec = le32(rec, sigEnd)
	rec = le16(rec, 0) // this disk
	rec = le16(rec, 0) // disk of the central directory
	rec = le16(rec, uint16(records))
	rec = le16(rec, uint16(records))
	rec = le32(rec, uint32(csize))
	rec = le32(rec, uint32(offset))
	rec = le16(rec, 0) // comment
	if _, err := bw.Write(rec); err != nil {
		return err
	}
	return bw.Flush()
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

type crcWriter struct {
	w   io.Writer
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	return n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
