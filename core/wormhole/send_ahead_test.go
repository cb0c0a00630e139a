//go:build !js

package wormhole_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/relaytest"
)

// A page allocates the code while the user is still choosing what to
// send (SendOptions.Wormhole): the send then reports that code at once and
// runs on that session; a different Code is refused, not silently ignored.
func TestSendOnAllocatedWormhole(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	ctx := xferCtx(t, time.Minute)
	snd, rcv, _, _ := coreClients(t, srv, true)

	w, err := snd.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AllocateCode(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := snd.SendText(ctx, "x", wormhole.SendOptions{Wormhole: w, Code: "9-not-it"}); !errors.Is(err, wormhole.ErrCodeSet) {
		t.Fatalf("a Code other than the wormhole's: %v, want ErrCodeSet", err)
	}

	w, err = snd.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, err := w.AllocateCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	start := time.Now()
	tr, err := snd.SendText(ctx, xferText, wormhole.SendOptions{Wormhole: w, OnCode: func(c string) { got = c }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("code known %v after SendText began (allocated ahead)", time.Since(start))
	if got != code || tr.Code() != code {
		t.Fatalf("OnCode %q, Code() %q, want the allocated %q", got, tr.Code(), code)
	}
	offer, err := rcv.Receive(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if offer.Text != xferText {
		t.Fatalf("text %q", offer.Text)
	}
	if err := tr.Wait(); err != nil {
		t.Fatal(err)
	}
}
