//go:build !js

package wormhole_test

import (
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// logger writes the client's log lines (verbosity 1) into b.
func (b *logBuf) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		b.lines = append(b.lines, prefix+" "+args)
		b.mu.Unlock()
	}, funcr.Options{Verbosity: 1})
}
