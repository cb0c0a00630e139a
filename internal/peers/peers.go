// Package peers runs the reference magic-wormhole programs for interop tests.
//
// Interop is proven only against the real programs: the Python `wormhole` 0.12
// CLI, wormhole-william, and the reference mailbox server and transit relay,
// all installed from Debian by the peers directory's install.sh. This package
// finds them, starts them on 127.0.0.1 and parses what they print. Tests where
// both ends are our own code run our relay in-process instead
// (internal/relaytest).
//
// The peers directory (install.sh, netns-run.sh, the reference server
// scripts) is looked up in one place: $WASMHOLE_SHARED/peers, where
// WASMHOLE_SHARED defaults to ../shared beside the checkout (SharedDir).
//
// wormhole-william dials the hard-coded transit.magic-wormhole.io:4001, so
// tests that use it must run inside netns-run.sh, where that name is
// 127.0.0.1 and port 4001 belongs to the test alone. Main (called from a
// package's TestMain) re-executes the test binary there once, as root, so
// every test package gets its own private loopback and ports never clash
// between packages that `go test ./...` runs in parallel.
//
// A missing program skips the test on a developer's machine and fails it in
// CI (the CI environment variable is set): a skipped interop test must never
// count as a pass there.
package peers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// envInside marks a test process that already runs inside netns-run.sh.
const envInside = "WASMHOLE_IN_NETNS"

// DirectAddr is the non-loopback address netns-run.sh --addr adds, so that
// direct transit is possible with a wormhole-william sender.
const DirectAddr = "198.18.0.1"

// CI reports whether missing peers must fail tests instead of skipping them.
func CI() bool { return os.Getenv("CI") != "" }

// InNetns reports whether this process runs inside the private namespace.
func InNetns() bool { return os.Getenv(envInside) == "1" }

// Main is for TestMain. As root and outside the namespace it re-executes the
// test binary inside netns-run.sh --addr 198.18.0.1 and exits with its status;
// otherwise it runs the tests here. Set WASMHOLE_NO_NETNS=1 to opt out.
func Main(m *testing.M) {
	if InNetns() || os.Getenv("WASMHOLE_NO_NETNS") == "1" || os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	script, err := sharedFile("netns-run.sh")
	if err != nil {
		if CI() {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
	cmd := exec.Command(script, append([]string{"--addr", DirectAddr, exe}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "peers: netns-run.sh:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// RequireNetns skips (or fails in CI) a test that needs the private namespace,
// e.g. because wormhole-william must reach a relay on 127.0.0.1:4001.
func RequireNetns(t testing.TB) {
	t.Helper()
	if InNetns() {
		return
	}
	why := "run the tests as root so peers.Main can enter it"
	if _, err := sharedFile("netns-run.sh"); err != nil {
		why = err.Error()
	} else if os.Getenv("WASMHOLE_NO_NETNS") == "1" {
		why = "WASMHOLE_NO_NETNS=1 is set"
	}
	if CI() {
		t.Fatal("this test needs the private network namespace: " + why)
	}
	t.Skip("not inside the private network namespace: " + why)
}

var (
	rootOnce sync.Once
	rootDir  string
)

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	return rootDir
}

// EnvShared names the variable that locates the directory holding peers/
// (the reference peers' scripts); see SharedDir.
const EnvShared = "WASMHOLE_SHARED"

// SharedDir is $WASMHOLE_SHARED, or ../shared beside the checkout when it
// is unset: the directory whose peers/ holds install.sh, netns-run.sh and
// the reference server scripts.
func SharedDir() string {
	if d := os.Getenv(EnvShared); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "..", "shared")
}

// sharedFile is the path of name below SharedDir()/peers, or an error
// that says what is missing and how to point the tests at it.
func sharedFile(name string) (string, error) {
	p := filepath.Join(SharedDir(), "peers", name)
	if _, err := os.Stat(p); err != nil {
		how := "set " + EnvShared + " to the directory that holds peers/"
		if os.Getenv(EnvShared) != "" {
			how = EnvShared + "=" + os.Getenv(EnvShared) + " does not hold it"
		} else {
			how = "put the peers directory at ../shared/peers beside the checkout, or " + how
		}
		return "", fmt.Errorf("the reference peers' %s is missing (%s): %s", name, p, how)
	}
	return p, nil
}

// SharedFile is the path of name below the peers directory (for example
// "bench/mbbench" or "upstream/wormhole"). If it is missing, the test is
// skipped, or fails in CI, with a message that says where it was looked
// for and how to point the tests at it.
func SharedFile(t testing.TB, name string) string {
	t.Helper()
	p, err := sharedFile(name)
	if err != nil {
		if CI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// Need skips the test (fails it in CI) unless every program is on PATH.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if CI() {
				t.Fatalf("required peer %q not installed (run scripts/install-deps.sh, which runs $%s/peers/install.sh)", p, EnvShared)
			}
			t.Skipf("peer %q not installed", p)
		}
	}
}

// PythonPath is Debian's python3, the one the reference wormhole packages
// are installed for.
const PythonPath = "/usr/bin/python3"

// Python returns PythonPath; missing, it skips the test (fails it in CI).
func Python(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(PythonPath); err != nil {
		if CI() {
			t.Fatalf("%s missing in CI: %v", PythonPath, err)
		}
		t.Skipf("%s missing: %v", PythonPath, err)
	}
	return PythonPath
}

// NeedPython skips (fails in CI) unless PythonPath can import every module.
func NeedPython(t testing.TB, modules ...string) {
	t.Helper()
	args := []string{"-c", "import " + strings.Join(modules, ", ")}
	if err := exec.Command(PythonPath, args...).Run(); err != nil {
		if CI() {
			t.Fatalf("python modules %v not importable: %v", modules, err)
		}
		t.Skipf("python modules %v not importable", modules)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Servers are running reference servers.
type Servers struct {
	MailboxURL  string // ws://127.0.0.1:PORT/v1
	TransitAddr string // 127.0.0.1:PORT
	// TransitWebSocket is the relay's WebSocket side, ws://127.0.0.1:PORT/
	// (StartUpstream only: Debian's relay 0.2.1 has none).
	TransitWebSocket string
	StateDir         string // logs, pids, transit-usage.jsonl
}

// TransitHelper is the Python CLI's spelling of the relay, tcp:HOST:PORT.
func (s *Servers) TransitHelper() string { return "tcp:" + s.TransitAddr }

// Env points both CLIs at these servers.
func (s *Servers) Env() []string {
	return []string{"WORMHOLE_RELAY_URL=" + s.MailboxURL, "WORMHOLE_TRANSIT_HELPER=" + s.TransitHelper()}
}

// RelayedPairs counts happy transit-usage lines with bytes, i.e. transfers
// the reference relay carried.
func (s *Servers) RelayedPairs(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.StateDir, "transit-usage.jsonl"))
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"happy"`) && !strings.Contains(line, `"total_bytes": 0,`) && !strings.Contains(line, `"total_bytes": 0}`) {
			n++
		}
	}
	return n
}

// StartReference starts the reference mailbox server and transit relay on
// 127.0.0.1 and stops them when the test ends. Port 0 picks a free port;
// wormhole-william tests need transitPort 4001 inside the namespace.
func StartReference(t testing.TB, mailboxPort, transitPort int) *Servers {
	t.Helper()
	NeedPython(t, "wormhole_mailbox_server", "wormhole_transit_relay")
	if mailboxPort == 0 {
		mailboxPort = FreePort(t)
	}
	if transitPort == 0 {
		transitPort = FreePort(t)
	}
	startScript := SharedFile(t, "start-reference-servers.sh")
	stopScript := SharedFile(t, "stop-reference-servers.sh")
	state := t.TempDir()
	start := exec.Command(startScript, state, fmt.Sprint(mailboxPort), fmt.Sprint(transitPort))
	// The script waits for the servers to accept; its default 30 s was
	// too short for Python's start on a machine loaded ~10 deep (seen
	// under a parallel suite). It returns as soon as they accept.
	start.Env = os.Environ()
	if os.Getenv("PEERS_WAIT_S") == "" {
		start.Env = append(start.Env, "PEERS_WAIT_S=180")
	}
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("start-reference-servers.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command(stopScript, state).Run()
	})
	return &Servers{
		MailboxURL:  fmt.Sprintf("ws://127.0.0.1:%d/v1", mailboxPort),
		TransitAddr: fmt.Sprintf("127.0.0.1:%d", transitPort),
		StateDir:    state,
	}
}

// CLI is a running stock CLI whose output is captured.
type CLI struct {
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	code chan string
	done chan struct{}
	err  error
}

var codeRE = regexp.MustCompile(`Wormhole code is: (\S+)`)

// Start runs name with args in dir (created if empty string: a temp dir),
// with extra environment entries and optional stdin. Output goes to one
// buffer. The process is killed when the test ends.
func Start(t testing.TB, dir string, env []string, stdin string, name string, args ...string) *CLI {
	t.Helper()
	Need(t, name)
	if dir == "" {
		dir = t.TempDir()
	}
	c := &CLI{code: make(chan string, 1), done: make(chan struct{})}
	c.Cmd = exec.Command(name, args...)
	c.Cmd.Dir = dir
	c.Cmd.Env = append(cleanEnv(), env...)
	if stdin != "" {
		c.Cmd.Stdin = strings.NewReader(stdin)
	}
	pr, pw := io.Pipe()
	c.Cmd.Stdout, c.Cmd.Stderr = pw, pw
	if err := c.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	// done closes only after the scanner has taken in the last line: the
	// process may exit (and Wait return) while its final output, such as
	// a received text, is still on its way into c.out.
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sc.Split(scanLinesOrCR)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.out.WriteString(line)
			c.out.WriteByte('\n')
			c.mu.Unlock()
			if m := codeRE.FindStringSubmatch(line); m != nil && !sent {
				c.code <- m[1]
				sent = true
			}
		}
		// A line over the scanner's limit ends the scan; keep draining so
		// the process never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		c.err = c.Cmd.Wait()
		pw.Close()
		<-scanned
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.Cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// scanLinesOrCR splits on \n and \r so progress bars do not hide lines.
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// cleanEnv drops variables that would point a CLI at another server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WORMHOLE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Code waits for the "Wormhole code is: X" line.
func (c *CLI) Code(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case code := <-c.code:
		return code
	case <-c.done:
		t.Fatalf("%s exited before printing a code: %v\n%s", c.Cmd.Path, c.err, c.Output())
	case <-time.After(timeout):
		t.Fatalf("%s printed no code within %v\n%s", c.Cmd.Path, timeout, c.Output())
	}
	return ""
}

// Wait waits for the process to exit and returns its error.
func (c *CLI) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		_ = c.Cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s: %w (output:\n%s)", c.Cmd.Path, ctx.Err(), c.Output())
	}
}

// Output is everything printed so far (stdout and stderr).
func (c *CLI) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// WriteRandomFile writes size random bytes to path and returns their sha256.
func WriteRandomFile(t testing.TB, path string, size int64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FileSHA256 is the hex sha256 of a file's contents.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MakeTree builds the directory the acceptance tests send: nested folders,
// an empty folder, non-ASCII names, a 0-byte file. It returns its manifest.
func MakeTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]int64{
		"top.txt":                1234,
		"empty.bin":              0,
		"sub/inner.dat":          70000,
		"sub/deeper/deepest.bin": 333,
		"ünïcödé/résumé €.txt":   4096,
		"日本語/ファイル.txt":           77,
	}
	for name, size := range files {
		WriteRandomFile(t, filepath.Join(dir, filepath.FromSlash(name)), size)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty-folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	return TreeManifest(t, dir)
}

// TreeManifest maps every path below dir (slash-separated, relative) to the
// sha256 of its contents, or "dir" for directories, so two trees compare
// with reflect.DeepEqual.
func TreeManifest(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case info.IsDir():
			m[rel] = "dir"
		case info.Mode().IsRegular():
			m[rel] = FileSHA256(t, p)
		default:
			m[rel] = "other:" + info.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// WrongKeyOutput reports whether a stock CLI's output says its session
// key did not match the peer's (what a wrong code looks like): Python's
// "Key confirmation failed" / WrongPasswordError, wormhole-william's
// "decrypt message failed".
//
// Tests use it to retry wormhole-william's SPAKE2 encoding bug with the
// right code: Debian's gospake2 (ed25519group/affine.go, Compress) encodes
// points with an unpadded big.Int.Bytes(), so about 1 session in 128 its
// message or transcript is one byte short and both sides derive different
// keys. Retry at most twice, and only after checking nothing was written.
func WrongKeyOutput(output string) bool {
	for _, s := range []string{"Key confirmation failed", "WrongPasswordError", "decrypt message failed"} {
		if strings.Contains(output, s) {
			return true
		}
	}
	return false
}
