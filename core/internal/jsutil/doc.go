// Package jsutil is the small amount of syscall/js plumbing that the
// browser drivers share: the mailbox connection (core/wormhole) and the
// transit relay connections (core/transitnet) both open the browser's
// WebSocket, wait for promises, and turn thrown JS exceptions into Go
// errors.
//
// Callbacks from JS run on the event loop; anything here that blocks does
// so on a Go channel fed by a js.Func, never inside the callback itself.
package jsutil
