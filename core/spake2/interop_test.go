package spake2

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const pythonPath = "/usr/bin/python3"

// pyPeer is a line protocol around python-spake2's SPAKE2_Symmetric. Hex
// fields carry an "h" prefix so empty values survive split().
const pyPeer = `
import sys
from spake2 import SPAKE2_Symmetric
s = None
for line in sys.stdin:
    f = line.split()
    try:
        if f[0] == "start":
            s = SPAKE2_Symmetric(bytes.fromhex(f[1][1:]), idSymmetric=bytes.fromhex(f[2][1:]))
            out = s.start().hex()
        elif f[0] == "finish":
            out = s.finish(bytes.fromhex(f[1][1:])).hex()
        else:
            out = "error unknown-command"
    except Exception as e:
        out = "error " + type(e).__name__
    print(out, flush=True)
`

type python struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

// startPython runs python3-spake2, skipping locally (failing under CI)
// when it is not installed.
func startPython(t *testing.T) *python {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-spake2 is required under CI: %s", why)
		}
		t.Skipf("python3-spake2 not available (%s); apt-get install python3-spake2", why)
	}
	if _, err := os.Stat(pythonPath); err != nil {
		missing(err.Error())
	}
	if out, err := exec.Command(pythonPath, "-c", "import spake2").CombinedOutput(); err != nil {
		missing(fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, pythonPath, "-c", pyPeer)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
		cancel()
	})
	return &python{t: t, in: in, out: bufio.NewScanner(outPipe)}
}

func (p *python) call(fields ...string) string {
	p.t.Helper()
	if _, err := io.WriteString(p.in, strings.Join(fields, " ")+"\n"); err != nil {
		p.t.Fatalf("writing to python: %v", err)
	}
	if !p.out.Scan() {
		p.t.Fatalf("python exited: %v", p.out.Err())
	}
	return p.out.Text()
}

func (p *python) start(password, id []byte) []byte {
	p.t.Helper()
	res := p.call("start", "h"+hex.EncodeToString(password), "h"+hex.EncodeToString(id))
	msg, err := hex.DecodeString(res)
	if err != nil {
		p.t.Fatalf("python start: %s", res)
	}
	return msg
}

// finish returns python's key, or the python exception name as error.
func (p *python) finish(msg []byte) ([]byte, error) {
	p.t.Helper()
	res := p.call("finish", "h"+hex.EncodeToString(msg))
	if name, ok := strings.CutPrefix(res, "error "); ok {
		return nil, fmt.Errorf("python: %s", name)
	}
	key, err := hex.DecodeString(res)
	if err != nil {
		p.t.Fatalf("python finish: %s", res)
	}
	return key, nil
}

func randomBytes(t *testing.T, max int) []byte {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(max+1)))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n.Int64())
	rand.Read(b)
	return b
}

// TestInteropPython runs 20 exchanges against python3-spake2 in each
// order (python starts and Go finishes first, and the other way round)
// with random passwords and ids, and checks the keys agree; then a wrong
// password in each order, which must give different keys.
func TestInteropPython(t *testing.T) {
	py := startPython(t)
	for i := range interopRounds {
		password := randomBytes(t, 40)
		id := randomBytes(t, 40)
		if i == 0 {
			password, id = []byte("7-guitarist-revenge"), []byte("lothar.com/wormhole/text-or-file-xfer")
		}

		// Python first: it starts, Go answers and finishes first.
		pyMsg := py.start(password, id)
		goSide, err := NewSymmetric(password, id, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		goKey, err := goSide.Finish(pyMsg)
		if err != nil {
			t.Fatalf("round %d (python first): Go Finish: %v", i, err)
		}
		pyKey, err := py.finish(goSide.Message())
		if err != nil {
			t.Fatalf("round %d (python first): %v", i, err)
		}
		if !bytes.Equal(goKey, pyKey) {
			t.Fatalf("round %d (python first) pw %x id %x: Go key %x, python key %x", i, password, id, goKey, pyKey)
		}

		// Go first: Go starts, python answers and finishes first.
		goSide, err = NewSymmetric(password, id, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		goMsg := goSide.Message()
		pyMsg = py.start(password, id)
		if pyKey, err = py.finish(goMsg); err != nil {
			t.Fatalf("round %d (Go first): %v", i, err)
		}
		if goKey, err = goSide.Finish(pyMsg); err != nil {
			t.Fatalf("round %d (Go first): Go Finish: %v", i, err)
		}
		if !bytes.Equal(goKey, pyKey) {
			t.Fatalf("round %d (Go first) pw %x id %x: Go key %x, python key %x", i, password, id, goKey, pyKey)
		}
	}

	for _, goFirst := range []bool{false, true} {
		id := []byte("lothar.com/wormhole/text-or-file-xfer")
		goSide, err := NewSymmetric([]byte("7-guitarist-revenge"), id, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var goKey, pyKey []byte
		if goFirst {
			pyMsg := py.start([]byte("7-guitarist-revenue"), id)
			pyKey, _ = py.finish(goSide.Message())
			goKey, _ = goSide.Finish(pyMsg)
		} else {
			pyMsg := py.start([]byte("7-guitarist-revenue"), id)
			goKey, _ = goSide.Finish(pyMsg)
			pyKey, _ = py.finish(goSide.Message())
		}
		if len(goKey) != KeySize || len(pyKey) != KeySize || bytes.Equal(goKey, pyKey) {
			t.Errorf("wrong password (Go first %v): keys %x / %x, want two different keys", goFirst, goKey, pyKey)
		}
	}
}

// TestInteropRejects checks that python-spake2 also refuses the peer
// messages Finish refuses (our refusals cannot cost interoperability),
// except the non-canonical identities we refuse deliberately.
func TestInteropRejects(t *testing.T) {
	py := startPython(t)
	id := []byte("app")
	peer, err := NewSymmetric([]byte("pw"), id, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name   string
		msg    []byte
		python bool
	}
	tests := []tc{
		{"side A", append([]byte{'A'}, peer.Message()[1:]...), true},
		{"side B", append([]byte{'B'}, peer.Message()[1:]...), true},
		{"mixed order", append([]byte{'S'}, mixedOrder(t, peer.Message()[1:])...), true},
	}
	for _, b := range badElements {
		tests = append(tests, tc{b.name, append([]byte{'S'}, unhex(t, b.hex)...), b.python})
	}
	for _, tc := range tests {
		py.start([]byte("pw"), id) // a fresh python instance per message
		_, pyErr := py.finish(tc.msg)
		if tc.python && pyErr == nil {
			t.Errorf("%s: python accepted %x", tc.name, tc.msg)
		}
		if !tc.python && pyErr != nil {
			t.Errorf("%s: python now refuses %x (%v); mark it python: true", tc.name, tc.msg, pyErr)
		}
		goSide, err := NewSymmetric([]byte("pw"), id, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := goSide.Finish(tc.msg); err == nil {
			t.Errorf("%s: Go accepted %x", tc.name, tc.msg)
		}
	}
	// python refuses its own message reflected back, like Go.
	pyMsg := py.start([]byte("pw"), id)
	if _, err := py.finish(pyMsg); err == nil || !strings.Contains(err.Error(), "ReflectionThwarted") {
		t.Errorf("python reflection: %v", err)
	}
}

// interopRounds is 20 by default; raise it with WASMHOLE_SPAKE2_ROUNDS to
// hunt rare encoding disagreements (a 1-in-256 leading-zero byte, say).
var interopRounds = func() int {
	if n, err := strconv.Atoi(os.Getenv("WASMHOLE_SPAKE2_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 20
}()
