//go:build !js

package transitnet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/peers"
	"github.com/wasmhole/wasmhole/internal/relaytest"
)

// As root the tests run in a private network namespace (peers.Main), so
// the reference relay's ports are ours alone; there Listen offers
// 198.18.0.1.
func TestMain(m *testing.M) { peers.Main(m) }

func newKey(t testing.TB) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func tcpRelay(t testing.TB, addr string) transit.RelayHint {
	t.Helper()
	r, err := transit.ParseRelay("tcp:" + addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func localHint(l *Listener) transit.DirectHint {
	return transit.DirectHint{Hostname: "127.0.0.1", Port: l.Port()}
}

type side struct {
	cfg Config
	l   *Listener
}

// connectPair runs both sides' Connect at once and returns their
// connections. The contexts end as soon as Connect returns, to show the
// connections do not depend on them.
func connectPair(t testing.TB, s, r side) (sc, rc *Conn) {
	t.Helper()
	s.cfg.Sender, r.cfg.Sender = true, false
	var wg sync.WaitGroup
	var serr, rerr error
	var sconn, rconn net.Conn
	run := func(sd side, out *net.Conn, errp *error) {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		*out, *errp = Connect(ctx, sd.cfg, sd.l)
	}
	wg.Add(2)
	go run(s, &sconn, &serr)
	go run(r, &rconn, &rerr)
	wg.Wait()
	if serr != nil || rerr != nil {
		if sconn != nil {
			sconn.Close()
		}
		if rconn != nil {
			rconn.Close()
		}
		t.Fatalf("connect: sender %v, receiver %v", serr, rerr)
	}
	t.Cleanup(func() { sconn.Close(); rconn.Close() })
	return sconn.(*Conn), rconn.(*Conn)
}

// transfer streams size random bytes sender -> receiver through the record
// layer, then the receiver acks with the sha256 like the file-transfer
// protocol, and checks both ends agree.
func transfer(t testing.TB, key []byte, sc, rc net.Conn, size int64, recordSize int) {
	t.Helper()
	sendKey, sendRecv := transit.RecordKeys(key, true)
	recvSend, recvKey := transit.RecordKeys(key, false)
	errc := make(chan error, 1)
	var sent [32]byte
	go func() {
		h := sha256.New()
		w := transit.NewWriterSize(sc, sendKey, recordSize)
		src := io.TeeReader(io.LimitReader(fastRand{}, size), h)
		if _, err := io.Copy(w, src); err != nil {
			errc <- err
			return
		}
		copy(sent[:], h.Sum(nil))
		ack, err := transit.NewReader(sc, sendRecv, 0).ReadRecord()
		if err != nil {
			errc <- fmt.Errorf("sender reading ack: %w", err)
			return
		}
		var a struct{ Ack, Sha256 string }
		if err := json.Unmarshal(ack, &a); err != nil || a.Ack != "ok" || a.Sha256 != hex.EncodeToString(sent[:]) {
			errc <- fmt.Errorf("bad ack %q (%v), sent %x", ack, err, sent)
			return
		}
		errc <- nil
	}()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(transit.NewReader(rc, recvKey, 0), size))
	if err != nil || n != size {
		t.Fatalf("receiver got %d of %d bytes: %v", n, size, err)
	}
	ack := fmt.Sprintf(`{"ack": "ok", "sha256": "%x"}`, h.Sum(nil))
	if err := transit.NewWriter(rc, recvSend).WriteRecord([]byte(ack)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// fastRand is a cheap endless byte source, so benchmarks measure transit.
type fastRand struct{}

func (fastRand) Read(p []byte) (int, error) {
	var v uint64
	for i := range p {
		if i%8 == 0 {
			v = mrand.Uint64()
		}
		p[i] = byte(v)
		v >>= 8
	}
	return len(p), nil
}

func TestListenHints(t *testing.T) {
	l, hints, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seen6 := false
	for _, h := range hints {
		ip := net.ParseIP(h.Hostname)
		if ip == nil || ip.IsLoopback() || h.Port != l.Port() {
			t.Errorf("bad hint %+v (port %d)", h, l.Port())
		}
		if ip.To4() == nil {
			seen6 = true
		} else if seen6 {
			t.Errorf("IPv4 hint %s after an IPv6 one", h.Hostname)
		}
	}
	if peers.InNetns() && (len(hints) != 1 || hints[0].Hostname != peers.DirectAddr) {
		t.Errorf("inside the namespace the hints should be %s only: %+v", peers.DirectAddr, hints)
	}
	// Every hint reaches the listener.
	for _, h := range hints {
		c, err := net.DialTimeout("tcp", h.Addr(), 2*time.Second)
		if err != nil {
			t.Errorf("dial %s: %v", h.Addr(), err)
			continue
		}
		c.Close()
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	fake := []net.Addr{
		&net.IPNet{IP: net.ParseIP("fe80::1")}, &net.IPNet{IP: net.ParseIP("2001:db8::5")},
		&net.IPNet{IP: net.ParseIP("127.0.0.1")}, &net.IPNet{IP: net.ParseIP("::1")},
		&net.IPNet{IP: net.ParseIP("192.168.1.5")}, &net.IPAddr{IP: net.ParseIP("10.0.0.1")},
		&net.IPNet{IP: net.ParseIP("0.0.0.0")},
	}
	got := directHints(fake, 7)
	want := []transit.DirectHint{{Hostname: "192.168.1.5", Port: 7}, {Hostname: "2001:db8::5", Port: 7}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("directHints = %+v, want %+v", got, want)
	}
}

// Both sides listen on 127.0.0.1 and dial each other: two connections
// race, the sender picks one and both must end up on the same one.
func TestDirect(t *testing.T) {
	key := newKey(t)
	ls, _, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	lr, _, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	s := side{Config{TransitKey: key, Peer: transit.Hints{Direct: []transit.DirectHint{localHint(lr)}}}, ls}
	r := side{Config{TransitKey: key, Peer: transit.Hints{Direct: []transit.DirectHint{localHint(ls)}}}, lr}
	sc, rc := connectPair(t, s, r)
	if sc.Relay || rc.Relay {
		t.Errorf("relayed: %s / %s", sc.Desc, rc.Desc)
	}
	// The sender's end and the receiver's end are one TCP connection.
	if sc.LocalAddr().String() != rc.RemoteAddr().String() {
		t.Errorf("sender %s (%s) and receiver %s (%s) use different connections", sc.LocalAddr(), sc.Desc, rc.RemoteAddr(), rc.Desc)
	}
	transfer(t, key, sc, rc, 3<<20+17, transit.MaxPlain)
	// Connect closed both listeners.
	if c, err := net.DialTimeout("tcp", localHint(ls).Addr(), time.Second); err == nil {
		c.Close()
		t.Error("sender's listener still accepts after Connect")
	}
}

// TestLeftover: a sender that writes its handshake, "go\n" and the first
// records in one burst; the records read past "go\n" must come out of the
// returned connection first.
func TestLeftover(t *testing.T) {
	key := newKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sendKey, _ := transit.RecordKeys(key, true)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		want := transit.ReceiverHandshake(key)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(want) {
			t.Errorf("fake sender read %q, %v", got, err)
			return
		}
		var burst bytes.Buffer
		burst.Write(transit.SenderHandshake(key))
		burst.WriteString("go\n")
		w := transit.NewWriter(&burst, sendKey)
		w.WriteRecord([]byte("first"))
		w.WriteRecord([]byte("second"))
		c.Write(burst.Bytes())
		io.Copy(io.Discard, c) // hold the connection open
	}()
	hint := transit.DirectHint{Hostname: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
	nc, err := Connect(context.Background(), Config{TransitKey: key, Peer: transit.Hints{Direct: []transit.DirectHint{hint}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if n := len(nc.(*Conn).pending); n == 0 {
		t.Fatal("no leftover: the burst was split, the test proves nothing")
	}
	_, recvKey := transit.RecordKeys(key, false)
	r := transit.NewReader(nc, recvKey, 0)
	for _, want := range []string{"first", "second"} {
		if got, err := r.ReadRecord(); string(got) != want || err != nil {
			t.Fatalf("record %q, %v; want %q", got, err, want)
		}
	}
}

// TestReferenceRelay: both sides through the real Python transit relay
// (magic-wormhole-transit-relay 0.2.1), which pairs them by token.
func TestReferenceRelay(t *testing.T) {
	srv := peers.StartReference(t, 0, 0)
	key := newKey(t)
	relays := []transit.RelayHint{tcpRelay(t, srv.TransitAddr)}
	s := side{cfg: Config{TransitKey: key, Relays: relays}}
	// The receiver learns the relay only from the sender's hints.
	r := side{cfg: Config{TransitKey: key, Peer: transit.Hints{Relays: relays}}}
	sc, rc := connectPair(t, s, r)
	want := "relay tcp:" + srv.TransitAddr
	if !sc.Relay || !rc.Relay || sc.Desc != want || rc.Desc != want {
		t.Errorf("paths %q / %q, want %q", sc.Desc, rc.Desc, want)
	}
	const size = 5<<20 + 3
	transfer(t, key, sc, rc, size, transit.MaxPlain)
	sc.Close()
	rc.Close()
	waitRelayed(t, srv, size)
}

// waitRelayed waits for the relay's usage line for our session.
func waitRelayed(t *testing.T, srv *peers.Servers, atLeast int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(srv.StateDir + "/transit-usage.jsonl")
		for _, line := range strings.Split(string(b), "\n") {
			var u struct {
				Mood       string `json:"mood"`
				TotalBytes int64  `json:"total_bytes"`
			}
			if json.Unmarshal([]byte(line), &u) == nil && u.Mood == "happy" && u.TotalBytes >= atLeast {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay logged no happy session with >= %d bytes:\n%s", atLeast, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDeadDirectRelayWins: the sender's direct hints lead nowhere, so the
// relay must carry the transfer. A refused port fails fast (and the relay
// is dialled at once); a port that accepts but never answers holds until
// the relay delay.
func TestDeadDirectRelayWins(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedHint := transit.DirectHint{Hostname: "127.0.0.1", Port: refused.Addr().(*net.TCPAddr).Port}
	refused.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accept and say nothing
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	silentHint := transit.DirectHint{Hostname: "127.0.0.1", Port: silent.Addr().(*net.TCPAddr).Port}

	for _, tc := range []struct {
		name  string
		hints []transit.DirectHint
	}{
		{"refused", []transit.DirectHint{refusedHint}},
		{"silent", []transit.DirectHint{silentHint, refusedHint}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey(t)
			relays := []transit.RelayHint{srv.TCPHint()}
			s := side{cfg: Config{TransitKey: key, Relays: relays}}
			r := side{cfg: Config{TransitKey: key, RelayDelay: 500 * time.Millisecond,
				Peer: transit.Hints{Direct: tc.hints, Relays: relays}}}
			sc, rc := connectPair(t, s, r)
			if !sc.Relay || !rc.Relay {
				t.Fatalf("paths %q / %q, want the relay", sc.Desc, rc.Desc)
			}
			transfer(t, key, sc, rc, 100<<10, transit.MaxPlain)
		})
	}
}

// TestNoPeer: nothing to dial fails at once; a relay with no partner
// waits until ctx ends.
func TestNoPeer(t *testing.T) {
	key := newKey(t)
	_, err := Connect(context.Background(), Config{TransitKey: key, RelayOnly: true,
		Peer: transit.Hints{Direct: []transit.DirectHint{{Hostname: "127.0.0.1", Port: 9}}}}, nil)
	if !errors.Is(err, transit.ErrNoConnection) {
		t.Errorf("no hints: %v", err)
	}

	srv := relaytest.Start(t, relaytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, Config{TransitKey: key, Relays: []transit.RelayHint{srv.TCPHint()}}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lonely relay: %v", err)
	}
	// A fresh key: the connection given up above may still be waiting at
	// the relay for a moment, and with the same key it would pair with
	// this one and hang up on it.
	_, err = Connect(context.Background(), Config{TransitKey: newKey(t), Timeout: 300 * time.Millisecond,
		Relays: []transit.RelayHint{srv.TCPHint()}}, nil)
	if !errors.Is(err, transit.ErrTimeout) {
		t.Errorf("lonely relay with a race timeout: %v", err)
	}
}

// TestWebSocketRelay: a WebSocket client pairs with a TCP client, and two
// WebSocket clients with each other, through our relay.
func TestWebSocketRelay(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	wsURL := srv.TransitURL
	ws := srv.WebSocketHint()
	tcp := srv.TCPHint()
	for _, tc := range []struct {
		name           string
		sender, receiv transit.RelayHint
		sDesc, rDesc   string
	}{
		{"ws-tcp", ws, tcp, "relay " + wsURL, "relay tcp:" + srv.TransitAddr},
		{"ws-ws", ws, ws, "relay " + wsURL, "relay " + wsURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey(t)
			s := side{cfg: Config{TransitKey: key, Relays: []transit.RelayHint{tc.sender}}}
			r := side{cfg: Config{TransitKey: key, Relays: []transit.RelayHint{tc.receiv}}}
			before := srv.BytesRelayed()
			sc, rc := connectPair(t, s, r)
			if sc.Desc != tc.sDesc || rc.Desc != tc.rDesc {
				t.Fatalf("paths %q / %q, want %q / %q", sc.Desc, rc.Desc, tc.sDesc, tc.rDesc)
			}
			const size = 2<<20 + 1
			transfer(t, key, sc, rc, size, transit.MaxPlain)
			srv.WaitRelayed(t, before+size)
		})
	}
}

// TestUpstreamRelay: through today's reference transit relay (0.4), whose
// WebSocket side pairs with TCP clients, our WebSocket client meets a TCP
// client and another WebSocket client, and the relay logs the bytes.
func TestUpstreamRelay(t *testing.T) {
	srv := peers.StartUpstream(t)
	ws, err := transit.ParseRelay(srv.TransitWebSocket)
	if err != nil {
		t.Fatal(err)
	}
	tcp := tcpRelay(t, srv.TransitAddr)
	for _, tc := range []struct {
		name           string
		sender, receiv transit.RelayHint
	}{
		{"ws-tcp", ws, tcp},
		{"tcp-ws", tcp, ws},
		{"ws-ws", ws, ws},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey(t)
			s := side{cfg: Config{TransitKey: key, Relays: []transit.RelayHint{tc.sender}}}
			r := side{cfg: Config{TransitKey: key, Relays: []transit.RelayHint{tc.receiv}}}
			before := srv.RelayedPairs(t)
			sc, rc := connectPair(t, s, r)
			if !sc.Relay || !rc.Relay {
				t.Fatalf("paths %q / %q, want the relay", sc.Desc, rc.Desc)
			}
			const size = 2<<20 + 1
			transfer(t, key, sc, rc, size, transit.MaxPlain)
			sc.Close()
			rc.Close()
			waitRelayed(t, srv, size)
			deadline := time.Now().Add(10 * time.Second)
			for srv.RelayedPairs(t) <= before {
				if time.Now().After(deadline) {
					t.Fatal("the relay logged no new relayed session")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// pyPeer is magic-wormhole 0.12's own transit code, run by
// testdata/pytransit.py.
type pyPeer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	msg   json.RawMessage // its transit message
}

func startPython(t testing.TB, cfg map[string]any) *pyPeer {
	t.Helper()
	peers.NeedPython(t, "wormhole.transit")
	arg, _ := json.Marshal(cfg)
	cmd := exec.Command(peers.PythonPath, "testdata/pytransit.py", string(arg))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &pyPeer{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	p.msg = p.line(t)
	return p
}

func (p *pyPeer) line(t testing.TB) json.RawMessage {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("python peer ended: %v", p.out.Err())
	}
	return json.RawMessage(p.out.Bytes())
}

// TestPython runs our side against the Python reference implementation in
// both roles, relayed (both --no-listen) and direct (both listening).
func TestPython(t *testing.T) {
	srv := peers.StartReference(t, 0, 0)
	for _, tc := range []struct {
		name        string
		goSender    bool
		relay       bool
		wantRelayed bool
	}{
		{"python-sends-relay", false, true, true},
		{"go-sends-relay", true, true, true},
		{"python-sends-direct", false, false, false},
		{"go-sends-direct", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := newKey(t)
			const size = 1<<20 + 5
			pycfg := map[string]any{"role": "sender", "key": hex.EncodeToString(key), "relay": nil,
				"no_listen": tc.relay, "size": size, "seed": 7}
			if tc.goSender {
				pycfg["role"] = "receiver"
			}
			cfg := Config{Sender: tc.goSender, TransitKey: key}
			var l *Listener
			var ours transit.Message
			if tc.relay {
				pycfg["relay"] = "tcp:" + srv.TransitAddr
				cfg.Relays = []transit.RelayHint{tcpRelay(t, srv.TransitAddr)}
				cfg.RelayOnly = true
				ours.Hints.Relays = cfg.Relays
			} else {
				var err error
				if l, ours.Hints.Direct, err = Listen(); err != nil {
					t.Fatal(err)
				}
			}
			py := startPython(t, pycfg)
			theirs, err := transit.ParseMessage(py.msg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Peer = theirs.Hints
			msg, _ := ours.MarshalJSON()
			fmt.Fprintf(py.stdin, "%s\n", msg)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			nc, err := Connect(ctx, cfg, l)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := nc.(*Conn)
			var desc struct{ Connected string }
			json.Unmarshal(py.line(t), &desc)
			t.Logf("go: %s, python: %s", c.Desc, desc.Connected)
			if c.Relay != tc.wantRelayed || strings.Contains(desc.Connected, "->relay:") != tc.wantRelayed {
				t.Errorf("go %q, python %q: want relayed=%v", c.Desc, desc.Connected, tc.wantRelayed)
			}

			sendKey, recvKey := transit.RecordKeys(key, tc.goSender)
			var result struct {
				Sha256 string
				Ack    *struct{ Ack, Sha256 string }
			}
			if tc.goSender {
				h := sha256.New()
				w := transit.NewWriter(nc, sendKey)
				if _, err := io.Copy(w, io.TeeReader(io.LimitReader(fastRand{}, size), h)); err != nil {
					t.Fatal(err)
				}
				ack, err := transit.NewReader(nc, recvKey, 0).ReadRecord()
				if err != nil {
					t.Fatal(err)
				}
				json.Unmarshal(py.line(t), &result)
				want := hex.EncodeToString(h.Sum(nil))
				if result.Sha256 != want || !strings.Contains(string(ack), want) {
					t.Errorf("sent %s; python received %s and acked %s", want, result.Sha256, ack)
				}
			} else {
				h := sha256.New()
				if _, err := io.CopyN(h, transit.NewReader(nc, recvKey, 0), size); err != nil {
					t.Fatal(err)
				}
				got := hex.EncodeToString(h.Sum(nil))
				ack := fmt.Sprintf(`{"ack": "ok", "sha256": "%s"}`, got)
				if err := transit.NewWriter(nc, sendKey).WriteRecord([]byte(ack)); err != nil {
					t.Fatal(err)
				}
				json.Unmarshal(py.line(t), &result)
				if result.Sha256 != got || result.Ack == nil || result.Ack.Ack != "ok" || result.Ack.Sha256 != got {
					t.Errorf("received %s; python sent %+v", got, result)
				}
			}
			if err := py.cmd.Wait(); err != nil {
				t.Errorf("python: %v", err)
			}
		})
	}
}

// BenchmarkReferenceRelay moves 1 GiB per iteration through the real
// Python transit relay with our record layer, for several record sizes.
// The sender seals one random 1 MiB buffer over and over and the receiver
// discards the plaintext: this measures transit, not a disk or a hash.
func BenchmarkReferenceRelay(b *testing.B) {
	srv := peers.StartReference(b, 0, 0)
	relays := []transit.RelayHint{tcpRelay(b, srv.TransitAddr)}
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("record=%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(benchSize)
			relayCPU := procCPU(b, srv.StateDir+"/transit.pid")
			for b.Loop() {
				benchOnce(b, size, side{cfg: Config{Relays: relays}}, side{cfg: Config{Relays: relays}})
			}
			// CPU seconds are steadier than MB/s on a shared machine.
			b.ReportMetric((procCPU(b, srv.StateDir+"/transit.pid")-relayCPU)/float64(b.N), "relay-cpu-s/op")
		})
	}
}

// BenchmarkDirect is the same over one loopback TCP connection.
func BenchmarkDirect(b *testing.B) {
	b.Run(fmt.Sprintf("record=%dKiB", transit.MaxPlain>>10), func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			ls, _, err := Listen()
			if err != nil {
				b.Fatal(err)
			}
			s := side{Config{}, ls}
			r := side{Config{Peer: transit.Hints{Direct: []transit.DirectHint{localHint(ls)}}}, nil}
			benchOnce(b, transit.MaxPlain, s, r)
		}
	})
}

const benchSize = 1 << 30

func benchOnce(b *testing.B, recordSize int, s, r side) {
	key := newKey(b)
	s.cfg.TransitKey, r.cfg.TransitKey = key, key
	b.StopTimer()
	sc, rc := connectPair(b, s, r)
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	sendKey, sendRecv := transit.RecordKeys(key, true)
	recvSend, recvKey := transit.RecordKeys(key, false)
	b.StartTimer()
	start := time.Now()
	cpu := selfCPU()
	errc := make(chan error, 1)
	go func() {
		w := transit.NewWriterSize(sc, sendKey, recordSize)
		for sent := 0; sent < benchSize; sent += len(buf) {
			if _, err := w.Write(buf); err != nil {
				errc <- err
				return
			}
		}
		_, err := transit.NewReader(sc, sendRecv, 0).ReadRecord()
		errc <- err
	}()
	n, err := io.Copy(io.Discard, io.LimitReader(transit.NewReader(rc, recvKey, 0), benchSize))
	if err != nil || n != benchSize {
		b.Fatalf("received %d bytes: %v", n, err)
	}
	if err := transit.NewWriter(rc, recvSend).WriteRecord([]byte(`{"ack": "ok"}`)); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(benchSize)/1e6/time.Since(start).Seconds(), "MB/s-wall")
	b.ReportMetric(selfCPU()-cpu, "go-cpu-s/op") // both ends
	b.StopTimer()
	sc.Close()
	rc.Close()
	b.StartTimer()
}

// BenchmarkPythonReceiver sends 256 MiB to the Python reference receiver
// through the reference relay, per record size: Python joins its socket
// reads into one bytes object per record, so very large records slow it.
func BenchmarkPythonReceiver(b *testing.B) {
	srv := peers.StartReference(b, 0, 0)
	const size = 256 << 20
	for _, rs := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("record=%dKiB", rs>>10), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				key := newKey(b)
				py := startPython(b, map[string]any{"role": "receiver", "key": hex.EncodeToString(key),
					"relay": "tcp:" + srv.TransitAddr, "no_listen": true, "size": size, "seed": 0})
				theirs, err := transit.ParseMessage(py.msg)
				if err != nil {
					b.Fatal(err)
				}
				fmt.Fprintln(py.stdin, "{}")
				nc, err := Connect(context.Background(), Config{Sender: true, TransitKey: key, Peer: theirs.Hints, RelayOnly: true}, nil)
				if err != nil {
					b.Fatal(err)
				}
				py.line(b) // connected
				buf := make([]byte, 1<<20)
				sendKey, recvKey := transit.RecordKeys(key, true)
				b.StartTimer()
				w := transit.NewWriterSize(nc, sendKey, rs)
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := w.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := transit.NewReader(nc, recvKey, 0).ReadRecord(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				nc.Close()
				py.cmd.Wait()
				b.StartTimer()
			}
		})
	}
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procCPU is the user+system CPU time in seconds of the process whose pid
// is in pidFile.
func procCPU(t testing.TB, pidFile string) float64 {
	t.Helper()
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}
