package mailboxws

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// These benchmarks drive a server in a separate process with the shared Go
// load client (shared/peers/bench/mbbench), so client and server CPU and
// memory are measured apart: session rate for our server (memory, SQLite
// FULL and NORMAL) and for the reference server (start-reference-servers.sh,
// :memory: and file channel db), and RSS per idle bound connection.
//
//	go test -run XXX -bench Mbbench -benchtime 1x ./relay/mailboxws
//
// They print numbers; they assert nothing about speed.

// sharedPeers is the reference peers' directory (internal/peers finds it
// from WASMHOLE_SHARED); the benchmarks skip, or fail in CI, without it.
func sharedPeers(tb testing.TB) string {
	tb.Helper()
	peers.SharedFile(tb, "bench/mbbench/main.go")
	return filepath.Join(peers.SharedDir(), "peers")
}

// buildTools builds mbserve and mbbench once per process.
var built struct {
	mbserve, mbbench string
	err              error
}

func buildTools(b *testing.B) (mbserve, mbbench string) {
	b.Helper()
	peersDir := sharedPeers(b)
	if built.mbserve == "" && built.err == nil {
		dir, err := os.MkdirTemp("", "mbbench")
		if err != nil {
			b.Fatal(err)
		}
		built.mbserve = filepath.Join(dir, "mbserve")
		if out, err := exec.Command("go", "build", "-o", built.mbserve, "./internal/mbserve").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build mbserve: %v\n%s", err, out)
		}
		// mbbench is its own module (gorilla/websocket): build a copy.
		src := filepath.Join(dir, "src")
		os.MkdirAll(src, 0o755)
		for _, f := range []string{"main.go", "go.mod", "go.sum"} {
			data, err := os.ReadFile(filepath.Join(peersDir, "bench", "mbbench", f))
			if err == nil {
				os.WriteFile(filepath.Join(src, f), data, 0o644)
			}
		}
		built.mbbench = filepath.Join(dir, "mbbench")
		cmd := exec.Command("go", "build", "-o", built.mbbench, ".")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil && built.err == nil {
			built.err = fmt.Errorf("build mbbench: %v\n%s", err, out)
		}
	}
	if built.err != nil {
		b.Skip(built.err)
	}
	return built.mbserve, built.mbbench
}

func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMbserve runs our server in its own process; it returns its pid and url.
func startMbserve(b *testing.B, bin string, args ...string) (int, string) {
	port := freePort(b)
	cmd := exec.Command(bin, append([]string{"-addr", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	if !bufio.NewScanner(out).Scan() { // "mbserve pid ... listening"
		b.Fatal("mbserve did not start")
	}
	return cmd.Process.Pid, fmt.Sprintf("ws://127.0.0.1:%d/v1", port)
}

var (
	rateRE = regexp.MustCompile(`sessions=(\d+) \(([\d.]+)/s\).*server cpu ([\d.]+)s`)
	idleRE = regexp.MustCompile(`delta/conn=([\d.]+)KiB`)
	holdRE = regexp.MustCompile(`alive=(\d+)`)
)

func runMbbench(b *testing.B, bin string, args ...string) string {
	b.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("mbbench %v: %v\n%s", args, err, out)
	}
	b.Log(strings.TrimSpace(string(out)))
	return string(out)
}

func reportRate(b *testing.B, out string) {
	m := rateRE.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("unparsable mbbench output: %s", out)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	rate, _ := strconv.ParseFloat(m[2], 64)
	cpu, _ := strconv.ParseFloat(m[3], 64)
	b.ReportMetric(rate, "sessions/s")
	b.ReportMetric(cpu/n*1e6, "server-µs/session")
}

func BenchmarkMbbenchSessionRate(b *testing.B) {
	mbserve, mbbench := buildTools(b)
	for _, cfg := range []struct {
		name string
		args []string
	}{
		{"ours-memory", []string{"-db", "memory"}},
		{"ours-sqlite-full", []string{"-db", "FILE", "-sync", "FULL"}},
		{"ours-sqlite-normal", []string{"-db", "FILE", "-sync", "NORMAL"}},
	} {
		b.Run(cfg.name, func(b *testing.B) {
			for range b.N {
				args := append([]string(nil), cfg.args...)
				for i, a := range args {
					if a == "FILE" {
						args[i] = filepath.Join(b.TempDir(), "mailbox.sqlite")
					}
				}
				pid, url := startMbserve(b, mbserve, args...)
				reportRate(b, runMbbench(b, mbbench, "rtt", "-c", "64", "-d", "10s", "-pid", fmt.Sprint(pid), "-url", url))
			}
		})
	}
	peersDir := sharedPeers(b)
	for _, db := range []string{":memory:", "FILE"} {
		b.Run("reference-"+strings.Trim(strings.ToLower(db), ":"), func(b *testing.B) {
			for range b.N {
				state := b.TempDir()
				port, tport := freePort(b), freePort(b)
				cmd := exec.Command(filepath.Join(peersDir, "start-reference-servers.sh"), state, fmt.Sprint(port), fmt.Sprint(tport))
				if db == "FILE" {
					cmd.Env = append(os.Environ(), "PEERS_CHANNEL_DB="+filepath.Join(state, "channel.sqlite"))
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Skipf("reference servers: %v\n%s", err, out)
				}
				b.Cleanup(func() { exec.Command(filepath.Join(peersDir, "stop-reference-servers.sh"), state).Run() })
				pid, _ := os.ReadFile(filepath.Join(state, "mailbox.pid"))
				reportRate(b, runMbbench(b, mbbench, "rtt", "-c", "64", "-d", "10s", "-pid", strings.TrimSpace(string(pid)),
					"-url", fmt.Sprintf("ws://127.0.0.1:%d/v1", port)))
			}
		})
	}
}

// BenchmarkMbbenchIdleMemory opens N bound idle connections (N up to
// 19,000: the open-file limit is 20,000 per process) and reports the
// server's RSS growth per connection, with the default GC and GOGC=25.
func BenchmarkMbbenchIdleMemory(b *testing.B) {
	mbserve, mbbench := buildTools(b)
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("MBBENCH_IDLE_N")); err == nil {
		n = v
	}
	for _, gogc := range []string{"", "25"} {
		b.Run("GOGC="+cmp(gogc, "100"), func(b *testing.B) {
			for range b.N {
				if gogc != "" {
					b.Setenv("GOGC", gogc)
				}
				pid, url := startMbserve(b, mbserve, "-db", "memory")
				time.Sleep(200 * time.Millisecond)
				out := runMbbench(b, mbbench, "idle", "-n", fmt.Sprint(n), "-p", "64", "-hold", "5s", "-pid", fmt.Sprint(pid), "-url", url)
				m, h := idleRE.FindStringSubmatch(out), holdRE.FindStringSubmatch(out)
				if m == nil || h == nil || h[1] != fmt.Sprint(n) {
					b.Fatalf("unparsable or lost connections: %s", out)
				}
				kib, _ := strconv.ParseFloat(m[1], 64)
				b.ReportMetric(kib, "KiB/conn")
			}
		})
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
