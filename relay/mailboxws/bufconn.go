package mailboxws

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// smallBufHijacker hands coder/websocket small bufio buffers instead of
// net/http's 4 KiB reader and writer, which would otherwise stay with every
// idle connection.
type smallBufHijacker struct {
	http.ResponseWriter
	h    http.Hijacker
	nc   net.Conn
	cork *corkWriter
	br   *bufio.Reader
}

// Small because every idle connection keeps both. Reads: client frames
// are mostly under 256 bytes, and bigger payloads bypass the buffer.
// Writes: writeLoop always corks, so coder/websocket's per-frame flushes
// land in corkWriter; only control frames (≤127 bytes: pongs, close)
// go straight through.
const (
	connReadBuf  = 256
	connWriteBuf = 128
)

func (w *smallBufHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := w.h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.nc = nc
	var conn net.Conn = nc
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its upgrade request.
		pre, _ := brw.Reader.Peek(n)
		conn = &prefixConn{Conn: nc, pre: bytes.Clone(pre)}
	}
	w.cork = &corkWriter{w: nc}
	w.br = bufio.NewReaderSize(conn, connReadBuf)
	return conn, bufio.NewReadWriter(w.br, bufio.NewWriterSize(w.cork, connWriteBuf)), nil
}

// corkWriter sits under coder/websocket's bufio.Writer, which flushes
// every frame. While corked it collects those flushes, so a writer that
// has several frames queued (ack + reply, replays) sends them in one
// syscall.
type corkWriter struct {
	mu     sync.Mutex
	w      io.Writer
	corked bool
	buf    []byte // only while corked
}

func (c *corkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked && len(c.buf)+len(p) <= 64<<10 {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if len(c.buf) > 0 {
		if _, err := c.w.Write(c.buf); err != nil {
			return 0, err
		}
		c.buf = c.buf[:0]
	}
	return c.w.Write(p)
}

// cork starts collecting writes, expecting about size bytes.
func (c *corkWriter) cork(size int) {
	c.mu.Lock()
	c.corked = true
	if cap(c.buf) < size {
		c.buf = make([]byte, 0, size)
	}
	c.mu.Unlock()
}

// uncork writes what was collected in one call.
func (c *corkWriter) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	var err error
	if len(c.buf) > 0 {
		_, err = c.w.Write(c.buf)
	}
	c.buf = nil // idle connections keep no buffer
	return err
}

type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		if len(p.pre) == 0 {
			p.pre = nil
		}
		return n, nil
	}
	return p.Conn.Read(b)
}
