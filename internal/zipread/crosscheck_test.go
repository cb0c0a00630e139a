package zipread

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
)

// maxEntryRead bounds what the cross-check reads of one entry: a few bytes
// of fuzzed deflate data can claim gigabytes.
const maxEntryRead = 4 << 20

// sameError says whether ours is the error archive/zip's theirs stands
// for: nil for nil, the same sentinel for archive/zip's sentinels, and
// any error for other errors. The documented differences: NewReader's
// io.ErrUnexpectedEOF wraps ErrFormat; corrupt
// deflate data (theirs flate.CorruptInputError) is ErrFormat wrapping
// it, and a header beyond the input (theirs io.EOF) is ErrFormat.
func sameError(ours, theirs error) bool {
	var corrupt flate.CorruptInputError
	switch {
	case theirs == nil || ours == nil:
		return theirs == nil && ours == nil
	case errors.Is(theirs, zip.ErrFormat):
		return errors.Is(ours, ErrFormat)
	case errors.Is(theirs, zip.ErrChecksum):
		return errors.Is(ours, ErrChecksum)
	case errors.Is(theirs, zip.ErrAlgorithm):
		return errors.Is(ours, ErrAlgorithm)
	case errors.As(theirs, &corrupt):
		return errors.Is(ours, ErrFormat) && errors.As(ours, &corrupt)
	case theirs == io.ErrUnexpectedEOF:
		return errors.Is(ours, io.ErrUnexpectedEOF)
	case theirs == io.EOF:
		return errors.Is(ours, ErrFormat)
	}
	return true
}

// crossCheck reads data with NewReader and with archive/zip and fails t
// at the first difference: an error on one side only (or a different
// sentinel), another entry list or header field, other content. It
// returns our reader (nil if both refused the zip).
func crossCheck(t testing.TB, data []byte) *Reader {
	t.Helper()
	ours, err := NewReader(bytes.NewReader(data), int64(len(data)))
	theirs, terr := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if !sameError(err, terr) {
		t.Fatalf("NewReader: %v; archive/zip: %v", err, terr)
	}
	if err != nil {
		return nil
	}
	if ours.Comment != theirs.Comment || len(ours.File) != len(theirs.File) {
		t.Fatalf("comment %q, %d entries; archive/zip: %q, %d", ours.Comment, len(ours.File), theirs.Comment, len(theirs.File))
	}
	for i, f := range ours.File {
		tf := theirs.File[i]
		compareHeaders(t, f, tf)
		got, gerr := readEntry(f.Open)
		want, werr := readEntry(tf.Open)
		if !sameError(gerr, werr) {
			t.Fatalf("entry %d %q: read error %v; archive/zip: %v", i, f.Name, gerr, werr)
		}
		// archive/zip drops the last chunk when the data ends early;
		// compare up to the shorter when either failed.
		if !bytes.Equal(got, want) && (gerr == nil || !bytes.HasPrefix(got, want) && !bytes.HasPrefix(want, got)) {
			t.Fatalf("entry %d %q: read %d bytes (error %v); archive/zip %d (%v)", i, f.Name, len(got), gerr, len(want), werr)
		}
	}
	return ours
}

func compareHeaders(t testing.TB, f *File, tf *zip.File) {
	t.Helper()
	type header struct {
		Name, Comment                                            string
		NonUTF8                                                  bool
		CreatorVersion, ReaderVersion, Flags, Method, Time, Date uint16
		CRC32                                                    uint32
		CSize, USize                                             uint64
		Extra                                                    string
		ExternalAttrs                                            uint32
		Mode                                                     string
	}
	got := header{f.Name, f.Comment, f.NonUTF8(), f.CreatorVersion, f.ReaderVersion, f.Flags, f.Method,
		f.ModifiedTime, f.ModifiedDate, f.CRC32, f.CompressedSize64, f.UncompressedSize64,
		string(f.Extra), f.ExternalAttrs, f.Mode().String()}
	want := header{tf.Name, tf.Comment, tf.NonUTF8, tf.CreatorVersion, tf.ReaderVersion, tf.Flags, tf.Method,
		tf.ModifiedTime, tf.ModifiedDate, tf.CRC32, tf.CompressedSize64, tf.UncompressedSize64,
		string(tf.Extra), tf.ExternalAttrs, tf.Mode().String()}
	if got != want {
		t.Fatalf("header\n %+v\narchive/zip\n %+v", got, want)
	}
	zone, off := f.Modified().Zone()
	tzone, toff := tf.Modified.Zone()
	if !f.Modified().Equal(tf.Modified) || zone != tzone || off != toff {
		t.Fatalf("%q: modified %v; archive/zip %v", f.Name, f.Modified(), tf.Modified)
	}
	offset, err := f.findBodyOffset()
	toffset, terr := tf.DataOffset()
	if !sameError(err, terr) || err == nil && f.headerOffset+offset != toffset {
		t.Fatalf("%q: data at %d (%v); archive/zip %d (%v)", f.Name, f.headerOffset+offset, err, toffset, terr)
	}
}

func readEntry(open func() (io.ReadCloser, error)) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxEntryRead))
}

// FuzzCrossCheck: on any input, NewReader and Open agree with
// archive/zip: the same entries, headers and contents, and an error where
// archive/zip has one (see sameError for the documented differences).
func FuzzCrossCheck(f *testing.F) {
	for _, tc := range acceptTests {
		f.Add(tc.zip(f))
	}
	for _, tc := range refuseTests {
		f.Add(tc.zip(f))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		crossCheck(t, data)
	})
}
