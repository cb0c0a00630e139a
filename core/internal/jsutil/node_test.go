//go:build !js

package jsutil

import (
	"testing"

	"github.com/wasmhole/wasmhole/core/internal/nodetest"
)

// TestNode runs this package's js tests under Node.
func TestNode(t *testing.T) {
	nodetest.Run(t, []string{"TestCatch", "TestError", "TestAwait", "TestBytes"}, false)
}
