// Package wormhole is the Go API of wasmhole: magic-wormhole sessions that
// interoperate with the Python CLI (0.12) and wormhole-william.
//
// # A session
//
// A Client holds settings; its zero value uses the public servers and the
// appid of `wormhole send`. Client.New connects to the mailbox server and
// returns a Wormhole, one session with one peer:
//
//	w, err := (&wormhole.Client{}).New(ctx)
//	code, err := w.AllocateCode(ctx)      // sender: "7-guitarist-revenge"
//	err = w.SetCode(ctx, code)            // receiver: the code typed in
//	verifier, err := w.WaitVerified(ctx)  // the peer proved the same code
//	err = w.Send(ctx, []byte(`{"offer": {"message": "hi"}}`))
//	reply, err := w.Receive(ctx)
//	err = w.Close(ctx, "")
//
// Under the hood the code's nameplate ("7") finds a mailbox on the server,
// both sides run SPAKE2 with the whole code as password and then exchange
// messages encrypted under keys derived from the result. A mistyped code
// surfaces as ErrWrongCode from WaitVerified, Receive or Send. Application
// messages are numbered and arrive in order, each once. DeriveKey gives
// further keys (file transfers use it for the transit key).
//
// # How it is built
//
// The protocols live in two pure state machines, core/mailbox (the server
// protocol: bind, claim, open, add, release, close, reconnection) and
// core/client (code, PAKE, version, encryption, phases). This package is
// their driver, the only part doing IO: it runs the machines under one
// mutex, with one goroutine reading the WebSocket (TEXT frames) and one
// writing it, timers from time.AfterFunc and dials in the background.
// Natively the WebSocket is github.com/coder/websocket (dial_native.go);
// in the browser it is the browser's own WebSocket driven through
// syscall/js (dial_js.go), because coder/websocket's js build links
// net/http and would make the page's wasm far larger. When the
// connection drops the machine asks for a new one after a jittered
// backoff and resumes the session where it was; callers only notice a
// delay. Trace returns a JSON timing trace of every message.
package wormhole
