package transfer

// ZipPlan.WriteTo as it was with archive/zip's Writer, verbatim: the
// reference the hand-written records (zipwrite.go) are held to byte for
// byte. archive/zip stays out of the browser build: its init registers
// flate's compressor, which would keep fmt in.

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// header builds the FileHeader handed to zip.Writer.CreateRaw. It is new
// for every WriteTo because the writer mutates it (CRC, Zip64 extra).
func (it *item) refHeader() *zip.FileHeader {
	fh := &zip.FileHeader{
		Name:               it.name,
		Method:             zip.Store,
		Flags:              flagUTF8,
		CreatorVersion:     creatorUnix | 20,
		ReaderVersion:      20,
		ExternalAttrs:      it.attrs,
		Extra:              append([]byte(nil), it.extra...),
		CompressedSize64:   uint64(it.size),
		UncompressedSize64: uint64(it.size),
	}
	// CreateRaw writes the MS-DOS fields as they are; it ignores Modified.
	//lint:ignore SA1019 raw headers have no other way to carry the time
	fh.ModifiedDate, fh.ModifiedTime = it.dosDate, it.dosTime
	if it.descriptor() {
		fh.Flags |= flagDesc
	}
	if it.zip64() {
		fh.CreatorVersion, fh.ReaderVersion = creatorUnix|45, 45
	}
	return fh
}

// refWriteTo streams the zip to w: Size() bytes, using one copy buffer
// whatever the file sizes. Each file is opened in turn and must yield
// exactly its planned Size, otherwise WriteTo stops with ErrFileChanged.
// After any error the output is truncated and must be discarded.
func (p *ZipPlan) refWriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	buf := make([]byte, copyBufSize)
	for i := range p.items {
		it := &p.items[i]
		fh := it.refHeader()
		fw, err := zw.CreateRaw(fh)
		if err != nil {
			return cw.n, errs.Wrap("transfer: zip "+strconv.Quote(it.name), err)
		}
		if it.dir {
			continue
		}
		crc, err := it.stream(fw, buf)
		if err != nil {
			return cw.n, err
		}
		// CreateRaw keeps fh: the data descriptor (written when the next
		// entry starts or at Close) and the central directory read the CRC
		// from it, so it may be filled in after the data.
		fh.CRC32 = crc
	}
	if err := zw.Close(); err != nil {
		return cw.n, errs.Wrap("transfer: zip", err)
	}
	if cw.n != p.size {
		// Only a change in archive/zip's layout could cause this; the peer
		// would read a truncated or overlong stream.
		return cw.n, errors.New("transfer: internal error: wrote " + strconv.FormatInt(cw.n, 10) + " zip bytes, planned " + strconv.FormatInt(p.size, 10))
	}
	return cw.n, nil
}

// recordWriter keeps the bytes and the size of every Write: the writes
// reach the transit records as they are, so they should not change either.
type recordWriter struct {
	bytes.Buffer
	writes []int
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

func TestZipWriteToMatchesArchiveZip(t *testing.T) {
	cases := planCases()
	cases = append(cases, planCase{name: "no times, odd modes", entries: []Entry{
		{Name: "d/", Mode: fs.ModeDir},
		{Name: "d/x", Size: 3, Mode: 0o600, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("abc")), nil }},
		{Name: "e/", Mode: fs.ModeDir | 0o500, Modified: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Name: "late", Size: 1, Mode: 0o755, Modified: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("z")), nil }},
	}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := NewZipPlan(tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			var got, want recordWriter
			if _, err := plan.WriteTo(&got); err != nil {
				t.Fatal(err)
			}
			if _, err := plan.refWriteTo(&want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				i := 0
				for i < min(got.Len(), want.Len()) && got.Bytes()[i] == want.Bytes()[i] {
					i++
				}
				t.Fatalf("%d bytes, archive/zip %d; first difference at %d", got.Len(), want.Len(), i)
			}
			if !slices.Equal(got.writes, want.writes) {
				t.Fatalf("writes of %v bytes, archive/zip %v", got.writes, want.writes)
			}
			t.Logf("%d bytes in %d writes, as archive/zip wrote them", got.Len(), len(got.writes))
		})
	}
}

// digestWriter hashes a stream that is mostly zeros without keeping it:
// each write's length, then its bytes or, for a write of zeros, a mark.
type digestWriter struct {
	h hash.Hash
	n int64
}

func (d *digestWriter) Write(p []byte) (int, error) {
	d.h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(p))))
	if allZero(p) {
		d.h.Write([]byte{0})
	} else {
		d.h.Write([]byte{1})
		d.h.Write(p)
	}
	d.n += int64(len(p))
	return len(p), nil
}

// The Zip64 records (sizes, offsets past 4 GiB, end records) against
// archive/zip's.
func TestZipWriteToMatchesArchiveZipOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 4 GiB twice")
	}
	plan, err := NewZipPlan([]Entry{
		memEntry("first.txt", []byte("first")),
		zeroEntry("big.bin", 1<<32+1),
		memEntry("after/last.txt", []byte("after the big one")),
		dirEntry("empty/"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, want := &digestWriter{h: sha256.New()}, &digestWriter{h: sha256.New()}
	if _, err := plan.WriteTo(got); err != nil {
		t.Fatal(err)
	}
	if _, err := plan.refWriteTo(want); err != nil {
		t.Fatal(err)
	}
	if got.n != want.n || !bytes.Equal(got.h.Sum(nil), want.h.Sum(nil)) {
		t.Fatalf("%d bytes, archive/zip %d; digests differ", got.n, want.n)
	}
	t.Logf("%d bytes, as archive/zip wrote them", got.n)
}
