package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// envRunMain makes the test binary act as the relay command, so tests run
// the real main code as a separate process (which SIGKILL can hit) without
// a separate build step.
const envRunMain = "WASMHOLE_RELAY_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
	}
	if peers.BenchRequested() && !peers.InNetns() {
		// The session benchmarks build mbbench inside the namespace,
		// which cannot reach the module proxy: fetch its modules first.
		if err := peers.DownloadMbbench(); err != nil {
			fmt.Fprintln(os.Stderr, "benchmarks cannot run:", err)
			os.Exit(1)
		}
	}
	peers.Main(m)
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// relayProc is `relay serve` running as its own process.
type relayProc struct {
	HTTP, TCP string // listen addresses
	Dir       string // working directory (default db and admin socket)
	args      []string
	cmd       *exec.Cmd
	out       *syncBuffer
	done      chan struct{}
	err       error
}

// relayEnv is the environment without RELAY_* settings of the caller.
func relayEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startRelay runs `relay serve --http HTTP --transit-tcp TCP args...` in
// dir (a fresh temp dir if "") and waits for /healthz. It is stopped with
// SIGTERM when the test ends.
func startRelay(t testing.TB, dir, httpAddr, tcpAddr string, args ...string) *relayProc {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startRelayExe(t, exe, relayEnv(envRunMain+"=1"), dir, httpAddr, tcpAddr, args...)
}

// startRelayExe is startRelay for the program exe (the test binary or a
// built relay) with environment env; dir must exist.
func startRelayExe(t testing.TB, exe string, env []string, dir, httpAddr, tcpAddr string, args ...string) *relayProc {
	t.Helper()
	p := &relayProc{HTTP: httpAddr, TCP: tcpAddr, Dir: dir, out: &syncBuffer{}, done: make(chan struct{})}
	p.args = append([]string{"serve", "--http", httpAddr, "--transit-tcp", tcpAddr, "--log-level", "debug"}, args...)
	p.cmd = exec.Command(exe, p.args...)
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("relay output (last 4000 bytes):\n%s", tail(p.out.String(), 4000))
		}
	})
	p.waitHealthy(t)
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (p *relayProc) waitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.HTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("relay exited: %v\n%s", p.err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay not healthy: %v\n%s", err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MailboxURL is the relay's mailbox WebSocket URL.
func (p *relayProc) MailboxURL() string { return "ws://" + p.HTTP + "/v1" }

// Stop sends SIGTERM and waits (SIGKILL after 20 s). It returns the exit
// error, nil for a clean exit.
func (p *relayProc) Stop(t testing.TB) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("relay ignored SIGTERM for 20 s\n%s", p.out.String())
	}
	return p.err
}

// Kill sends SIGKILL and waits for the process to die.
func (p *relayProc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// metrics scrapes /metrics into "name{k="v",...}" → value (label pairs
// as the exposition format prints them, sorted by name).
func (p *relayProc) metrics(t testing.TB) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// metric is one value; key is e.g. `wasmhole_transit_pairs_total{transports="tcp-tcp"}`.
func (p *relayProc) metric(t testing.TB, key string) float64 {
	t.Helper()
	v, ok := p.metrics(t)[key]
	if !ok {
		t.Fatalf("metric %s not exported", key)
	}
	return v
}

// freeAddr is 127.0.0.1:PORT with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	return fmt.Sprintf("127.0.0.1:%d", peers.FreePort(t))
}

func waitCLI(t *testing.T, c *peers.CLI, timeout time.Duration, what string) {
	t.Helper()
	if err := waitErr(c, timeout); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, c.Output())
	}
}

// waitErr waits at most timeout for c to exit and returns why it failed.
func waitErr(c *peers.CLI, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Wait(ctx)
}

// dialRaw opens a TCP connection (for raw transit clients in tests).
func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readN(t testing.TB, r io.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return string(b)
}

// transitWS is a minimal WebSocket transit client: binary messages out,
// and reads that concatenate binary messages.
type transitWS struct {
	c   *websocket.Conn
	buf []byte
}

func dialTransitWS(t testing.TB, url string) *transitWS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return &transitWS{c: c}
}

func (w *transitWS) send(t testing.TB, b []byte) {
	t.Helper()
	if err := w.c.Write(context.Background(), websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
}

func (w *transitWS) readN(t testing.TB, n int) string {
	t.Helper()
	for len(w.buf) < n {
		typ, b, err := w.c.Read(context.Background())
		if err != nil {
			t.Fatalf("ws read after %d of %d bytes: %v", len(w.buf), n, err)
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("relay sent a %v message", typ)
		}
		w.buf = append(w.buf, b...)
	}
	s := string(w.buf[:n])
	w.buf = w.buf[n:]
	return s
}

func (w *transitWS) close() { w.c.Close(websocket.StatusNormalClosure, "") }
