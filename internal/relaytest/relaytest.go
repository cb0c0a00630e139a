//go:build !js

// Package relaytest runs our own relay inside a test process: the mailbox
// server (relay/mailboxws) and the transit relay (relay/transitnet), with
// WebSocket transit on the HTTP port's /transit and TCP transit on a port of
// its own, all on 127.0.0.1 ephemeral ports.
//
// Tests where both ends are our code use it instead of the reference
// servers, so they need nothing installed and cannot clash over ports with
// tests running in parallel. Tests about interoperability keep running the
// real reference programs (internal/peers): a relay we wrote proves nothing
// about theirs.
//
//	r := relaytest.Start(t, relaytest.Options{})
//	c := &wormhole.Client{MailboxURL: r.MailboxURL, Relays: []transit.RelayHint{r.TCPHint()}}
//
// Everything stops when the test ends. The package builds natively only:
// the servers use coder/websocket's server side, which GOOS=js lacks.
package relaytest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/relay/mailboxws"
	"github.com/wasmhole/wasmhole/relay/transitnet"
)

// Options configure Start. The zero value is a relay with an in-memory
// store and the servers' default limits (loopback clients are exempt from
// the per-address ones).
type Options struct {
	// Mailbox configures the mailbox server.
	Mailbox mailboxws.Options
	// Transit configures the transit relay. ExemptLoopback is always set:
	// every test client is on loopback.
	Transit transitnet.Options
	// TransitTCP is the TCP transit listen address (default
	// "127.0.0.1:0", an ephemeral port).
	TransitTCP string
}

// Relay is a running in-process relay.
type Relay struct {
	URL         string // http://127.0.0.1:PORT, the HTTP port
	MailboxURL  string // ws://127.0.0.1:PORT/v1
	TransitURL  string // ws://127.0.0.1:PORT/transit, WebSocket transit
	TransitAddr string // 127.0.0.1:PORT, TCP transit

	Mailbox *mailboxws.Server
	Transit *transitnet.Server
}

// Start starts a relay and stops it when the test ends.
func Start(t testing.TB, opts Options) *Relay {
	t.Helper()
	mb, err := mailboxws.New(opts.Mailbox)
	if err != nil {
		t.Fatalf("relaytest: mailbox server: %v", err)
	}
	topts := opts.Transit
	topts.ExemptLoopback = true
	tr, err := transitnet.New(topts)
	if err != nil {
		t.Fatalf("relaytest: transit relay: %v", err)
	}
	if opts.TransitTCP == "" {
		opts.TransitTCP = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.TransitTCP)
	if err != nil {
		t.Fatalf("relaytest: transit listener: %v", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/v1", mb)
	mux.Handle("/transit", tr)
	hs := httptest.NewServer(mux)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = tr.ServeTCP(ctx, ln); done <- struct{}{} }()
	go func() { _ = mb.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		cancel()
		// The servers close their hijacked connections; httptest's Close
		// then finds only its own.
		if err := mb.Shutdown(sctx); err != nil {
			t.Logf("relaytest: mailbox shutdown: %v", err)
		}
		if err := tr.Shutdown(sctx); err != nil {
			t.Logf("relaytest: transit shutdown: %v", err)
		}
		hs.Close()
		<-done
		<-done
	})

	host := strings.TrimPrefix(hs.URL, "http://")
	return &Relay{
		URL:         hs.URL,
		MailboxURL:  "ws://" + host + "/v1",
		TransitURL:  "ws://" + host + "/transit",
		TransitAddr: ln.Addr().String(),
		Mailbox:     mb,
		Transit:     tr,
	}
}

// TransitHelper is the TCP transit relay in the Python CLI's spelling,
// tcp:HOST:PORT.
func (r *Relay) TransitHelper() string { return "tcp:" + r.TransitAddr }

// TCPHint is the relay hint for the TCP transit port.
func (r *Relay) TCPHint() transit.RelayHint {
	host, port, _ := net.SplitHostPort(r.TransitAddr)
	p, _ := strconv.Atoi(port)
	return transit.RelayHint{Name: "relaytest tcp", TCP: []transit.DirectHint{{Hostname: host, Port: p}}}
}

// WebSocketHint is the relay hint for WebSocket transit.
func (r *Relay) WebSocketHint() transit.RelayHint {
	return transit.RelayHint{Name: "relaytest ws", WebSocket: []transit.WebSocketHint{{URL: r.TransitURL}}}
}

// BytesRelayed is how many bytes the transit relay has carried so far,
// both directions of every pair together.
func (r *Relay) BytesRelayed() int64 { return r.Transit.Stats().BytesRelayed }

// WaitRelayed waits up to 10 s until the transit relay has carried at
// least n bytes, and fails the test otherwise. Pairs count their bytes as
// they copy, so the figure may trail the clients by a moment.
func (r *Relay) WaitRelayed(t testing.TB, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.BytesRelayed() < n {
		if time.Now().After(deadline) {
			t.Fatalf("relaytest: the relay carried %d bytes, want >= %d", r.BytesRelayed(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
