package transit

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"golang.org/x/crypto/nacl/secretbox"
)

var e2eKey = []byte{
	0xc6, 0x50, 0xaf, 0x6e, 0xd0, 0x1f, 0x0e, 0xcc, 0x53, 0x8d, 0x16, 0x49, 0x1f, 0xd0, 0x16, 0x8a,
	0x8f, 0xe7, 0x2f, 0xa9, 0x5e, 0x2d, 0x44, 0xe7, 0xaf, 0x1d, 0x21, 0x13, 0x15, 0x39, 0xb0, 0xec,
}

// The sender's record #0 "hello" of the end-to-end vector (docs/protocol.md §5).
func TestRecordVector(t *testing.T) {
	want := unhex(t, "0000002d 000000000000000000000000000000000000000000000000 f05c267ede1b426c56bdd93f45f62c6b352f91094f")
	sendKey, _ := RecordKeys(e2eKey, true)
	var buf bytes.Buffer
	w := NewWriter(&buf, sendKey)
	if n, err := w.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("record = %x\nwant     %x", buf.Bytes(), want)
	}
	_, recvKey := RecordKeys(e2eKey, false)
	rec, err := NewReader(bytes.NewReader(want), recvKey, 0).ReadRecord()
	if err != nil || string(rec) != "hello" {
		t.Fatalf("ReadRecord = %q, %v", rec, err)
	}
}

func testKeys() (send, recv []byte) {
	return RecordKeys(e2eKey, true)
}

// sealRaw builds one record with an arbitrary nonce, as a peer might.
func sealRaw(key, nonce []byte, plain []byte) []byte {
	var n [24]byte
	copy(n[:], nonce)
	box := secretbox.Seal(append([]byte{}, n[:]...), plain, &n, (*[32]byte)(key))
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(box))), box...)
}

func beNonce(i uint64) []byte {
	var n [24]byte
	binary.BigEndian.PutUint64(n[16:], i)
	return n[:]
}

// lengths returns the length fields of the records in a stream.
func lengths(t *testing.T, stream []byte) []int {
	t.Helper()
	var out []int
	for len(stream) > 0 {
		if len(stream) < 4 {
			t.Fatalf("trailing %d bytes", len(stream))
		}
		n := int(binary.BigEndian.Uint32(stream))
		out = append(out, n)
		stream = stream[4+n:]
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	key, _ := testKeys()
	const o = nonceSize + secretbox.Overhead
	tests := []struct {
		size    int
		records []int
	}{
		{1, []int{1 + o}},
		{MaxPlain - 1, []int{MaxPlain - 1 + o}},
		{MaxPlain, []int{MaxPlain + o}},
		{MaxPlain + 1, []int{MaxPlain + o, 1 + o}},
		{3*MaxPlain + 5, []int{MaxPlain + o, MaxPlain + o, MaxPlain + o, 5 + o}},
	}
	for _, tt := range tests {
		data := make([]byte, tt.size)
		rand.Read(data)
		var stream bytes.Buffer
		w := NewWriter(&stream, key)
		if n, err := w.Write(data); n != len(data) || err != nil {
			t.Fatalf("size %d: Write = %d, %v", tt.size, n, err)
		}
		if got := lengths(t, stream.Bytes()); fmt.Sprint(got) != fmt.Sprint(tt.records) {
			t.Errorf("size %d: record lengths %v, want %v", tt.size, got, tt.records)
		}
		// Every way of reading must give the same bytes back.
		readers := map[string]func(r *Reader) ([]byte, error){
			"ReadAll": func(r *Reader) ([]byte, error) { return io.ReadAll(r) },
			"OneByte": func(r *Reader) ([]byte, error) { return io.ReadAll(iotest.OneByteReader(r)) },
			"Big": func(r *Reader) ([]byte, error) {
				var out []byte
				buf := make([]byte, 4*MaxPlain)
				for {
					n, err := r.Read(buf)
					out = append(out, buf[:n]...)
					if err == io.EOF {
						return out, nil
					} else if err != nil {
						return out, err
					}
				}
			},
			"WriteTo": func(r *Reader) ([]byte, error) {
				var b bytes.Buffer
				_, err := io.Copy(&b, r)
				return b.Bytes(), err
			},
		}
		for name, read := range readers {
			// The underlying stream arrives in dribbles, too.
			src := iotest.HalfReader(bytes.NewReader(stream.Bytes()))
			got, err := read(NewReader(src, key, 0))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("size %d, %s: got %d bytes, %v", tt.size, name, len(got), err)
			}
		}
	}
}

func TestWriteRecordAndReadRecord(t *testing.T) {
	key, _ := testKeys()
	var stream bytes.Buffer
	w := NewWriterSize(&stream, key, 10)
	big := bytes.Repeat([]byte("x"), 100)
	for _, rec := range [][]byte{[]byte(`{"ack": "ok"}`), {}, big} {
		if err := w.WriteRecord(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := lengths(t, stream.Bytes()); fmt.Sprint(got) != fmt.Sprint([]int{13 + 40, 40, 100 + 40}) {
		t.Errorf("record lengths %v", got)
	}
	r := NewReader(&stream, key, 0)
	for i, want := range []string{`{"ack": "ok"}`, "", string(big)} {
		got, err := r.ReadRecord()
		if err != nil || string(got) != want {
			t.Errorf("record %d = %q, %v", i, got, err)
		}
	}
	if _, err := r.ReadRecord(); err != io.EOF {
		t.Errorf("after last record: %v, want io.EOF", err)
	}
	if err := w.WriteRecord(make([]byte, DefaultMaxRecord)); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("oversized WriteRecord: %v", err)
	}
}

// A partly read record is finished by ReadRecord, not skipped.
func TestReadThenReadRecord(t *testing.T) {
	key, _ := testKeys()
	var stream bytes.Buffer
	w := NewWriter(&stream, key)
	w.WriteRecord([]byte("abcdef"))
	w.WriteRecord([]byte("ack"))
	r := NewReader(&stream, key, 0)
	buf := make([]byte, 2)
	if n, _ := r.Read(buf); string(buf[:n]) != "ab" {
		t.Fatalf("Read = %q", buf[:n])
	}
	for _, want := range []string{"cdef", "ack"} {
		if got, err := r.ReadRecord(); string(got) != want || err != nil {
			t.Errorf("ReadRecord = %q, %v; want %q", got, err, want)
		}
	}
}

func TestWriterReadFromFillsRecords(t *testing.T) {
	key, _ := testKeys()
	data := make([]byte, 2*MaxPlain+100)
	rand.Read(data)
	var stream bytes.Buffer
	w := NewWriter(&stream, key)
	// A source that returns one byte per Read still makes full records.
	n, err := io.Copy(w, iotest.OneByteReader(bytes.NewReader(data)))
	if n != int64(len(data)) || err != nil {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if got := lengths(t, stream.Bytes()); len(got) != 3 || got[0] != MaxPlain+40 || got[2] != 100+40 {
		t.Errorf("record lengths %v", got)
	}
	got, err := io.ReadAll(NewReader(&stream, key, 0))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	boom := errors.New("boom")
	if _, err := w.ReadFrom(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("ReadFrom error = %v", err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	f.n--
	return len(p), nil
}

func TestWriterErrorIsSticky(t *testing.T) {
	key, _ := testKeys()
	w := NewWriterSize(&failWriter{n: 1}, key, 4)
	n, err := w.Write([]byte("12345678"))
	if n != 4 || err == nil {
		t.Fatalf("Write = %d, %v; want 4 and an error", n, err)
	}
	if err2 := w.WriteRecord([]byte("x")); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second write: %v, want the first error again", err2)
	}
}

func TestReaderErrors(t *testing.T) {
	key, _ := testKeys()
	rec := func(nonce uint64, plain string) []byte { return sealRaw(key, beNonce(nonce), []byte(plain)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tampered := rec(0, "hello")
	tampered[len(tampered)-1] ^= 1
	_, otherKey := testKeys()
	leNonce := make([]byte, 24)
	leNonce[0] = 1 // counter 1 little-endian, as the spec repo wrongly says
	tests := []struct {
		name   string
		stream []byte
		max    int
		good   int // records that read fine first
		want   error
	}{
		{"clean EOF", rec(0, "a"), 0, 1, io.EOF},
		{"empty stream", nil, 0, 0, io.EOF},
		{"skipped record", cat(rec(0, "a"), rec(2, "c")), 0, 1, ErrBadNonce},
		{"replayed record", cat(rec(0, "a"), rec(0, "a")), 0, 1, ErrBadNonce},
		{"first nonce not zero", rec(1, "a"), 0, 0, ErrBadNonce},
		{"little-endian nonce", cat(rec(0, "a"), sealRaw(key, leNonce, []byte("b"))), 0, 1, ErrBadNonce},
		{"tampered", tampered, 0, 0, ErrDecrypt},
		{"wrong key", sealRaw(otherKey, beNonce(0), []byte("x")), 0, 0, ErrDecrypt},
		{"over the cap", cat(rec(0, "a"), rec(1, "0123456789")), 40 + 5, 1, ErrRecordTooLarge},
		{"too short for a tag", cat([]byte{0, 0, 0, 39}, make([]byte, 39)), 0, 0, ErrShortRecord},
		{"truncated length", cat(rec(0, "a"), []byte{0, 0}), 0, 1, io.ErrUnexpectedEOF},
		{"truncated body", rec(0, "hello")[:30], 0, 0, io.ErrUnexpectedEOF},
		{"length 2^32-1", []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, 0, 0, ErrRecordTooLarge},
	}
	if sameKey := bytes.Equal(otherKey, key); sameKey {
		t.Fatal("test keys must differ")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.stream), key, tt.max)
			for i := 0; i < tt.good; i++ {
				if _, err := r.ReadRecord(); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			_, err := r.ReadRecord()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			// Errors are sticky, through Read as well.
			if _, err2 := r.Read(make([]byte, 10)); !errors.Is(err2, tt.want) {
				t.Errorf("then Read = %v, want %v again", err2, tt.want)
			}
		})
	}
}

// A length field may claim 64 MiB; the Reader must not allocate that much
// for a handful of bytes.
func TestReaderAllocationFollowsData(t *testing.T) {
	key, _ := testKeys()
	stream := append([]byte{0x03, 0xff, 0xff, 0xff}, make([]byte, 100)...) // ~64 MiB claimed
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(stream), key, 0).ReadRecord()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes for a 104-byte stream", d)
	}
}

// Steady state: sealing and opening reuse their buffers.
func TestNoAllocationsPerRecord(t *testing.T) {
	key, _ := testKeys()
	var pipe bytes.Buffer
	w := NewWriter(&pipe, key)
	r := NewReader(&pipe, key, 0)
	data := make([]byte, MaxPlain)
	out := make([]byte, 32<<10) // smaller than a record: exercises the copy path
	cycle := func() {
		w.Write(data)
		for got := 0; got < len(data); {
			n, err := r.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	cycle() // grow buffers once
	if allocs := testing.AllocsPerRun(50, cycle); allocs != 0 {
		t.Errorf("%v allocations per record", allocs)
	}
}

func FuzzReader(f *testing.F) {
	key, _ := testKeys()
	var valid bytes.Buffer
	w := NewWriterSize(&valid, key, 7)
	w.Write([]byte("some plaintext across records"))
	w.WriteRecord(nil)
	f.Add(valid.Bytes(), uint16(0))
	f.Add(valid.Bytes()[:20], uint16(50))
	f.Add([]byte{0x03, 0xff, 0xff, 0xff, 0}, uint16(0))
	f.Add([]byte{0, 0, 0, 40}, uint16(100))
	f.Fuzz(func(t *testing.T, stream []byte, maxRecord uint16) {
		r := NewReader(bytes.NewReader(stream), key, int(maxRecord))
		buf := make([]byte, 5)
		total := 0
		for {
			n, err := r.Read(buf)
			total += n
			if err != nil {
				break
			}
			if n == 0 {
				t.Fatal("Read returned 0, nil")
			}
		}
		if total > len(stream) {
			t.Fatalf("read %d plaintext bytes from %d bytes", total, len(stream))
		}
		// Buffers grow with the data that arrived, never with the claims.
		if limit := max(readBufSize, 2*len(stream)); cap(r.rec) > limit || cap(r.plain) > limit {
			t.Fatalf("buffers %d/%d for a %d-byte stream", cap(r.rec), cap(r.plain), len(stream))
		}
	})
}

// BenchmarkPipe pushes data through Writer -> io.Pipe -> Reader with the
// writer and reader in separate goroutines, as over a connection, for
// several record sizes.
func BenchmarkPipe(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("record=%dKiB", size>>10), func(b *testing.B) {
			send, _ := testKeys()
			const total = 64 << 20
			chunk := make([]byte, 1<<20)
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				pr, pw := io.Pipe()
				done := make(chan error, 1)
				go func() {
					w := NewWriterSize(pw, send, size)
					for sent := 0; sent < total; sent += len(chunk) {
						if _, err := w.Write(chunk); err != nil {
							done <- err
							return
						}
					}
					done <- pw.Close()
				}()
				n, err := io.Copy(io.Discard, NewReader(pr, send, 0))
				if err != nil || n != total {
					b.Fatalf("read %d, %v", n, err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeal is the crypto alone, per record size, one goroutine.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("record=%dKiB", size>>10), func(b *testing.B) {
			send, _ := testKeys()
			w := NewWriterSize(io.Discard, send, size)
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				w.Write(data)
			}
		})
	}
}
