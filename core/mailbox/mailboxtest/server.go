// Package mailboxtest is an in-memory mailbox server for unit tests of the
// client machines. It follows the reference server's rules (docs/protocol.md
// §1.2–1.5) closely enough to catch protocol mistakes: an ack before every
// typed command, one bind/allocate/claim/release/open/close per connection
// with the reference error strings, claim opens the mailbox, open replays
// stored messages, add echoes to every listener, a third side is
// "crowded", claiming again after a release is "reclaimed", and a mailbox
// is deleted once every side closed it. It is not a server to deploy:
// there is no network, no persistence and no expiry. Interop is proven
// against the real reference server elsewhere.
package mailboxtest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Server holds nameplates and mailboxes. It is not safe for concurrent use.
type Server struct {
	// Welcome is sent on every new connection; nil means
	// {"current_cli_version": "0.12.0"}.
	Welcome map[string]any
	// Log records every message in both directions, for assertions.
	Log []Entry

	nameplates map[string]*nameplate
	mailboxes  map[string]*mbox
	nextBox    int
	now        float64
	conns      int
}

// Entry is one logged message.
type Entry struct {
	Conn int    // connection number
	Dir  string // "c2s" or "s2c"
	Msg  map[string]any
}

type nameplate struct {
	mailbox string
	sides   map[string]bool // side → still claimed
}

type mbox struct {
	msgs   []map[string]any
	sides  map[string]bool // side → closed
	listen map[*Conn]bool
}

// Conn is one client connection.
type Conn struct {
	s      *Server
	n      int
	out    [][]byte
	closed bool

	side                                              string
	bound, allocated, claimed, released, opened, done bool
	claim                                             string
	box                                               string
}

// NewServer returns an empty server.
func NewServer() *Server {
	return &Server{nameplates: map[string]*nameplate{}, mailboxes: map[string]*mbox{}}
}

// Connect opens a connection; the welcome is already waiting in Drain.
func (s *Server) Connect() *Conn {
	s.conns++
	c := &Conn{s: s, n: s.conns}
	w := s.Welcome
	if w == nil {
		w = map[string]any{"current_cli_version": "0.12.0"}
	}
	c.push(map[string]any{"type": "welcome", "welcome": w})
	return c
}

// Nameplates lists the nameplates that exist.
func (s *Server) Nameplates() []string {
	var ids []string
	for id := range s.nameplates {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Mailboxes counts the mailboxes that exist.
func (s *Server) Mailboxes() int { return len(s.mailboxes) }

// Messages returns the stored messages of a mailbox.
func (s *Server) Messages(id string) []map[string]any {
	if mb := s.mailboxes[id]; mb != nil {
		return mb.msgs
	}
	return nil
}

// Drain returns and forgets the messages queued for the client.
func (c *Conn) Drain() [][]byte {
	out := c.out
	c.out = nil
	return out
}

// Close drops the connection (its subscriptions end).
func (c *Conn) Close() {
	c.closed = true
	if c.box != "" {
		if mb := c.s.mailboxes[c.box]; mb != nil {
			delete(mb.listen, c)
		}
	}
}

// Closed reports whether Close was called.
func (c *Conn) Closed() bool { return c.closed }

func (c *Conn) push(m map[string]any) {
	if c.closed {
		return
	}
	c.s.now += 0.001
	m["server_tx"] = c.s.now
	c.s.Log = append(c.s.Log, Entry{Conn: c.n, Dir: "s2c", Msg: m})
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	c.out = append(c.out, b)
}

type srvErr string

// Receive handles one client message.
func (c *Conn) Receive(data []byte) {
	if c.closed {
		return
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.push(map[string]any{"type": "error", "error": "bad JSON", "orig": string(data)})
		return
	}
	c.s.Log = append(c.s.Log, Entry{Conn: c.n, Dir: "c2s", Msg: m})
	typ, ok := m["type"].(string)
	if !ok {
		c.push(map[string]any{"type": "error", "error": "missing 'type'", "orig": m})
		return
	}
	c.push(map[string]any{"type": "ack", "id": m["id"]})
	if err := c.handle(typ, m); err != "" {
		c.push(map[string]any{"type": "error", "error": string(err), "orig": m})
	}
}

func (c *Conn) handle(typ string, m map[string]any) srvErr {
	s := c.s
	str := func(k string) (string, bool) { v, ok := m[k].(string); return v, ok }
	if typ == "ping" {
		c.push(map[string]any{"type": "pong", "pong": m["ping"]})
		return ""
	}
	if typ == "bind" {
		if c.bound {
			return "already bound"
		}
		if _, ok := str("appid"); !ok {
			return "bind requires 'appid'"
		}
		side, ok := str("side")
		if !ok {
			return "bind requires 'side'"
		}
		c.bound, c.side = true, side
		return ""
	}
	if !c.bound {
		return "must bind first"
	}
	switch typ {
	case "allocate":
		if c.allocated {
			return "you already allocated one, don't be greedy"
		}
		c.allocated = true
		id := ""
		for i := 1; ; i++ {
			if s.nameplates[strconv.Itoa(i)] == nil {
				id = strconv.Itoa(i)
				break
			}
		}
		if err := c.claimNameplate(id); err != "" {
			return err
		}
		c.push(map[string]any{"type": "allocated", "nameplate": id})
	case "claim":
		np, ok := str("nameplate")
		if !ok {
			return "claim requires 'nameplate'"
		}
		if c.claimed {
			return "only one claim per connection"
		}
		c.claimed, c.claim = true, np
		if err := c.claimNameplate(np); err != "" {
			return err
		}
		c.push(map[string]any{"type": "claimed", "mailbox": s.nameplates[np].mailbox})
	case "release":
		if c.released {
			return "only one release per connection"
		}
		np, ok := str("nameplate")
		if ok && c.claim != "" && np != c.claim {
			return "release and claim must use same nameplate"
		}
		if !ok {
			if c.claim == "" {
				return "release without nameplate must follow claim"
			}
			np = c.claim
		}
		c.released = true
		if p := s.nameplates[np]; p != nil {
			if _, ok := p.sides[c.side]; ok {
				p.sides[c.side] = false
			}
			still := false
			for _, claimed := range p.sides {
				still = still || claimed
			}
			if !still {
				delete(s.nameplates, np)
			}
		}
		c.push(map[string]any{"type": "released"})
	case "open":
		if c.opened {
			return "only one open per connection"
		}
		id, ok := str("mailbox")
		if !ok {
			return "open requires 'mailbox'"
		}
		c.opened, c.box = true, id
		mb, err := s.openMailbox(id, c.side)
		if err != "" {
			return err
		}
		mb.listen[c] = true
		for _, msg := range mb.msgs {
			c.push(copyMsg(msg))
		}
	case "add":
		if !c.opened {
			return "must open mailbox before adding"
		}
		phase, ok := str("phase")
		if !ok {
			return "missing 'phase'"
		}
		body, ok := str("body")
		if !ok {
			return "missing 'body'"
		}
		mb := s.mailboxes[c.box]
		if mb == nil {
			return "" // deleted meanwhile; the reference would recreate it
		}
		s.now += 0.001
		msg := map[string]any{"type": "message", "side": c.side, "phase": phase, "body": body, "server_rx": s.now, "id": m["id"]}
		mb.msgs = append(mb.msgs, msg)
		for l := range mb.listen {
			l.push(copyMsg(msg))
		}
	case "close":
		if c.done {
			return "only one close per connection"
		}
		id, ok := str("mailbox")
		if ok && c.box != "" && id != c.box {
			return "open and close must use same mailbox"
		}
		if !ok {
			if c.box == "" {
				return "close without mailbox must follow open"
			}
			id = c.box
		}
		c.done = true
		mb, err := s.openMailbox(id, c.side)
		if err != "" {
			return err
		}
		mb.sides[c.side] = true
		delete(mb.listen, c)
		all := true
		for _, closed := range mb.sides {
			all = all && closed
		}
		if all {
			delete(s.mailboxes, id)
			for name, p := range s.nameplates {
				if p.mailbox == id {
					delete(s.nameplates, name)
				}
			}
		}
		c.push(map[string]any{"type": "closed"})
	default:
		return "unknown type"
	}
	return ""
}

func (c *Conn) claimNameplate(id string) srvErr {
	s := c.s
	p := s.nameplates[id]
	if p == nil {
		s.nextBox++
		p = &nameplate{mailbox: fmt.Sprintf("mb%011d", s.nextBox), sides: map[string]bool{}}
		s.nameplates[id] = p
	}
	if claimed, ok := p.sides[c.side]; ok && !claimed {
		return "reclaimed"
	}
	if _, ok := p.sides[c.side]; !ok && len(p.sides) >= 2 {
		return "crowded"
	}
	p.sides[c.side] = true
	_, err := s.openMailbox(p.mailbox, c.side)
	return err
}

func (s *Server) openMailbox(id, side string) (*mbox, srvErr) {
	mb := s.mailboxes[id]
	if mb == nil {
		mb = &mbox{sides: map[string]bool{}, listen: map[*Conn]bool{}}
		s.mailboxes[id] = mb
	}
	if _, ok := mb.sides[side]; !ok {
		if len(mb.sides) >= 2 {
			return nil, "crowded"
		}
		mb.sides[side] = false
	}
	return mb, ""
}

func copyMsg(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
