//go:build !js

package wormhole

// Sessions between two of our own Wormholes, on our relay started in this
// process (internal/relaytest, which does not build for GOOS=js).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/internal/peers"
	"github.com/wasmhole/wasmhole/internal/relaytest"
)

// TestTwoWormholes: two of ours through our mailbox server, concurrently,
// with messages in both directions and derived keys that agree.
func TestTwoWormholes(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	ctx := testCtx(t, 60*time.Second)
	a := newWormhole(t, ctx, srv.MailboxURL)
	b := newWormhole(t, ctx, srv.MailboxURL)
	code, err := a.AllocateCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AllocateCode(ctx); !errors.Is(err, ErrCodeSet) {
		t.Fatalf("second AllocateCode: %v", err)
	}
	if err := b.SetCode(ctx, "x-"+code); !errors.Is(err, ErrBadCode) {
		t.Fatalf("bad code: %v", err)
	}
	if err := b.SetCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, pair := range [][2]*Wormhole{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := from.Send(ctx, []byte(fmt.Sprintf("%s-%d", from.Side(), i))); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				msg, err := to.Receive(ctx)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("%s-%d", from.Side(), i); string(msg) != want {
					errs <- fmt.Errorf("got %q, want %q", msg, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	va, err := a.WaitVerified(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := b.WaitVerified(ctx)
	if len(va) != 32 || !bytes.Equal(va, vb) {
		t.Fatalf("verifiers %x %x", va, vb)
	}
	ka, err := a.DeriveKey("purpose", 24)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.DeriveKey("purpose", 24)
	if !bytes.Equal(ka, kb) {
		t.Fatal("derived keys differ")
	}
	if string(a.PeerVersions()) != "{}" {
		t.Fatalf("peer versions %s", a.PeerVersions())
	}
	for _, w := range []*Wormhole{a, b} {
		if err := w.Close(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := w.Send(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if _, err := w.Receive(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after Close: %v", err)
		}
	}
}

// TestCrowded: a third side on a nameplate gets ErrCrowded from the
// server. The two sides holding it speak the bare mailbox protocol (bind,
// claim, then silence): two Wormholes would exchange their PAKE messages
// and release the nameplate, on a fast server before the third arrives.
func TestCrowded(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	ctx := testCtx(t, 60*time.Second)
	for _, side := range []string{"aaaaaaaaaa", "bbbbbbbbbb"} {
		claimRaw(t, ctx, srv.MailboxURL, side, "12")
	}
	err := newWormhole(t, ctx, srv.MailboxURL).SetCode(ctx, "12-crowded-room")
	if !errors.Is(err, ErrCrowded) {
		t.Fatalf("third side: %v", err)
	}
}

// claimRaw binds side and claims nameplate over a bare WebSocket, waits
// for "claimed" and keeps the connection open until the test ends.
func claimRaw(t *testing.T, ctx context.Context, url, side, nameplate string) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	for _, cmd := range []string{
		fmt.Sprintf(`{"type": "bind", "appid": %q, "side": %q}`, AppID, side),
		fmt.Sprintf(`{"type": "claim", "nameplate": %q}`, nameplate),
	} {
		if err := c.Write(ctx, websocket.MessageText, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for claimed: %v", err)
		}
		if strings.Contains(string(msg), `"claimed"`) {
			return
		}
		if strings.Contains(string(msg), `"error"`) {
			t.Fatalf("claim: %s", msg)
		}
	}
}

func TestContextAndDial(t *testing.T) {
	t.Run("unreachable server", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		port := peers.FreePort(t)
		_, err := (&Client{MailboxURL: fmt.Sprintf("ws://127.0.0.1:%d/v1", port)}).New(ctx)
		if err == nil || !strings.Contains(err.Error(), "connecting") {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("receive times out", func(t *testing.T) {
		srv := relaytest.Start(t, relaytest.Options{})
		w := newWormhole(t, testCtx(t, 30*time.Second), srv.MailboxURL)
		if _, err := w.AllocateCode(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := w.Receive(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Receive: %v", err)
		}
		// The session is still usable after a caller gave up, and closes
		// lonely without error.
		if err := w.Close(testCtx(t, 10*time.Second), ""); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAppVersions: Client.AppVersions reaches the peer as written, with
// our resume advertisement added for a session that may resume; what is
// not a JSON object is refused before anything is dialled.
func TestAppVersions(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	ctx := testCtx(t, 60*time.Second)
	tool := []byte(`{"tool":"x","v":[1,2]}`)
	for _, tc := range []struct {
		name   string
		send   bool // NewSend rather than New
		resume time.Duration
		want   string
	}{
		{"New", false, 0, `{"tool":"x","v":[1,2]}`},
		{"NewSend", true, 0, `{"tool":"x","v":[1,2],"wasmhole":{"resume":1}}`},
		{"NewSend without resume", true, -1, `{"tool":"x","v":[1,2]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{MailboxURL: srv.MailboxURL, AppVersions: tool, ResumeTimeout: tc.resume}
			open := c.New
			if tc.send {
				open = c.NewSend
			}
			a, err := open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close(ctx, "")
			b := newWormhole(t, ctx, srv.MailboxURL)
			code, err := a.AllocateCode(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.SetCode(ctx, code); err != nil {
				t.Fatal(err)
			}
			if _, err := b.WaitVerified(ctx); err != nil {
				t.Fatal(err)
			}
			if got := b.PeerVersions(); string(got) != tc.want {
				t.Errorf("peer saw %s, want %s", got, tc.want)
			}
			if got := advertisesResume(b.PeerVersions()); got != a.resume {
				t.Errorf("peer sees resume %v, the session thinks %v", got, a.resume)
			}
		})
	}
	for _, bad := range []string{`[]`, `{"a":`, `"x"`} {
		c := &Client{MailboxURL: "ws://127.0.0.1:1/v1", AppVersions: []byte(bad)}
		for _, open := range []func(context.Context) (*Wormhole, error){c.New, c.NewSend} {
			if w, err := open(ctx); err == nil || !strings.Contains(err.Error(), "AppVersions must be a JSON object") {
				t.Errorf("AppVersions %s: %v", bad, err)
				if w != nil {
					w.Close(ctx, "")
				}
			}
		}
	}
}
