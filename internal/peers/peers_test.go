package peers

import (
	"context"
	"fmt"
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

// TestUpstreamPair proves the upstream helpers: today's mailbox server and
// transit relay start, and two of today's CLIs move a file through them
// over the relay (both --no-listen), which logs the relayed bytes.
func TestUpstreamPair(t *testing.T) {
	cli := UpstreamCLI(t)
	srv := StartUpstream(t)
	src, dst := t.TempDir(), t.TempDir()
	sum := WriteRandomFile(t, src+"/f.bin", 300000)
	args := []string{"--relay-url", srv.MailboxURL, "--transit-helper", srv.TransitHelper()}
	send := Start(t, src, nil, "", cli, append(args, "send", "--no-listen", "--hide-progress", "f.bin")...)
	code := send.Code(t, 60*time.Second)
	recv := Start(t, dst, nil, "", cli, append(args, "receive", "--no-listen", "--hide-progress", "--accept-file", code)...)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := recv.Wait(ctx); err != nil {
		t.Fatalf("receive: %v\n%s", err, recv.Output())
	}
	if err := send.Wait(ctx); err != nil {
		t.Fatalf("send: %v\n%s", err, send.Output())
	}
	if got := FileSHA256(t, dst+"/f.bin"); got != sum {
		t.Fatalf("sha256 %s, want %s", got, sum)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.RelayedPairs(t) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upstream relay logged no relayed session")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(srv.TransitWebSocket, "ws://127.0.0.1:") || !listening(portOf(t, srv.TransitWebSocket)) {
		t.Fatalf("WebSocket side %q not listening", srv.TransitWebSocket)
	}
}

func portOf(t *testing.T, url string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(url[strings.LastIndex(url, ":")+1:], "%d", &port); err != nil {
		t.Fatalf("no port in %q", url)
	}
	return port
}
