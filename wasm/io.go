//go:build js && wasm

package main

import (
	"errors"
	"io"
	"strconv"
	"syscall/js"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsutil"
)

// chunkSize bounds every piece of a file that is in memory at once, in
// either direction: reads from a Blob, and chunks handed to a sink.
const chunkSize = 1 << 20

// sinkChunk is the size of the chunks posted to a MessagePort sink: big
// enough that one credit round trip per chunk costs nothing, small enough
// that the few chunks in flight keep memory flat.
const sinkChunk = 256 << 10

// blobReader reads a JS Blob (a File from an <input> or a drop) in order
// through Blob.stream(), never loading the whole file. One read is always
// in flight ahead of the consumer, so the browser fetches the next piece
// from disk while Go encrypts the current one; Blob.slice().arrayBuffer()
// per chunk measured ~28 MB/s in a worker, the stream several times that.
type blobReader struct {
	whole  js.Value // the Blob as given
	total  int64    // its size
	base   int64    // where blob starts in whole (after a Seek)
	blob   js.Value
	size   int64 // of blob
	got    int64 // bytes received from the stream so far
	reader js.Value
	byob   js.Value        // the ArrayBuffer a BYOB reader reads into next, if BYOB works
	next   chan readResult // the read in flight, or nil
	buf    []byte
	pos    int
	done   bool
}

type readResult struct {
	b   []byte
	eof bool
	err error
}

func newBlobReader(blob js.Value) *blobReader {
	size := int64(blob.Get("size").Float())
	return &blobReader{whole: blob, total: size, blob: blob, size: size}
}

// Seek restarts the stream at offset, on a slice of the Blob: a resumed
// transfer (docs/resume.md) goes on from the receiver's offset, or
// re-reads a little to check its hash.
func (r *blobReader) Seek(offset int64, whence int) (int64, error) {
	cur := r.base + r.got - int64(len(r.buf)-r.pos)
	switch whence {
	case io.SeekCurrent:
		if offset == 0 {
			return cur, nil
		}
		offset += cur
	case io.SeekEnd:
		offset += r.total
	}
	if offset < 0 || offset > r.total {
		return cur, errs.Wrap("seek to "+strconv.FormatInt(offset, 10)+" of "+strconv.FormatInt(r.total, 10)+" bytes", errors.ErrUnsupported)
	}
	// The old stream is left to the garbage collector rather than
	// cancelled: a read may be pending on it (its result goes to a
	// buffered channel nobody reads).
	s, err := call(r.whole, "slice", float64(offset))
	if err != nil {
		return cur, err
	}
	*r = blobReader{whole: r.whole, total: r.total, base: offset, blob: s, size: r.total - offset}
	return offset, nil
}

// fetch starts reading the next chunk from the stream.
func (r *blobReader) fetch() {
	ch := make(chan readResult, 1)
	r.next = ch
	var p js.Value
	var err error
	if r.byob.Truthy() {
		// A byte stream read into our own buffer: the chunks do not pile
		// up as garbage ArrayBuffers in the worker (measured ~40 MiB).
		p, err = call(r.reader, "read", js.Global().Get("Uint8Array").New(r.byob, 0, chunkSize))
	} else {
		p, err = call(r.reader, "read")
	}
	if err != nil {
		ch <- readResult{err: err}
		return
	}
	go func() {
		v, err := await(p)
		switch {
		case err != nil:
			ch <- readResult{err: errs.Wrap("read file", err)}
		case v.Get("done").Bool():
			ch <- readResult{eof: true}
		default:
			u := v.Get("value")
			b := make([]byte, u.Get("length").Int())
			js.CopyBytesToGo(b, u)
			if r.byob.Truthy() {
				r.byob = u.Get("buffer") // the same memory, handed back
			}
			ch <- readResult{b: b}
		}
	}()
}

func (r *blobReader) Read(p []byte) (int, error) {
	for r.pos == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		if r.next == nil {
			if !r.reader.Truthy() {
				st, err := call(r.blob, "stream")
				if err != nil {
					return 0, err
				}
				r.reader = js.Undefined()
				opts := js.Global().Get("Object").New()
				opts.Set("mode", "byob")
				if rd, err := call(st, "getReader", opts); err == nil {
					r.reader = rd
					r.byob = js.Global().Get("ArrayBuffer").New(chunkSize)
				} else {
					r.reader = st.Call("getReader")
				}
			}
			r.fetch()
		}
		res := <-r.next
		r.next = nil
		if res.err != nil {
			return 0, res.err
		}
		if res.eof {
			r.done = true
			if r.got < r.size {
				// The file shrank after it was picked: the offer promised more.
				return 0, errs.Wrap("read file at "+strconv.FormatInt(r.got, 10)+" of "+strconv.FormatInt(r.size, 10), io.ErrUnexpectedEOF)
			}
			return 0, io.EOF
		}
		r.buf, r.pos = res.b, 0
		r.got += int64(len(res.b))
		r.fetch() // read ahead while the caller works on this chunk
	}
	n := copy(p, r.buf[r.pos:])
	r.pos += n
	return n, nil
}

// Close cancels the stream (a transfer that ended early).
func (r *blobReader) Close() error {
	if r.reader.Truthy() && !r.done {
		if p, err := call(r.reader, "cancel"); err == nil {
			p.Call("catch", jsutil.IgnoreRejection)
		}
		r.done = true
	}
	return nil
}

// readBlob reads n bytes at off into dst (reusing its capacity).
func readBlob(blob js.Value, off, n int64, dst []byte) ([]byte, error) {
	slice, err := call(blob, "slice", float64(off), float64(off+n))
	if err != nil {
		return nil, err
	}
	p, err := call(slice, "arrayBuffer")
	if err != nil {
		return nil, err
	}
	ab, err := await(p)
	if err != nil {
		return nil, errs.Wrap("read file", err)
	}
	u := js.Global().Get("Uint8Array").New(ab)
	l := u.Get("length").Int()
	if cap(dst) < l {
		dst = make([]byte, l)
	}
	dst = dst[:l]
	js.CopyBytesToGo(dst, u)
	return dst, nil
}

// blobReaderAt gives random access to a Blob, for archive/zip. It caches
// one block so the many small reads of a zip reader stay cheap.
type blobReaderAt struct {
	blob  js.Value
	size  int64
	start int64
	block []byte
}

func (r *blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		o := off + int64(n)
		if o >= r.size {
			return n, io.EOF
		}
		if o < r.start || o >= r.start+int64(len(r.block)) {
			want := min(int64(chunkSize), r.size-o)
			b, err := readBlob(r.blob, o, want, r.block[:0])
			if err != nil {
				return n, err
			}
			if len(b) == 0 {
				return n, io.ErrUnexpectedEOF
			}
			r.block, r.start = b, o
		}
		n += copy(p[n:], r.block[o-r.start:])
	}
	return n, nil
}

// errSinkCancelled means the consumer of a sink stopped reading: the user
// cancelled the download in the browser, or the page went away.
var errSinkCancelled = errors.New("the download was cancelled")

// portWriter writes to a MessagePort sink (web/README.md, "Sinks"). The
// consumer grants credits, one per chunk it is ready to take; Write
// coalesces small writes into sinkChunk pieces and waits for a credit
// before posting each, so at most (credits granted) chunks are in flight
// and a slow disk slows the transfer instead of filling memory.
//
//	producer -> consumer: {type:"chunk", data:ArrayBuffer} | {type:"end"} | {type:"abort", message}
//	consumer -> producer: {type:"credit", n} | {type:"done"} | {type:"error", message}
type portWriter struct {
	port    js.Value
	msgs    chan js.Value
	onMsg   js.Func
	credits int
	buf     []byte
	err     error
	written int64
}

func newPortWriter(port js.Value) *portWriter {
	w := &portWriter{port: port, msgs: make(chan js.Value, 64), buf: make([]byte, 0, sinkChunk)}
	w.onMsg = js.FuncOf(func(_ js.Value, args []js.Value) any {
		select {
		case w.msgs <- args[0].Get("data"):
		default:
			// A consumer sends one message per chunk it receives, so 64
			// unread messages mean it misbehaves; keep the last word.
			w.err = errors.New("sink: too many messages")
		}
		return nil
	})
	port.Set("onmessage", w.onMsg)
	port.Call("start")
	return w
}

// handle applies one consumer message.
func (w *portWriter) handle(m js.Value) {
	switch m.Get("type").String() {
	case "credit":
		w.credits += m.Get("n").Int()
	case "error":
		w.err = errs.With(errSaveFailed, m.Get("message").String())
	case "cancel":
		w.err = errSinkCancelled
	}
}

func (w *portWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	return fillChunks(&w.buf, p, w.flush)
}

// fillChunks appends p to *buf and calls flush each time *buf reaches its
// capacity, so the sinks see full chunks whatever sizes they are written
// in. flush must empty *buf.
func fillChunks(buf *[]byte, p []byte, flush func() error) (int, error) {
	n := 0
	for len(p) > 0 {
		b := *buf
		k := copy(b[len(b):cap(b)], p)
		*buf = b[:len(b)+k]
		p = p[k:]
		n += k
		if len(*buf) == cap(*buf) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *portWriter) flush() error {
	if len(w.buf) == 0 {
		return w.err
	}
	// Pick up credits and a cancel that arrived meanwhile, without waiting.
	for drained := false; !drained; {
		select {
		case m := <-w.msgs:
			w.handle(m)
		default:
			drained = true
		}
	}
	for w.credits == 0 && w.err == nil {
		w.handle(<-w.msgs)
	}
	if w.err != nil {
		return w.err
	}
	u := bytesToJS(w.buf)
	ab := u.Get("buffer")
	msg := js.Global().Get("Object").New()
	msg.Set("type", "chunk")
	msg.Set("data", ab)
	w.port.Call("postMessage", msg, js.Global().Get("Array").New(ab))
	w.credits--
	w.written += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// detach hands the port to the JS data path, with the credits granted
// so far; attach takes it back with the credits left and the consumer's
// error, if it reported one meanwhile ("save-failed" or "cancelled").
func (w *portWriter) detach() (port js.Value, credits int, err error) {
	if err := w.flush(); err != nil {
		return js.Value{}, 0, err
	}
	for drained := false; !drained; {
		select {
		case m := <-w.msgs:
			w.handle(m)
		default:
			drained = true
		}
	}
	if w.err != nil {
		return js.Value{}, 0, w.err
	}
	w.port.Set("onmessage", js.Null())
	credits, w.credits = w.credits, 0
	return w.port, credits, nil
}

func (w *portWriter) attach(credits int, sinkErr, message string) {
	w.credits = credits
	switch sinkErr {
	case "save-failed":
		// As handle words a sink's {type:"error"}: the page shows why.
		w.err = errs.With(errSaveFailed, message)
	case "cancelled":
		w.err = errSinkCancelled
	}
	w.port.Set("onmessage", w.onMsg)
}

// Close flushes, signals the end and waits until the consumer has stored
// everything ({type:"done"}), so "saved" is only reported when it is.
func (w *portWriter) Close() error {
	defer w.release()
	if err := w.flush(); err != nil {
		w.post("abort", err.Error())
		return err
	}
	w.post("end", "")
	for {
		m := <-w.msgs
		switch m.Get("type").String() {
		case "done":
			return nil
		case "error":
			return errs.With(errSaveFailed, m.Get("message").String())
		case "cancel":
			return errSinkCancelled
		}
	}
}

// Abort tells the consumer the data is incomplete so it can delete it.
func (w *portWriter) Abort(reason error) {
	defer w.release()
	w.post("abort", reason.Error())
}

func (w *portWriter) post(typ, message string) {
	msg := js.Global().Get("Object").New()
	msg.Set("type", typ)
	if message != "" {
		msg.Set("message", message)
	}
	w.port.Call("postMessage", msg)
}

func (w *portWriter) release() {
	if w.onMsg.Type() == js.TypeFunction {
		w.port.Set("onmessage", js.Null())
		w.onMsg.Release()
		w.onMsg = js.Func{}
	}
}

// fileWriter writes to a FileSystemFileHandle (File System Access API,
// "Save to folder…") through its writable stream. Chromium writes to a swap
// file and only replaces the target on close(), so an aborted transfer
// leaves no partial file behind.
type fileWriter struct {
	writable js.Value
	buf      []byte
}

func newFileWriter(handle js.Value) (*fileWriter, error) {
	p, err := call(handle, "createWritable")
	if err != nil {
		return nil, err
	}
	wr, err := await(p)
	if err != nil {
		return nil, errs.Wrap("open file for writing", err)
	}
	return &fileWriter{writable: wr, buf: make([]byte, 0, chunkSize)}, nil
}

func (w *fileWriter) Write(p []byte) (int, error) { return fillChunks(&w.buf, p, w.flush) }

func (w *fileWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	p, err := call(w.writable, "write", bytesToJS(w.buf))
	if err != nil {
		return err
	}
	if _, err := await(p); err != nil {
		return errs.Wrap("write file", err)
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *fileWriter) Close() error {
	if err := w.flush(); err != nil {
		w.Abort(err)
		return err
	}
	p, err := call(w.writable, "close")
	if err != nil {
		return err
	}
	if _, err := await(p); err != nil {
		return errs.Wrap("close file", err)
	}
	return nil
}

func (w *fileWriter) Abort(error) {
	if p, err := call(w.writable, "abort"); err == nil {
		_, _ = await(p)
	}
}

// sink is where an accepted offer's bytes go.
type sink interface {
	io.WriteCloser
	// Abort discards what was written (called instead of Close on failure).
	Abort(reason error)
}
