package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/wasmhole/wasmhole/relay/iplimit"
	"github.com/wasmhole/wasmhole/relay/transit"
)

// ErrUpstream wraps a malformed TransitConfig.Upstream.
var ErrUpstream = errors.New("host: bad transit upstream")

// TransitConfig configures NewTransit.
type TransitConfig struct {
	// Upstream is "host:port" of a TCP transit relay to bridge every
	// WebSocket client to; empty means pair WebSocket clients here.
	Upstream string
	// UnpairedTimeout closes a waiting client in pairing mode (0: wait
	// forever, like the reference relay).
	UnpairedTimeout time.Duration
	// Limits are the per-address connection limits. They only bind in
	// pairing mode: in bridge mode every connection has a Durable Object
	// (and so a Transit) of its own.
	Limits iplimit.Config
}

// Transit serves /transit WebSockets (see the package documentation).
type Transit struct {
	m          *transit.Machine
	handshaken map[transit.ConnID]bool // pairing mode: first message seen
	host       string
	port       int
	bridged    map[uint64]*bridgeConn // bridge mode: live connections
	admit      admission
}

type bridgeConn struct {
	opened time.Time
	req    transit.Request
	shook  bool
}

// NewTransit validates the configuration.
func NewTransit(cfg TransitConfig) (*Transit, error) {
	h := &Transit{
		m:          transit.New(transit.Config{UnpairedTimeout: cfg.UnpairedTimeout}),
		handshaken: map[transit.ConnID]bool{},
		admit:      newAdmission(cfg.Limits),
	}
	if cfg.Upstream != "" {
		host, portStr, err := net.SplitHostPort(cfg.Upstream)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrUpstream, cfg.Upstream, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65535 || host == "" {
			return nil, fmt.Errorf("%w %q: want host:port", ErrUpstream, cfg.Upstream)
		}
		h.host, h.port = host, port
		h.bridged = map[uint64]*bridgeConn{}
	}
	return h, nil
}

// Bridging reports whether clients are bridged to an upstream relay.
func (h *Transit) Bridging() bool { return h.bridged != nil }

// Open reports a new WebSocket from client address ip.
func (h *Transit) Open(conn uint64, ip string, now time.Time) []Cmd {
	if err := h.admit.admit(conn, ip, now); err != nil {
		return []Cmd{{Kind: KindClose, Conn: conn, Code: 1008, Reason: truncate(err.Error(), 120)}}
	}
	if h.bridged != nil {
		h.bridged[conn] = &bridgeConn{opened: now}
		return nil
	}
	return h.convert(h.m.Handle(transit.Connected{Conn: transit.ConnID(conn), Now: now}))
}

// Frame reports one message received before the connection was paired or
// bridged; the first is the handshake line. After KindPair or KindBridge
// the shim copies bytes itself and stops calling Frame. Transit over
// WebSocket is binary only (docs/protocol.md §4.4): a TEXT message closes the
// connection with 1003, as the reference relay drops it.
func (h *Transit) Frame(conn uint64, data []byte, text bool, now time.Time) []Cmd {
	if text {
		return []Cmd{{Kind: KindClose, Conn: conn, Code: 1003, Reason: "transit takes binary messages only"}}
	}
	if h.bridged != nil {
		return h.bridgeFrame(conn, data, now)
	}
	c := transit.ConnID(conn)
	if !h.handshaken[c] {
		h.handshaken[c] = true
		return h.convert(h.m.Handle(transit.Handshake{Conn: c, Line: data, Now: now}))
	}
	// Bytes after the line but before "ok": the machine answers impatient.
	return h.convert(h.m.Handle(transit.Data{Conn: c, Now: now}))
}

// Timer reports that conn's timer fired.
func (h *Transit) Timer(conn uint64, now time.Time) []Cmd {
	if h.bridged != nil {
		return nil
	}
	return h.convert(h.m.Handle(transit.TimerFired{Conn: transit.ConnID(conn), Now: now}))
}

// Gone reports that a WebSocket closed after carrying n payload bytes.
func (h *Transit) Gone(conn uint64, n int64, now time.Time) []Cmd {
	h.admit.release(conn)
	if h.bridged != nil {
		b := h.bridged[conn]
		if b == nil {
			return nil
		}
		delete(h.bridged, conn)
		mood := "bridged"
		if !b.shook {
			mood = string(transit.MoodErrory)
		}
		return []Cmd{usageLog(conn, mood, b.req.Token, now.Sub(b.opened), n)}
	}
	delete(h.handshaken, transit.ConnID(conn))
	return h.convert(h.m.Handle(transit.Disconnected{Conn: transit.ConnID(conn), Bytes: n, Now: now}))
}

// Stats are the pairing machine's counters (zero in bridge mode).
func (h *Transit) Stats() transit.Stats { return h.m.Stats() }

func (h *Transit) bridgeFrame(conn uint64, data []byte, now time.Time) []Cmd {
	b := h.bridged[conn]
	if b == nil || b.shook {
		return nil
	}
	req, err := transit.ParseLine(data)
	if err != nil {
		// Answer like the relay would, without opening an upstream
		// connection for garbage.
		delete(h.bridged, conn)
		return []Cmd{
			{Kind: KindSend, Conn: conn, Data: transit.ReplyBadHandshake},
			{Kind: KindClose, Conn: conn, Code: 1000, Reason: "bad handshake"},
			usageLog(conn, string(transit.MoodErrory), "", now.Sub(b.opened), 0),
		}
	}
	b.req, b.shook = req, true
	// Over TCP the relay reads up to "\n"; over WebSocket the newline is
	// optional. Request.String is the canonical line, newline included.
	return []Cmd{{Kind: KindBridge, Conn: conn, Host: h.host, Port: h.port, Data: []byte(req.String())}}
}

func (h *Transit) convert(acts []transit.Action) []Cmd {
	var cmds []Cmd
	for _, a := range acts {
		switch a := a.(type) {
		case transit.Send:
			cmds = append(cmds, Cmd{Kind: KindSend, Conn: uint64(a.Conn), Data: a.Data})
		case transit.Close:
			reason := ""
			if a.Why != nil {
				reason = a.Why.Error()
			}
			cmds = append(cmds, Cmd{Kind: KindClose, Conn: uint64(a.Conn), Code: 1000, Reason: truncate(reason, 120)})
		case transit.Pair:
			cmds = append(cmds, Cmd{Kind: KindPair, Conn: uint64(a.A), Peer: uint64(a.B)})
		case transit.SetTimer:
			cmds = append(cmds, Cmd{Kind: KindTimer, Conn: uint64(a.Conn), After: a.After})
		case transit.StopTimer:
			cmds = append(cmds, Cmd{Kind: KindStopTimer, Conn: uint64(a.Conn)})
		case transit.Usage:
			cmds = append(cmds, usageLog(uint64(a.Conn), string(a.Mood), a.Token, a.Duration, a.Bytes))
		}
	}
	return cmds
}

// usageLog is one JSON line per finished connection, like the reference
// relay's usage records (the token is shortened: it is a secret-derived
// value and only useful for matching the two sides of a pair).
func usageLog(conn uint64, mood, token string, d time.Duration, n int64) Cmd {
	if len(token) > 8 {
		token = token[:8]
	}
	b, _ := json.Marshal(map[string]any{
		"transit": "usage", "conn": conn, "mood": mood, "token": token,
		"seconds": d.Seconds(), "bytes": n,
	})
	return Cmd{Kind: KindLog, Conn: conn, Reason: string(b)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
