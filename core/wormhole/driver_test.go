package wormhole

import (
	"encoding/json"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// proxy is a TCP forwarder on a fixed 127.0.0.1 port that the test can
// cut (close the listener and every connection) and restore, to drop our
// WebSocket mid-session the way a flaky network would.
type proxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(peers.FreePort(t))), target: target}
	p.up()
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *proxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); s.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// down refuses new connections and resets the existing ones.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, like a lost route
		}
		c.Close()
	}
	p.conns = nil
}

// TestReconnect drops our connection twice in the middle of a session
// with the Python CLI: once after the claim (while the sender waits for
// us) and once after the key is confirmed, before our answer. The first
// time the server stays unreachable for a while, so a reconnect attempt
// fails and the backoff is exercised. The session must still complete,
// and the trace must show three connections.
func TestReconnect(t *testing.T) {
	peers.Need(t, "wormhole")
	srv := peers.StartReference(t, 0, 0)
	ctx := testCtx(t, 90*time.Second)
	target := srv.MailboxURL[len("ws://") : len(srv.MailboxURL)-len("/v1")]
	px := startProxy(t, target)

	send := peers.Start(t, "", nil, "", "wormhole", "--relay-url", srv.MailboxURL, "send", "--text", text)
	code := send.Code(t, 30*time.Second)

	w := newWormhole(t, ctx, "ws://"+px.addr+"/v1")
	if err := w.SetCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	px.down()
	time.Sleep(1500 * time.Millisecond) // at least one reconnect attempt is refused
	px.up()

	if _, err := w.WaitVerified(ctx); err != nil {
		t.Fatalf("%v\npython:\n%s", err, send.Output())
	}
	offer, err := w.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Offer struct{ Message string } `json:"offer"`
	}
	if err := json.Unmarshal(offer, &o); err != nil || o.Offer.Message != text {
		t.Fatalf("offer %s", offer)
	}
	px.down()
	px.up()
	if err := w.Send(ctx, []byte(`{"answer": {"message_ack": "ok"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := send.Wait(ctx); err != nil {
		t.Fatalf("python send: %v\n%s", err, send.Output())
	}

	var doc struct {
		Messages []struct {
			Dir  string `json:"dir"`
			Type string `json:"type"`
			Conn int    `json:"conn"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(w.Trace(), &doc); err != nil {
		t.Fatal(err)
	}
	binds := map[int]bool{}
	for _, m := range doc.Messages {
		if m.Dir == "send" && m.Type == "bind" {
			binds[m.Conn] = true
		}
	}
	if !binds[1] || !binds[2] || !binds[3] {
		t.Fatalf("expected binds on connections 1, 2 and 3: %s", w.Trace())
	}
}
