//go:build !js

package relaytest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestStart: the mailbox welcomes a client, and the transit relay pairs a
// TCP client with a WebSocket one and counts what it carried.
func TestStart(t *testing.T) {
	r := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	mb, _, err := websocket.Dial(ctx, r.MailboxURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.CloseNow()
	if _, msg, err := mb.Read(ctx); err != nil || !strings.Contains(string(msg), `"welcome"`) {
		t.Fatalf("first mailbox message %q, %v; want a welcome", msg, err)
	}

	token := strings.Repeat("ab", 32)
	tcp, err := net.Dial("tcp", r.TransitAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	fmt.Fprintf(tcp, "please relay %s for side %s\n", token, strings.Repeat("1", 16))
	ws, _, err := websocket.Dial(ctx, r.TransitURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	line := fmt.Sprintf("please relay %s for side %s\n", token, strings.Repeat("2", 16))
	if err := ws.Write(ctx, websocket.MessageBinary, []byte(line)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tcp)
	if ok, err := br.ReadString('\n'); ok != "ok\n" || err != nil {
		t.Fatalf("tcp side got %q, %v", ok, err)
	}
	if _, ok, err := ws.Read(ctx); string(ok) != "ok\n" || err != nil {
		t.Fatalf("ws side got %q, %v", ok, err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello" {
		t.Fatalf("relayed %q, %v", got, err)
	}
	r.WaitRelayed(t, 5)
	t.Logf("relayed %d bytes", r.BytesRelayed())
}
