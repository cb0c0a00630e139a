package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// Transit benchmarks: our relay and the reference relay (magic-wormhole-
// transit-relay 0.2.1, Twisted) run side by side in the same benchmark, each
// as its own process, with this test process as the load client. CPU time
// is the relay process's utime+stime from /proc/PID/stat.
//
//	go test -run '^$' -bench Transit -benchtime 1x ./relay/
//	scripts/bench-relay.sh

const gib = 1 << 30

// clkTck is USER_HZ, the unit of /proc/PID/stat times; 100 on every Linux
// architecture Go supports (sysconf needs cgo).
const clkTck = 100

// cpuSeconds is the user+system CPU time of process pid so far.
func cpuSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime 14, stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("parse /proc/%d/stat: %q", pid, b)
	}
	return (ut + st) / clkTck
}

// benchRelay is a relay under test: its transit address and process id.
type benchRelay struct {
	name string
	addr string
	pid  int
}

func startBenchRelays(b *testing.B) []benchRelay {
	b.Helper()
	peers.NeedPython(peers.NoSkip(b), "wormhole_transit_relay")
	ours := startRelay(b, "", freeAddr(b), freeAddr(b), "--db", ":memory:", "--admin-socket", "", "--log-level", "info")
	ref := peers.StartReference(peers.NoSkip(b), 0, 0)
	pidText, err := os.ReadFile(filepath.Join(ref.StateDir, "transit.pid"))
	if err != nil {
		b.Fatal(err)
	}
	refPID, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		b.Fatal(err)
	}
	return []benchRelay{
		{"wasmhole", ours.TCP, ours.cmd.Process.Pid},
		{"reference", ref.TransitAddr, refPID},
	}
}

// relayPair connects two clients to addr with a fresh token and waits for
// both "ok\n".
func relayPair(tb testing.TB, addr string) (a, c net.Conn) {
	tb.Helper()
	tok := make([]byte, 32)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	dial := func(side string) net.Conn {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(conn, "please relay %s for side %s\n", token, side)
		return conn
	}
	a, c = dial("aaaaaaaaaaaaaaaa"), dial("bbbbbbbbbbbbbbbb")
	for _, conn := range []net.Conn{a, c} {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if got := readN(tb, conn, 3); got != "ok\n" {
			tb.Fatalf("relay answered %q", got)
		}
		conn.SetReadDeadline(time.Time{})
	}
	return a, c
}

// pump sends n bytes from a to c and a short reply back, like a transfer
// and its ack, then closes both.
func pump(tb testing.TB, a, c net.Conn, n int64) {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		got, err := io.CopyBuffer(io.Discard, io.LimitReader(c, n), buf)
		if err == nil && got != n {
			err = fmt.Errorf("received %d of %d bytes", got, n)
		}
		if err == nil {
			_, err = c.Write([]byte("ack"))
		}
		done <- err
	}()
	buf := make([]byte, 1<<20)
	for sent := int64(0); sent < n; {
		k := min(int64(len(buf)), n-sent)
		if _, err := a.Write(buf[:k]); err != nil {
			tb.Errorf("send: %v", err)
			break
		}
		sent += k
	}
	if err := <-done; err != nil {
		tb.Error(err)
	}
	if got := readN(tb, a, 3); got != "ack" {
		tb.Errorf("ack %q", got)
	}
	a.Close()
	c.Close()
}

// BenchmarkTransitCPUPerGiB pumps 1 GiB per iteration through one pair of
// each relay and reports the relay process's CPU seconds per GiB.
func BenchmarkTransitCPUPerGiB(b *testing.B) {
	relays := startBenchRelays(b)
	cpu := map[string]float64{}
	for _, r := range relays {
		var secs, wall float64
		for range b.N {
			a, c := relayPair(b, r.addr)
			before, start := cpuSeconds(b, r.pid), time.Now()
			pump(b, a, c, gib)
			// Let the relay finish its side of the teardown.
			time.Sleep(100 * time.Millisecond)
			secs += cpuSeconds(b, r.pid) - before
			wall += time.Since(start).Seconds()
		}
		cpu[r.name] = secs / float64(b.N)
		b.ReportMetric(cpu[r.name], "cpu-s/GiB-"+r.name)
		b.ReportMetric(float64(b.N)*gib/wall/1e6, "MB/s-"+r.name)
		b.Logf("%-9s relay: %.3f CPU s per GiB, %.0f MB/s through one pair", r.name, cpu[r.name], float64(b.N)*gib/wall/1e6)
	}
	ratio := cpu["wasmhole"] / cpu["reference"]
	b.ReportMetric(ratio, "cpu-ratio")
	b.Logf("CPU per GiB, wasmhole/reference = %.3f (target ≤ 0.5)", ratio)
}

// BenchmarkTransitParallelPairs runs 50 pairs at once, 32 MiB each per
// iteration, and reports the aggregate throughput of each relay.
func BenchmarkTransitParallelPairs(b *testing.B) {
	const pairs, each = 50, 32 << 20
	relays := startBenchRelays(b)
	tput := map[string]float64{}
	for _, r := range relays {
		var wall, cpu float64
		for range b.N {
			conns := make([][2]net.Conn, pairs)
			for i := range conns {
				conns[i][0], conns[i][1] = relayPair(b, r.addr)
			}
			before, start := cpuSeconds(b, r.pid), time.Now()
			var wg sync.WaitGroup
			for _, p := range conns {
				wg.Add(1)
				go func() { defer wg.Done(); pump(b, p[0], p[1], each) }()
			}
			wg.Wait()
			wall += time.Since(start).Seconds()
			time.Sleep(100 * time.Millisecond)
			cpu += cpuSeconds(b, r.pid) - before
		}
		total := float64(b.N) * pairs * each
		tput[r.name] = total / wall / 1e6
		b.ReportMetric(tput[r.name], "MB/s-"+r.name)
		b.ReportMetric(cpu/(total/gib), "cpu-s/GiB-"+r.name)
		b.Logf("%-9s relay: %d parallel pairs, %.0f MB/s aggregate, %.3f CPU s per GiB", r.name, pairs, tput[r.name], cpu/(total/gib))
	}
	b.ReportMetric(tput["wasmhole"]/tput["reference"], "throughput-ratio")
	b.Logf("aggregate throughput, wasmhole/reference = %.2f", tput["wasmhole"]/tput["reference"])
}
