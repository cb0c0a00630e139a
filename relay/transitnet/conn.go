package transitnet

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/transit"
)

const (
	transportTCP = "tcp"
	transportWS  = "websocket"
)

// replyTimeout bounds writing a relay reply and draining before a close.
const replyTimeout = 5 * time.Second

// conn is one client, TCP or WebSocket (exactly one of tcp, ws is set).
type conn struct {
	s         *Server
	id        transit.ConnID
	transport string
	remote    string
	tcp       *net.TCPConn
	ws        *websocket.Conn
	release   func() // per-address limiter slot
	closed    atomic.Bool

	// Guarded by s.mu.
	pair    *pair
	dropped bool // closed by the machine

	closeOnce sync.Once
	bytes     atomic.Int64 // bytes relayed from this client to its partner
}

// wsMessage is a data message that arrived while the connection waited.
type wsMessage struct {
	typ websocket.MessageType
	r   io.Reader
}

// readLine reads the handshake line within timeout. On ErrLineTooLong it
// returns the bytes read so far as the line.
func (c *conn) readLine(timeout time.Duration) (line, rest []byte, err error) {
	if c.ws != nil {
		// Not derived from anything closeNow cancels: cancelling a read's
		// context makes coder/websocket drop the connection at once, before
		// a going-away close frame could be sent.
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			return nil, nil, err
		}
		// Read one byte more than allowed to notice an oversized line
		// without buffering it.
		b, err := io.ReadAll(io.LimitReader(r, transit.MaxLineLength+1))
		if err != nil {
			return nil, nil, err
		}
		if typ != websocket.MessageBinary {
			return nil, nil, ErrTextMessage
		}
		if len(b) > transit.MaxLineLength {
			return b, nil, transit.ErrLineTooLong
		}
		// The relayed stream is read without buffering whole messages, so
		// message size needs no limit from here on.
		c.ws.SetReadLimit(-1)
		return b, nil, nil
	}
	if err := c.tcp.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	defer c.tcp.SetReadDeadline(time.Time{})
	buf := make([]byte, transit.MaxLineLength)
	n := 0
	for {
		m, rerr := c.tcp.Read(buf[n:])
		n += m
		line, rest, ok, err := transit.SplitLine(buf[:n])
		switch {
		case ok:
			return line, rest, nil
		case err != nil:
			return buf[:n], nil, err
		case rerr != nil:
			return nil, nil, rerr
		}
	}
}

// readFirst blocks until the waiting client sends something or the
// connection ends. Used only while unpaired.
func (c *conn) readFirst() ([]byte, *wsMessage, error) {
	if c.ws != nil {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return nil, nil, err
		}
		return nil, &wsMessage{typ: typ, r: r}, nil
	}
	var b [1]byte
	n, err := c.tcp.Read(b[:])
	if n == 1 {
		return b[:], nil, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return nil, nil, err
}

// writeReply sends one of the relay's replies.
func (c *conn) writeReply(b []byte) error {
	if c.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), replyTimeout)
		defer cancel()
		return c.ws.Write(ctx, websocket.MessageBinary, b)
	}
	if err := c.tcp.SetWriteDeadline(time.Now().Add(replyTimeout)); err != nil {
		return err
	}
	_, err := c.tcp.Write(b)
	if derr := c.tcp.SetWriteDeadline(time.Time{}); err == nil {
		err = derr
	}
	return err
}

// writeData relays bytes to this client; it blocks while the client (or
// its socket buffer) cannot take more, which is the backpressure.
func (c *conn) writeData(b []byte) error {
	if c.ws != nil {
		// Background: no per-write timer; closing the conn unblocks it.
		return c.ws.Write(context.Background(), websocket.MessageBinary, b)
	}
	_, err := c.tcp.Write(b)
	return err
}

// closeWrite tells the client that no more bytes will come. TCP keeps the
// read side open; a WebSocket has only a close handshake for both sides.
func (c *conn) closeWrite() {
	if c.ws != nil {
		c.closeNow(nil)
		return
	}
	_ = c.tcp.CloseWrite()
}

// closeNow closes the connection for reason why (nil: normal end).
// WebSockets get a close frame whose status tells why; its handshake runs
// in the background, tracked by the server's WaitGroup so that Shutdown
// waits for the going-away frames.
func (c *conn) closeNow(why error) {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.release()
		c.s.met.connOpen.WithLabelValues(c.transport).Dec()
		if c.ws == nil {
			if c.tcp != nil {
				c.tcp.Close()
			}
			return
		}
		code, reason := closeStatus(why)
		c.s.wg.Add(1)
		go func() {
			defer c.s.wg.Done()
			_ = c.ws.Close(code, reason)
		}()
	})
}

// closeAfterReply closes after a reply such that the reply is not lost: a
// TCP close with unread input sends RST, which may discard what is still
// queued, so half-close and drain briefly first.
func (c *conn) closeAfterReply(why error) {
	if c.ws != nil {
		c.closeNow(why)
		return
	}
	if c.tcp != nil {
		_ = c.tcp.CloseWrite()
		_ = c.tcp.SetReadDeadline(time.Now().Add(replyTimeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.tcp, 64<<10))
	}
	c.closeNow(why)
}

func closeStatus(why error) (websocket.StatusCode, string) {
	switch {
	case why == nil:
		return websocket.StatusNormalClosure, ""
	case errors.Is(why, ErrShuttingDown):
		return websocket.StatusGoingAway, "relay shutting down"
	case errors.Is(why, transit.ErrBadHandshake), errors.Is(why, transit.ErrLineTooLong):
		return websocket.StatusPolicyViolation, "bad handshake"
	case errors.Is(why, transit.ErrImpatient):
		return websocket.StatusPolicyViolation, "impatient"
	case errors.Is(why, transit.ErrUnpairedTimeout):
		return websocket.StatusPolicyViolation, "no partner in time"
	case errors.Is(why, transit.ErrRedundant):
		return websocket.StatusNormalClosure, "redundant"
	case errors.Is(why, ErrIdleTimeout):
		return websocket.StatusPolicyViolation, "idle timeout"
	case errors.Is(why, ErrByteCap):
		return websocket.StatusPolicyViolation, "byte cap reached"
	case errors.Is(why, ErrTextMessage):
		return websocket.StatusUnsupportedData, "binary messages only"
	case errors.Is(why, ErrLingerTimeout):
		return websocket.StatusPolicyViolation, "peer closed"
	case errors.Is(why, ErrUpstream):
		return websocket.StatusTryAgainLater, "transit upstream unreachable"
	default:
		return websocket.StatusNormalClosure, ""
	}
}

// isCleanEnd reports whether a read error is the peer ending its stream.
func isCleanEnd(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		return true
	}
	return false
}
