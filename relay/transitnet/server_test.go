package transitnet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wasmhole/wasmhole/relay/transit"
)

type testRelay struct {
	s       *Server
	reg     *prometheus.Registry
	tcpAddr string
	wsURL   string
}

func startRelay(t testing.TB, lim Limits) *testRelay {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(Options{Limits: lim, Logger: logr.Discard(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeTCP(ctx, ln) }()
	mux := http.NewServeMux()
	mux.Handle("/transit", s)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testRelay{s: s, reg: reg, tcpAddr: ln.Addr().String(), wsURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/transit"}
}

// metric returns the value of a counter or gauge with the given labels.
func (r *testRelay) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == k && lp.GetValue() == v {
			return true
		}
	}
	return false
}

// waitMetric polls until the metric reaches want (goroutines finish
// asynchronously after the clients saw EOF).
func (r *testRelay) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.metric(t, name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stream is the client side of a relay connection as a plain byte stream.
type stream interface {
	io.ReadWriter
	closeWrite() error
	Close() error
}

type tcpStream struct {
	*net.TCPConn
	br *bufio.Reader
}

func (s *tcpStream) Read(p []byte) (int, error) { return s.br.Read(p) }
func (s *tcpStream) closeWrite() error          { return s.TCPConn.CloseWrite() }

// wsStream adapts a WebSocket client: writes become binary messages,
// reads concatenate messages (boundaries carry no meaning).
type wsStream struct {
	c   *websocket.Conn
	cur io.Reader
}

func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.c.Write(context.Background(), websocket.MessageBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.cur == nil {
			typ, r, err := s.c.Reader(context.Background())
			if err != nil {
				if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.MessageBinary {
				return 0, fmt.Errorf("relay sent message type %v", typ)
			}
			s.cur = r
		}
		n, err := s.cur.Read(p)
		if err == io.EOF {
			s.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (s *wsStream) closeWrite() error { return s.c.Close(websocket.StatusNormalClosure, "") }
func (s *wsStream) Close() error      { return s.c.CloseNow() }

func dialTCP(t testing.TB, r *testRelay, line string) *tcpStream {
	t.Helper()
	c, err := net.Dial("tcp", r.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if line != "" {
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
	}
	return &tcpStream{TCPConn: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

func dialWS(t testing.TB, r *testRelay, line string) *wsStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, r.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	if line != "" {
		if err := c.Write(ctx, websocket.MessageBinary, []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	return &wsStream{c: c}
}

func expect(t testing.TB, s io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("reading %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func expectEOF(t *testing.T, s io.Reader) {
	t.Helper()
	n, err := io.Copy(io.Discard, s)
	if n != 0 {
		t.Fatalf("%d unexpected bytes before the end", n)
	}
	_ = err // EOF, reset or close frame: all mean "closed"
}

var token = strings.Repeat("0123456789abcdef", 4)

func lineFor(side string) string {
	return transit.Request{Token: token, Side: side}.String()
}

const (
	sideA = "aaaaaaaaaaaaaaaa"
	sideB = "bbbbbbbbbbbbbbbb"
)

// exchange sends size random bytes each way at the same time, then the
// first stream half-closes, the second answers "ack" and closes, like a
// file transfer's final ack. It checks every byte by sha256.
func exchange(t *testing.T, a, b stream, size int) {
	t.Helper()
	dataA, dataB := make([]byte, size), make([]byte, size)
	rand.Read(dataA)
	rand.Read(dataB)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	recv := func(s stream, want []byte) {
		defer wg.Done()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(s, got); err != nil {
			errs <- err
			return
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			errs <- errors.New("data corrupted")
		}
	}
	send := func(s stream, data []byte) {
		defer wg.Done()
		// Uneven pieces: boundaries must not matter.
		for off, n := 0, 1; off < len(data); off, n = off+n, n*3%70001+1 {
			end := min(off+n, len(data))
			if _, err := s.Write(data[off:end]); err != nil {
				errs <- err
				return
			}
		}
	}
	wg.Add(4)
	go send(a, dataA)
	go send(b, dataB)
	go recv(a, dataB)
	go recv(b, dataA)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, aTCP := a.(*tcpStream)
	_, bTCP := b.(*tcpStream)
	if aTCP && bTCP {
		// TCP can half-close: b sees EOF and may still answer. (A WebSocket
		// has only a full close, so pairs with one cannot.)
		if err := a.closeWrite(); err != nil {
			t.Fatal(err)
		}
		expectEOF(t, b)
		if _, err := b.Write([]byte("ack")); err != nil {
			t.Fatal(err)
		}
		expect(t, a, "ack")
		b.Close()
		expectEOF(t, a)
		return
	}
	if _, err := b.Write([]byte("ack")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, "ack")
	a.closeWrite()
	expectEOF(t, b)
	b.Close()
}

func TestPairTransports(t *testing.T) {
	const size = 3 << 20
	tests := []struct {
		name   string
		dialer [2]string
	}{
		{"tcp-tcp", [2]string{"tcp", "tcp"}},
		{"ws-tcp", [2]string{"ws", "tcp"}},
		{"tcp-ws", [2]string{"tcp", "ws"}},
		{"ws-ws", [2]string{"ws", "ws"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, Limits{UnpairedTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second})
			dial := func(kind, side string) stream {
				if kind == "ws" {
					return dialWS(t, r, lineFor(side))
				}
				return dialTCP(t, r, lineFor(side))
			}
			a := dial(tt.dialer[0], sideA)
			r.waitMetric(t, 1, "wasmhole_transit_waiting")
			b := dial(tt.dialer[1], sideB)
			expect(t, a, "ok\n")
			expect(t, b, "ok\n")
			exchange(t, a, b, size)
			r.waitMetric(t, 1, "wasmhole_transit_sessions_total", "mood", "happy")
			r.waitMetric(t, 1, "wasmhole_transit_sessions_total", "mood", "jilted")
			if got := r.metric(t, "wasmhole_transit_bytes_relayed_total"); got != 2*size+3 {
				t.Fatalf("bytes relayed %v, want %v", got, 2*size+3)
			}
			kinds := map[string]string{"tcp-tcp": "tcp-tcp", "ws-tcp": "tcp-websocket", "tcp-ws": "tcp-websocket", "ws-ws": "websocket-websocket"}
			if got := r.metric(t, "wasmhole_transit_pairs_total", "transports", kinds[tt.name]); got != 1 {
				t.Fatalf("pairs{%s} %v", kinds[tt.name], got)
			}
			r.waitMetric(t, 0, "wasmhole_transit_connections_open", "transport", "tcp")
			r.waitMetric(t, 0, "wasmhole_transit_connections_open", "transport", "websocket")
			r.waitMetric(t, 0, "wasmhole_transit_pairs_active")
			for _, k := range ErrorKinds {
				if got := r.metric(t, "wasmhole_transit_errors_total", "kind", k); got != 0 {
					t.Errorf("errors{%s} = %v", k, got)
				}
			}
		})
	}
}

func TestHandshakeFailures(t *testing.T) {
	r := startRelay(t, Limits{UnpairedTimeout: 10 * time.Second})
	t.Run("tcp bad line", func(t *testing.T) {
		c := dialTCP(t, r, "please relay nope\n")
		expect(t, c, "bad handshake\n")
		expectEOF(t, c)
	})
	t.Run("tcp line too long", func(t *testing.T) {
		c := dialTCP(t, r, strings.Repeat("x", 1500))
		expect(t, c, "bad handshake\n")
		expectEOF(t, c)
	})
	t.Run("ws line with data", func(t *testing.T) {
		c := dialWS(t, r, lineFor(sideA)+"XYZ")
		expect(t, c, "bad handshake\n")
		expectEOF(t, c)
	})
	t.Run("ws text handshake", func(t *testing.T) {
		c := dialWS(t, r, "")
		if err := c.c.Write(context.Background(), websocket.MessageText, []byte(lineFor(sideA))); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.c.Read(context.Background())
		if websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
			t.Fatalf("want close 1003, got %v", err)
		}
	})
	t.Run("tcp impatient", func(t *testing.T) {
		c := dialTCP(t, r, lineFor(sideA)+"too early")
		expect(t, c, "impatient\n")
		expectEOF(t, c)
	})
	t.Run("tcp impatient after line", func(t *testing.T) {
		c := dialTCP(t, r, lineFor(sideA))
		r.waitMetric(t, 1, "wasmhole_transit_waiting")
		io.WriteString(c, "x")
		expect(t, c, "impatient\n")
		expectEOF(t, c)
	})
	t.Run("ws impatient", func(t *testing.T) {
		c := dialWS(t, r, lineFor(sideA))
		r.waitMetric(t, 1, "wasmhole_transit_waiting")
		c.Write([]byte("x"))
		expect(t, c, "impatient\n")
	})
	r.waitMetric(t, 3, "wasmhole_transit_errors_total", "kind", "impatient")
	r.waitMetric(t, 2, "wasmhole_transit_errors_total", "kind", "bad_handshake")
	r.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "line_too_long")
	r.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "text_message")
	r.waitMetric(t, 3, "wasmhole_transit_sessions_total", "mood", "impatient")
	r.waitMetric(t, 0, "wasmhole_transit_waiting")
}

func TestRedundantAndLegacy(t *testing.T) {
	r := startRelay(t, Limits{})
	a1 := dialTCP(t, r, lineFor(sideA))
	// a1 must be the oldest waiter: each connection's handshake is read
	// on its own goroutine, so dialling a2 before the relay registered a1
	// could let a2 overtake it.
	r.waitMetric(t, 1, "wasmhole_transit_waiting")
	a2 := dialWS(t, r, lineFor(sideA))
	r.waitMetric(t, 2, "wasmhole_transit_waiting")
	// A legacy unsided line pairs with the oldest waiter.
	b := dialTCP(t, r, transit.Request{Token: token}.String())
	expect(t, a1, "ok\n")
	expect(t, b, "ok\n")
	expectEOF(t, a2)
	r.waitMetric(t, 1, "wasmhole_transit_sessions_total", "mood", "redundant")
	exchange(t, a1, b, 1000)
}

func TestTimeoutsAndCap(t *testing.T) {
	t.Run("unpaired", func(t *testing.T) {
		r := startRelay(t, Limits{UnpairedTimeout: 200 * time.Millisecond})
		c := dialTCP(t, r, lineFor(sideA))
		w := dialWS(t, r, transit.Request{Token: strings.Repeat("f", 64), Side: sideA}.String())
		silent := dialTCP(t, r, "") // never sends a line
		expectEOF(t, c)
		if _, _, err := w.c.Read(context.Background()); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("ws: %v", err)
		}
		expectEOF(t, silent)
		r.waitMetric(t, 2, "wasmhole_transit_errors_total", "kind", "unpaired_timeout")
		r.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "handshake_timeout")
		r.waitMetric(t, 2, "wasmhole_transit_sessions_total", "mood", "lonely")
		r.waitMetric(t, 1, "wasmhole_transit_sessions_total", "mood", "errory")
	})
	t.Run("idle", func(t *testing.T) {
		// tcp-tcp trickles through splice, whose chunk never completes:
		// only the kernel's byte counter shows the progress.
		for _, kind := range []string{"ws", "tcp"} {
			// The timeout is ten of the test's 100 ms beats, so a loaded
			// machine that delays the test's writes does not close the pair.
			r := startRelay(t, Limits{IdleTimeout: time.Second})
			a := dialTCP(t, r, lineFor(sideA))
			var b stream
			if kind == "ws" {
				b = dialWS(t, r, lineFor(sideB))
			} else {
				b = dialTCP(t, r, lineFor(sideB))
			}
			expect(t, a, "ok\n")
			expect(t, b, "ok\n")
			// Traffic in one direction keeps the pair alive for both, for
			// longer than the timeout.
			for range 15 {
				time.Sleep(100 * time.Millisecond)
				a.Write([]byte("x"))
				expect(t, b, "x")
			}
			start := time.Now()
			expectEOF(t, a)
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("%s: idle close took %v", kind, d)
			}
			r.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "idle_timeout")
		}
	})
	t.Run("byte cap", func(t *testing.T) {
		for _, kinds := range [][2]string{{"tcp", "tcp"}, {"ws", "tcp"}} {
			r := startRelay(t, Limits{MaxBytesPerPair: 1000})
			var a stream
			if kinds[0] == "ws" {
				a = dialWS(t, r, lineFor(sideA))
			} else {
				a = dialTCP(t, r, lineFor(sideA))
			}
			b := dialTCP(t, r, lineFor(sideB))
			expect(t, a, "ok\n")
			expect(t, b, "ok\n")
			b.Write(make([]byte, 400))
			expect(t, a, string(make([]byte, 400)))
			go a.Write(make([]byte, 5000))
			n, _ := io.Copy(io.Discard, b)
			if n != 600 {
				t.Fatalf("%v: relayed %d bytes past a 1000-byte cap (400 used)", kinds, n)
			}
			r.waitMetric(t, 1, "wasmhole_transit_errors_total", "kind", "byte_cap")
			r.waitMetric(t, 1000, "wasmhole_transit_bytes_relayed_total")
		}
	})
	t.Run("linger", func(t *testing.T) {
		// Not waited for in full (30 s); only that a half-closed pair still
		// carries the other direction.
		r := startRelay(t, Limits{})
		a := dialTCP(t, r, lineFor(sideA))
		b := dialTCP(t, r, lineFor(sideB))
		expect(t, a, "ok\n")
		expect(t, b, "ok\n")
		a.CloseWrite()
		expectEOF(t, b)
		time.Sleep(200 * time.Millisecond)
		b.Write([]byte("late"))
		expect(t, a, "late")
	})
}

func TestPerIPLimits(t *testing.T) {
	r := startRelay(t, Limits{PerIPConns: 1})
	first := dialTCP(t, r, lineFor(sideA))
	r.waitMetric(t, 1, "wasmhole_transit_waiting")
	second := dialTCP(t, r, lineFor(sideB))
	expectEOF(t, second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, r.wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("ws over the limit: %v %v", err, resp)
	}
	r.waitMetric(t, 2, "wasmhole_transit_errors_total", "kind", "per_ip_conns")
	first.Close()
	r.waitMetric(t, 0, "wasmhole_transit_waiting")
	// The slot is free again.
	third := dialTCP(t, r, lineFor(sideA))
	r.waitMetric(t, 1, "wasmhole_transit_waiting")
	third.Close()

	// Loopback exemption (the relay command's default).
	r2 := startRelay(t, Limits{PerIPConns: 1, ExemptLoopback: true})
	dialTCP(t, r2, lineFor(sideA))
	dialTCP(t, r2, lineFor(sideA))
	r2.waitMetric(t, 2, "wasmhole_transit_waiting")
}

func TestShutdownGoingAway(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Options{Logger: logr.Discard(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeTCP(ctx, ln) }()
	r := &testRelay{s: s, reg: reg, tcpAddr: ln.Addr().String(), wsURL: "ws" + strings.TrimPrefix(hs.URL, "http")}
	waiting := dialWS(t, r, lineFor(sideA))
	a := dialWS(t, r, transit.Request{Token: strings.Repeat("e", 64), Side: sideA}.String())
	b := dialTCP(t, r, transit.Request{Token: strings.Repeat("e", 64), Side: sideB}.String())
	expect(t, a, "ok\n")
	expect(t, b, "ok\n")
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	got := make(chan error, 2)
	for i, w := range []*wsStream{waiting, a} {
		go func() { _, _, err := w.c.Read(context.Background()); got <- fmt.Errorf("client %d: %w", i, err) }()
	}
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-got; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("want 1001 going away, got %v", err)
		}
	}
	expectEOF(t, b)
	if _, err := net.Dial("tcp", r.tcpAddr); err == nil {
		t.Fatal("listener still accepting")
	}
}

// TestBackpressure: a receiver that stops reading must stall the sender
// instead of making the relay buffer without bound.
func TestBackpressure(t *testing.T) {
	for _, kind := range []string{"tcp", "ws"} {
		t.Run(kind, func(t *testing.T) {
			r := startRelay(t, Limits{})
			var a stream
			if kind == "ws" {
				a = dialWS(t, r, lineFor(sideA))
			} else {
				a = dialTCP(t, r, lineFor(sideA))
			}
			b := dialTCP(t, r, lineFor(sideB))
			expect(t, a, "ok\n")
			expect(t, b, "ok\n")
			var sent atomicCounter
			go func() {
				chunk := make([]byte, 64<<10)
				for {
					if _, err := a.Write(chunk); err != nil {
						return
					}
					sent.add(len(chunk))
				}
			}()
			time.Sleep(time.Second)
			s1 := sent.get()
			time.Sleep(500 * time.Millisecond)
			s2 := sent.get()
			// Socket buffers hold some MiB at most; the writer must stall.
			if s2 != s1 || s2 > 64<<20 {
				t.Fatalf("sender not stalled: %d then %d bytes", s1, s2)
			}
			// Draining b lets everything through.
			got, err := io.CopyN(io.Discard, b, int64(s2))
			if err != nil || got != int64(s2) {
				t.Fatalf("drain: %d %v", got, err)
			}
		})
	}
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) add(n int) { c.mu.Lock(); c.n += n; c.mu.Unlock() }
func (c *atomicCounter) get() int  { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func TestStats(t *testing.T) {
	r := startRelay(t, Limits{})
	// WebSocket on one side: counted per message, not per splice chunk.
	a := dialWS(t, r, lineFor(sideA))
	r.waitMetric(t, 1, "wasmhole_transit_waiting")
	b := dialTCP(t, r, lineFor(sideB))
	expect(t, a, "ok\n")
	expect(t, b, "ok\n")
	a.Write(bytes.Repeat([]byte("z"), 10))
	expect(t, b, strings.Repeat("z", 10))
	st := r.s.Stats()
	if st.Open != 2 || st.ActivePairs != 1 || st.TotalPairs != 1 || st.BytesRelayed != 10 || st.Waiting != 0 {
		t.Fatalf("%+v", st)
	}
	r.s.SetLimits(Limits{IdleTimeout: time.Minute, PerIPConns: 7})
	if l := r.s.CurrentLimits(); l.IdleTimeout != time.Minute || l.PerIPConns != 7 {
		t.Fatalf("%+v", l)
	}
}

// TestMessageSizeToWebSocket: a TCP sender that keeps the relay's buffer
// full reaches a WebSocket receiver in messages larger than the 64 KiB
// buffer (a browser's cost is per message), and a trickle afterwards still
// arrives at once, byte for byte.
func TestMessageSizeToWebSocket(t *testing.T) {
	r := startRelay(t, Limits{})
	a := dialTCP(t, r, lineFor(sideA))
	b := dialWS(t, r, lineFor(sideB))
	expect(t, a, "ok\n")
	expect(t, b, "ok\n")
	const size = 32 << 20
	go func() {
		buf := bytes.Repeat([]byte{7}, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := a.Write(buf); err != nil {
				return
			}
		}
	}()
	largest, got := 0, 0
	for got < size {
		typ, msg, err := b.c.Read(context.Background())
		if err != nil || typ != websocket.MessageBinary {
			t.Fatalf("after %d bytes: %v %v", got, typ, err)
		}
		if bytes.Count(msg, []byte{7}) != len(msg) {
			t.Fatalf("corrupt message at %d", got)
		}
		got += len(msg)
		largest = max(largest, len(msg))
	}
	t.Logf("32 MiB TCP -> WebSocket: largest message %d KiB", largest>>10)
	if got != size || largest <= copyBufSize || largest > bigBufSize {
		t.Fatalf("got %d bytes, largest message %d, want %d bytes in messages up to %d", got, largest, size, bigBufSize)
	}
	// The pair drops back to the small buffer; small writes pass as they come.
	for i := range 3 {
		msg := []byte(fmt.Sprintf("trickle %d", i))
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		expect(t, b, string(msg))
	}
}
