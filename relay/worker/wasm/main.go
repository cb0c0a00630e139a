//go:build js && wasm

// Command wasm is the relay's Go core for Cloudflare Workers: built with
// GOOS=js GOARCH=wasm (scripts/build-worker.sh) and run by the JavaScript
// shim in relay/worker/src, one Go instance per Durable Object.
//
// The shim cannot share globals between Durable Object instances (they may
// live in one isolate), so it does not look for functions on globalThis.
// Instead it puts an init object under a unique global name, passes that
// name as os.Args[1], and this program answers by calling init.ready(api)
// with an object of functions for that instance alone:
//
//	init = {role: "mailbox", config: {motd, ...}, db: {query, batch}, ready, fail}
//	api  = {start(), open(conn, ip), frame(conn, data), gone(conn), alarm()}               // mailbox
//	api  = {bridging, open(conn, ip), frame(conn, data), gone(conn, bytes), timer(conn)}   // transit
//
// Every function runs synchronously and returns an array of commands
// ({op: "send", conn, data}, {op: "close", conn, code, reason}, ...; see
// relay/worker/host.Cmd). Nothing here blocks, so no call ever waits on the
// JavaScript event loop; storage is ctx.storage.sql, which is synchronous,
// and JavaScript never calls back into Go during a call.
package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"syscall/js"
	"time"

	"github.com/wasmhole/wasmhole/internal/jsutil"
	"github.com/wasmhole/wasmhole/relay/iplimit"
	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/worker/dostore"
	"github.com/wasmhole/wasmhole/relay/worker/host"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "wasm: missing init object name")
		os.Exit(2)
	}
	init := js.Global().Get(os.Args[1])
	if init.Type() != js.TypeObject {
		fmt.Fprintf(os.Stderr, "wasm: no init object %q\n", os.Args[1])
		os.Exit(2)
	}
	var api js.Value
	var err error
	switch role := init.Get("role").String(); role {
	case "mailbox":
		api, err = mailboxAPI(init)
	case "transit":
		api, err = transitAPI(init)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		init.Call("fail", err.Error())
		return
	}
	init.Call("ready", api)
	select {} // serve calls from JavaScript until the isolate goes away
}

// config reads an optional field of init.config.
func config(init js.Value, key string) js.Value {
	c := init.Get("config")
	if c.Type() != js.TypeObject {
		return js.Undefined()
	}
	return c.Get(key)
}

func configString(init js.Value, key string) string {
	if v := config(init, key); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

func configMillis(init js.Value, key string) time.Duration {
	return time.Duration(configNumber(init, key, 0)) * time.Millisecond
}

// configNumber is init.config[key] when it is a number, else def.
func configNumber(init js.Value, key string, def float64) float64 {
	if v := config(init, key); v.Type() == js.TypeNumber && !math.IsNaN(v.Float()) {
		return v.Float()
	}
	return def
}

// limits reads the per-address limits (0 turns one off), with the native
// relay's defaults.
func limits(init js.Value) iplimit.Config {
	l := host.DefaultLimits
	l.MaxConns = int(configNumber(init, "perIPConns", float64(l.MaxConns)))
	l.Rate = configNumber(init, "perIPRate", l.Rate)
	l.Burst = int(configNumber(init, "perIPBurst", float64(l.Burst)))
	l.ExemptLoopback = configString(init, "limitLoopback") != "true"
	return l
}

// ipArg is the client address the shim passes (CF-Connecting-IP).
func ipArg(args []js.Value, i int) string {
	if len(args) > i && args[i].Type() == js.TypeString {
		return args[i].String()
	}
	return ""
}

func mailboxAPI(init js.Value) (js.Value, error) {
	st, err := dostore.Open(jsSQL{init.Get("db")})
	if err != nil {
		return js.Value{}, err
	}
	h, startCmds, err := host.NewMailbox(host.MailboxConfig{
		Machine: mailbox.Config{
			MOTD:             configString(init, "motd"),
			AdvertiseVersion: configString(init, "advertiseVersion"),
			SignalError:      configString(init, "signalError"),
		},
		Limits: limits(init),
	}, st, time.Now())
	if err != nil {
		return js.Value{}, err
	}
	api := js.Global().Get("Object").New()
	fn(api, "start", func(args []js.Value) []host.Cmd { return startCmds })
	fn(api, "open", func(args []js.Value) []host.Cmd { return h.Open(connID(args, 0), ipArg(args, 1), time.Now()) })
	fn(api, "frame", func(args []js.Value) []host.Cmd {
		data, _ := frameBytes(args, 1)
		return h.Frame(connID(args, 0), data, time.Now())
	})
	fn(api, "gone", func(args []js.Value) []host.Cmd { return h.Gone(connID(args, 0), time.Now()) })
	fn(api, "alarm", func(args []js.Value) []host.Cmd { return h.Alarm(time.Now()) })
	return api, nil
}

func transitAPI(init js.Value) (js.Value, error) {
	h, err := host.NewTransit(host.TransitConfig{
		Upstream:        configString(init, "upstream"),
		UnpairedTimeout: configMillis(init, "unpairedTimeoutMs"),
		Limits:          limits(init),
	})
	if err != nil {
		return js.Value{}, err
	}
	api := js.Global().Get("Object").New()
	api.Set("bridging", h.Bridging())
	fn(api, "open", func(args []js.Value) []host.Cmd { return h.Open(connID(args, 0), ipArg(args, 1), time.Now()) })
	fn(api, "frame", func(args []js.Value) []host.Cmd {
		data, text := frameBytes(args, 1)
		return h.Frame(connID(args, 0), data, text, time.Now())
	})
	fn(api, "gone", func(args []js.Value) []host.Cmd {
		var n int64
		if len(args) > 1 && args[1].Type() == js.TypeNumber {
			n = int64(args[1].Float())
		}
		return h.Gone(connID(args, 0), n, time.Now())
	})
	fn(api, "timer", func(args []js.Value) []host.Cmd { return h.Timer(connID(args, 0), time.Now()) })
	return api, nil
}

// fn exports f as api[name]; a panic becomes a reset command, since the
// machine's state can no longer be trusted (the next instance reloads it
// from storage).
func fn(api js.Value, name string, f func(args []js.Value) []host.Cmd) {
	api.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				msg := fmt.Sprintf("wasm: panic in %s: %v\n%s", name, r, debug.Stack())
				fmt.Fprintln(os.Stderr, msg)
				result = toJS([]host.Cmd{{Kind: host.KindReset, Reason: msg}})
			}
		}()
		return toJS(f(args))
	}))
}

func connID(args []js.Value, i int) uint64 {
	if len(args) <= i || args[i].Type() != js.TypeNumber {
		panic("connection id is not a number")
	}
	return uint64(args[i].Float())
}

// frameBytes returns a message's bytes and whether it was a TEXT frame
// (a JS string; binary frames arrive as ArrayBuffer because the shim sets
// binaryType = "arraybuffer").
func frameBytes(args []js.Value, i int) ([]byte, bool) {
	if len(args) <= i {
		return nil, false
	}
	v := args[i]
	if v.Type() == js.TypeString {
		return []byte(v.String()), true
	}
	u8 := js.Global().Get("Uint8Array").New(v)
	b := make([]byte, u8.Get("length").Int())
	js.CopyBytesToGo(b, u8)
	return b, false
}

var uint8Array = js.Global().Get("Uint8Array")

func toJS(cmds []host.Cmd) js.Value {
	arr := js.Global().Get("Array").New(len(cmds))
	for i, c := range cmds {
		o := js.Global().Get("Object").New()
		o.Set("op", c.Kind.String())
		o.Set("conn", float64(c.Conn))
		switch c.Kind {
		case host.KindSend:
			if c.Text {
				o.Set("data", string(c.Data))
			} else {
				u := uint8Array.New(len(c.Data))
				js.CopyBytesToJS(u, c.Data)
				o.Set("data", u)
			}
		case host.KindClose:
			o.Set("code", c.Code)
			o.Set("reason", c.Reason)
		case host.KindReset, host.KindLog:
			o.Set("reason", c.Reason)
		case host.KindAlarm, host.KindTimer:
			o.Set("after", float64(c.After.Milliseconds()))
		case host.KindPair:
			o.Set("peer", float64(c.Peer))
		case host.KindBridge:
			o.Set("host", c.Host)
			o.Set("port", c.Port)
			u := uint8Array.New(len(c.Data))
			js.CopyBytesToJS(u, c.Data)
			o.Set("data", u)
		}
		arr.SetIndex(i, o)
	}
	return arr
}

// jsSQL is dostore.SQL over the shim's db object, a thin wrapper of the
// Durable Object's ctx.storage:
//
//	query(q, ...args) -> ctx.storage.sql.exec(q, ...args).raw().toArray()
//	batch([[q, ...args], ...]) -> every statement inside one ctx.storage.transactionSync
type jsSQL struct{ db js.Value }

// jsArgs converts bound arguments: int64 becomes a JavaScript number
// (exact below 2^53; Unix microseconds and sequence numbers are).
func jsArgs(dst []any, args []any) []any {
	for _, a := range args {
		if v, ok := a.(int64); ok {
			dst = append(dst, float64(v))
		} else {
			dst = append(dst, a)
		}
	}
	return dst
}

func (s jsSQL) Query(query string, args ...any) (rows [][]any, err error) {
	res, err := jsutil.Call(s.db, "query", jsArgs([]any{query}, args)...)
	if err != nil {
		return nil, fmt.Errorf("durable object storage: %w", err)
	}
	n := res.Length()
	rows = make([][]any, n)
	for i := range n {
		r := res.Index(i)
		row := make([]any, r.Length())
		for j := range row {
			switch c := r.Index(j); c.Type() {
			case js.TypeString:
				row[j] = c.String()
			case js.TypeNumber:
				row[j] = c.Float()
			case js.TypeNull, js.TypeUndefined:
				row[j] = nil
			default:
				row[j] = c.String()
			}
		}
		rows[i] = row
	}
	return rows, nil
}

func (s jsSQL) Batch(stmts []dostore.Stmt) error {
	list := make([]any, len(stmts))
	for i, st := range stmts {
		list[i] = jsArgs([]any{st.Query}, st.Args)
	}
	if _, err := jsutil.Call(s.db, "batch", list); err != nil {
		return fmt.Errorf("durable object storage: %w", err)
	}
	return nil
}
