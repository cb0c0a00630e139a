//go:build js

package transitnet

import (
	"context"
	"fmt"
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
func dial(ctx context.Context, d transit.Dial) (net.Conn, error) {
	if d.Kind != transit.KindWS {
		return nil, fmt.Errorf("transit: the browser cannot dial %s %s", d.Kind, d.Addr)
	}
	return dialBrowserWebSocket(ctx, d.URL)
}
