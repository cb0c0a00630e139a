package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// Session benchmark of the real `relay serve` binary. A session is what
// the issue counts: connect, bind, allocate, claim, open, add, wait for the
// echo, release, close (shared/peers/bench/mbbench "rtt", a separate Go
// process; 64 and 8 concurrent clients). Four servers run one after the
// other in the same benchmark, each as its own process:
//
//   - durable: `relay serve --db FILE` (SQLite, --db-sync full: every reply
//     waits for the flush of what it reveals)
//   - durable-normal: the same with --db-sync normal (WAL synchronous=NORMAL:
//     survives kill -9, not a power cut)
//   - memory:  `relay serve --db :memory:`
//   - reference: the Python mailbox server 0.4.1 (start-reference-servers.sh)
//
// and the benchmark reports, per concurrency, sessions/s of each, the
// server's CPU µs per session (utime+stime from /proc), the p99 latency from
// allocate to the client's own message coming back (and of the whole
// session), the ratios to the reference, and for the durable rows the disk
// flushes per session and their mean duration (the physical floor of the
// latency: allocate and add each wait for a flush that starts after them).
//
//	scripts/bench-sessions.sh                       (builds relay, runs this)
//	go test -run '^$' -bench Sessions -benchtime 1x ./relay/
//
// Environment:
//
//	RELAY_BENCH_BIN      a built relay (default: go build ./relay into a temp dir)
//	MBBENCH_BIN          a built mbbench (default: built into a temp dir)
//	RELAY_BENCH_PROFILE  directory: write cpu-SERVER-cN.pprof there
//	RELAY_BENCH_SECONDS  load duration per server (default 10)
//	RELAY_BENCH_CLIENTS  list of concurrencies (default "64,8")
//
// The load generator shares the machine's cores with the server, so
// sessions/s is noisy: compare CPU per session and ratios within one run,
// and repeat rounds (-benchtime 3x interleaves them).

// buildBenchTools builds the relay (unless RELAY_BENCH_BIN names one) and
// mbbench (unless MBBENCH_BIN names one). Its modules were downloaded by
// TestMain before entering the namespace; anything missing fails the
// benchmark: a benchmark that skips would print PASS and no figures.
func buildBenchTools(b *testing.B) (relayBin, mbbench string) {
	b.Helper()
	relayBin = os.Getenv("RELAY_BENCH_BIN")
	if relayBin == "" {
		relayBin = filepath.Join(b.TempDir(), "relay")
		cmd := exec.Command("go", "build", "-o", relayBin, ".")
		if peers.InNetns() {
			cmd.Env = append(os.Environ(), "GOPROXY=off")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build ./relay: %v\n%s", err, out)
		}
	}
	return relayBin, peers.BuildMbbench(b)
}

// mbbenchRE parses mbbench rtt's summary line.
var mbbenchRE = regexp.MustCompile(`sessions=(\d+) \(([\d.]+)/s\) fails=(\d+).*?alloc\.\.echo .*?p99=([\d.]+)ms \| full session .*?p99=([\d.]+)ms.*server cpu ([\d.]+)s`)

// sessionResult is one mbbench rtt run.
type sessionResult struct {
	sessions, fails int
	rate            float64 // sessions/s
	cpuPerSession   float64 // server CPU µs per session
	// p99 latency in ms of allocate..echo (allocate, claim, open, add,
	// until the client sees its message) and of the whole session.
	p99Proto, p99Full float64
	// flushes per session and the mean flush time in ms (ours, durable)
	flushes, flushMs float64
}

func parseMbbench(out string) (sessionResult, error) {
	m := mbbenchRE.FindStringSubmatch(out)
	if m == nil {
		return sessionResult{}, fmt.Errorf("unparsable mbbench output: %q", out)
	}
	var r sessionResult
	r.sessions, _ = strconv.Atoi(m[1])
	r.rate, _ = strconv.ParseFloat(m[2], 64)
	r.fails, _ = strconv.Atoi(m[3])
	r.p99Proto, _ = strconv.ParseFloat(m[4], 64)
	r.p99Full, _ = strconv.ParseFloat(m[5], 64)
	cpu, _ := strconv.ParseFloat(m[6], 64)
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
			want: sessionResult{sessions: 20000, rate: 2000, cpuPerSession: 450, p99Proto: 3, p99Full: 9}},
		{in: "rtt c=1 sessions=10 (1.0/s) fails=3  alloc..echo p50=1.00ms p90=2.00ms p99=13.50ms | full session p50=4.00ms p99=29.25ms | server cpu 0.01s over 10.0s",
			want: sessionResult{sessions: 10, fails: 3, rate: 1, cpuPerSession: 1000, p99Proto: 13.5, p99Full: 29.25}},
		{in: "session error: boom", bad: true},
	} {
		got, err := parseMbbench(tc.in)
		if (err != nil) != tc.bad {
			t.Fatalf("parseMbbench(%q) error %v", tc.in, err)
		}
		if !tc.bad && (got.sessions != tc.want.sessions || got.fails != tc.want.fails || got.rate != tc.want.rate ||
			got.p99Proto != tc.want.p99Proto || got.p99Full != tc.want.p99Full ||
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

// benchClients is the list of concurrencies (RELAY_BENCH_CLIENTS).
func benchClients(b *testing.B) []int {
	spec := os.Getenv("RELAY_BENCH_CLIENTS")
	if spec == "" {
		spec = "64,8"
	}
	var cs []int
	for _, f := range strings.Split(spec, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			b.Fatalf("RELAY_BENCH_CLIENTS=%q: want a list of client counts", spec)
		}
		cs = append(cs, c)
	}
	return cs
}

// runSessionLoad runs mbbench rtt with clients concurrent clients against
// url with the server's pid.
func runSessionLoad(b *testing.B, mbbench, url string, pid, clients int) sessionResult {
	b.Helper()
	secs := envInt("RELAY_BENCH_SECONDS", 10)
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

// syncRE reads the flush histogram's sum and count from /metrics.
var syncRE = regexp.MustCompile(`(?m)^wasmhole_mailbox_store_sync_seconds_(sum|count) (\S+)$`)

// flushStats is the relay's flush count and total flush seconds so far.
func flushStats(b *testing.B, p *relayProc) (count, secs float64) {
	resp, err := http.Get("http://" + p.HTTP + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range syncRE.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "count" {
			count = v
		} else {
			secs = v
		}
	}
	return count, secs
}

// sessionServers are the rows of BenchmarkSessions: our relay's extra
// flags per row, and the reference.
var sessionServers = []struct {
	name string
	args []string
}{
	{"durable", nil},
	{"durable-normal", []string{"--db-sync", "normal"}},
	{"memory", []string{"--db", ":memory:"}},
	{"reference", nil},
}

func BenchmarkSessions(b *testing.B) {
	relayBin, mbbench := buildBenchTools(b)
	profDir := os.Getenv("RELAY_BENCH_PROFILE")
	clients := benchClients(b)
	type key struct {
		server  string
		clients int
	}
	results := map[key][]sessionResult{}
	for range b.N {
		for _, srv := range sessionServers {
			if srv.name == "reference" {
				ref := peers.StartReference(peers.NoSkip(b), 0, 0)
				pid := refMailboxPID(b, ref)
				time.Sleep(200 * time.Millisecond)
				for _, c := range clients {
					k := key{srv.name, c}
					results[k] = append(results[k], runSessionLoad(b, mbbench, ref.MailboxURL, pid, c))
				}
				stopReference(b, ref)
				continue
			}
			for _, c := range clients {
				dir := b.TempDir()
				args := append([]string{"--db", filepath.Join(dir, "relay.sqlite"), "--admin-socket", "", "--log-level", "info"}, srv.args...)
				if profDir != "" {
					args = append(args, "--cpuprofile", filepath.Join(profDir, fmt.Sprintf("cpu-%s-c%d.pprof", srv.name, c)))
				}
				p := startRelayExe(b, relayBin, relayEnv(), dir, freeAddr(b), freeAddr(b), args...)
				n0, s0 := flushStats(b, p)
				r := runSessionLoad(b, mbbench, p.MailboxURL(), p.cmd.Process.Pid, c)
				n1, s1 := flushStats(b, p)
				if n1 > n0 && r.sessions > 0 {
					r.flushes, r.flushMs = (n1-n0)/float64(r.sessions), (s1-s0)/(n1-n0)*1e3
				}
				if err := p.Stop(b); err != nil {
					b.Errorf("relay serve (%s) exit: %v\n%s", srv.name, err, tail(p.out.String(), 2000))
				}
				k := key{srv.name, c}
				results[k] = append(results[k], r)
			}
		}
	}
	p50, p99 := diskFlushLatency(b)
	b.ReportMetric(float64(p99.Microseconds())/1e3, "disk-flush-p99-ms")
	summaryf("disk: a 4 KiB write + flush on this file system takes p50 %.2f ms, p99 %.2f ms (the floor under a durable reply: "+
		"allocate..echo waits for two flushes)", float64(p50.Microseconds())/1e3, float64(p99.Microseconds())/1e3)
	for _, c := range clients {
		ref := meanSessions(results[key{"reference", c}])
		for _, srv := range sessionServers {
			rs := results[key{srv.name, c}]
			r := meanSessions(rs)
			suffix := fmt.Sprintf("-%s-c%d", srv.name, c)
			b.ReportMetric(r.rate, "sessions/s"+suffix)
			b.ReportMetric(r.cpuPerSession, "cpu-µs/session"+suffix)
			b.ReportMetric(r.p99Proto, "p99-ms"+suffix)
			flush := ""
			if r.flushes > 0 && r.flushMs > 0 { // --db-sync normal counts empty flushes
				flush = fmt.Sprintf("; %.2f flushes/session of %.2f ms", r.flushes, r.flushMs)
			}
			summaryf("c=%-3d %-14s %7.1f sessions/s (%.2fx reference)  %6.1f µs CPU/session  p99 allocate..echo %6.2f ms (%.2fx reference; runs %s), full session %6.2f ms%s",
				c, srv.name, r.rate, r.rate/ref.rate, r.cpuPerSession, r.p99Proto, r.p99Proto/ref.p99Proto,
				sessionRuns(rs), r.p99Full, flush)
		}
	}
}

// diskFlushLatency times 4 KiB overwrites, each followed by a flush, in
// a temporary file for about 3 s: the physical floor of durable replies.
func diskFlushLatency(b *testing.B) (p50, p99 time.Duration) {
	f, err := os.Create(filepath.Join(b.TempDir(), "flush"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for end, i := time.Now().Add(3*time.Second), 0; time.Now().Before(end) && i < 3000; i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(page, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// meanSessions averages runs (rates, CPU and p99s alike).
func meanSessions(rs []sessionResult) sessionResult {
	var m sessionResult
	n := float64(len(rs))
	for _, r := range rs {
		m.sessions += r.sessions
		m.fails += r.fails
		m.rate += r.rate / n
		m.cpuPerSession += r.cpuPerSession / n
		m.p99Proto += r.p99Proto / n
		m.p99Full += r.p99Full / n
		m.flushes += r.flushes / n
		m.flushMs += r.flushMs / n
	}
	return m
}

// sessionRuns lists each run's p99 allocate..echo.
func sessionRuns(rs []sessionResult) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.1f", r.p99Proto))
	}
	return strings.Join(s, " ")
}
