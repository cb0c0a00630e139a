//go:build js

package logging

// Enabled is false: nothing is logged in the browser build.
const Enabled = false

// Logger discards everything. Its methods are the subset of logr.Logger's
// that the core calls, so the same code builds for both.
type Logger struct{}

// V returns the logger at verbosity level v.
func (l Logger) V(int) Logger { return l }

// Info logs nothing.
func (Logger) Info(string, ...any) {}

// Error logs nothing.
func (Logger) Error(error, string, ...any) {}

// WithValues returns the logger.
func (l Logger) WithValues(...any) Logger { return l }
