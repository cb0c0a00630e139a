//go:build !js

package wormhole

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/internal/nodetest"
)

// TestBrowserConnNode builds this package's tests for GOOS=js and runs
// TestBrowserConn (dial_js_test.go) in Node against a coder/websocket
// server, so the browser's mailbox connection is tested without a
// browser. The server side checks what only it can see: text frames out,
// the close code.
func TestBrowserConnNode(t *testing.T) {
	closeCodes := make(chan websocket.StatusCode, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if typ != websocket.MessageText {
				t.Errorf("client sent a %v message, want text", typ)
			}
			if string(data) == "close-code?" {
				_, _, err := c.Read(r.Context())
				closeCodes <- websocket.CloseStatus(err)
				return
			}
			for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
				if err := c.Write(r.Context(), typ, data); err != nil {
					return
				}
			}
		}
	})
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte("last"))
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		big := make([]byte, mailbox.MaxMessageSize+1)
		for i := range big {
			big[i] = 'x'
		}
		_ = c.Write(r.Context(), websocket.MessageText, big)
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		_, _, _ = c.Read(ctx) // wait for the client to hang up
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	nodetest.Run(t, []string{"TestBrowserConn"}, true,
		"WASMHOLE_TEST_WS=ws://"+strings.TrimPrefix(srv.URL, "http://"),
		"WASMHOLE_TEST_DEAD="+deadAddr(t),
		"WASMHOLE_TEST_SILENT="+silentAddr(t),
	)
	select {
	case code := <-closeCodes:
		if code != websocket.StatusNormalClosure {
			t.Errorf("close code %d, want %d", code, websocket.StatusNormalClosure)
		}
	case <-time.After(5 * time.Second):
		t.Error("the server saw no close frame")
	}
}
