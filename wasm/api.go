//go:build js && wasm

package main

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/transitnet"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// errorValue turns a Go error into the {name, message} object the page
// receives. name is a stable code (web/README.md, "Errors") for the cases
// the page explains differently; message is the Go error text.
func errorValue(err error) js.Value {
	o := js.Global().Get("Object").New()
	o.Set("name", errorCode(err))
	o.Set("message", err.Error())
	return o
}

func errorCode(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, wormhole.ErrWrongCode):
		return "wrong-code"
	case errors.Is(err, transitnet.ErrReceiveBacklog):
		return "overrun"
	case errors.Is(err, wormhole.ErrRejected):
		return "rejected"
	case errors.Is(err, wormhole.ErrPeerCancelled):
		return "peer-cancelled"
	case errors.Is(err, wormhole.ErrPeerGone):
		return "peer-gone"
	case errors.Is(err, wormhole.ErrCrowded):
		return "crowded"
	case errors.Is(err, wormhole.ErrUnwelcome):
		return "unwelcome"
	case errors.Is(err, wormhole.ErrBadCode):
		return "bad-code"
	case errors.Is(err, wormhole.ErrRelayUnreachable):
		return "relay-unreachable"
	case errors.Is(err, errSinkCancelled), errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, errUnpackFailed):
		return "unpack-failed"
	case errors.Is(err, errSaveFailed):
		return "save-failed"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr), errors.Is(err, wormhole.ErrClosed):
		// Fallback while not every path wraps ErrPeerGone: the transit
		// connection or the mailbox went away mid-transfer.
		return "peer-gone"
	}
	return "transfer-failed"
}

var (
	// errSaveFailed marks a failure of the place the bytes go to.
	errSaveFailed = errors.New("saving failed")
	// errUnpackFailed marks a received folder that could not be unpacked
	// into the picked folder (refused by the safe unpacker, or a write
	// failed); nothing of it was kept and the sender was told.
	errUnpackFailed = errors.New("unpacking failed")
)

// clientFrom reads the client options object of the JS API:
// {appID, mailboxURL, codeLength, relays: [{name, websocket: [url], tcp:
// ["host:port"]}], appVersions: JSON string}. The browser cannot listen
// for direct connections, so every transfer goes through a relay.
func clientFrom(o js.Value) (*wormhole.Client, error) {
	c := &wormhole.Client{RelayOnly: true, DataPath: dataPath()}
	if o.Type() != js.TypeObject {
		return c, nil
	}
	c.AppID = optString(o, "appID")
	c.MailboxURL = optString(o, "mailboxURL")
	if n := o.Get("codeLength"); n.Type() == js.TypeNumber {
		c.CodeLength = n.Int()
	}
	if t := o.Get("resumeTimeout"); t.Type() == js.TypeNumber {
		// Milliseconds; negative turns resuming off (docs/resume.md).
		c.ResumeTimeout = time.Duration(t.Float() * float64(time.Millisecond))
	}
	if av := optString(o, "appVersions"); av != "" {
		v, err := jsonx.Parse([]byte(av))
		switch {
		case err != nil:
			return nil, errs.Wrap("appVersions", err)
		case v.Kind() == jsonx.Object:
			c.AppVersions = v.Raw()
		case !v.IsNull(): // null is {}, as it was for the map this replaced
			return nil, errors.New("appVersions: must be a JSON object")
		}
	}
	relays := o.Get("relays")
	if relays.Type() == js.TypeObject {
		for i := 0; i < relays.Length(); i++ {
			r, err := relayFrom(relays.Index(i))
			if err != nil {
				return nil, err
			}
			if len(r.TCP)+len(r.WebSocket) > 0 {
				c.Relays = append(c.Relays, r)
			}
		}
	}
	return c, nil
}

// relayFrom builds one relay hint carrying both ways to reach the relay:
// the browser dials the WebSocket URL, a CLI peer the TCP address.
func relayFrom(v js.Value) (transit.RelayHint, error) {
	var r transit.RelayHint
	if v.Type() != js.TypeObject {
		return r, errors.New("relays: each relay must be an object")
	}
	r.Name = optString(v, "name")
	for _, u := range optStrings(v, "websocket") {
		if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			return r, errors.New("relays: " + strconv.Quote(u) + " is not a ws:// or wss:// URL")
		}
		r.WebSocket = append(r.WebSocket, transit.WebSocketHint{URL: u})
	}
	for _, a := range optStrings(v, "tcp") {
		host, port, err := net.SplitHostPort(strings.TrimPrefix(a, "tcp:"))
		if err != nil {
			return r, errs.Wrap("relays: TCP address "+strconv.Quote(a), err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return r, errors.New("relays: TCP address " + strconv.Quote(a) + ": bad port")
		}
		r.TCP = append(r.TCP, transit.DirectHint{Hostname: host, Port: p})
	}
	return r, nil
}

func optString(o js.Value, key string) string {
	if v := o.Get(key); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

func optStrings(o js.Value, key string) []string {
	v := o.Get(key)
	var out []string
	switch v.Type() {
	case js.TypeString:
		if v.String() != "" {
			out = append(out, v.String())
		}
	case js.TypeObject:
		for i := 0; i < v.Length(); i++ {
			if s := v.Index(i); s.Type() == js.TypeString && s.String() != "" {
				out = append(out, s.String())
			}
		}
	}
	return out
}

// reconnectEvents reports a resume (docs/resume.md) to the page: status
// "reconnecting" with the bytes the receiver keeps and the reason, then
// "transferring" once data flows again.
func reconnectEvents(e emitter) func(held int64, err error) {
	return func(held int64, err error) {
		if err != nil {
			e.emit("status", map[string]any{"status": "reconnecting", "held": float64(held), "reason": err.Error()})
			return
		}
		e.emit("status", map[string]any{"status": "transferring", "held": float64(held)})
	}
}

// throttle limits progress events to about ten a second, plus the first
// and the last, so a fast transfer does not flood the page.
func throttle(e emitter, typ, doneKey string) func(done, total int64) {
	var last time.Time
	return func(done, total int64) {
		now := time.Now()
		if done != 0 && done != total && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		e.emit(typ, map[string]any{doneKey: float64(done), "total": float64(total)})
	}
}

// ---- low level --------------------------------------------------------

func registerLowLevel(set func(string, func([]js.Value) any)) {
	wh := func(args []js.Value) (*wormhole.Wormhole, *handle, error) {
		if len(args) < 1 {
			return nil, nil, errors.New("wasmhole: missing handle")
		}
		h, err := lookup(args[0])
		if err != nil {
			return nil, nil, err
		}
		w, ok := h.obj.(*wormhole.Wormhole)
		if !ok {
			return nil, nil, errors.New("wasmhole: not a wormhole handle")
		}
		return w, h, nil
	}
	// open(options) -> handle
	set("open", func(args []js.Value) any {
		return promise(func() (any, error) {
			c, err := clientFrom(argOr(args, 0))
			if err != nil {
				return nil, err
			}
			id, h := newHandle(nil)
			open := c.New
			if o := argOr(args, 0); o.Type() == js.TypeObject && o.Get("forSend").Truthy() {
				open = c.NewSend
			}
			w, err := open(h.ctx)
			if err != nil {
				dropHandle(id)
				return nil, err
			}
			h.obj = w
			return id, nil
		})
	})
	set("allocateCode", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, h, err := wh(args)
			if err != nil {
				return nil, err
			}
			return w.AllocateCode(h.ctx)
		})
	})
	set("setCode", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, h, err := wh(args)
			if err != nil {
				return nil, err
			}
			return nil, w.SetCode(h.ctx, argOr(args, 1).String())
		})
	})
	set("code", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, _, err := wh(args)
			if err != nil {
				return nil, err
			}
			return w.Code(), nil
		})
	})
	set("waitVerified", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, h, err := wh(args)
			if err != nil {
				return nil, err
			}
			v, err := w.WaitVerified(h.ctx)
			if err != nil {
				return nil, err
			}
			return hex.EncodeToString(v), nil
		})
	})
	set("send", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, h, err := wh(args)
			if err != nil {
				return nil, err
			}
			b, err := bytesFromJS(argOr(args, 1))
			if err != nil {
				return nil, err
			}
			return nil, w.Send(h.ctx, b)
		})
	})
	set("receive", func(args []js.Value) any {
		return promise(func() (any, error) {
			// receive(handle) on a wormhole, or receive(options, code) for
			// a file-transfer offer.
			if len(args) > 0 && args[0].Type() == js.TypeObject {
				return receiveOffer(args)
			}
			w, h, err := wh(args)
			if err != nil {
				return nil, err
			}
			b, err := w.Receive(h.ctx)
			if err != nil {
				return nil, err
			}
			return bytesToJS(b), nil
		})
	})
	set("deriveKey", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, _, err := wh(args)
			if err != nil {
				return nil, err
			}
			n := 32
			if v := argOr(args, 2); v.Type() == js.TypeNumber {
				n = v.Int()
			}
			k, err := w.DeriveKey(argOr(args, 1).String(), n)
			if err != nil {
				return nil, err
			}
			return bytesToJS(k), nil
		})
	})
	set("close", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, h, err := wh(args)
			if err != nil {
				return nil, err
			}
			mood := "happy"
			if v := argOr(args, 1); v.Type() == js.TypeString {
				mood = v.String()
			}
			ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
			defer cancel()
			err = w.Close(ctx, mood)
			dropHandle(args[0].Int())
			return nil, err
		})
	})
	set("trace", func(args []js.Value) any {
		return promise(func() (any, error) {
			w, _, err := wh(args)
			if err != nil {
				return nil, err
			}
			return string(w.Trace()), nil
		})
	})
}

func argOr(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// ---- file transfer ----------------------------------------------------

func registerTransfers(set func(string, func([]js.Value) any)) {
	// sendText(options, code, text, emit) -> {handle, code}
	set("sendText", func(args []js.Value) any {
		text := argOr(args, 2).String()
		return startSend(args, 3, func(ctx context.Context, c *wormhole.Client, o wormhole.SendOptions) (*wormhole.Transfer, error) {
			return c.SendText(ctx, text, o)
		})
	})
	// sendFile(options, code, file, name, emit) -> {handle, code}
	set("sendFile", func(args []js.Value) any {
		file, name := argOr(args, 2), argOr(args, 3).String()
		return startSend(args, 4, func(ctx context.Context, c *wormhole.Client, o wormhole.SendOptions) (*wormhole.Transfer, error) {
			r := newBlobReader(file)
			warmDataPath()
			return c.SendFile(ctx, name, r.size, r, o)
		})
	})
	// sendDirectory(options, code, dirname, entries, emit) -> {handle, code}
	set("sendDirectory", func(args []js.Value) any {
		dirname := argOr(args, 2).String()
		list := argOr(args, 3)
		return startSend(args, 4, func(ctx context.Context, c *wormhole.Client, o wormhole.SendOptions) (*wormhole.Transfer, error) {
			entries, err := entriesFrom(list)
			if err != nil {
				return nil, err
			}
			return c.SendDirectory(ctx, dirname, entries, o)
		})
	})
	// wait(handle) -> resolves when the receiver acknowledged.
	set("wait", func(args []js.Value) any {
		return promise(func() (any, error) {
			h, err := lookup(argOr(args, 0))
			if err != nil {
				return nil, err
			}
			t, ok := h.obj.(*wormhole.Transfer)
			if !ok {
				return nil, errors.New("wasmhole: not a transfer handle")
			}
			return nil, t.Wait()
		})
	})
	// verifier(handle) -> hex, for a transfer (waits for the peer) or an offer.
	set("verifier", func(args []js.Value) any {
		return promise(func() (any, error) {
			h, err := lookup(argOr(args, 0))
			if err != nil {
				return nil, err
			}
			// Transfer and Offer share the signature.
			o, ok := h.obj.(interface {
				Verifier(context.Context) ([]byte, error)
			})
			if !ok {
				return nil, errors.New("wasmhole: no verifier for this handle")
			}
			v, err := o.Verifier(h.ctx)
			if err != nil {
				return nil, err
			}
			return hex.EncodeToString(v), nil
		})
	})
	set("accept", accept)
	set("reject", func(args []js.Value) any {
		return promise(func() (any, error) {
			h, o, err := offerFrom(args)
			if err != nil {
				return nil, err
			}
			defer dropHandle(args[0].Int())
			return nil, o.Reject(h.ctx)
		})
	})
}

// startSend runs one of the SendXxx calls on a new handle and resolves
// with {handle, code} as soon as the code is known.
func startSend(args []js.Value, emitAt int, run func(context.Context, *wormhole.Client, wormhole.SendOptions) (*wormhole.Transfer, error)) js.Value {
	e := emitterFrom(args, emitAt)
	return promise(func() (any, error) {
		c, err := clientFrom(argOr(args, 0))
		if err != nil {
			return nil, err
		}
		code := ""
		if v := argOr(args, 1); v.Type() == js.TypeString {
			code = v.String()
		}
		w, err := takeWormhole(argOr(args, 0))
		if err != nil {
			return nil, err
		}
		id, h := newHandle(nil)
		progress := throttle(e, "progress", "sent")
		started := false
		opts := wormhole.SendOptions{
			Code: code,
			OnCode: func(code string) {
				e.emit("code", map[string]any{"code": code})
				e.emit("status", map[string]any{"status": "waiting"})
			},
			Progress: func(sent, total int64) {
				if !started {
					started = true
					e.emit("status", map[string]any{"status": "transferring"})
				}
				progress(sent, total)
			},
			Wormhole:    w,
			OnReconnect: reconnectEvents(e),
		}
		t, err := run(h.ctx, c, opts)
		if err != nil {
			dropHandle(id)
			return nil, err
		}
		h.obj = t
		o := js.Global().Get("Object").New()
		o.Set("handle", id)
		o.Set("code", t.Code())
		return o, nil
	})
}

// takeWormhole returns the wormhole whose handle is options.wormhole (one
// opened, and perhaps given its code, before the user pressed Send), or
// nil. The send takes it over: the handle is forgotten without cancelling.
func takeWormhole(o js.Value) (*wormhole.Wormhole, error) {
	if o.Type() != js.TypeObject || o.Get("wormhole").Type() != js.TypeNumber {
		return nil, nil
	}
	id := o.Get("wormhole").Int()
	handles.Lock()
	defer handles.Unlock()
	h, ok := handles.m[id]
	if !ok {
		return nil, errors.New("wasmhole: wormhole handle " + strconv.Itoa(id) + " is closed")
	}
	w, ok := h.obj.(*wormhole.Wormhole)
	if !ok {
		return nil, errors.New("wasmhole: not a wormhole handle")
	}
	delete(handles.m, id)
	h.cancel() // it bounded only the open
	return w, nil
}

// entriesFrom converts [{path, file, modified} | {path, dir: true}] into
// zip entries whose files are read lazily, one at a time.
func entriesFrom(list js.Value) ([]transfer.Entry, error) {
	if list.Type() != js.TypeObject {
		return nil, errors.New("sendDirectory: entries must be an array")
	}
	n := list.Length()
	entries := make([]transfer.Entry, 0, n)
	for i := 0; i < n; i++ {
		v := list.Index(i)
		path := optString(v, "path")
		if v.Get("dir").Truthy() {
			if !strings.HasSuffix(path, "/") {
				path += "/"
			}
			entries = append(entries, transfer.Entry{Name: path, Mode: fs.ModeDir | 0o755, Modified: time.Now()})
			continue
		}
		file := v.Get("file")
		if file.Type() != js.TypeObject {
			return nil, errors.New("sendDirectory: entry " + strconv.Quote(path) + " has no file")
		}
		mod := time.Now()
		if m := v.Get("modified"); m.Type() == js.TypeNumber && m.Float() > 0 {
			mod = time.UnixMilli(int64(m.Float()))
		}
		entries = append(entries, transfer.Entry{
			Name:     path,
			Size:     int64(file.Get("size").Float()),
			Mode:     0o644,
			Modified: mod,
			Open:     func() (io.ReadCloser, error) { return newBlobReader(file), nil },
		})
	}
	return entries, nil
}

// receiveOffer(options, code, emit) -> {handle, kind, text, name, size,
// numFiles, numBytes, verifier}
func receiveOffer(args []js.Value) (any, error) {
	c, err := clientFrom(argOr(args, 0))
	if err != nil {
		return nil, err
	}
	e := emitterFrom(args, 2)
	id, h := newHandle(nil)
	e.emit("status", map[string]any{"status": "connecting"})
	o, err := c.Receive(h.ctx, argOr(args, 1).String())
	if err != nil {
		dropHandle(id)
		return nil, err
	}
	h.obj = o
	r := js.Global().Get("Object").New()
	r.Set("handle", id)
	r.Set("kind", o.Kind.String())
	r.Set("text", o.Text)
	r.Set("name", o.Name)
	r.Set("size", float64(o.Size))
	r.Set("numFiles", o.NumFiles)
	r.Set("numBytes", float64(o.NumBytes))
	v, _ := o.Verifier(h.ctx) // an offer's never fails
	r.Set("verifier", hex.EncodeToString(v))
	if o.Kind == wormhole.Text {
		dropHandle(id) // complete: acknowledged and closed inside Receive
		r.Set("handle", 0)
	} else if js.Global().Get("WebSocketStream").Type() == js.TypeFunction {
		warmDataPath() // while the user decides; only such receives use it
	}
	return r, nil
}

func offerFrom(args []js.Value) (*handle, *wormhole.Offer, error) {
	h, err := lookup(argOr(args, 0))
	if err != nil {
		return nil, nil, err
	}
	o, ok := h.obj.(*wormhole.Offer)
	if !ok {
		return nil, nil, errors.New("wasmhole: not an offer handle")
	}
	return h, o, nil
}

// accept(handle, {kind, port | handle}, emit): streams the offer into the
// sink, then closes it; resolves once everything is saved.
func accept(args []js.Value) any {
	e := emitterFrom(args, 2)
	return promise(func() (any, error) {
		h, o, err := offerFrom(args)
		if err != nil {
			return nil, err
		}
		defer dropHandle(args[0].Int())
		spec := argOr(args, 1)
		e.emit("status", map[string]any{"status": "connecting"})
		prog, stop := receiveProgress(e)
		defer stop()
		switch optString(spec, "kind") {
		case "port":
			return nil, acceptInto(h.ctx, o, newPortWriter(spec.Get("port")), prog, reconnectEvents(e), nil)
		case "file":
			w, err := newFileWriter(spec.Get("handle"))
			if err != nil {
				_ = o.Reject(h.ctx)
				return nil, errs.Chain(errSaveFailed, err)
			}
			return nil, acceptInto(h.ctx, o, w, prog, reconnectEvents(e), nil)
		case "directory":
			folder, err := acceptUnpack(h.ctx, o, spec.Get("handle"), prog, e)
			if err != nil {
				return nil, err
			}
			return folder, nil
		}
		return nil, errors.New("accept: unknown sink kind")
	})
}

// acceptInto runs Offer.Accept into s. Its finish step, which runs
// after the offer's last byte and before the SHA-256 ack goes to the
// sender, closes s (the consumer has stored everything) and then runs then
// (if not nil: the unpacking of a folder). So the ack goes out only when
// the data landed; if anything fails the sender is told it failed instead
// of believing in a transfer that did not. On failure before s was closed
// s is aborted, so no partial file survives.
func acceptInto(ctx context.Context, o *wormhole.Offer, s sink, progress func(int64, int64), reconnect func(int64, error), then func() error) error {
	closed := false
	finish := func() error {
		closed = true
		if err := s.Close(); err != nil {
			if errors.Is(err, errSaveFailed) || errors.Is(err, errSinkCancelled) {
				return err
			}
			return errs.Chain(errSaveFailed, err)
		}
		if then != nil {
			return then()
		}
		return nil
	}
	if err := o.Accept(ctx, s, wormhole.AcceptOptions{Progress: progress, Finish: finish, OnReconnect: reconnect}); err != nil {
		if !closed {
			s.Abort(err)
		}
		return err
	}
	return nil
}
