//go:build !js

package transitnet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/internal/nodetest"
)

// TestPlainWebSocketNode builds this package's tests for GOOS=js and runs
// TestPlainWebSocket (wsconn_js_test.go) in Node, whose WebSocket has no
// WebSocketStream: the path Firefox and Safari take. The server sends
// what a broken relay might.
func TestPlainWebSocketNode(t *testing.T) {
	handle := func(send func(ctx context.Context, c *websocket.Conn) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
			defer cancel()
			if err := send(ctx, c); err != nil {
				return
			}
			_, _, _ = c.Read(ctx) // until the client hangs up
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/empty", handle(func(ctx context.Context, c *websocket.Conn) error {
		for _, m := range []string{"", "hello", ""} {
			if err := c.Write(ctx, websocket.MessageBinary, []byte(m)); err != nil {
				return err
			}
		}
		return c.Close(websocket.StatusNormalClosure, "")
	}))
	mux.Handle("/text", handle(func(ctx context.Context, c *websocket.Conn) error {
		return c.Write(ctx, websocket.MessageText, []byte("nope"))
	}))
	mux.Handle("/flood", handle(func(ctx context.Context, c *websocket.Conn) error {
		for range 10 {
			if err := c.Write(ctx, websocket.MessageBinary, make([]byte, 1000)); err != nil {
				return err
			}
		}
		return nil
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	nodetest.Run(t, []string{"TestPlainWebSocket"}, true, "WASMHOLE_TEST_WS=ws://"+strings.TrimPrefix(srv.URL, "http://"))
}
