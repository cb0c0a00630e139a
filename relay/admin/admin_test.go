package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func testServer() *Server {
	s := NewServer(logr.Discard())
	s.Handle("echo", func(_ context.Context, p json.RawMessage) (any, error) {
		if p == nil {
			return nil, nil
		}
		return p, nil
	})
	s.Handle("set_motd", func(_ context.Context, p json.RawMessage) (any, error) {
		var args struct {
			MOTD *string `json:"motd"`
		}
		if err := json.Unmarshal(p, &args); err != nil || args.MOTD == nil {
			return nil, InvalidParams(`need {"motd": string}`)
		}
		return map[string]string{"motd": *args.MOTD}, nil
	})
	s.Handle("fail", func(context.Context, json.RawMessage) (any, error) {
		return nil, errors.New("boom")
	})
	return s
}

func TestHandleMessage(t *testing.T) {
	s := testServer()
	tests := []struct {
		name, in, want string
	}{
		{"call", `{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1}}`, `{"jsonrpc":"2.0","id":1,"result":{"a":1}}`},
		{"array params", `{"jsonrpc":"2.0","id":"x","method":"echo","params":[1,2]}`, `{"jsonrpc":"2.0","id":"x","result":[1,2]}`},
		{"no params", `{"jsonrpc":"2.0","id":2,"method":"echo"}`, `{"jsonrpc":"2.0","id":2,"result":{}}`},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"echo"}`, `{"jsonrpc":"2.0","id":null,"result":{}}`},
		{"notification", `{"jsonrpc":"2.0","method":"echo"}`, ``},
		{"unknown notification", `{"jsonrpc":"2.0","method":"nope"}`, ``},
		{"invalid params", `{"jsonrpc":"2.0","id":3,"method":"set_motd","params":{}}`, `{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"need {\"motd\": string}"}}`},
		{"internal error", `{"jsonrpc":"2.0","id":4,"method":"fail"}`, `{"jsonrpc":"2.0","id":4,"error":{"code":-32603,"message":"boom"}}`},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"nope"}`, `{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"method \"nope\" not found"}}`},
		{"parse error", `{"jsonrpc":"2.0","method":"echo"`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`},
		{"not an object", `42`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: not an object"}}`},
		{"wrong version", `{"jsonrpc":"1.0","id":6,"method":"echo"}`, `{"jsonrpc":"2.0","id":6,"error":{"code":-32600,"message":"invalid request: need \"jsonrpc\":\"2.0\" and a \"method\""}}`},
		{"bad id", `{"jsonrpc":"2.0","id":{},"method":"echo"}`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: id must be a string, number or null"}}`},
		{"scalar params", `{"jsonrpc":"2.0","id":7,"method":"echo","params":3}`, `{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"invalid request: params must be an object or array"}}`},
		{"empty batch", `[]`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"empty batch"}}`},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]},{"jsonrpc":"2.0","method":"echo"},1]`,
			`[{"jsonrpc":"2.0","id":1,"result":[1]},{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"invalid request: not an object"}}]`},
		{"notification batch", `[{"jsonrpc":"2.0","method":"echo"}]`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(s.HandleMessage(context.Background(), []byte(tt.in)))
			if got != tt.want {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	// A stale socket file (no listener) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()

	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want socket 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftovers next to the socket: %v", entries)
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("second listen: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- testServer().Serve(ctx, ln) }()

	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	res, err := Call(cctx, path, "set_motd", map[string]string{"motd": "hello"})
	if err != nil || string(res) != `{"motd":"hello"}` {
		t.Fatalf("call: %s %v", res, err)
	}
	_, err = Call(cctx, path, "set_motd", nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidParams {
		t.Fatalf("want invalid params, got %v", err)
	}
	// A client that stays connected must not block shutdown.
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// FuzzHandleMessage: any input yields nothing or one valid JSON value, and
// never panics.
func FuzzHandleMessage(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1}}`))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"method":"set_motd","params":{"motd":"x"}},{"jsonrpc":"2.0","method":"fail"}]`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":[],"method":null}`))
	f.Add([]byte(`[[[]]]`))
	s := testServer()
	f.Fuzz(func(t *testing.T, b []byte) {
		out := s.HandleMessage(context.Background(), b)
		if out != nil && !json.Valid(out) {
			t.Fatalf("invalid JSON answer %q for %q", out, b)
		}
	})
}

// TestListenRefusesOtherFiles: only a socket is ever replaced; a database
// (or any other file) at the path is left exactly as it was.
func TestListenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "relay.sqlite")
	if err := os.WriteFile(file, []byte("SQLite format 3\x00precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "subdir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, sub, link} {
		if ln, err := Listen(p); !errors.Is(err, ErrNotSocket) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%s) = %v, want ErrNotSocket", filepath.Base(p), err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "SQLite format 3\x00precious" {
		t.Fatalf("the file changed: %q, %v", b, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Fatalf("the symlink changed: %v", err)
	}
}

// TestCallLargeAnswer: answers are not bound by MaxLine.
func TestCallLargeAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(logr.Discard())
	big := strings.Repeat("x", 3*MaxLine)
	s.Handle("big", func(context.Context, json.RawMessage) (any, error) { return big, nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx, ln)
	res, err := Call(ctx, path, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := json.Unmarshal(res, &got); err != nil || got != big {
		t.Fatalf("answer of %d bytes, err %v; want %d bytes", len(got), err, len(big))
	}
	t.Logf("answer of %d bytes received in one call", len(res))
}
