//go:build !js

package wormhole_test

// Our sender against our receiver through our own relay, started in this
// process (internal/relaytest): the flows' own behaviour (Accept into a writer,
// AcceptToPath, rejection, wrong code, cancellation on either side and
// during the transit race, a source that ends early), where the stock
// CLIs cannot provoke it; a peer that vanishes without a word; and
// acknowledging only what was stored.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/peers"
	"github.com/wasmhole/wasmhole/internal/relaytest"
)

// pattern is a deterministic stream of n bytes.
func pattern(n int64) io.Reader {
	return io.LimitReader(&patternReader{}, n)
}

type patternReader struct{ i byte }

func (p *patternReader) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = p.i
		p.i = p.i*31 + 7
	}
	return len(b), nil
}

func patternSum(n int64) string {
	h := sha256.New()
	io.Copy(h, pattern(n))
	return hex.EncodeToString(h.Sum(nil))
}

// coreClients returns a sending and a receiving client on r, the relay
// reached by TCP transit.
func coreClients(t *testing.T, r *relaytest.Relay, relayOnly bool) (snd, rcv *wormhole.Client, slog, rlog *logBuf) {
	slog, rlog = &logBuf{}, &logBuf{}
	client := func(log *logBuf) *wormhole.Client {
		return &wormhole.Client{MailboxURL: r.MailboxURL, Relays: []transit.RelayHint{r.TCPHint()}, RelayOnly: relayOnly, Logger: log.logger()}
	}
	return client(slog), client(rlog), slog, rlog
}

func hasChild(entries []transfer.Entry, dir string) bool {
	for _, e := range entries {
		if e.Name != dir && strings.HasPrefix(e.Name, dir) {
			return true
		}
	}
	return false
}

// fileOffer starts sending size pattern bytes called name and returns the
// transfer and the receiver's offer.
func fileOffer(t *testing.T, ctx context.Context, snd, rcv *wormhole.Client, name string, size int64) (*wormhole.Transfer, *wormhole.Offer) {
	t.Helper()
	tr, err := snd.SendFile(ctx, name, size, pattern(size), wormhole.SendOptions{})
	return tr, receiveOffer(t, ctx, rcv, tr, err)
}

// receiveOffer receives the offer of a send that started with err.
func receiveOffer(t *testing.T, ctx context.Context, rcv *wormhole.Client, tr *wormhole.Transfer, err error) *wormhole.Offer {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	offer, err := rcv.Receive(ctx, tr.Code())
	if err != nil {
		t.Fatal(err)
	}
	return offer
}

func TestCoreToCore(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})

	t.Run("text", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		var gotCode string
		tr, err := snd.SendText(ctx, xferText, wormhole.SendOptions{OnCode: func(c string) { gotCode = c }})
		if err != nil {
			t.Fatal(err)
		}
		if gotCode == "" || gotCode != tr.Code() || len(strings.Split(gotCode, "-")) != 3 {
			t.Fatalf("OnCode got %q, Code() %q", gotCode, tr.Code())
		}
		offer, err := rcv.Receive(ctx, tr.Code())
		if err != nil {
			t.Fatal(err)
		}
		if offer.Kind != wormhole.Text || offer.Text != xferText {
			t.Fatalf("offer %+v", offer)
		}
		if err := tr.Wait(); err != nil {
			t.Fatal(err)
		}
		v, err := tr.Verifier(ctx)
		ov, oerr := offer.Verifier(ctx)
		if err != nil || oerr != nil || len(v) != 32 || !bytes.Equal(v, ov) {
			t.Fatalf("verifiers %x / %x (%v, %v)", v, ov, err, oerr)
		}
		if err := offer.Accept(ctx, io.Discard, wormhole.AcceptOptions{}); err == nil {
			t.Fatal("Accept of a text offer succeeded")
		}
	})

	for _, relay := range []bool{true, false} {
		t.Run("file/"+pathName(relay), func(t *testing.T) {
			if !relay {
				peers.RequireNetns(t) // the direct path uses the namespace's 198.18.0.1
			}
			ctx := xferCtx(t, time.Minute)
			snd, rcv, slog, rlog := coreClients(t, srv, relay)
			relayedBefore := srv.BytesRelayed()
			const size = 5<<20 + 3
			code := "77-core-" + pathName(relay)
			sprog, rprog := &progressLog{}, &progressLog{}
			tr, err := snd.SendFile(ctx, "dir/../päyload.bin", size, pattern(size), wormhole.SendOptions{Code: code, Progress: sprog.fn})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Code() != code || tr.Size() != size {
				t.Fatalf("Code %q Size %d", tr.Code(), tr.Size())
			}
			offer, err := rcv.Receive(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			if offer.Kind != wormhole.File || offer.Name != "dir/../päyload.bin" || offer.Size != size {
				t.Fatalf("offer %+v", offer)
			}
			h := sha256.New()
			if err := offer.Accept(ctx, h, wormhole.AcceptOptions{Progress: rprog.fn}); err != nil {
				t.Fatalf("Accept: %v\n%s", err, rlog)
			}
			if err := tr.Wait(); err != nil {
				t.Fatalf("Wait: %v\n%s", err, slog)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != patternSum(size) {
				t.Fatal("received bytes differ")
			}
			sprog.check(t, size)
			rprog.check(t, size)
			for _, l := range []*logBuf{slog, rlog} {
				if got, ok := l.transitRelay(); !ok || got != relay {
					t.Fatalf("transit relay=%v (logged %v), want %v\n%s", got, ok, relay, l)
				}
			}
			if relay {
				srv.WaitRelayed(t, relayedBefore+size)
			}
			if err := offer.Reject(ctx); err == nil {
				t.Fatal("Reject after Accept succeeded")
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, rlog := coreClients(t, srv, true)
		src := filepath.Join(t.TempDir(), "tree")
		want := peers.MakeTree(t, src)
		entries, _, err := transfer.DirEntries(os.DirFS(src))
		if err != nil {
			t.Fatal(err)
		}
		tr, err := snd.SendDirectory(ctx, "../tree", entries, wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		offer, path, err := rcv.ReceiveToDir(ctx, tr.Code(), out, wormhole.AcceptOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, rlog)
		}
		if err := tr.Wait(); err != nil {
			t.Fatal(err)
		}
		// numfiles counts files and empty directories (what the zip holds).
		files, nbytes := 0, int64(0)
		for _, e := range entries {
			if e.Mode.IsDir() {
				if _, ok := want[strings.TrimSuffix(e.Name, "/")]; ok && !hasChild(entries, e.Name) {
					files++
				}
				continue
			}
			files++
			nbytes += e.Size
		}
		if offer.Kind != wormhole.Directory || offer.NumFiles != files || offer.NumBytes != nbytes || offer.Size != tr.Size() {
			t.Fatalf("offer %v %q size %d files %d bytes %d; want size %d files %d bytes %d",
				offer.Kind, offer.Name, offer.Size, offer.NumFiles, offer.NumBytes, tr.Size(), files, nbytes)
		}
		if path != filepath.Join(out, "tree") {
			t.Fatalf("stored at %s", path)
		}
		// Our zip carries the empty folder, so the whole tree arrives.
		if got := peers.TreeManifest(t, path); !reflect.DeepEqual(got, want) {
			t.Fatalf("tree differs:\n got %v\nwant %v", sortedKV(got), sortedKV(want))
		}
		checkOnly(t, out, "tree")
	})

	t.Run("accept to path", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		tr, offer := fileOffer(t, ctx, snd, rcv, "a.bin", 1000)
		dir := t.TempDir()
		taken := filepath.Join(dir, "taken")
		os.WriteFile(taken, []byte("keep me"), 0o644)
		if err := offer.AcceptToPath(ctx, taken, wormhole.AcceptOptions{}); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("AcceptToPath over a file: %v", err)
		}
		// The offer is still open; another path works.
		free := filepath.Join(dir, "free")
		if err := offer.AcceptToPath(ctx, free, wormhole.AcceptOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := tr.Wait(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(taken); string(b) != "keep me" {
			t.Fatalf("existing file changed: %q", b)
		}
		if peers.FileSHA256(t, free) != patternSum(1000) {
			t.Fatal("stored file differs")
		}
		if fi, _ := os.Stat(free); fi.Mode().Perm() != 0o644 {
			t.Fatalf("mode %v", fi.Mode())
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("leftovers in %s: %v", dir, ents)
		}
	})

	t.Run("receive to dir refuses to overwrite", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		tr, err := snd.SendFile(ctx, "same.bin", 10, pattern(10), wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "same.bin"), []byte("old"), 0o644)
		_, _, err = rcv.ReceiveToDir(ctx, tr.Code(), dir, wormhole.AcceptOptions{})
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("ReceiveToDir: %v", err)
		}
		if err := tr.Wait(); !errors.Is(err, wormhole.ErrPeerCancelled) || !strings.Contains(err.Error(), "refusing to overwrite") {
			t.Fatalf("sender: %v", err)
		}
	})

	t.Run("reject", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		tr, offer := fileOffer(t, ctx, snd, rcv, "no.bin", 10)
		if err := offer.Reject(ctx); err != nil {
			t.Fatal(err)
		}
		err := tr.Wait()
		if !errors.Is(err, wormhole.ErrRejected) || !errors.Is(err, transfer.ErrRejected) || errors.Is(err, wormhole.ErrPeerCancelled) {
			t.Fatalf("sender: %v", err)
		}
	})

	t.Run("wrong code", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		tr, err := snd.SendFile(ctx, "x.bin", 10, pattern(10), wormhole.SendOptions{Code: "78-right-code"})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		_, _, rerr := rcv.ReceiveToDir(ctx, "78-wrong-code", out, wormhole.AcceptOptions{})
		serr := tr.Wait()
		for _, err := range []error{rerr, serr} {
			if !errors.Is(err, wormhole.ErrWrongCode) {
				t.Errorf("got %v, want ErrWrongCode", err)
			}
		}
		if _, err := tr.Verifier(ctx); err == nil {
			t.Error("Verifier after a wrong code succeeded")
		}
		checkEmpty(t, out)
	})

	t.Run("short source", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		tr, err := snd.SendFile(ctx, "short.bin", 1<<20, pattern(1000), wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		_, _, rerr := rcv.ReceiveToDir(ctx, tr.Code(), out, wormhole.AcceptOptions{})
		if rerr == nil || tr.Wait() == nil {
			t.Fatalf("receiver %v, sender %v", rerr, tr.Wait())
		}
		checkEmpty(t, out)
	})

	// Either side cancelling in the middle of the data: both fail soon,
	// and no file appears.
	for _, who := range []string{"sender", "receiver"} {
		t.Run("cancel mid-transfer by "+who, func(t *testing.T) {
			ctx := xferCtx(t, time.Minute)
			snd, rcv, _, _ := coreClients(t, srv, true)
			sctx, scancel := context.WithCancel(ctx)
			rctx, rcancel := context.WithCancel(ctx)
			defer scancel()
			defer rcancel()
			cancelAt := func(cancel context.CancelFunc) func(n, total int64) {
				return func(n, total int64) {
					if n >= 4<<20 {
						cancel()
					}
				}
			}
			var sprog, rprog func(n, total int64)
			if who == "sender" {
				sprog = cancelAt(scancel)
			} else {
				rprog = cancelAt(rcancel)
			}
			const size = 1 << 30
			tr, err := snd.SendFile(sctx, "big.bin", size, pattern(size), wormhole.SendOptions{Progress: sprog})
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			start := time.Now()
			_, _, rerr := rcv.ReceiveToDir(rctx, tr.Code(), out, wormhole.AcceptOptions{Progress: rprog})
			serr := tr.Wait()
			if rerr == nil || serr == nil {
				t.Fatalf("receiver %v, sender %v", rerr, serr)
			}
			cancelled, other := serr, rerr
			if who == "receiver" {
				cancelled, other = rerr, serr
			}
			if !errors.Is(cancelled, context.Canceled) {
				t.Errorf("%s: %v, want context.Canceled", who, cancelled)
			}
			if errors.Is(other, context.Canceled) {
				t.Errorf("the peer of the %s reports our cancellation as its own: %v", who, other)
			}
			// The transit connection closes before the {"error"} goes out;
			// the peer must still learn that we cancelled, not that we vanished.
			if !errors.Is(other, wormhole.ErrPeerCancelled) || errors.Is(other, wormhole.ErrPeerGone) {
				t.Errorf("the peer of the %s: %v, want ErrPeerCancelled", who, other)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v to fail", d)
			}
			checkEmpty(t, out)
		})
	}

	t.Run("cancel while connecting", func(t *testing.T) {
		// A relay that accepts and never answers: the race cannot finish.
		// The receiver gives up; its {"error"} must end the sender's race
		// long before the race's own 120 s timeout.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var accepted atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				go io.Copy(io.Discard, c)
			}
		}()
		dead, _ := transit.ParseRelay("tcp:" + ln.Addr().String())
		ctx := xferCtx(t, time.Minute)
		snd, rcv, _, _ := coreClients(t, srv, true)
		snd.Relays, rcv.Relays = []transit.RelayHint{dead}, []transit.RelayHint{dead}
		tr, offer := fileOffer(t, ctx, snd, rcv, "x.bin", 10)
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		start := time.Now()
		rerr := offer.Accept(rctx, io.Discard, wormhole.AcceptOptions{})
		serr := tr.Wait()
		if !errors.Is(rerr, context.DeadlineExceeded) {
			t.Errorf("receiver: %v", rerr)
		}
		if !errors.Is(serr, wormhole.ErrPeerCancelled) {
			t.Errorf("sender: %v, want ErrPeerCancelled", serr)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("sender failed after %v", d)
		}
		if accepted.Load() < 2 {
			t.Errorf("the dead relay saw %d connections, want both sides", accepted.Load())
		}
	})

	t.Run("cancel before the peer comes", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, _, _, _ := coreClients(t, srv, true)
		sctx, cancel := context.WithCancel(ctx)
		tr, err := snd.SendText(sctx, "nobody", wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := tr.Wait(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait: %v", err)
		}
		if _, err := tr.Verifier(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Verifier: %v", err)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		ctx := xferCtx(t, time.Minute)
		snd, _, _, _ := coreClients(t, srv, true)
		if _, err := snd.SendFile(ctx, "x", -1, nil, wormhole.SendOptions{}); err == nil {
			t.Error("negative size accepted")
		}
		if _, err := snd.SendFile(ctx, "", 0, nil, wormhole.SendOptions{}); err == nil {
			t.Error("empty name accepted")
		}
		if _, err := snd.SendDirectory(ctx, "d", []transfer.Entry{{Name: "../x", Size: 1}}, wormhole.SendOptions{}); err == nil {
			t.Error("bad entry accepted")
		}
		if _, err := snd.SendText(ctx, "x", wormhole.SendOptions{Code: "not a code"}); err == nil {
			t.Error("bad code accepted")
		}
	})
}

// A peer that vanishes without a word (killed, network lost) must show as
// ErrPeerGone on the other side, never as success and never as a
// cancellation it did not send; and a receiver that cannot store what it
// got must never acknowledge it. The "kill" cuts both of the vanishing
// side's connections from outside, through forwarders the test controls:
// its mailbox WebSocket first (so no {"error"} can leave it), then its
// transit connection to the relay.
//
// cutter forwards TCP connections to target and can reset them. For a
// transit relay it also learns each connection's role from the transit
// handshake the client sends ("transit sender ..." / "transit receiver
// ..."), so the test can kill one side only.
type cutter struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	links []*link
}

type link struct {
	client, server net.Conn
	role           string // "sender", "receiver" or "" (not seen yet)
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{t: t, ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); c.cut(""); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			down := c.down
			c.mu.Unlock()
			if down {
				reset(cc)
				continue
			}
			sc, err := net.Dial("tcp", target)
			if err != nil {
				cc.Close()
				continue
			}
			l := &link{client: cc, server: sc}
			c.mu.Lock()
			c.links = append(c.links, l)
			c.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); c.upstream(l); sc.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(cc, sc); cc.Close() }()
		}
	}()
	return c
}

// upstream copies client to server, noting the role on the way.
func (c *cutter) upstream(l *link) {
	var seen []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := l.client.Read(buf)
		if n > 0 {
			if len(seen) < 512 {
				seen = append(seen, buf[:n]...)
				for _, r := range []string{"sender", "receiver"} {
					if bytes.Contains(seen, []byte("transit "+r+" ")) {
						c.mu.Lock()
						l.role = r
						c.mu.Unlock()
					}
				}
			}
			if _, werr := l.server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (c *cutter) addr() string { return c.ln.Addr().String() }

// cut resets every connection of role ("" = all of them).
func (c *cutter) cut(role string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.links {
		if role == "" || l.role == role {
			reset(l.client)
			reset(l.server)
			n++
		}
	}
	return n
}

// kill refuses new connections and resets the existing ones: the
// vanished program's mailbox connection, which then cannot reconnect.
func (c *cutter) kill() {
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	c.cut("")
}

// reset closes with RST, as a killed process's kernel would not, but as a
// lost route looks; both end the peer's reads at once.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// TestPeerGone: the sender or the receiver vanishes mid-transfer. The
// other side fails with ErrPeerGone (not ErrPeerCancelled: nobody said
// anything), within seconds, and nothing is stored.
func TestPeerGone(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	for _, who := range []string{"sender", "receiver"} {
		t.Run(who+" vanishes", func(t *testing.T) {
			ctx := xferCtx(t, time.Minute)
			relayCut := newCutter(t, srv.TransitAddr)
			relay, err := transit.ParseRelay("tcp:" + relayCut.addr())
			if err != nil {
				t.Fatal(err)
			}
			mbCut := newCutter(t, strings.TrimSuffix(strings.TrimPrefix(srv.MailboxURL, "ws://"), "/v1"))
			slog, rlog := &logBuf{}, &logBuf{}
			snd := &wormhole.Client{MailboxURL: srv.MailboxURL, Relays: []transit.RelayHint{relay}, RelayOnly: true, Logger: slog.logger()}
			rcv := &wormhole.Client{MailboxURL: srv.MailboxURL, Relays: []transit.RelayHint{relay}, RelayOnly: true, Logger: rlog.logger()}
			// The side that vanishes reaches the mailbox through the cutter.
			if who == "sender" {
				snd.MailboxURL = "ws://" + mbCut.addr() + "/v1"
			} else {
				rcv.MailboxURL = "ws://" + mbCut.addr() + "/v1"
			}
			var once sync.Once
			killed := make(chan time.Time, 1)
			killAt := func(n, total int64) {
				if n >= 4<<20 {
					once.Do(func() {
						mbCut.kill()
						if relayCut.cut(who) == 0 {
							t.Errorf("no transit connection of the %s to cut", who)
						}
						killed <- time.Now()
					})
				}
			}
			// Whoever stays reports the progress that triggers the kill,
			// so the cut happens while the data flows.
			var sprog, rprog func(n, total int64)
			if who == "sender" {
				rprog = killAt
			} else {
				sprog = killAt
			}
			const size = 1 << 30
			tr, err := snd.SendFile(ctx, "big.bin", size, pattern(size), wormhole.SendOptions{Progress: sprog})
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			_, _, rerr := rcv.ReceiveToDir(ctx, tr.Code(), out, wormhole.AcceptOptions{Progress: rprog})
			serr := tr.Wait()
			var at time.Time
			select {
			case at = <-killed:
			default:
				t.Fatalf("the transfer ended before the kill: receiver %v, sender %v", rerr, serr)
			}
			stayed, vanished := rerr, serr
			if who == "receiver" {
				stayed, vanished = serr, rerr
			}
			if d := time.Since(at); d > 20*time.Second {
				t.Errorf("took %v to notice", d)
			}
			if !errors.Is(stayed, wormhole.ErrPeerGone) || errors.Is(stayed, wormhole.ErrPeerCancelled) {
				t.Errorf("the side that stayed: %v, want ErrPeerGone\nsender log:\n%s\nreceiver log:\n%s", stayed, slog, rlog)
			}
			if vanished == nil {
				t.Errorf("the side that was cut off succeeded")
			}
			checkEmpty(t, out)
		})
	}
}

// TestNoAckBeforeStored: AcceptToPath acknowledges only after the data is
// in place. Here the target appears while the bytes arrive, so placing
// the file (or the unpacked folder) fails: no ack goes out, the sender
// fails with the receiver's reason (ErrPeerCancelled, not ErrPeerGone:
// the reason follows the closed connection within the grace period),
// and nothing but the intruder is left.
func TestNoAckBeforeStored(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	src := filepath.Join(t.TempDir(), "tree")
	peers.MakeTree(t, src)
	entries, _, err := transfer.DirEntries(os.DirFS(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"file", "directory"} {
		t.Run(kind, func(t *testing.T) {
			ctx := xferCtx(t, time.Minute)
			snd, rcv, slog, _ := coreClients(t, srv, true)
			var tr *wormhole.Transfer
			var offer *wormhole.Offer
			if kind == "file" {
				tr, offer = fileOffer(t, ctx, snd, rcv, "f.bin", 3<<20)
			} else {
				tr, err = snd.SendDirectory(ctx, "tree", entries, wormhole.SendOptions{})
				offer = receiveOffer(t, ctx, rcv, tr, err)
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "target")
			var once sync.Once
			intrude := func(n, total int64) {
				if n > 0 {
					once.Do(func() {
						// A non-empty folder blocks both a file and a tree.
						if err := os.MkdirAll(filepath.Join(target, "mine"), 0o755); err != nil {
							t.Error(err)
						}
					})
				}
			}
			rerr := offer.AcceptToPath(ctx, target, wormhole.AcceptOptions{Progress: intrude})
			serr := tr.Wait()
			if !errors.Is(rerr, fs.ErrExist) && !strings.Contains(strings.ToLower(fmtErr(rerr)), "exist") && !strings.Contains(strings.ToLower(fmtErr(rerr)), "not empty") {
				t.Errorf("receiver: %v, want a refusal to overwrite", rerr)
			}
			if serr == nil {
				t.Fatalf("the sender succeeded although nothing was stored\n%s", slog)
			}
			if !errors.Is(serr, wormhole.ErrPeerCancelled) || errors.Is(serr, wormhole.ErrPeerGone) {
				t.Errorf("sender: %v, want ErrPeerCancelled with the receiver's reason", serr)
			}
			checkOnly(t, dir, "target")
			ents, _ := os.ReadDir(target)
			if len(ents) != 1 || ents[0].Name() != "mine" {
				t.Errorf("target holds %v, want only the intruder's folder", ents)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAcceptFinish: AcceptOptions.Finish, the caller's finish step runs before the ack; when it
// fails the sender is told with its text and Accept returns it.
func TestAcceptFinish(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	for _, fail := range []bool{false, true} {
		name := "succeeds"
		if fail {
			name = "fails"
		}
		t.Run(name, func(t *testing.T) {
			ctx := xferCtx(t, time.Minute)
			snd, rcv, _, _ := coreClients(t, srv, true)
			const size = 1<<20 + 1
			tr, offer := fileOffer(t, ctx, snd, rcv, "f.bin", size)
			var got bytes.Buffer
			boom := errors.New("unpacking failed: disk on fire")
			var finishedWith int
			finish := func() error {
				finishedWith = got.Len()
				if fail {
					return boom
				}
				return nil
			}
			rerr := offer.Accept(ctx, &got, wormhole.AcceptOptions{Finish: finish})
			serr := tr.Wait()
			if finishedWith != size {
				t.Errorf("finish ran with %d bytes written, want all %d", finishedWith, size)
			}
			if !fail {
				if rerr != nil || serr != nil {
					t.Fatalf("receiver %v, sender %v", rerr, serr)
				}
				return
			}
			if !errors.Is(rerr, boom) {
				t.Errorf("receiver: %v, want finish's error", rerr)
			}
			if !errors.Is(serr, wormhole.ErrPeerCancelled) || !strings.Contains(fmtErr(serr), "disk on fire") {
				t.Errorf("sender: %v, want ErrPeerCancelled with the receiver's text", serr)
			}
			if err := offer.Accept(ctx, io.Discard, wormhole.AcceptOptions{}); err == nil {
				t.Error("a second Accept succeeded")
			}
		})
	}
}
