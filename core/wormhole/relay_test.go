//go:build !js

package wormhole_test

// Our own relay, in-process on loopback ports, for the API's examples
// and the our-code-to-our-code tests (as wormhole-william runs its API
// tests on an in-process server). Interop tests use the reference
// programs instead.

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/relay/mailboxws"
	"github.com/wasmhole/wasmhole/relay/transitnet"
)

// localRelay is a mailbox server and a TCP transit relay.
type localRelay struct {
	MailboxURL string // ws://127.0.0.1:port/v1
	Transit    string // tcp:127.0.0.1:port

	stop func()
}

// startRelay starts both servers on free loopback ports.
func startRelay() (*localRelay, error) {
	ctx, cancel := context.WithCancel(context.Background())
	mb, err := mailboxws.New(mailboxws.Options{})
	if err != nil {
		cancel()
		return nil, err
	}
	go mb.Run(ctx)
	web := httptest.NewServer(mb)
	tr, err := transitnet.New(transitnet.Options{})
	if err != nil {
		web.Close()
		cancel()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		web.Close()
		cancel()
		return nil, err
	}
	go tr.ServeTCP(ctx, ln)
	return &localRelay{
		MailboxURL: "ws" + strings.TrimPrefix(web.URL, "http") + "/v1",
		Transit:    "tcp:" + ln.Addr().String(),
		stop: func() {
			cancel()
			sctx, done := context.WithTimeout(context.Background(), 0)
			defer done()
			_ = mb.Shutdown(sctx)
			_ = tr.Shutdown(sctx)
			web.Close()
			ln.Close()
		},
	}, nil
}

// Close stops both servers.
func (r *localRelay) Close() { r.stop() }

// client is a Client of this relay, relay-only so that the transfer goes
// through it (and no direct listener is opened).
func (r *localRelay) client() *wormhole.Client {
	return r.clientVia(r.Transit)
}

// clientVia is a relay-only client whose transit relay is hint
// ("tcp:host:port"), e.g. a proxy in front of the relay.
func (r *localRelay) clientVia(hint string) *wormhole.Client {
	h, err := transit.ParseRelay(hint)
	if err != nil {
		panic(fmt.Sprintf("relay hint %q: %v", hint, err))
	}
	return &wormhole.Client{MailboxURL: r.MailboxURL, Relays: []transit.RelayHint{h}, RelayOnly: true}
}
