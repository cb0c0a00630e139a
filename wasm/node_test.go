//go:build !js

package main

import (
	"testing"

	"github.com/wasmhole/wasmhole/internal/nodetest"
)

// TestNode runs this package's js tests (glue_js_test.go) under Node.
func TestNode(t *testing.T) {
	nodetest.Run(t, []string{"TestRelayFrom", "TestClientFromAppVersions", "TestHandleMessages",
		"TestBlobReaderSeek", "TestErrorCodes"}, false)
}
