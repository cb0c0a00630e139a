package peers

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Today's upstream programs (peers/upstream), run from a source snapshot
// on Debian's Python packages: the magic-wormhole CLI after 0.24.0
// (deflated folder zips, the wss:// default mailbox), the mailbox server
// after 0.8.0 and the transit relay 0.4, whose WebSocket side pairs with
// TCP clients. Debian's 0.12 programs stay the default peers; these show
// that what people install today works too.

var (
	upstreamOnce sync.Once
	upstreamErr  error
)

// upstreamRuns checks once that the upstream CLI and both servers start
// (their Python dependencies are installed by install.sh).
func upstreamRuns(t testing.TB) (cli, serve string) {
	t.Helper()
	cli = SharedFile(t, "upstream/wormhole")
	serve = SharedFile(t, "upstream/serve")
	upstreamOnce.Do(func() {
		for _, args := range [][]string{{cli, "--version"}, {serve, "mailbox", "--help"}, {serve, "transit", "--help"}} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				upstreamErr = fmt.Errorf("%s does not run (install its dependencies with the peers' install.sh): %v\n%s",
					strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if upstreamErr != nil {
		if CI() {
			t.Fatal(upstreamErr)
		}
		t.Skip(upstreamErr)
	}
	return cli, serve
}

// UpstreamCLI is the path of today's upstream `wormhole` CLI. Its flags are
// those of 0.12 (--relay-url and --transit-helper before the subcommand).
func UpstreamCLI(t testing.TB) string {
	t.Helper()
	cli, _ := upstreamRuns(t)
	return cli
}

// StartUpstream starts today's upstream mailbox server and transit relay on
// free 127.0.0.1 ports, the relay with its WebSocket side
// (Servers.TransitWebSocket), and stops them when the test ends. Logs and
// the relay's usage lines (transit-usage.jsonl, see RelayedPairs) go to
// Servers.StateDir.
func StartUpstream(t testing.TB) *Servers {
	t.Helper()
	_, serve := upstreamRuns(t)
	s := &Servers{StateDir: t.TempDir()}
	mbPort, tcpPort, wsPort := FreePort(t), FreePort(t), FreePort(t)
	s.MailboxURL = fmt.Sprintf("ws://127.0.0.1:%d/v1", mbPort)
	s.TransitAddr = fmt.Sprintf("127.0.0.1:%d", tcpPort)
	s.TransitWebSocket = fmt.Sprintf("ws://127.0.0.1:%d/", wsPort)

	startDaemon(t, s.StateDir, "mailbox", nil, serve, "mailbox",
		fmt.Sprintf("--port=tcp:%d:interface=127.0.0.1", mbPort),
		"--channel-db="+filepath.Join(s.StateDir, "channel.sqlite"))
	usage, err := os.Create(filepath.Join(s.StateDir, "transit-usage.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer usage.Close() // the child keeps its own descriptor
	// --log-fd=3 writes one JSON line per finished session (mood, total_bytes).
	startDaemon(t, s.StateDir, "transit", usage, serve, "transit",
		fmt.Sprintf("--port=tcp:%d:interface=127.0.0.1", tcpPort),
		fmt.Sprintf("--websocket=tcp:%d:interface=127.0.0.1", wsPort),
		"--log-fd=3")

	// The transit relay logs a traceback for a connection that closes
	// without a word, so its TCP port is only checked for LISTEN.
	waitListening(t, s.StateDir, "mailbox", mbPort)
	waitListening(t, s.StateDir, "transit", tcpPort)
	waitListening(t, s.StateDir, "transit", wsPort)
	return s
}

// startDaemon runs a server in the background with its output in
// dir/name.log and, if fd3 is set, that file as descriptor 3. It is
// stopped (TERM, then KILL) when the test ends.
func startDaemon(t testing.TB, dir, name string, fd3 *os.File, prog string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = log, log
	if fd3 != nil {
		cmd.ExtraFiles = []*os.File{fd3}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			t.Logf("%s log (last 3000 bytes):\n%s", name, tailString(string(b), 3000))
		}
	})
}

// waitListening waits up to 30 s until a socket listens on port.
func waitListening(t testing.TB, dir, name string, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !listening(port) {
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
			t.Fatalf("%s did not listen on port %d within 30 s; log:\n%s", name, port, b)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// listening reports whether a TCP socket is in LISTEN state on port,
// without connecting to it (Linux /proc/net/tcp; elsewhere a connect).
func listening(port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(p)
		if err != nil {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				c.Close()
				return true
			}
			return false
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 3 && strings.HasSuffix(fs[1], want) && fs[3] == "0A" {
				f.Close()
				return true
			}
		}
		f.Close()
	}
	return false
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
