package peers

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestReferencePair proves the harness itself: the reference servers start,
// and two stock Python CLIs move a text message through them.
func TestReferencePair(t *testing.T) {
	Need(t, "wormhole")
	srv := StartReference(t, 0, 0)
	send := Start(t, "", srv.Env(), "", "wormhole", "send", "--text", "harness ok")
	code := send.Code(t, 30*time.Second)
	recv := Start(t, "", srv.Env(), "", "wormhole", "receive", code)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := recv.Wait(ctx); err != nil {
		t.Fatalf("receive: %v\n%s", err, recv.Output())
	}
	if err := send.Wait(ctx); err != nil {
		t.Fatalf("send: %v\n%s", err, send.Output())
	}
	if !strings.Contains(recv.Output(), "harness ok") {
		t.Fatalf("text not received:\n%s", recv.Output())
	}
}

func TestNetnsAddress(t *testing.T) {
	RequireNetns(t)
	// Inside the namespace the test-only direct address exists and the
	// fixed ports wormhole-william needs are ours alone.
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range ifaces {
		if strings.HasPrefix(a.String(), DirectAddr+"/") {
			found = true
		}
	}
	if !found {
		t.Fatalf("%s not configured in the namespace: %v", DirectAddr, ifaces)
	}
	srv := StartReference(t, 4000, 4001)
	if srv.TransitAddr != "127.0.0.1:4001" {
		t.Fatalf("transit addr %s", srv.TransitAddr)
	}
}

// TestOutputCompleteAfterWait: once Wait returns, Output has everything
// the program printed, its last line too (even without a newline). A
// stock CLI's received text is its last line, read right after Wait.
func TestOutputCompleteAfterWait(t *testing.T) {
	for i := range 200 {
		c := Start(t, "", nil, "", "sh", "-c", "echo first; printf 'last line'")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if out := c.Output(); out != "first\nlast line\n" {
			t.Fatalf("run %d: output right after Wait is %q", i, out)
		}
	}
}
