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

// JSWriter returns the browser's WebSocketStream writer under a transit
// connection made by Connect, for a data path in JS that writes the
// records itself while Go goes on reading c (a sender awaiting the
// receiver's ack). ok is false for other connections.
//
// It starts c's next read at once (ReadAhead). The caller must leave no
// write of its own outstanding when it writes to c again.
func JSWriter(c net.Conn) (writer js.Value, ok bool) {
	ws := browserConn(c)
	if ws == nil || !ws.stream.Truthy() {
		return js.Value{}, false
	}
	ReadAhead(c)
	return ws.writer, true
}

// JSSocket returns the browser's plain WebSocket under a transit
// connection made by Connect (a sending page's: connect_js.go), for a data
// path in JS that sends the records itself with ws.send while Go goes on
// reading c: received messages reach c's queue through its onmessage
// handler, so the receiver's ack is kept whenever it comes. The caller
// must pause while bufferedAmount is high, as Write does, and leave no
// write of its own outstanding when it writes to c again. ok is false for
// other connections.
func JSSocket(c net.Conn) (ws js.Value, ok bool) {
	b := browserConn(c)
	if b == nil || !b.ws.Truthy() {
		return js.Value{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return js.Value{}, false
	}
	return b.ws, true
}

// ReadAhead starts c's next read now, if c is a browser WebSocketStream
// with none outstanding, so that what the peer sends next is taken in as
// soon as it arrives. A sender calls it before its data: a receiver that
// got everything sends its ack and closes at once, and Chromium drops a
// message still waiting for a read when the close follows it, so an ack
// read only after the last write was handed over could be lost (the
// reader sees the close, or nothing at all).
func ReadAhead(c net.Conn) {
	ws := browserConn(c)
	if ws == nil || !ws.stream.Truthy() {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if !ws.closed {
		ws.startRead()
	}
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
