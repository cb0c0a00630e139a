package main

import (
	"fmt"
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

// Session-rate benchmark of the real `relay serve` binary. A session is
// what the issue counts: connect, bind, allocate, claim, open, add, wait for
// the echo, release, close (shared/peers/bench/mbbench "rtt", a separate
// Go process with 64 concurrent clients). Four servers run one after the
// other in the same benchmark, each as its own process:
//
//   - durable: `relay serve --db FILE` (SQLite, synchronous=FULL, group commit)
//   - durable-normal: the same with --db-sync normal (WAL synchronous=NORMAL:
//     survives kill -9, not a power cut)
//   - memory:  `relay serve --db :memory:`
//   - reference: the Python mailbox server 0.4.1 (start-reference-servers.sh)
//
// and the benchmark reports sessions/s of each, the ratios to the reference,
// and the server's CPU µs per session (utime+stime from /proc).
//
//	scripts/bench-sessions.sh                       (builds relay, runs this)
//	go test -run '^$' -bench Sessions -benchtime 1x ./relay/
//
// Environment:
//
//	RELAY_BENCH_BIN      a built relay (default: go build ./relay into a temp dir)
//	RELAY_BENCH_PROFILE  directory: write cpu-durable.pprof and cpu-memory.pprof there
//	RELAY_BENCH_SECONDS  load duration per server (default 10)
//	RELAY_BENCH_CLIENTS  concurrent clients (default 64)
//
// The load generator shares the machine's cores with the server, so
// sessions/s is noisy: compare CPU per session and ratios within one run.

// buildBenchTools builds the relay (unless RELAY_BENCH_BIN names one) and a
// copy of mbbench (its own module, gorilla/websocket).
func buildBenchTools(b *testing.B) (relayBin, mbbench string) {
	b.Helper()
	dir := b.TempDir()
	relayBin = os.Getenv("RELAY_BENCH_BIN")
	if relayBin == "" {
		relayBin = filepath.Join(dir, "relay")
		if out, err := exec.Command("go", "build", "-o", relayBin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build ./relay: %v\n%s", err, out)
		}
	}
	src := filepath.Join(peers.SharedDir(), "peers", "bench", "mbbench")
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		if os.Getenv("CI") != "" {
			b.Fatal("shared/peers/bench/mbbench not found")
		}
		b.Skip("shared/peers/bench/mbbench not found")
	}
	// Build a copy: the shared directory is not ours to write go.sum into.
	cp := filepath.Join(dir, "mbbench-src")
	if err := os.MkdirAll(cp, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		if data, err := os.ReadFile(filepath.Join(src, f)); err == nil {
			if err := os.WriteFile(filepath.Join(cp, f), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	mbbench = filepath.Join(dir, "mbbench")
	cmd := exec.Command("go", "build", "-o", mbbench, ".")
	cmd.Dir = cp
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("build mbbench: %v\n%s", err, out)
	}
	return relayBin, mbbench
}

// mbbenchRE parses mbbench rtt's summary line.
var mbbenchRE = regexp.MustCompile(`sessions=(\d+) \(([\d.]+)/s\) fails=(\d+).*server cpu ([\d.]+)s`)

// sessionResult is one mbbench rtt run.
type sessionResult struct {
	sessions, fails int
	runs            int     // runs averaged into rate
	rate            float64 // sessions/s
	cpuPerSession   float64 // server CPU µs per session
}

func parseMbbench(out string) (sessionResult, error) {
	m := mbbenchRE.FindStringSubmatch(out)
	if m == nil {
		return sessionResult{}, fmt.Errorf("unparsable mbbench output: %q", out)
	}
	r := sessionResult{runs: 1}
	r.sessions, _ = strconv.Atoi(m[1])
	r.rate, _ = strconv.ParseFloat(m[2], 64)
	r.fails, _ = strconv.Atoi(m[3])
	cpu, _ := strconv.ParseFloat(m[4], 64)
	if r.sessions > 0 {
		r.cpuPerSession = cpu / float64(r.sessions) * 1e6
	}
	return r, nil
}

func TestParseMbbench(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sessionResult
		bad  bool
	}{
		{in: "rtt c=64 sessions=20000 (2000.0/s) fails=0  alloc..echo p50=1.00ms p90=2.00ms p99=3.00ms | full session p50=4.00ms p99=9.00ms | server cpu 9.00s over 10.0s (90%) rss=1KiB hwm=2KiB\n",
			want: sessionResult{sessions: 20000, runs: 1, rate: 2000, cpuPerSession: 450}},
		{in: "rtt c=1 sessions=10 (1.0/s) fails=3  x | server cpu 0.01s over 10.0s",
			want: sessionResult{sessions: 10, runs: 1, fails: 3, rate: 1, cpuPerSession: 1000}},
		{in: "session error: boom", bad: true},
	} {
		got, err := parseMbbench(tc.in)
		if (err != nil) != tc.bad {
			t.Fatalf("parseMbbench(%q) error %v", tc.in, err)
		}
		if !tc.bad && (got.sessions != tc.want.sessions || got.fails != tc.want.fails || got.rate != tc.want.rate ||
			fmt.Sprintf("%.3f", got.cpuPerSession) != fmt.Sprintf("%.3f", tc.want.cpuPerSession)) {
			t.Errorf("parseMbbench = %+v, want %+v", got, tc.want)
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// runSessionLoad runs mbbench rtt against url with the server's pid.
func runSessionLoad(b *testing.B, mbbench, url string, pid int) sessionResult {
	b.Helper()
	secs, clients := envInt("RELAY_BENCH_SECONDS", 10), envInt("RELAY_BENCH_CLIENTS", 64)
	out, err := exec.Command(mbbench, "rtt", "-c", fmt.Sprint(clients), "-d", fmt.Sprintf("%ds", secs),
		"-pid", fmt.Sprint(pid), "-url", url).CombinedOutput()
	if err != nil {
		b.Fatalf("mbbench: %v\n%s", err, out)
	}
	b.Log(strings.TrimSpace(string(out)))
	r, err := parseMbbench(string(out))
	if err != nil {
		b.Fatal(err)
	}
	if r.fails > 0 {
		b.Errorf("%d sessions failed", r.fails)
	}
	return r
}

func BenchmarkSessions(b *testing.B) {
	relayBin, mbbench := buildBenchTools(b)
	profDir := os.Getenv("RELAY_BENCH_PROFILE")
	results := map[string]sessionResult{}
	for range b.N {
		for _, name := range []string{"durable", "durable-normal", "memory"} {
			dir := b.TempDir()
			db := filepath.Join(dir, "relay.sqlite")
			if name == "memory" {
				db = ":memory:"
			}
			args := []string{"--db", db, "--admin-socket", "", "--log-level", "info"}
			if name == "durable-normal" {
				args = append(args, "--db-sync", "normal")
			}
			if profDir != "" {
				args = append(args, "--cpuprofile", filepath.Join(profDir, "cpu-"+name+".pprof"))
			}
			p := startRelayExe(b, relayBin, relayEnv(), dir, freeAddr(b), freeAddr(b), args...)
			r := runSessionLoad(b, mbbench, p.MailboxURL(), p.cmd.Process.Pid)
			if err := p.Stop(b); err != nil {
				b.Errorf("relay serve (%s) exit: %v\n%s", name, err, tail(p.out.String(), 2000))
			}
			accumulate(results, name, r)
		}
		ref := peers.StartReference(b, 0, 0)
		pidText, err := os.ReadFile(filepath.Join(ref.StateDir, "mailbox.pid"))
		if err != nil {
			b.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		accumulate(results, "reference", runSessionLoad(b, mbbench, ref.MailboxURL, pid))
	}
	refRate := results["reference"].rate
	for _, name := range []string{"durable", "durable-normal", "memory", "reference"} {
		r := results[name]
		b.ReportMetric(r.rate, "sessions/s-"+name)
		b.ReportMetric(r.cpuPerSession, "cpu-µs/session-"+name)
		ratio := r.rate / refRate
		if name != "reference" {
			b.ReportMetric(ratio, "ratio-"+name)
		}
		b.Logf("%-14s %8.1f sessions/s (%.2fx reference)  server %6.1f µs CPU per session  (%d sessions)",
			name, r.rate, ratio, r.cpuPerSession, r.sessions)
	}
}

// accumulate averages repeated runs (-benchtime Nx) into results[name].
func accumulate(results map[string]sessionResult, name string, r sessionResult) {
	old, ok := results[name]
	if !ok {
		results[name] = r
		return
	}
	n := old.sessions + r.sessions
	results[name] = sessionResult{
		sessions:      n,
		fails:         old.fails + r.fails,
		runs:          old.runs + r.runs,
		rate:          (old.rate*float64(old.runs) + r.rate*float64(r.runs)) / float64(old.runs+r.runs),
		cpuPerSession: (old.cpuPerSession*float64(old.sessions) + r.cpuPerSession*float64(r.sessions)) / float64(n),
	}
}
