package zipread

import (
	"bufio"
	"compress/flate"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// Open returns a reader of the entry's uncompressed data. It fails with
// ErrFormat if the entry's local header is missing and ErrAlgorithm for a
// compression method other than Store and Deflate. Reading returns
// ErrFormat as soon as the data exceeds UncompressedSize64 or cannot be
// decompressed, and at the end io.ErrUnexpectedEOF if it was shorter, or
// ErrChecksum if its CRC-32 does not match (an entry with a CRC of 0 and
// no data descriptor is not checked, as archive/zip does not). Several
// entries may be read at once. A directory (a name ending in "/") reads as
// empty, or fails with ErrFormat if it declares a size.
func (f *File) Open() (io.ReadCloser, error) {
	bodyOffset, err := f.findBodyOffset()
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(f.Name, "/") {
		// Some writers (Java's jar) give directories a compressed size;
		// only uncompressed data is an error.
		if f.UncompressedSize64 != 0 {
			return &dirReader{ErrFormat}, nil
		}
		return &dirReader{io.EOF}, nil
	}
	size := int64(f.CompressedSize64)
	body := io.NewSectionReader(f.zipr, f.headerOffset+bodyOffset, size)
	var rc io.ReadCloser
	switch f.Method {
	case Store:
		rc = io.NopCloser(body)
	case Deflate:
		rc = newFlateReader(body)
	default:
		return nil, ErrAlgorithm
	}
	var desc io.Reader
	if f.Flags&0x8 != 0 {
		desc = io.NewSectionReader(f.zipr, f.headerOffset+bodyOffset+size, dataDescriptorLen)
	}
	return &checksumReader{rc: rc, hash: crc32.NewIEEE(), f: f, desc: desc}, nil
}

// findBodyOffset checks the local header's signature and returns the
// offset of the data after it, relative to the header.
func (f *File) findBodyOffset() (int64, error) {
	var buf [fileHeaderLen]byte
	if err := readAt(f.zipr, buf[:], f.headerOffset); err != nil {
		return 0, err
	}
	if le.Uint32(buf[:]) != fileHeaderSignature {
		return 0, ErrFormat
	}
	// The local header's sizes and times may be zero (data descriptor)
	// and are not used; only the lengths of what follows matter.
	nameLen, extraLen := int64(le.Uint16(buf[26:])), int64(le.Uint16(buf[28:]))
	return fileHeaderLen + nameLen + extraLen, nil
}

type dirReader struct{ err error }

func (r *dirReader) Read([]byte) (int, error) { return 0, r.err }
func (r *dirReader) Close() error             { return nil }

// checksumReader counts and hashes what it passes on and checks both
// against the directory (and the data descriptor, if any) at EOF.
type checksumReader struct {
	rc    io.ReadCloser
	hash  hash.Hash32
	nread uint64
	f     *File
	desc  io.Reader // the data descriptor, if the entry has one
	err   error     // sticky
}

func (r *checksumReader) Read(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.rc.Read(b)
	r.hash.Write(b[:n])
	r.nread += uint64(n)
	if r.nread > r.f.UncompressedSize64 {
		r.err = ErrFormat
		return 0, r.err
	}
	if err == io.EOF {
		err = r.checkEnd()
	}
	r.err = err
	return n, err
}

// checkEnd returns io.EOF if the entry ended where and how it should.
func (r *checksumReader) checkEnd() error {
	if r.nread != r.f.UncompressedSize64 {
		return io.ErrUnexpectedEOF
	}
	if r.desc != nil {
		if err := readDataDescriptor(r.desc, r.f); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if r.hash.Sum32() != r.f.CRC32 {
			return ErrChecksum
		}
		return io.EOF
	}
	if r.f.CRC32 != 0 && r.hash.Sum32() != r.f.CRC32 {
		return ErrChecksum
	}
	return io.EOF
}

func (r *checksumReader) Close() error { return r.rc.Close() }

// readDataDescriptor checks the descriptor's CRC-32 against the
// directory's. Its sizes (32 or 64 bits, writers disagree) are ignored:
// the directory's are used.
func readDataDescriptor(r io.Reader, f *File) error {
	var buf [dataDescriptorLen]byte
	// The signature is optional: read 4 bytes and keep them if they are
	// not one.
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return err
	}
	off := 0
	if le.Uint32(buf[:]) != dataDescriptorSignature {
		off = 4
	}
	if _, err := io.ReadFull(r, buf[off:12]); err != nil {
		return err
	}
	if le.Uint32(buf[:]) != f.CRC32 {
		return ErrChecksum
	}
	return nil
}

// Decompressors are pooled, as in archive/zip: each holds a 32 KiB
// window and tables, and a folder of many small files would otherwise
// allocate one per file.
var flatePool sync.Pool

type flateState struct {
	in *bufio.Reader // flate reads bytes one by one
	fr io.ReadCloser
}

type flateReader struct {
	mu sync.Mutex // Read and Close may race; Close returns st to the pool
	st *flateState
}

func newFlateReader(r io.Reader) *flateReader {
	st, ok := flatePool.Get().(*flateState)
	if ok {
		st.in.Reset(r)
		st.fr.(flate.Resetter).Reset(st.in, nil)
	} else {
		in := bufio.NewReaderSize(r, 32<<10)
		st = &flateState{in: in, fr: flate.NewReader(in)}
	}
	return &flateReader{st: st}
}

func (r *flateReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return 0, fs.ErrClosed
	}
	n, err := r.st.fr.Read(p)
	if _, ok := err.(flate.CorruptInputError); ok {
		err = errs.Chain(ErrFormat, err)
	}
	return n, err
}

func (r *flateReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return nil
	}
	err := r.st.fr.Close()
	r.st.in.Reset(nil)
	flatePool.Put(r.st)
	r.st = nil
	return err
}
