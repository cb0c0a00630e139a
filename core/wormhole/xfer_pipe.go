package wormhole

// Each end of the data phase runs as two stages on two goroutines, so that
// the record layer's crypto overlaps with file IO and SHA-256 (each about
// half of the CPU of one end):
//
//	sender:   read the source, sha256  ->  seal records, write to conn
//	receiver: read conn, open records  ->  write to dst, sha256
//
// Filled buffers of ioChunk bytes go from the producing stage to the
// consuming one and come back empty; there are pipeDepth of them, which
// bounds the memory of one end. The consumer never blocks on a send to
// either channel (each holds all buffers), so a failing consumer keeps
// draining until the producer notices halt.

import (
	"errors"
	"hash"
	"io"
	"sync"
)

const pipeDepth = 4

// errHalted stops a producer whose consumer failed; the consumer's error
// is the one reported.
var errHalted = errors.New("wormhole: data pipe halted")

type chunkPipe struct {
	free chan []byte // empty buffers (length 0)
	full chan []byte // filled buffers, closed by the producer at the end
	stop chan struct{}
	once sync.Once
}

// newChunkPipe makes buffers no larger than a transfer of size bytes needs.
func newChunkPipe(size int64) *chunkPipe {
	n := int(min(ioChunk, max(size, 1)))
	p := &chunkPipe{
		free: make(chan []byte, pipeDepth),
		full: make(chan []byte, pipeDepth),
		stop: make(chan struct{}),
	}
	for range pipeDepth {
		p.free <- make([]byte, 0, n)
	}
	return p
}

// get returns an empty buffer, or nil once the consumer halted.
func (p *chunkPipe) get() []byte {
	select {
	case <-p.stop:
		return nil
	default:
	}
	select {
	case b := <-p.free:
		return b[:0]
	case <-p.stop:
		return nil
	}
}

// halt tells the producer to stop.
func (p *chunkPipe) halt() { p.once.Do(func() { close(p.stop) }) }

// chunkWriter is the sender's producing end: it fills buffers to ioChunk
// bytes (so records are full whatever sizes the source writes in), hashes
// them and passes them on.
type chunkWriter struct {
	p   *chunkPipe
	h   hash.Hash
	buf []byte
	// passed, if set, is told the size of each buffer passed on, after
	// it was hashed (resume keeps hash snapshots at these boundaries).
	passed func(n int)
}

func (w *chunkWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if w.buf == nil {
			if w.buf = w.p.get(); w.buf == nil {
				return written, errHalted
			}
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], b)
		w.buf = w.buf[:len(w.buf)+k]
		b = b[k:]
		written += k
		if len(w.buf) == cap(w.buf) {
			w.pass()
		}
	}
	return written, nil
}

// ReadFrom reads straight into the buffers, saving a copy (io.Copy from
// a file uses it).
func (w *chunkWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if w.buf == nil {
			if w.buf = w.p.get(); w.buf == nil {
				return total, errHalted
			}
		}
		k, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+k]
		total += int64(k)
		if len(w.buf) == cap(w.buf) {
			w.pass()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush passes on a partly filled last buffer.
func (w *chunkWriter) flush() error {
	if len(w.buf) > 0 {
		w.pass()
	}
	return nil
}

func (w *chunkWriter) pass() {
	w.h.Write(w.buf)
	if w.passed != nil {
		w.passed(len(w.buf))
	}
	w.p.full <- w.buf
	w.buf = nil
}
