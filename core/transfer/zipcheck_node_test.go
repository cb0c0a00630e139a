//go:build !js

package transfer

import (
	"testing"

	"github.com/wasmhole/wasmhole/internal/nodetest"
)

// TestCheckZipNode runs TestCheckZip and TestFoldName in the browser build
// under Node, where names are normalised by String.prototype.normalize.
func TestCheckZipNode(t *testing.T) { nodetest.Run(t, []string{"TestCheckZip", "TestFoldName"}, false) }
