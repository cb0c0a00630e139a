//go:build js

package wormhole_test

import "github.com/wasmhole/wasmhole/core/internal/logging"

// logger: the browser build does not log (core/internal/logging), so b
// stays empty.
func (b *logBuf) logger() logging.Logger { return logging.Logger{} }
