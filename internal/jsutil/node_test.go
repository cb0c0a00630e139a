//go:build !js

package jsutil

import (
	"testing"

	"github.com/wasmhole/wasmhole/internal/nodetest"
)

// TestNode runs this package's js tests under Node.
func TestNode(t *testing.T) {
	nodetest.Run(t, []string{"TestCatch", "TestError", "TestCall", "TestAwait", "TestBytes"}, false)
}
