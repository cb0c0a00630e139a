//go:build js

package jsutil

import (
	"sync"
	"syscall/js"
)

// Listeners registers Go callbacks as event listeners on JS objects and
// releases them together. A js.Func must be released once the browser can
// no longer call it, or its Go closure leaks; the zero value is ready.
type Listeners struct {
	mu    sync.Mutex
	funcs []js.Func
}

// On adds fn as target's listener for event; fn gets the event object.
func (l *Listeners) On(target js.Value, event string, fn func(js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(firstArg(args))
		return nil
	})
	l.mu.Lock()
	l.funcs = append(l.funcs, f)
	l.mu.Unlock()
	target.Call("addEventListener", event, f)
}

// Remove takes every callback off target for event (removeEventListener
// ignores the ones registered for other events); they stay allocated.
func (l *Listeners) Remove(target js.Value, event string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.funcs {
		target.Call("removeEventListener", event, f)
	}
}

// Release frees every callback added so far. Call it only once the
// targets can fire no more events: a released callback panics if called.
// Calling it again is harmless.
func (l *Listeners) Release() {
	l.mu.Lock()
	funcs := l.funcs
	l.funcs = nil
	l.mu.Unlock()
	for _, f := range funcs {
		f.Release()
	}
}
