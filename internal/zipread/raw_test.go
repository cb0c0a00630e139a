package zipread

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// rawZip is a zip written field by field, so that tests can produce the
// layouts (Zip64 records, wrapped counts, prefixes) and the lies that
// archive/zip's writer never would.
type rawZip struct {
	prefix   []byte // before the zip: offsets do not count it
	entries  []rawEntry
	zip64End bool // Zip64 end record and locator; the classic record maxed out
	count    int  // entries the end records claim; 0: len(entries)
	comment  string
}

type rawEntry struct {
	name    string
	plain   string // the content
	method  uint16 // Store or Deflate (which compresses plain)
	flags   uint16
	desc    int  // data descriptor: 0 none, 1 with signature, 2 without
	zip64   bool // directory sizes and offset in a Zip64 extra field
	extra   []byte
	comment string
	creator uint16 // high byte of the creator version
	attrs   uint32 // external attributes
	dosTime uint16
	dosDate uint16
	// edit changes the directory record's values before it is written,
	// to make it lie.
	edit func(*rawHeader)
}

// rawHeader is what a directory record says about an entry.
type rawHeader struct {
	method, flags uint16
	crc           uint32
	csize, usize  uint64
	offset        uint64
	extra         []byte
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func deflate(t testing.TB, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (z rawZip) bytes(t testing.TB) []byte {
	t.Helper()
	var out []byte // the zip proper, without the prefix
	var dir []byte
	for _, e := range z.entries {
		data := []byte(e.plain)
		if e.method == Deflate {
			data = deflate(t, data)
		}
		flags := e.flags
		if e.desc != 0 {
			flags |= 0x8
		}
		h := rawHeader{method: e.method, flags: flags, crc: crc32.ChecksumIEEE([]byte(e.plain)),
			csize: uint64(len(data)), usize: uint64(len(e.plain)), offset: uint64(len(out)), extra: e.extra}
		version := uint16(20)
		if e.zip64 {
			version = 45
		}
		// Local header: with a descriptor, CRC and sizes are zero here.
		out = le32(out, fileHeaderSignature)
		out = le16(out, version)
		out = le16(out, h.flags)
		out = le16(out, h.method)
		out = le16(out, e.dosTime)
		out = le16(out, e.dosDate)
		if e.desc != 0 {
			out = append(out, make([]byte, 12)...)
		} else {
			out = le32(out, h.crc)
			out = le32(out, uint32(h.csize))
			out = le32(out, uint32(h.usize))
		}
		out = le16(out, uint16(len(e.name)))
		out = le16(out, 0)
		out = append(out, e.name...)
		out = append(out, data...)
		if e.desc == 1 {
			out = le32(out, dataDescriptorSignature)
		}
		if e.desc != 0 {
			out = le32(out, h.crc)
			out = le32(out, uint32(h.csize))
			out = le32(out, uint32(h.usize))
		}
		if e.edit != nil {
			e.edit(&h)
		}
		csize, usize, offset := uint32(h.csize), uint32(h.usize), uint32(h.offset)
		extra := h.extra
		if e.zip64 {
			z64 := le16(le16(nil, zip64ExtraID), 24)
			z64 = le64(le64(le64(z64, h.usize), h.csize), h.offset)
			extra = append(z64, extra...)
			csize, usize, offset = ^uint32(0), ^uint32(0), ^uint32(0)
		}
		dir = le32(dir, directoryHeaderSignature)
		dir = le16(dir, e.creator<<8|version)
		dir = le16(dir, version)
		dir = le16(dir, h.flags)
		dir = le16(dir, h.method)
		dir = le16(dir, e.dosTime)
		dir = le16(dir, e.dosDate)
		dir = le32(dir, h.crc)
		dir = le32(dir, csize)
		dir = le32(dir, usize)
		dir = le16(dir, uint16(len(e.name)))
		dir = le16(dir, uint16(len(extra)))
		dir = le16(dir, uint16(len(e.comment)))
		dir = le32(dir, 0) // disk number, internal attributes
		dir = le32(dir, e.attrs)
		dir = le32(dir, offset)
		dir = append(dir, e.name...)
		dir = append(dir, extra...)
		dir = append(dir, e.comment...)
	}
	count := z.count
	if count == 0 {
		count = len(z.entries)
	}
	dirOffset := len(out)
	out = append(out, dir...)
	count16, size32, offset32 := uint16(count), uint32(len(dir)), uint32(dirOffset)
	if z.zip64End {
		end64 := len(out)
		out = le32(out, directory64EndSignature)
		out = le64(out, directory64EndLen-12)
		out = le16(out, 45)
		out = le16(out, 45)
		out = le32(out, 0)
		out = le32(out, 0)
		out = le64(out, uint64(count))
		out = le64(out, uint64(count))
		out = le64(out, uint64(len(dir)))
		out = le64(out, uint64(dirOffset))
		out = le32(out, directory64LocSignature)
		out = le32(out, 0)
		out = le64(out, uint64(end64))
		out = le32(out, 1)
		count16, size32, offset32 = 0xffff, ^uint32(0), ^uint32(0)
	}
	out = le32(out, directoryEndSignature)
	out = le32(out, 0) // disk numbers
	out = le16(out, count16)
	out = le16(out, count16)
	out = le32(out, size32)
	out = le32(out, offset32)
	out = le16(out, uint16(len(z.comment)))
	out = append(out, z.comment...)
	return append(append([]byte(nil), z.prefix...), out...)
}
