package transitnet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhole/wasmhole/relay/transit"
)

// startBridge runs a relay in bridge mode towards upstream ("host:port")
// and returns it as a testRelay whose wsURL is the bridge's /transit.
func startBridge(t testing.TB, upstream string, lim Limits) *testRelay {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(Options{Limits: lim, Upstream: upstream, Logger: logr.Discard(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testRelay{s: s, reg: reg, wsURL: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

// TestBridge: a WebSocket client of the bridge pairs with a TCP client of
// the upstream relay, and 4 MiB go each way intact.
func TestBridge(t *testing.T) {
	up := startRelay(t, Limits{})
	br := startBridge(t, up.tcpAddr, Limits{})
	ws := dialWS(t, br, lineFor(sideA))
	tcp := dialTCP(t, up, lineFor(sideB))
	expect(t, ws, "ok\n")
	expect(t, tcp, "ok\n")
	exchange(t, ws, tcp, 4<<20)
	up.waitMetric(t, 1, "wasmhole_transit_pairs_total", "transports", "tcp-tcp")
	br.waitMetric(t, 1, "wasmhole_transit_pairs_total", "transports", "upstream-websocket")
	br.waitMetric(t, 0, "wasmhole_transit_connections_open", "transport", "upstream")
	br.waitMetric(t, 0, "wasmhole_transit_connections_open", "transport", "websocket")
	t.Logf("bridge relayed %v bytes, upstream %v", br.metric(t, "wasmhole_transit_bytes_relayed_total"), up.metric(t, "wasmhole_transit_bytes_relayed_total"))
}

// TestBridgeBadHandshake: garbage is answered by the bridge itself and
// never reaches the upstream.
func TestBridgeBadHandshake(t *testing.T) {
	up := startRelay(t, Limits{})
	br := startBridge(t, up.tcpAddr, Limits{})
	ws := dialWS(t, br, "please relay nothing\n")
	expect(t, ws, "bad handshake\n")
	expectEOF(t, ws)
	if got := up.metric(t, "wasmhole_transit_connections_total", "transport", "tcp"); got != 0 {
		t.Fatalf("upstream saw %v connections", got)
	}
}

// TestBridgeUpstreamDown: an unreachable upstream closes the client with
// 1013 (try again later) and a reason.
func TestBridgeUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	br := startBridge(t, addr, Limits{})
	ws := dialWS(t, br, lineFor(sideA))
	_, err = ws.Read(make([]byte, 1))
	if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("read: %v, want close status 1013", err)
	}
	br.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "upstream")
}

// TestBridgeLimits: the byte cap and the per-address limits of the local
// relay apply to bridged clients.
func TestBridgeLimits(t *testing.T) {
	up := startRelay(t, Limits{})
	br := startBridge(t, up.tcpAddr, Limits{MaxBytesPerPair: 1 << 20, PerIPConns: 1})
	ws := dialWS(t, br, lineFor(sideA))
	tcp := dialTCP(t, up, lineFor(sideB))
	expect(t, ws, "ok\n")
	expect(t, tcp, "ok\n")
	// A second connection from the same address is refused before the
	// upgrade.
	_, resp, err := websocket.Dial(context.Background(), br.wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection: %v (%v), want HTTP 429", err, resp)
	}
	go tcp.Write(make([]byte, 4<<20))
	n, _ := ws.Read(make([]byte, 8<<20))
	total := int64(n)
	buf := make([]byte, 1<<20)
	for {
		n, err := ws.Read(buf)
		total += int64(n)
		if err != nil {
			break
		}
	}
	// "ok\n" came through the bridge too and counts against the cap.
	if total > 1<<20 {
		t.Fatalf("%d bytes passed a cap of %d", total, 1<<20)
	}
	br.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "byte_cap")
	t.Logf("byte cap 1 MiB: client got %d bytes, then the close", total)
}

// TestBridgeBackpressure: a bridged client that stops reading holds the
// upstream sender back instead of filling the bridge's memory.
func TestBridgeBackpressure(t *testing.T) {
	up := startRelay(t, Limits{})
	br := startBridge(t, up.tcpAddr, Limits{})
	ws := dialWS(t, br, lineFor(sideA))
	tcp := dialTCP(t, up, lineFor(sideB))
	expect(t, ws, "ok\n")
	expect(t, tcp, "ok\n")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sent := make(chan int64, 1)
	go func() {
		var n int64
		chunk := make([]byte, 256<<10)
		for {
			tcp.SetWriteDeadline(time.Now().Add(2 * time.Second))
			k, err := tcp.Write(chunk)
			n += int64(k)
			if err != nil {
				sent <- n
				return
			}
		}
	}()
	n := <-sent // the writer stalled for 2 s: nobody reads
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n > 64<<20 {
		t.Fatalf("%d bytes accepted from a sender whose receiver does not read", n)
	}
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("stalled after %d KiB in socket buffers; heap grew by %d KiB", n>>10, growth>>10)
	if growth > 16<<20 {
		t.Fatalf("heap grew by %d bytes while the client did not read", growth)
	}
	// The bytes still arrive once the client reads.
	got := int64(0)
	buf := make([]byte, 1<<20)
	for got < n {
		k, err := ws.Read(buf)
		got += int64(k)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", got, n, err)
		}
	}
}

// BenchmarkBridge moves 64 MiB from a WebSocket client to a TCP client
// per round, alternating two paths in the same run: "local", the pair
// formed in this relay (the reference), and "bridge", WebSocket into a
// bridge and on over TCP to an upstream relay that pairs it. The ceiling
// is a plain loopback TCP copy of the same bytes.
//
//	go test -run '^$' -bench Bridge -benchtime 10x ./relay/transitnet/
func BenchmarkBridge(b *testing.B) {
	const size = 64 << 20
	up := startRelay(b, Limits{})
	br := startBridge(b, up.tcpAddr, Limits{})
	chunk := make([]byte, 256<<10)
	round := func(ws *wsStream, tcp *tcpStream) time.Duration {
		expect(b, ws, "ok\n")
		expect(b, tcp, "ok\n")
		start := time.Now()
		go func() {
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := ws.Write(chunk); err != nil {
					return
				}
			}
		}()
		buf := make([]byte, 256<<10)
		for got := 0; got < size; {
			n, err := tcp.Read(buf)
			got += n
			if err != nil {
				b.Fatalf("after %d bytes: %v", got, err)
			}
		}
		d := time.Since(start)
		ws.Close()
		tcp.Close()
		return d
	}
	ceiling := func() time.Duration {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			defer c.Close()
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		c, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		buf := make([]byte, 256<<10)
		for got := 0; got < size; {
			n, err := c.Read(buf)
			got += n
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var local, bridged, raw time.Duration
	for i := range b.N {
		tok := fmt.Sprintf("%064x", i)
		line := func(side string) string { return transit.Request{Token: tok, Side: side}.String() }
		local += round(dialWS(b, up, line(sideA)), dialTCP(b, up, line(sideB)))
		bridged += round(dialWS(b, br, line(sideA)), dialTCP(b, up, line(sideB)))
		raw += ceiling()
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * size / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(local), "local-MB/s")
	b.ReportMetric(mbps(bridged), "bridge-MB/s")
	b.ReportMetric(mbps(raw), "tcp-ceiling-MB/s")
	b.ReportMetric(mbps(bridged)/mbps(local), "bridge/local")
	b.Logf("%d rounds of %d MiB: local pair %.0f MB/s, bridge %.0f MB/s (%.2f×), loopback TCP ceiling %.0f MB/s",
		b.N, size>>20, mbps(local), mbps(bridged), mbps(bridged)/mbps(local), mbps(raw))
}
