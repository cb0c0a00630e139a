package wormhole

// Unit tests of the transfer plumbing that need no mailbox: the data
// phase over a real TCP pair (sendData/receiveData with the record layer
// and the final ack), peer error mapping, and the no-clobber file
// placement of AcceptToPath.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		got <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-got
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func dataCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDataPhase runs sender and receiver data phases against each other:
// the bytes arrive intact, progress ends at the size, the ack verifies.
func TestDataPhase(t *testing.T) {
	for _, size := range []int64{0, 1, transit.MaxPlain - 1, transit.MaxPlain, transit.MaxPlain + 1, 3<<20 + 17} {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) {
			ctx := dataCtx(t)
			key := make([]byte, 32)
			rand.Read(key)
			data := make([]byte, size)
			rand.Read(data)
			a, b := tcpPair(t)
			var got bytes.Buffer
			var lastSent, lastGot [2]int64
			finished := false
			errc := make(chan error, 1)
			go func() {
				errc <- receiveData(ctx, b, key, size, &got, func(n, total int64) { lastGot = [2]int64{n, total} },
					func() error { finished = true; return nil })
			}()
			write := func(w io.Writer) (int64, error) { return io.Copy(w, bytes.NewReader(data)) }
			if err := sendData(ctx, a, key, size, write, func(n, total int64) { lastSent = [2]int64{n, total} }); err != nil {
				t.Fatalf("sendData: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("receiveData: %v", err)
			}
			if !bytes.Equal(got.Bytes(), data) || !finished {
				t.Fatalf("received %d bytes (finish ran: %v), want %d", got.Len(), finished, size)
			}
			if lastSent != [2]int64{size, size} || lastGot != [2]int64{size, size} {
				t.Fatalf("progress: sent %v, got %v", lastSent, lastGot)
			}
		})
	}
}

// TestDataPhaseRecordSizes: full records on the wire whatever sizes the
// source writes in, so the per-record cost stays amortised.
func TestDataPhaseRecordSizes(t *testing.T) {
	ctx := dataCtx(t)
	key := make([]byte, 32)
	const size = 10*transit.MaxPlain + 5
	a, b := tcpPair(t)
	wire := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		io.CopyN(&buf, b, size+11*transit.RecordOverhead)
		wire <- buf.Bytes()
		// Answer like a receiver so that the sender finishes.
		sum := sha256.Sum256(make([]byte, size))
		ack, _ := transfer.NewAck(sum[:]).Encode()
		send, _ := transit.RecordKeys(key, false)
		transit.NewWriter(b, send).WriteRecord(ack)
	}()
	// Tiny writes: 1000 bytes at a time.
	write := func(w io.Writer) (int64, error) {
		var n int64
		chunk := make([]byte, 1000)
		for n < size {
			k, err := w.Write(chunk[:min(int64(len(chunk)), size-n)])
			n += int64(k)
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	if err := sendData(ctx, a, key, size, write, nil); err != nil {
		t.Fatal(err)
	}
	raw := <-wire
	for i := 0; i < 11; i++ {
		n := int(raw[0])<<24 | int(raw[1])<<16 | int(raw[2])<<8 | int(raw[3])
		want := transit.MaxPlain + transit.RecordOverhead - 4
		if i == 10 {
			want = 5 + transit.RecordOverhead - 4
		}
		if n != want {
			t.Fatalf("record %d has length %d, want %d", i, n, want)
		}
		raw = raw[4+n:]
	}
}

// TestDataPhaseFailures: a receiver that acks other bytes, a receiver
// whose finish step fails (no ack), a short source, cancellation.
func TestDataPhaseFailures(t *testing.T) {
	key := make([]byte, 32)
	data := bytes.Repeat([]byte("wormhole"), 10000)
	size := int64(len(data))
	write := func(w io.Writer) (int64, error) { return io.Copy(w, bytes.NewReader(data)) }

	t.Run("hash mismatch", func(t *testing.T) {
		ctx := dataCtx(t)
		a, b := tcpPair(t)
		go func() {
			_, recvKey := transit.RecordKeys(key, true)
			sendKey, _ := transit.RecordKeys(key, false)
			io.CopyN(io.Discard, transit.NewReader(b, recvKey, 0), size)
			ack, _ := transfer.NewAck(make([]byte, 32)).Encode()
			transit.NewWriter(b, sendKey).WriteRecord(ack)
		}()
		err := sendData(ctx, a, key, size, write, nil)
		if !errors.Is(err, transfer.ErrHashMismatch) || !errors.Is(err, errTransferFailed) {
			t.Fatalf("sendData: %v", err)
		}
	})
	t.Run("finish fails", func(t *testing.T) {
		ctx := dataCtx(t)
		a, b := tcpPair(t)
		boom := errors.New("disk full")
		errc := make(chan error, 1)
		go func() {
			err := receiveData(ctx, b, key, size, io.Discard, nil, func() error { return boom })
			b.Close()
			errc <- err
		}()
		err := sendData(ctx, a, key, size, write, nil)
		if !errors.Is(err, errTransferFailed) || !strings.Contains(err.Error(), "ack") {
			t.Fatalf("sendData without ack: %v", err)
		}
		if err := <-errc; !errors.Is(err, boom) {
			t.Fatalf("receiveData: %v", err)
		}
	})
	t.Run("destination fails", func(t *testing.T) {
		// The writing stage fails while the reading stage waits for
		// more records: both must stop, and the sender sees no ack.
		ctx := dataCtx(t)
		a, b := tcpPair(t)
		const big = 64 << 20
		boom := errors.New("disk full")
		errc := make(chan error, 1)
		go func() {
			errc <- receiveData(ctx, b, key, big, &failingWriter{left: 3 << 20, err: boom}, nil, nil)
		}()
		endless := func(w io.Writer) (int64, error) { return io.Copy(w, io.LimitReader(zeros{}, big)) }
		if err := sendData(ctx, a, key, big, endless, nil); !errors.Is(err, errTransferFailed) {
			t.Fatalf("sendData: %v", err)
		}
		if err := <-errc; !errors.Is(err, boom) {
			t.Fatalf("receiveData: %v", err)
		}
	})
	t.Run("short source", func(t *testing.T) {
		ctx := dataCtx(t)
		a, b := tcpPair(t)
		errc := make(chan error, 1)
		go func() { errc <- receiveData(ctx, b, key, size+1, io.Discard, nil, nil) }()
		err := sendData(ctx, a, key, size+1, write, nil)
		if err == nil || !strings.Contains(err.Error(), "offered") {
			t.Fatalf("sendData: %v", err)
		}
		a.Close()
		if err := <-errc; !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("receiveData: %v", err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(dataCtx(t))
		a, _ := tcpPair(t) // nobody reads: the sender blocks once buffers fill
		time.AfterFunc(200*time.Millisecond, cancel)
		endless := func(w io.Writer) (int64, error) { return io.Copy(w, io.LimitReader(zeros{}, 1<<40)) }
		err := sendData(ctx, a, key, 1<<40, endless, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("sendData: %v", err)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestPeerError(t *testing.T) {
	for _, tc := range []struct {
		text               string
		rejected, canceled bool
	}{
		{transfer.TextRejected, true, false},
		{"transfer cancelled", false, true},
		{transfer.TextUnknownOffer, false, true},
	} {
		err := peerError(tc.text)
		if errors.Is(err, ErrRejected) != tc.rejected || errors.Is(err, ErrPeerCancelled) != tc.canceled {
			t.Errorf("peerError(%q) = %v", tc.text, err)
		}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("peerError(%q) = %v lacks the peer's text", tc.text, err)
		}
		var perr *transfer.PeerError
		if !errors.As(err, &perr) || perr.Text != tc.text {
			t.Errorf("peerError(%q) does not carry a PeerError", tc.text)
		}
	}
}

func TestPlaceFile(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".tmp")
	final := filepath.Join(dir, "final")
	os.WriteFile(tmp, []byte("new"), 0o644)
	os.WriteFile(final, []byte("old"), 0o644)
	if err := placeFile(tmp, final); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("placeFile over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(final); string(b) != "old" {
		t.Fatalf("existing file changed to %q", b)
	}
	os.Remove(final)
	if err := placeFile(tmp, final); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(final); string(b) != "new" {
		t.Fatalf("placed file holds %q", b)
	}
}

func TestCheckFree(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	empty := filepath.Join(dir, "empty")
	file := filepath.Join(dir, "file")
	os.MkdirAll(filepath.Join(full, "x"), 0o755)
	os.Mkdir(empty, 0o755)
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		path  string
		isDir bool
		free  bool
	}{
		{filepath.Join(dir, "missing"), false, true},
		{filepath.Join(dir, "missing"), true, true},
		{file, false, false},
		{file, true, false},
		{empty, true, true},
		{empty, false, false},
		{full, true, false},
	} {
		err := checkFree(tc.path, tc.isDir)
		if (err == nil) != tc.free || err != nil && !errors.Is(err, fs.ErrExist) {
			t.Errorf("checkFree(%s, dir=%v) = %v, want free=%v", filepath.Base(tc.path), tc.isDir, err, tc.free)
		}
	}
}

func TestOfferKindString(t *testing.T) {
	for k, want := range map[OfferKind]string{Text: "text", File: "file", Directory: "directory", 0: "OfferKind(0)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", int(k), k.String())
		}
	}
}

// failingWriter accepts left bytes, then fails with err.
type failingWriter struct {
	left int
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}

// TestDataErr: how a data phase that failed on its connection is reported.
// A connection that ended is ErrPeerGone unless the peer's {"error"}
// arrives within the grace period; a record the peer got wrong, or our own
// cancellation, is not.
func TestDataErr(t *testing.T) {
	peerSaid := peerError("transfer cancelled")
	for _, tc := range []struct {
		name      string
		err       error
		gone      bool          // as the call sites decide (connEnded for reads)
		peerAfter time.Duration // the peer's {"error"} arrives after this; 0: never
		cancel    bool          // our own context is cancelled first
		want      error
		notWant   error
	}{
		{"EOF", io.EOF, connEnded(io.EOF), 0, false, ErrPeerGone, ErrPeerCancelled},
		{"truncated record", io.ErrUnexpectedEOF, connEnded(io.ErrUnexpectedEOF), 0, false, ErrPeerGone, nil},
		{"reset", syscall.ECONNRESET, connEnded(syscall.ECONNRESET), 0, false, ErrPeerGone, nil},
		{"browser stream error", errors.New("InvalidStateError: closed WebSocketStream"), connEnded(errors.New("x")), 0, false, ErrPeerGone, nil},
		{"failed write", errors.New("broken"), true, 0, false, ErrPeerGone, nil},
		{"peer said why", io.EOF, true, 100 * time.Millisecond, false, ErrPeerCancelled, ErrPeerGone},
		{"bad record", fmt.Errorf("x: %w", transit.ErrDecrypt), connEnded(transit.ErrDecrypt), 0, false, transit.ErrDecrypt, ErrPeerGone},
		{"we cancelled", io.EOF, true, 0, true, context.Canceled, ErrPeerGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // most cases wait out the grace period
			ctx, abort := context.WithCancelCause(context.Background())
			defer abort(nil)
			if tc.peerAfter > 0 {
				time.AfterFunc(tc.peerAfter, func() { abort(peerSaid) })
			}
			if tc.cancel {
				abort(context.Canceled)
			}
			start := time.Now()
			err := dataErr(ctx, fmt.Errorf("%w: %w", errTransferFailed, tc.err), tc.gone, false)
			if !errors.Is(err, tc.want) || tc.notWant != nil && errors.Is(err, tc.notWant) {
				t.Fatalf("dataErr = %v, want %v and not %v", err, tc.want, tc.notWant)
			}
			if d := time.Since(start); tc.peerAfter > 0 && d > peerErrorGrace/2 {
				t.Errorf("waited %v although the peer's reason came after %v", d, tc.peerAfter)
			}
		})
	}
}

// ackedThenClosed is a sender's end of a connection whose receiver acked
// and closed before the sender wrote again: reads return the ack, writes
// fail (a browser's WebSocket refuses them once the close came).
type ackedThenClosed struct {
	net.Conn
	r io.Reader
}

func (c ackedThenClosed) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c ackedThenClosed) Write(p []byte) (int, error) { return 0, net.ErrClosed }

// A receiver (Python, us) acks a 0-byte file at once and may close before
// the empty record meant for wormhole-william arrives: the transfer still
// succeeds on the ack it had sent.
func TestEmptyFileAckBeforeWake(t *testing.T) {
	key := make([]byte, 32)
	sendKey, _ := transit.RecordKeys(key, false)
	ack, err := transfer.NewAck(sha256.New().Sum(nil)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := transit.NewWriter(&wire, sendKey).WriteRecord(ack); err != nil {
		t.Fatal(err)
	}
	a, _ := tcpPair(t)
	conn := ackedThenClosed{Conn: a, r: &wire}
	nothing := func(io.Writer) (int64, error) { return 0, nil }
	if err := sendData(dataCtx(t), conn, key, 0, nothing, nil); err != nil {
		t.Fatalf("0-byte send with the ack in and the connection closed: %v", err)
	}
	t.Logf("0-byte file acked; the wake-up record's write failed with %v and was ignored", net.ErrClosed)
}
