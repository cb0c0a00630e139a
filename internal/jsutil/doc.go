// Package jsutil is the syscall/js plumbing every Go program of this
// repository that runs in a JavaScript engine shares: the browser drivers
// (the mailbox connection in core/wormhole, the transit relay connections
// in core/transitnet), the page's wasm program and the Cloudflare Worker's
// (relay/worker/wasm). They all wait for promises ([Await]), call into JS
// and turn thrown exceptions into Go errors ([Call], [Catch], [Error]),
// copy bytes out of messages ([Bytes]) and release their event listeners
// together ([Listeners]).
//
// Callbacks from JS run on the event loop; anything here that blocks does
// so on a Go channel fed by a js.Func, never inside the callback itself.
// It lives in the module's top-level internal/ so that core/, wasm/ and
// relay/ can all import it.
package jsutil
