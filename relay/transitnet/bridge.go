package transitnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/wasmhole/wasmhole/relay/transit"
)

// Bridge mode: with Options.Upstream set, a WebSocket client is not paired
// here but relayed to a TCP transit relay (typically the public one, which
// stock CLIs use without flags): the relay reads the client's handshake
// line, opens one TCP connection to the upstream for it, sends the line
// there and then copies bytes both ways until either side ends. The
// upstream answers "ok\n" and pairs; this relay is a pipe. The per-address
// limits, the idle timeout and the byte cap apply as for a local pair, and
// so does backpressure: each direction copies through one 64 KiB buffer and
// blocks while its destination does.

// transportUpstream labels connections to the upstream relay in metrics.
const transportUpstream = "upstream"

// upstreamDialTimeout bounds connecting to the upstream relay.
const upstreamDialTimeout = 10 * time.Second

// ErrUpstream: the upstream transit relay could not be reached.
var ErrUpstream = errors.New("transitnet: transit upstream unreachable")

// serveBridge runs one WebSocket client in bridge mode: handshake, connect
// upstream, relay.
func (s *Server) serveBridge(c *conn) {
	defer s.wg.Done()
	defer s.forget(c)
	req, ok := s.bridgeHandshake(c)
	if !ok {
		return
	}
	up, err := s.dialUpstream(c, req)
	if err != nil {
		s.countError(err)
		s.log.V(1).Info("transit upstream failed", "remote", c.remote, "upstream", s.upstream, "err", err.Error())
		c.closeNow(err)
		return
	}
	p := newPair(s, c, up)
	s.mu.Lock()
	c.pair, up.pair = p, p
	s.mu.Unlock()
	s.met.pairs.WithLabelValues(pairKind(c.transport, up.transport)).Inc()
	p.start()
	go func() {
		defer s.wg.Done() // taken by start(up)
		defer s.forget(up)
		p.directionDone(up, p.relay(up, nil, nil))
	}()
	p.directionDone(c, p.relay(c, nil, nil))
}

// bridgeHandshake reads and checks the client's handshake line, answering
// a bad one as the relay would, without troubling the upstream.
func (s *Server) bridgeHandshake(c *conn) (transit.Request, bool) {
	timeout := s.CurrentLimits().UnpairedTimeout
	if timeout <= 0 {
		timeout = DefaultUnpairedTimeout
	}
	line, _, err := c.readLine(timeout)
	if err == nil {
		var req transit.Request
		if req, err = transit.ParseLine(line); err == nil {
			return req, true
		}
	}
	switch {
	case errors.Is(err, transit.ErrLineTooLong), errors.Is(err, transit.ErrBadHandshake):
		s.countError(err)
		if c.writeReply(transit.ReplyBadHandshake) == nil {
			c.closeAfterReply(err)
			return transit.Request{}, false
		}
	case errors.Is(err, ErrTextMessage):
		s.countError(err)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		s.met.errors.WithLabelValues("handshake_timeout").Inc()
	}
	c.closeNow(err)
	return transit.Request{}, false
}

// dialUpstream opens the upstream connection for c and sends it the
// handshake (in its canonical form, newline included: over WebSocket the
// newline is optional, over TCP it ends the line).
func (s *Server) dialUpstream(c *conn, req transit.Request) (*conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), upstreamDialTimeout)
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel)
	defer stop()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.upstream)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	up := s.newConn(transportUpstream, s.upstream, func() {})
	up.tcp = nc.(*net.TCPConn)
	if !s.start(up) {
		return nil, ErrShuttingDown
	}
	if err := up.writeReply([]byte(req.String())); err != nil {
		s.forget(up)
		s.wg.Done() // start(up)'s; up never gets a goroutine
		return nil, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	return up, nil
}
