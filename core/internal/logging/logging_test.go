package logging_test

import (
	"errors"
	"testing"

	"github.com/wasmhole/wasmhole/core/internal/logging"
)

// The zero Logger is usable and discards, in both builds.
func TestZeroLoggerDiscards(t *testing.T) {
	var l logging.Logger
	l = l.WithValues("side", "abc")
	l.V(1).Info("connected", "url", "ws://example/v1")
	l.Error(errors.New("boom"), "failed")
}
