// Package admin is the relay's operator API: JSON-RPC 2.0 over a Unix
// domain socket.
//
// # Why a Unix socket
//
// Administrative calls (change the message of the day, close a mailbox,
// reload the configuration, shut down) must never be reachable from the
// network. A Unix socket is protected by file permissions: [Listen] creates
// it with mode 0600 inside a private directory and moves it into place, so
// only the relay's own user (and root) can connect. There is no TCP option.
//
// # Wire format
//
// Each request is one line of JSON: a JSON-RPC 2.0 request object or a
// batch (array of them), answered by one line holding the response object
// or array. Requests without an "id" are notifications and get no answer.
// Lines are limited to [MaxLine] bytes. Example (what `relay admin
// set_motd motd=hello` sends):
//
//	→ {"jsonrpc":"2.0","id":1,"method":"set_motd","params":{"motd":"hello"}}
//	← {"jsonrpc":"2.0","id":1,"result":{"motd":"hello"}}
//
// Error codes follow the specification: -32700 parse error, -32600 invalid
// request, -32601 method not found, -32602 invalid params, -32603 internal
// error; a handler returns *Error for others.
package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// MaxLine bounds one request line. Answers are not bounded; large lists
// are paged by their methods (the relay's list_mailboxes takes "limit" and
// "after").
const MaxLine = 1 << 20

// JSON-RPC 2.0 error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// Error is a JSON-RPC error object. Handlers may return one to choose the
// code; any other error becomes CodeInternalError.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("admin: %s (code %d)", e.Message, e.Code) }

// InvalidParams is a convenience for handlers.
func InvalidParams(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

// Handler runs one method. params is the raw "params" value (nil if absent).
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Server dispatches requests to registered methods.
type Server struct {
	log     logr.Logger
	mu      sync.RWMutex
	methods map[string]Handler
	wg      sync.WaitGroup
}

// NewServer returns a server with no methods.
func NewServer(log logr.Logger) *Server {
	return &Server{log: log, methods: map[string]Handler{}}
}

// Handle registers h for method.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	s.methods[method] = h
	s.mu.Unlock()
}

// Methods lists the registered method names, sorted.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.methods))
	for n := range s.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

var null = json.RawMessage("null")

// HandleMessage processes one line (a request or a batch) and returns the
// response line without its newline, or nil when nothing is to be sent
// (only notifications).
func (s *Server) HandleMessage(ctx context.Context, msg []byte) []byte {
	msg = bytes.TrimSpace(msg)
	if len(msg) > 0 && msg[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(msg, &batch); err != nil {
			return mustMarshal(response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}})
		}
		if len(batch) == 0 {
			return mustMarshal(response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeInvalidRequest, Message: "empty batch"}})
		}
		var out []response
		for _, raw := range batch {
			if r, ok := s.one(ctx, raw); ok {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return mustMarshal(out)
	}
	if r, ok := s.one(ctx, msg); ok {
		return mustMarshal(r)
	}
	return nil
}

// one handles a single request; ok is false for a notification.
func (s *Server) one(ctx context.Context, raw json.RawMessage) (response, bool) {
	if !json.Valid(raw) {
		return response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeParseError, Message: "parse error"}}, true
	}
	var req request
	if err := json.Unmarshal(raw, &req); err != nil {
		return response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeInvalidRequest, Message: "invalid request: not an object"}}, true
	}
	id := req.ID
	notification := id == nil
	if !notification && !validID(id) {
		return response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeInvalidRequest, Message: "invalid request: id must be a string, number or null"}}, true
	}
	if id == nil {
		id = null
	}
	if req.JSONRPC != "2.0" || req.Method == nil {
		return response{JSONRPC: "2.0", ID: id, Error: &Error{Code: CodeInvalidRequest, Message: `invalid request: need "jsonrpc":"2.0" and a "method"`}}, true
	}
	if len(req.Params) > 0 && req.Params[0] != '{' && req.Params[0] != '[' {
		return response{JSONRPC: "2.0", ID: id, Error: &Error{Code: CodeInvalidRequest, Message: "invalid request: params must be an object or array"}}, true
	}
	s.mu.RLock()
	h := s.methods[*req.Method]
	s.mu.RUnlock()
	if h == nil {
		return response{JSONRPC: "2.0", ID: id, Error: &Error{Code: CodeMethodNotFound, Message: fmt.Sprintf("method %q not found", *req.Method)}}, !notification
	}
	result, err := h(ctx, req.Params)
	s.log.Info("admin call", "method", *req.Method, "ok", err == nil)
	if notification {
		return response{}, false
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: CodeInternalError, Message: err.Error()}
		}
		return response{JSONRPC: "2.0", ID: id, Error: e}, true
	}
	if result == nil {
		result = struct{}{}
	}
	return response{JSONRPC: "2.0", ID: id, Result: result}, true
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', 'n':
		return true
	case '{', '[', 't', 'f':
		return false
	}
	return true // a number
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Results are our own types; this is a programming error, but
		// answer with a valid error rather than crash the relay.
		b, _ = json.Marshal(response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeInternalError, Message: "cannot encode result: " + err.Error()}})
	}
	return b
}

// Serve answers connections on ln until ctx is done; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var conns sync.Map
	defer func() {
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		s.wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("admin: accept: %w", err)
		}
		conns.Store(c, nil)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conns.Delete(c)
			defer c.Close()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), MaxLine)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		out := s.HandleMessage(ctx, sc.Bytes())
		if out == nil {
			continue
		}
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(append(out, '\n')); err != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		out := mustMarshal(response{JSONRPC: "2.0", ID: null, Error: &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("request longer than %d bytes", MaxLine)}})
		_, _ = c.Write(append(out, '\n'))
	}
}

// Errors of Listen; test with errors.Is.
var (
	// ErrInUse: another process answers on the socket path.
	ErrInUse = errors.New("admin: socket in use by a running relay")
	// ErrNotSocket: something other than a socket is at the path.
	ErrNotSocket = errors.New("admin: path exists and is not a socket; refusing to replace it")
)

// Listen creates the Unix socket at path with mode 0600. A stale socket
// (nobody answering) is replaced; a live one is ErrInUse; any other kind
// of file is ErrNotSocket and left alone, so a mistyped path can never
// delete a database. The socket is bound inside a fresh 0700 directory and
// renamed into place, so it is never reachable with looser permissions.
// Closing the listener removes the socket file.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s (%s): %w", path, fi.Mode().Type(), ErrNotSocket)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin: remove stale socket: %w", err)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".admin-sock-")
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: chmod: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	return &unlinkListener{Listener: ln, path: path}, nil
}

type unlinkListener struct {
	net.Listener
	path string
	once sync.Once
}

func (l *unlinkListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { os.Remove(l.path) })
	return err
}

// Call sends one request to the socket at path and returns its result.
// A JSON-RPC error comes back as *Error.
func Call(ctx context.Context, path, method string, params any) (json.RawMessage, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: connect %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	req := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("admin: encode request: %w", err)
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("admin: send: %w", err)
	}
	// The answer has no size cap: MaxLine protects the relay from its
	// callers, and the relay is trusted by whoever may open its socket.
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  *Error          `json:"error"`
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("admin: connection closed without an answer")
		}
		return nil, fmt.Errorf("admin: read answer: %w", err)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.Result, nil
}
