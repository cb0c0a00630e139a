//go:build !js

package client

import (
	"testing"

	"github.com/wasmhole/wasmhole/internal/nodetest"
)

// TestNFCNode runs TestNFC in the browser build (nfc_js.go, which asks
// String.prototype.normalize) under Node.
func TestNFCNode(t *testing.T) { nodetest.Run(t, []string{"TestNFC"}, false) }
