//go:build !js

package transitnet

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/core/transit"
)

// canTCP: native code dials TCP hints and relays.
const canTCP = true

// Listener is the TCP port behind our direct hints. Connections that
// arrive before Connect runs wait in the kernel's backlog.
type Listener struct {
	ln   net.Listener
	once sync.Once
	err  error
}

// Listen opens one random TCP port on all addresses and returns it with
// one direct hint per non-loopback address of this machine, IPv4 first,
// like Python. IPv6 link-local addresses are left out: a peer cannot dial
// them without knowing our interface. With no such address there are no
// hints (Python would then offer 127.0.0.1; a peer on another machine
// cannot use that, and one on this machine can use a relay).
func Listen() (*Listener, []transit.DirectHint, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return nil, nil, fmt.Errorf("transit: listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("transit: listing local addresses: %w", err)
	}
	return &Listener{ln: ln}, directHints(addrs, port), nil
}

func directHints(addrs []net.Addr, port int) []transit.DirectHint {
	var v4, v6 []transit.DirectHint
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP
		if ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		if ip4 := ip.To4(); ip4 != nil {
			v4 = append(v4, transit.DirectHint{Hostname: ip4.String(), Port: port})
		} else if !ip.IsLinkLocalUnicast() {
			v6 = append(v6, transit.DirectHint{Hostname: ip.String(), Port: port})
		}
	}
	return append(v4, v6...)
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Port is the listening port.
func (l *Listener) Port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// Close stops listening. It may be called more than once.
func (l *Listener) Close() error {
	l.once.Do(func() { l.err = l.ln.Close() })
	return l.err
}

// startAccept hands every inbound connection to the race until the
// listener closes (Connect closes it when it returns).
func startAccept(l *Listener, r *runner) {
	go func() {
		for {
			c, err := l.ln.Accept()
			if err != nil {
				return
			}
			if !r.send(acceptDone{c}) {
				c.Close()
				return
			}
		}
	}()
}

func dial(ctx context.Context, d transit.Dial, _ bool) (net.Conn, error) {
	switch d.Kind {
	case transit.KindTCP:
		var nd net.Dialer
		return nd.DialContext(ctx, "tcp", d.Addr)
	case transit.KindWS:
		return dialWebSocket(ctx, d.URL)
	}
	return nil, fmt.Errorf("transit: cannot dial %q", d.Kind)
}

// dialWebSocket opens a WebSocket relay connection as a byte stream: each
// Write is one binary message (so the relay line goes out as a message of
// its own, as the relay requires) and reads return the received messages'
// bytes back to back (their boundaries mean nothing). The connection is
// not tied to ctx once it is open.
func dialWebSocket(ctx context.Context, url string) (net.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	return websocket.NetConn(context.WithoutCancel(ctx), c, websocket.MessageBinary), nil
}

// ReadAhead does nothing natively: the kernel takes in what a TCP or
// WebSocket peer sends whether or not a read is waiting (stream_js.go
// says why the browser needs it).
func ReadAhead(net.Conn) {}
