//go:build !js

package wormhole_test

// Resume between two of our ends, on our relay in-process, with a TCP
// proxy in front of its transit relay that cuts every connection in the
// middle of the data (docs/resume.md).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/wormhole"
)

// cutProxy forwards TCP connections to target and can cut them all, or
// refuse new ones for a while (a relay that is down).
type cutProxy struct {
	ln     net.Listener
	target string
	up     atomic.Int64 // bytes forwarded towards the relay
	mu     sync.Mutex
	conns  []net.Conn
	downTo time.Time
	also   *cutProxy // cut together with this one
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut(0) })
	go p.serve()
	return p
}

func (p *cutProxy) hint() string { return "tcp:" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := time.Now().Before(p.downTo)
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { n, _ := io.Copy(u, c); p.up.Add(n); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// cut closes every open connection and refuses new ones for down.
func (p *cutProxy) cut(down time.Duration) {
	if p.also != nil {
		p.also.cut(down)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downTo = time.Now().Add(down)
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// cutAt returns a progress function that cuts the proxy once, when the
// count passes at, and keeps the count at the cut.
func cutAt(p *cutProxy, at int64, down time.Duration, cutCount *atomic.Int64) func(n, total int64) {
	var once sync.Once
	return func(n, total int64) {
		if n >= at {
			once.Do(func() {
				cutCount.Store(n)
				p.cut(down)
			})
		}
	}
}

func patternBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	return b
}

// TestResume: a file and a folder survive their transit connection being
// cut at 40 % (and the relay refusing connections for 1.5 s after the
// cut); the bytes before the cut are not sent again.
func TestResume(t *testing.T) {
	relay, err := startRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	const size = 48 << 20
	data := patternBytes(size)

	for _, tc := range []struct {
		name    string
		dir     bool
		down    time.Duration
		mailbox bool // the mailbox connections are cut too
	}{
		{"file", false, 0, false},
		{"file-and-mailbox", false, 0, true},
		{"file-relay-down", false, 1500 * time.Millisecond, false},
		{"folder", true, 300 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			proxy := newCutProxy(t, relay.Transit[len("tcp:"):])
			snd, rcv := relay.clientVia(proxy.hint()), relay.clientVia(proxy.hint())
			if tc.mailbox {
				web := strings.TrimSuffix(strings.TrimPrefix(relay.MailboxURL, "ws://"), "/v1")
				mp := newCutProxy(t, web)
				proxy.also = mp
				snd.MailboxURL = "ws://" + mp.ln.Addr().String() + "/v1"
				rcv.MailboxURL = snd.MailboxURL
			}
			var cutN, lost, back, sent, sentAtLoss, heldAtResume atomic.Int64
			onSend := func(held int64, err error) {
				if err != nil {
					sentAtLoss.Store(sent.Load())
				}
			}
			onRe := func(held int64, err error) {
				if err != nil {
					lost.Add(1)
					t.Logf("receiver: connection lost, %d bytes kept: %v", held, err)
				} else {
					back.Add(1)
					heldAtResume.Store(held)
				}
			}
			sprog := func(n, total int64) { sent.Store(n) }
			var tr *wormhole.Transfer
			var want []byte
			if tc.dir {
				src := t.TempDir()
				for _, n := range []string{"a.bin", "b.bin"} {
					if err := os.WriteFile(filepath.Join(src, n), data[:size/2], 0o644); err != nil {
						t.Fatal(err)
					}
				}
				entries, _, err := transfer.DirEntries(os.DirFS(src))
				if err != nil {
					t.Fatal(err)
				}
				tr, err = snd.SendDirectory(ctx, "stuff", entries, wormhole.SendOptions{OnReconnect: onSend, Progress: sprog})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				want = data
				tr, err = snd.SendFile(ctx, "big.bin", size, bytes.NewReader(data), wormhole.SendOptions{OnReconnect: onSend, Progress: sprog})
				if err != nil {
					t.Fatal(err)
				}
			}
			offer, err := rcv.Receive(ctx, tr.Code())
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "got")
			total := offer.Size
			err = offer.AcceptToPath(ctx, out, wormhole.AcceptOptions{
				Progress:    cutAt(proxy, total*4/10, tc.down, &cutN),
				OnReconnect: onRe,
			})
			if err != nil {
				t.Fatalf("receiver: %v", err)
			}
			if err := tr.Wait(); err != nil {
				t.Fatalf("sender: %v", err)
			}
			if tc.dir {
				for _, n := range []string{"a.bin", "b.bin"} {
					b, err := os.ReadFile(filepath.Join(out, n))
					if err != nil || !bytes.Equal(b, data[:size/2]) {
						t.Fatalf("%s differs (%v)", n, err)
					}
				}
			} else {
				b, err := os.ReadFile(out)
				if err != nil || sha256.Sum256(b) != sha256.Sum256(want) {
					t.Fatalf("received file differs (%v)", err)
				}
			}
			if lost.Load() == 0 || back.Load() == 0 {
				t.Fatalf("no resume happened: lost %d, back %d", lost.Load(), back.Load())
			}
			// Bytes the sender pushed through the proxy beyond one copy
			// (records add 16+4 bytes per 64 KiB, handshakes a few): what
			// was in flight at the cut, sent but never received, and
			// nothing else.
			overhead := total/(64<<10)*20 + 4096
			resent := max(proxy.up.Load()-total-overhead, 0)
			inFlight := sentAtLoss.Load() - heldAtResume.Load()
			t.Logf("size %d; cut at %d received; sender had sent %d; resumed from %d; re-sent %d bytes (%.1f%% of the file; in flight at the cut %d)",
				total, cutN.Load(), sentAtLoss.Load(), heldAtResume.Load(), resent, 100*float64(resent)/float64(total), inFlight)
			if heldAtResume.Load() < cutN.Load() {
				t.Errorf("resumed from %d, below the %d bytes received before the cut", heldAtResume.Load(), cutN.Load())
			}
			// The sender's count trails its writes by a few records.
			if resent > max(inFlight, 0)+(2<<20) {
				t.Errorf("re-sent %d bytes, more than the %d in flight at the cut", resent, inFlight)
			}
		})
	}
}

// TestResumeNotNegotiated: when one end disables resume, a cut ends the
// transfer with the usual errors on both sides, nothing acknowledged.
func TestResumeNotNegotiated(t *testing.T) {
	relay, err := startRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	proxy := newCutProxy(t, relay.Transit[len("tcp:"):])
	snd, rcv := relay.clientVia(proxy.hint()), relay.clientVia(proxy.hint())
	rcv.ResumeTimeout = -1
	const size = 16 << 20
	data := patternBytes(size)
	tr, err := snd.SendFile(ctx, "f.bin", size, bytes.NewReader(data), wormhole.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	offer, err := rcv.Receive(ctx, tr.Code())
	if err != nil {
		t.Fatal(err)
	}
	var cutN atomic.Int64
	rerr := offer.Accept(ctx, io.Discard, wormhole.AcceptOptions{Progress: cutAt(proxy, size/4, 0, &cutN)})
	serr := tr.Wait()
	t.Logf("receiver: %v\nsender: %v", rerr, serr)
	// Whichever side notices first reports ErrPeerGone and tells the
	// other, which then reports ErrPeerCancelled with that text.
	for side, err := range map[string]error{"receiver": rerr, "sender": serr} {
		if !errors.Is(err, wormhole.ErrPeerGone) && !errors.Is(err, wormhole.ErrPeerCancelled) {
			t.Errorf("%s: want ErrPeerGone or ErrPeerCancelled, got %v", side, err)
		}
	}
	if !errors.Is(rerr, wormhole.ErrPeerGone) && !errors.Is(serr, wormhole.ErrPeerGone) {
		t.Error("neither side says the peer is gone")
	}
}

// TestResumeGivesUp: a relay that stays down ends the transfer after
// ResumeTimeout with a clear error; Cancel during the wait ends it at once.
func TestResumeGivesUp(t *testing.T) {
	relay, err := startRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	for _, cancelIt := range []bool{false, true} {
		name := map[bool]string{false: "timeout", true: "cancel"}[cancelIt]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rctx, rcancel := context.WithCancel(ctx)
			defer rcancel()
			proxy := newCutProxy(t, relay.Transit[len("tcp:"):])
			snd, rcv := relay.clientVia(proxy.hint()), relay.clientVia(proxy.hint())
			snd.ResumeTimeout, rcv.ResumeTimeout = 3*time.Second, 3*time.Second
			const size = 16 << 20
			tr, err := snd.SendFile(ctx, "f.bin", size, bytes.NewReader(patternBytes(size)), wormhole.SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			offer, err := rcv.Receive(ctx, tr.Code())
			if err != nil {
				t.Fatal(err)
			}
			var cutN atomic.Int64
			start := time.Now()
			rerr := offer.Accept(rctx, io.Discard, wormhole.AcceptOptions{
				Progress: cutAt(proxy, size/4, time.Hour, &cutN),
				OnReconnect: func(held int64, err error) {
					if err != nil && cancelIt {
						go func() { time.Sleep(500 * time.Millisecond); rcancel() }()
					}
				},
			})
			took := time.Since(start)
			serr := tr.Wait()
			t.Logf("after %v: receiver: %v\nsender: %v", took.Round(time.Millisecond), rerr, serr)
			if rerr == nil || serr == nil {
				t.Fatal("a side succeeded")
			}
			if cancelIt {
				if !errors.Is(rerr, context.Canceled) {
					t.Errorf("receiver: want context.Canceled, got %v", rerr)
				}
				if !errors.Is(serr, wormhole.ErrPeerCancelled) {
					t.Errorf("sender: want ErrPeerCancelled, got %v", serr)
				}
			} else {
				// Both ends time out at about the same moment; the first
				// one tells the other, which may then report that instead.
				for side, err := range map[string]error{"receiver": rerr, "sender": serr} {
					if !errors.Is(err, transfer.ErrResumeTimeout) &&
						!(errors.Is(err, wormhole.ErrPeerCancelled) && strings.Contains(err.Error(), transfer.ErrResumeTimeout.Error())) {
						t.Errorf("%s: want ErrResumeTimeout (its own or the peer's), got %v", side, err)
					}
				}
				if !errors.Is(rerr, transfer.ErrResumeTimeout) && !errors.Is(serr, transfer.ErrResumeTimeout) {
					t.Error("neither side timed out itself")
				}
			}
		})
	}
}
