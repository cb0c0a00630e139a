//go:build js

package transitnet

import (
	"context"
	"errors"
	"net"

	"github.com/wasmhole/wasmhole/core/transit"
)

// canTCP: a browser can open neither TCP connections nor listening ports,
// only WebSockets, so it reaches the peer through WebSocket relays alone.
const canTCP = false

// Listener does not exist in the browser: there is no Listen, and Connect
// must be given nil.
type Listener struct{ _ struct{} }

// Close is there so callers can treat both builds alike.
func (l *Listener) Close() error { return nil }

// startAccept has nothing to accept in the browser.
func startAccept(*Listener, *runner) {}

// dial opens a WebSocket relay connection through the browser's own
// WebSocket API with flow control in both directions (wsconn_js.go).
//
// The sending side uses the plain WebSocket even where WebSocketStream
// exists: Chromium's renderer crashes when a WebSocketStream connection
// with writes queued is cut by the network (the relay restarting, a proxy
// dropping it), every time in web/test/resume.test.mjs, where the plain
// WebSocket fails cleanly and the transfer can resume. A sender reads
// only the ack, so it loses nothing by the plain path's unbounded read
// queue; receivers keep WebSocketStream for its backpressure.
func dial(ctx context.Context, d transit.Dial, sender bool) (net.Conn, error) {
	if d.Kind != transit.KindWS {
		return nil, errors.New("transit: the browser cannot dial " + d.Kind + " " + d.Addr)
	}
	return dialBrowserWebSocket(ctx, d.URL, !sender)
}
