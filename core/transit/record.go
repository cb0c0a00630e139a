package transit

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strconv"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// Record framing: 4-byte big-endian length N, then N bytes of
// nonce(24) || secretbox(plaintext) (16-byte tag first).
const (
	lenSize   = 4
	nonceSize = 24
	// RecordOverhead is how many bytes a record adds to its plaintext.
	RecordOverhead = lenSize + nonceSize + secretbox.Overhead
	// DefaultMaxRecord caps the length field (nonce+box) a Reader accepts
	// when NewReader is given 0; the transit spec recommends 64 MiB. Python
	// and wormhole-william allocate whatever the length says.
	DefaultMaxRecord = 64 << 20
	// MaxPlain is the plaintext size of the records Writer.Write and
	// Writer.ReadFrom produce. Python sends 16 KiB, wormhole-william any
	// size; every receiver takes any size (none caps below 64 MiB). 64 KiB
	// makes the per-record cost (header, HSalsa20 and Poly1305 setup, one
	// write call) negligible, while a Python receiver, which joins its
	// socket reads into one bytes object per record (quadratic in the
	// record size), still reads it at full speed; see BenchmarkRecordSize.
	MaxPlain = 64 << 10
)

var (
	// ErrBadNonce means a record's nonce was not the next value of the
	// peer's counter: records were dropped, replayed or reordered.
	ErrBadNonce = errors.New("transit: record has an unexpected nonce")
	// ErrRecordTooLarge means a record's length exceeds the Reader's cap (or
	// a WriteRecord argument the cap of our own readers).
	ErrRecordTooLarge = errors.New("transit: record too large")
	// ErrDecrypt means a record did not authenticate under the key.
	ErrDecrypt = errors.New("transit: record could not be decrypted")
	// ErrShortRecord means a record's length cannot even hold nonce and tag.
	ErrShortRecord = errors.New("transit: record shorter than its nonce and tag")
)

func recordKey(key []byte) [32]byte {
	if len(key) != 32 {
		// Record keys come from RecordKeys, never from the network.
		panic("transit: record key is " + strconv.Itoa(len(key)) + " bytes, want 32")
	}
	return [32]byte(key)
}

// Writer seals what is written to it into records. The nonce is a counter
// starting at 0, written big-endian into all 24 nonce bytes.
//
// Each record goes to the underlying writer in one Write call (length,
// nonce and box are built contiguously in a reused buffer), so no bufio is
// needed: the conn gets one large write per record, and over WebSocket one
// message per record. A Writer is not safe for concurrent use; it may be
// used concurrently with a Reader on the same connection.
type Writer struct {
	w     io.Writer
	key   [32]byte
	nonce uint64
	size  int    // plaintext bytes per record
	buf   []byte // one sealed record
	plain []byte // ReadFrom's staging area
	err   error
}

// NewWriter returns a Writer that seals records of at most MaxPlain
// plaintext bytes with the 32-byte key (the sendKey of RecordKeys).
func NewWriter(w io.Writer, key []byte) *Writer {
	return NewWriterSize(w, key, MaxPlain)
}

// NewWriterSize is NewWriter with another record size (plaintext bytes per
// record, at least 1 and at most DefaultMaxRecord minus the overhead).
func NewWriterSize(w io.Writer, key []byte, size int) *Writer {
	if size < 1 || size > DefaultMaxRecord-nonceSize-secretbox.Overhead {
		panic("transit: record size " + strconv.Itoa(size) + " out of range")
	}
	return &Writer{w: w, key: recordKey(key), size: size}
}

// Write seals p into records of at most the Writer's record size and
// writes them. It returns the number of plaintext bytes of p written.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), w.size)]
		if err := w.seal(chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, w.err
}

// WriteRecord seals p as exactly one record, whatever its size (empty is
// allowed). The receiver's final ack goes out this way.
func (w *Writer) WriteRecord(p []byte) error {
	if len(p) > DefaultMaxRecord-nonceSize-secretbox.Overhead {
		return errs.With(ErrRecordTooLarge, strconv.Itoa(len(p))+" bytes of plaintext")
	}
	return w.seal(p)
}

// ReadFrom fills records to the full record size from r before sealing
// them, so that io.Copy(writer, file) makes full-size records whatever
// buffer size the source reads with.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.plain == nil {
		w.plain = make([]byte, w.size)
	}
	var total int64
	for {
		n, rerr := io.ReadFull(r, w.plain)
		if n > 0 {
			if err := w.seal(w.plain[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, rerr
		}
	}
}

func (w *Writer) seal(p []byte) error {
	if w.err != nil {
		return w.err
	}
	need := RecordOverhead + len(p)
	if cap(w.buf) < need {
		w.buf = make([]byte, max(need, RecordOverhead+w.size))
	}
	buf := w.buf[:lenSize+nonceSize]
	binary.BigEndian.PutUint32(buf, uint32(need-lenSize))
	var nonce [nonceSize]byte
	binary.BigEndian.PutUint64(nonce[nonceSize-8:], w.nonce)
	copy(buf[lenSize:], nonce[:])
	buf = secretbox.Seal(buf, p, &nonce, &w.key)
	w.nonce++ // a uint64 counter cannot wrap in practice
	if _, err := w.w.Write(buf); err != nil {
		w.err = errs.Wrap("transit: writing record", err)
		return w.err
	}
	return nil
}

// Reader opens the records read from r and is an io.Reader over their
// plaintext. Every record must carry the next nonce of the peer's counter
// (ErrBadNonce otherwise) and authenticate (ErrDecrypt); a length above the
// cap is ErrRecordTooLarge. Errors are sticky. The buffer for a record
// grows with the bytes that actually arrive, so a lying length field
// cannot make the Reader allocate more than it received (or the cap).
//
// A Reader is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	hdr     [lenSize]byte
	key     [32]byte
	max     int
	nonce   uint64
	rec     []byte // nonce+box of the current record
	plain   []byte // decrypted record
	pending []byte // unread part of plain
	err     error
}

// readBufSize is the bufio size on the underlying reader: large reads,
// and record bodies at least this big bypass the copy.
const readBufSize = 64 << 10

// NewReader returns a Reader opening records with the 32-byte key (the
// recvKey of RecordKeys). maxRecord caps the length field; 0 or less means
// DefaultMaxRecord.
func NewReader(r io.Reader, key []byte, maxRecord int) *Reader {
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	return &Reader{br: bufio.NewReaderSize(r, readBufSize), key: recordKey(key), max: maxRecord}
}

// Read reads decrypted bytes. At a record boundary a clean end of the
// stream is io.EOF; inside a record it is io.ErrUnexpectedEOF.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.pending) == 0 {
		box, err := r.next()
		if err != nil {
			return 0, err
		}
		if n := len(box) - secretbox.Overhead; n > 0 && n <= len(p) {
			// The whole record fits: decrypt straight into p.
			if _, err := r.open(p[:0], box); err != nil {
				return 0, err
			}
			return n, nil
		}
		plain, err := r.open(r.plain[:0], box)
		if err != nil {
			return 0, err
		}
		r.plain = plain
		r.pending = plain
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// ReadRecord returns the plaintext of the next record, or what Read left
// unread of the current one. The slice is valid until the next call.
func (r *Reader) ReadRecord() ([]byte, error) {
	if len(r.pending) > 0 {
		p := r.pending
		r.pending = nil
		return p, nil
	}
	box, err := r.next()
	if err != nil {
		return nil, err
	}
	plain, err := r.open(r.plain[:0], box)
	if err != nil {
		return nil, err
	}
	r.plain = plain
	return plain, nil
}

// WriteTo writes all remaining plaintext to w (io.Copy uses it), decrypting
// each record into one reused buffer.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		p, err := r.ReadRecord()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err := w.Write(p)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// next reads one record, checks length and nonce, and returns its box
// (tag+ciphertext, valid until the next call).
func (r *Reader) next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	hdr := r.hdr[:] // a field: a local array would escape through io.ReadFull
	if _, err := io.ReadFull(r.br, hdr); err != nil {
		if err != io.EOF {
			err = errs.Wrap("transit: reading record length", err)
		}
		return nil, r.fail(err)
	}
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(r.max) {
		return nil, r.fail(errs.With(ErrRecordTooLarge, "length "+strconv.FormatUint(uint64(n), 10)+" exceeds "+strconv.Itoa(r.max)))
	}
	if n < nonceSize+secretbox.Overhead {
		return nil, r.fail(errs.With(ErrShortRecord, "length "+strconv.FormatUint(uint64(n), 10)))
	}
	if err := r.readBody(int(n)); err != nil {
		return nil, r.fail(err)
	}
	var want [nonceSize]byte
	binary.BigEndian.PutUint64(want[nonceSize-8:], r.nonce)
	if [nonceSize]byte(r.rec[:nonceSize]) != want {
		return nil, r.fail(errs.With(ErrBadNonce, "got "+hex.EncodeToString(r.rec[:nonceSize])+", want counter "+strconv.FormatUint(r.nonce, 10)))
	}
	r.nonce++
	return r.rec[nonceSize:], nil
}

// readBody reads n bytes into r.rec, growing it at most geometrically
// ahead of the bytes received.
func (r *Reader) readBody(n int) error {
	buf := r.rec[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grow := min(n, max(2*cap(buf), readBufSize))
			nb := make([]byte, len(buf), grow)
			copy(nb, buf)
			buf = nb
		}
		m, err := r.br.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.rec = buf
			return errs.Wrap("transit: reading record body", err)
		}
	}
	r.rec = buf
	return nil
}

func (r *Reader) open(out, box []byte) ([]byte, error) {
	var nonce [nonceSize]byte
	binary.BigEndian.PutUint64(nonce[nonceSize-8:], r.nonce-1)
	plain, ok := secretbox.Open(out, box, &nonce, &r.key)
	if !ok {
		return nil, r.fail(errs.With(ErrDecrypt, "record "+strconv.FormatUint(r.nonce-1, 10)))
	}
	return plain, nil
}

func (r *Reader) fail(err error) error {
	r.err = err
	return err
}
