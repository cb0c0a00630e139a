package wormhole_test

// Our sender against our receiver through the reference mailbox server
// and transit relay: the flows' own behaviour (Accept into a writer,
// AcceptToPath, rejection, wrong code, cancellation on either side and
// during the transit race, a source that ends early), where the stock
// CLIs cannot provoke it.

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/peers"
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

// coreClients returns a sending and a receiving client on srv.
func coreClients(t *testing.T, srv *peers.Servers, relayOnly bool) (snd, rcv *wormhole.Client, slog, rlog *logBuf) {
	slog, rlog = &logBuf{}, &logBuf{}
	return newClient(t, srv, relayOnly, slog), newClient(t, srv, relayOnly, rlog), slog, rlog
}

func hasChild(entries []transfer.Entry, dir string) bool {
	for _, e := range entries {
		if e.Name != dir && strings.HasPrefix(e.Name, dir) {
			return true
		}
	}
	return false
}

func TestCoreToCore(t *testing.T) {
	peers.RequireNetns(t) // the direct path uses the namespace's 198.18.0.1
	srv := peers.StartReference(t, 0, 0)

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
		if err != nil || len(v) != 32 || !bytes.Equal(v, offer.Verifier()) {
			t.Fatalf("verifiers %x / %x (%v)", v, offer.Verifier(), err)
		}
		if err := offer.Accept(ctx, io.Discard, nil); err == nil {
			t.Fatal("Accept of a text offer succeeded")
		}
	})

	for _, relay := range []bool{true, false} {
		t.Run("file/"+pathName(relay), func(t *testing.T) {
			ctx := xferCtx(t, time.Minute)
			snd, rcv, slog, rlog := coreClients(t, srv, relay)
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
			if err := offer.Accept(ctx, h, rprog.fn); err != nil {
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
		offer, path, err := rcv.ReceiveToDir(ctx, tr.Code(), out, nil)
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
		tr, err := snd.SendFile(ctx, "a.bin", 1000, pattern(1000), wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		offer, err := rcv.Receive(ctx, tr.Code())
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		taken := filepath.Join(dir, "taken")
		os.WriteFile(taken, []byte("keep me"), 0o644)
		if err := offer.AcceptToPath(ctx, taken, nil); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("AcceptToPath over a file: %v", err)
		}
		// The offer is still open; another path works.
		free := filepath.Join(dir, "free")
		if err := offer.AcceptToPath(ctx, free, nil); err != nil {
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
		_, _, err = rcv.ReceiveToDir(ctx, tr.Code(), dir, nil)
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
		tr, err := snd.SendFile(ctx, "no.bin", 10, pattern(10), wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		offer, err := rcv.Receive(ctx, tr.Code())
		if err != nil {
			t.Fatal(err)
		}
		if err := offer.Reject(ctx); err != nil {
			t.Fatal(err)
		}
		err = tr.Wait()
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
		_, _, rerr := rcv.ReceiveToDir(ctx, "78-wrong-code", out, nil)
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
		_, _, rerr := rcv.ReceiveToDir(ctx, tr.Code(), out, nil)
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
			_, _, rerr := rcv.ReceiveToDir(rctx, tr.Code(), out, rprog)
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
		tr, err := snd.SendFile(ctx, "x.bin", 10, pattern(10), wormhole.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		offer, err := rcv.Receive(ctx, tr.Code())
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		start := time.Now()
		rerr := offer.Accept(rctx, io.Discard, nil)
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
