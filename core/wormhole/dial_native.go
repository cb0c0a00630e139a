//go:build !js

package wormhole

import (
	"context"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/core/mailbox"
)

// nativeConn is the mailbox connection outside the browser, on
// coder/websocket. (The browser build uses dial_js.go instead, because
// coder/websocket's js Dial drags all of net/http into the wasm.)
type nativeConn struct{ ws *websocket.Conn }

func dialMailbox(ctx context.Context, url string) (msgConn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(mailbox.MaxMessageSize)
	return nativeConn{ws}, nil
}

func (c nativeConn) Read(ctx context.Context) ([]byte, error) {
	_, data, err := c.ws.Read(ctx)
	return data, err
}

func (c nativeConn) Write(ctx context.Context, data []byte) error {
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// Close waits (at most 5 s per step) for the server's close frame, which
// the reader goroutine consumes.
func (c nativeConn) Close() error { return c.ws.Close(websocket.StatusNormalClosure, "") }

func (c nativeConn) CloseNow() error { return c.ws.CloseNow() }
