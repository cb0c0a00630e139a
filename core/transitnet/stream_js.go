//go:build js

package transitnet

import (
	"net"
	"syscall/js"
)

// JSStream returns the browser's WebSocketStream reader and writer under
// a transit connection made by Connect, so that a data path in JS can read
// and write the records itself (core/wormhole.DataPath). ok is false for
// other connections: a plain WebSocket, or a connection with a read
// still outstanding (its result would be lost).
//
// The caller must not use them while it also uses c, and must leave no
// read or write of its own outstanding when it hands c back.
func JSStream(c net.Conn) (reader, writer js.Value, ok bool) {
	ws := browserConn(c)
	if ws == nil || !ws.stream.Truthy() {
		return js.Value{}, js.Value{}, false
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed || ws.pending != nil {
		return js.Value{}, js.Value{}, false
	}
	return ws.reader, ws.writer, true
}

// TakeBuffered returns the bytes c has received but not yet returned from
// Read (the relay may deliver the first records with the handshake), and
// forgets them: a data path reading the stream itself consumes them first.
func TakeBuffered(c net.Conn) []byte {
	var out []byte
	if tc, ok := c.(*Conn); ok {
		out, tc.pending = append(out, tc.pending...), nil
	}
	if ws := browserConn(c); ws != nil {
		ws.mu.Lock()
		out, ws.leftover = append(out, ws.leftover...), nil
		ws.mu.Unlock()
	}
	return out
}

func browserConn(c net.Conn) *browserWS {
	if tc, ok := c.(*Conn); ok {
		c = tc.Conn
	}
	ws, _ := c.(*browserWS)
	return ws
}
