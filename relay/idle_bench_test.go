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

// BenchmarkIdleConns measures what an idle connection costs, exactly as
// the relay's target is stated: open N bound mailbox WebSocket connections
// to `relay serve` (the real binary, default flags, so the default durable
// SQLite store), hold them 10 s, and divide the growth of the relay
// process's VmRSS, from before the first connection to the end of the
// hold, by N. The reference mailbox server is measured the same way in the
// same run, each count interleaved ours/reference. The load comes from
// mbbench idle (shared/peers/bench/mbbench), a separate process.
//
//	scripts/bench-sessions.sh   (runs this and BenchmarkSessions)
//	go test -run '^$' -bench IdleConns -benchtime 1x ./relay/
//
// RELAY_BENCH_IDLE_CONNS is the list of counts (default "5000,15000"; the
// descriptor limit of 20,000 per process bounds it below 20,000). The
// reference is measured at the first count only, unless
// RELAY_BENCH_IDLE_REF=all: on a loaded 2-core machine it opens fewer than
// 150 connections a second, and 15,000 of them overrun mbbench's 115 s
// deadline.
func BenchmarkIdleConns(b *testing.B) {
	relayBin, mbbench := buildBenchTools(b)
	counts := idleCounts(b)
	type key struct {
		server string
		n      int
	}
	results := map[key][]idleResult{}
	refAll := os.Getenv("RELAY_BENCH_IDLE_REF") == "all"
	for range b.N {
		for i, n := range counts {
			dir := b.TempDir()
			p := startRelayExe(b, relayBin, relayEnv(), dir, freeAddr(b), freeAddr(b), "--log-level", "info")
			r := runIdle(b, mbbench, p.MailboxURL(), p.cmd.Process.Pid, n)
			if err := p.Stop(b); err != nil {
				b.Errorf("relay serve exit: %v\n%s", err, tail(p.out.String(), 2000))
			}
			results[key{"ours", n}] = append(results[key{"ours", n}], r)
			if i > 0 && !refAll {
				continue
			}
			ref := peers.StartReference(peers.NoSkip(b), 0, 0)
			pid := refMailboxPID(b, ref)
			time.Sleep(200 * time.Millisecond)
			results[key{"reference", n}] = append(results[key{"reference", n}], runIdle(b, mbbench, ref.MailboxURL, pid, n))
			stopReference(b, ref)
		}
	}
	for _, n := range counts {
		ours, ref := results[key{"ours", n}], results[key{"reference", n}]
		o := meanIdle(ours)
		b.ReportMetric(o.perConn, fmt.Sprintf("KiB/conn-ours-%d", n))
		if len(ref) == 0 {
			summaryf("%6d idle conns held 10 s: ours %5.1f KiB/conn (runs %s; after opening %.1f), reference not measured (RELAY_BENCH_IDLE_REF=all) (target ≤ 10 KiB)",
				n, o.perConn, idleRuns(ours), o.afterOpen)
			continue
		}
		r := meanIdle(ref)
		b.ReportMetric(r.perConn, fmt.Sprintf("KiB/conn-reference-%d", n))
		summaryf("%6d idle conns held 10 s: ours %5.1f KiB/conn (runs %s; after opening %.1f), reference %5.1f KiB/conn (runs %s), ratio %.2f (target ≤ 10 KiB)",
			n, o.perConn, idleRuns(ours), o.afterOpen, r.perConn, idleRuns(ref), o.perConn/r.perConn)
	}
}

// summaryf prints a benchmark's result line on stderr: go test keeps only
// the first lines a benchmark logs, and the results come last.
func summaryf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// idleResult is one mbbench idle run: VmRSS growth per connection at the
// end of the hold (the measure) and right after opening.
type idleResult struct {
	perConn, afterOpen float64 // KiB
}

var (
	idleOpenRE = regexp.MustCompile(`rss before=(\d+)KiB after=(\d+)KiB`)
	idleHoldRE = regexp.MustCompile(`after hold \S+: alive=(\d+) rss=(\d+)KiB`)
)

func parseIdle(out string, n int) (idleResult, error) {
	o, h := idleOpenRE.FindStringSubmatch(out), idleHoldRE.FindStringSubmatch(out)
	if o == nil || h == nil {
		return idleResult{}, fmt.Errorf("unparsable mbbench idle output: %q", out)
	}
	if alive, _ := strconv.Atoi(h[1]); alive != n {
		return idleResult{}, fmt.Errorf("%d of %d connections alive after the hold", alive, n)
	}
	before, _ := strconv.ParseFloat(o[1], 64)
	opened, _ := strconv.ParseFloat(o[2], 64)
	end, _ := strconv.ParseFloat(h[2], 64)
	return idleResult{perConn: (end - before) / float64(n), afterOpen: (opened - before) / float64(n)}, nil
}

func TestParseIdle(t *testing.T) {
	const out = "idle n=5000 parallel=64 open+bind all: 5.90s (847 conn/s) failed=0 per-conn p50=48.22ms p99=362.36ms max=574.31ms\n" +
		"server cpu during open: 1.31s; rss before=15000KiB after=65000KiB (hwm 75456KiB) delta/conn=10.0KiB\n" +
		"after hold 10s: alive=5000 rss=60000KiB server cpu total=1.62s\n"
	got, err := parseIdle(out, 5000)
	if err != nil || got != (idleResult{perConn: 9, afterOpen: 10}) {
		t.Errorf("parseIdle = %+v, %v", got, err)
	}
	if _, err := parseIdle(strings.Replace(out, "alive=5000", "alive=4999", 1), 5000); err == nil {
		t.Error("a lost connection was not reported")
	}
	if _, err := parseIdle("conn error: boom", 5000); err == nil {
		t.Error("garbage parsed")
	}
}

// runIdle runs mbbench idle with n connections against url, holding them
// 10 s (mbbench waits 2 s after opening, then holds, then pings each).
func runIdle(b *testing.B, mbbench, url string, pid, n int) idleResult {
	b.Helper()
	out, err := exec.Command(mbbench, "idle", "-n", fmt.Sprint(n), "-p", "64", "-hold", "10s",
		"-pid", fmt.Sprint(pid), "-url", url).CombinedOutput()
	if err != nil {
		b.Fatalf("mbbench idle: %v\n%s", err, out)
	}
	b.Log(strings.TrimSpace(string(out)))
	r, err := parseIdle(string(out), n)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func idleCounts(b *testing.B) []int {
	spec := os.Getenv("RELAY_BENCH_IDLE_CONNS")
	if spec == "" {
		spec = "5000,15000"
	}
	var counts []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 19000 {
			b.Fatalf("RELAY_BENCH_IDLE_CONNS=%q: counts must be 1..19000", spec)
		}
		counts = append(counts, n)
	}
	return counts
}

func meanIdle(rs []idleResult) idleResult {
	var m idleResult
	for _, r := range rs {
		m.perConn += r.perConn / float64(len(rs))
		m.afterOpen += r.afterOpen / float64(len(rs))
	}
	return m
}

func idleRuns(rs []idleResult) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.1f", r.perConn))
	}
	return strings.Join(s, " ")
}

// refMailboxPID is the reference mailbox server's process id.
func refMailboxPID(b *testing.B, ref *peers.Servers) int {
	b.Helper()
	text, err := os.ReadFile(filepath.Join(ref.StateDir, "mailbox.pid"))
	if err != nil {
		b.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(text)))
	if err != nil {
		b.Fatal(err)
	}
	return pid
}

// stopReference stops the reference servers now rather than at cleanup,
// so rounds do not pile up servers holding memory.
func stopReference(b *testing.B, ref *peers.Servers) {
	script := filepath.Join(peers.SharedDir(), "peers", "stop-reference-servers.sh")
	if out, err := exec.Command(script, ref.StateDir).CombinedOutput(); err != nil {
		b.Logf("stop-reference-servers.sh: %v\n%s", err, out)
	}
}
