//go:build !js

// Package nodetest lets a plain `go test` cover code written for the
// browser: it builds the calling package's tests for GOOS=js GOARCH=wasm
// and runs the selected ones in Node with Go's wasm_exec_node.js, the way
// `go test` itself would with the go_js_wasm_exec wrapper.
//
// The js tests read what they need (server URLs) from environment
// variables that the native test sets, and skip when those are missing,
// so running them directly stays harmless.
package nodetest

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// Run builds the tests of the package in the current directory for
// GOOS=js and runs the named top-level tests in Node, with env added to
// the environment. needWebSocket asks for a Node with a global WebSocket
// (built in from Node 22, behind a flag in Node 20 and 21). Run fails t
// unless every one of them ran and passed, and returns Node's output.
// Like the interop tests it skips when Node is missing, unless CI is set.
func Run(t *testing.T, tests []string, needWebSocket bool, env ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	node := nodeCommand(t, needWebSocket)
	dir := t.TempDir()
	bin := filepath.Join(dir, "js.test.wasm")
	goTool := filepath.Join(build.Default.GOROOT, "bin", "go")
	cmd := exec.Command(goTool, "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the js test binary: %v\n%s", err, out)
	}
	execJS := filepath.Join(build.Default.GOROOT, "lib", "wasm", "wasm_exec_node.js")
	if _, err := os.Stat(execJS); err != nil {
		execJS = filepath.Join(build.Default.GOROOT, "misc", "wasm", "wasm_exec_node.js") // Go < 1.24
	}
	// The stack size is go_js_wasm_exec's.
	args := append(node[1:], "--stack-size=8192", execJS, bin, "-test.run", "^("+strings.Join(tests, "|")+")$", "-test.v")
	run := exec.Command(node[0], args...)
	run.Dir = dir
	// WASMHOLE_NO_NETNS: the native test is already in its namespace, if
	// any; peers.Main in the js binary must not try to enter another.
	run.Env = append(append(os.Environ(), "WASMHOLE_NO_NETNS=1"), env...)
	out, err := run.CombinedOutput()
	t.Logf("node:\n%s", out)
	if err != nil {
		t.Fatalf("%v under node: %v", tests, err)
	}
	for _, test := range tests {
		if !strings.Contains(string(out), "--- PASS: "+test+" ") {
			t.Errorf("%s did not run and pass under node", test)
		}
	}
	return string(out)
}

func nodeCommand(t *testing.T, needWebSocket bool) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is missing")
	}
	if !needWebSocket {
		return []string{node}
	}
	probe := "process.exit(typeof WebSocket === 'function' ? 0 : 1)"
	for _, args := range [][]string{{node}, {node, "--experimental-websocket"}} {
		if exec.Command(args[0], append(args[1:], "-e", probe)...).Run() == nil {
			return args
		}
	}
	missing(t, "node has no WebSocket")
	return nil
}

func missing(t *testing.T, why string) {
	t.Helper()
	if peers.CI() {
		t.Fatal(why)
	}
	t.Skip(why)
}
