package transit

import (
	"errors"
	"fmt"
	"time"
)

// Reasons a connection is closed by the machine, carried by [Close.Why] so
// the driver can count errors by kind. ErrBadHandshake and ErrLineTooLong
// (line.go) are reasons too.
var (
	// ErrImpatient: the client sent bytes before it was told "ok".
	ErrImpatient = errors.New("transit: data before ok (impatient)")
	// ErrUnpairedTimeout: nobody with the same token came in time.
	ErrUnpairedTimeout = errors.New("transit: no partner within the unpaired timeout")
	// ErrRedundant: another connection with the same token was paired.
	ErrRedundant = errors.New("transit: redundant connection for a paired token")
)

// ConnID names one client connection; the driver chooses it and must not
// reuse it while the machine knows the connection.
type ConnID uint64

// Mood is the outcome of one connection, as in the reference relay's usage
// records.
type Mood string

// Moods.
const (
	MoodHappy     Mood = "happy"     // paired, and this side finished first
	MoodJilted    Mood = "jilted"    // paired, and the partner finished first
	MoodLonely    Mood = "lonely"    // handshake ok, never paired
	MoodRedundant Mood = "redundant" // dropped: another connection with its token was paired
	MoodImpatient Mood = "impatient" // sent data before "ok"
	MoodErrory    Mood = "errory"    // no valid handshake line
)

// Config holds the machine's settings.
type Config struct {
	// UnpairedTimeout closes a connection that has sent its handshake but
	// found no partner within this time. Zero waits forever, as the
	// reference relay does.
	UnpairedTimeout time.Duration
}

// Event is an input to [Machine.Handle].
type Event interface{ isEvent() }

// Connected registers a new connection.
type Connected struct {
	Conn ConnID
	Now  time.Time
}

// Handshake delivers the connection's handshake line (TCP: the bytes up to
// and including the first newline; WebSocket: the first message).
type Handshake struct {
	Conn ConnID
	Line []byte
	Now  time.Time
}

// Data reports that bytes arrived after the handshake line. Before the
// connection is paired that is a protocol violation; afterwards the driver
// relays them and need not report them.
type Data struct {
	Conn ConnID
	Now  time.Time
}

// TimerFired answers a [SetTimer].
type TimerFired struct {
	Conn ConnID
	Now  time.Time
}

// Disconnected reports that a connection is gone. Bytes is how many bytes
// the relay forwarded from it to its partner.
type Disconnected struct {
	Conn  ConnID
	Bytes int64
	Now   time.Time
}

func (Connected) isEvent()    {}
func (Handshake) isEvent()    {}
func (Data) isEvent()         {}
func (TimerFired) isEvent()   {}
func (Disconnected) isEvent() {}

// Action is an output of [Machine.Handle]; the driver performs them in order.
type Action interface{ isAction() }

// Send writes Data to the connection (one of the Reply byte strings).
type Send struct {
	Conn ConnID
	Data []byte
}

// Close closes the connection after any preceding Send to it was written.
// Why is the reason, for logs and error counters.
type Close struct {
	Conn ConnID
	Why  error
}

// Pair starts relaying between A (the connection that waited) and B. Both
// were sent "ok\n" by the preceding actions, which the driver must have
// written before it forwards any byte. From here on relaying and closing
// are the driver's: when one side ends it flushes and closes the other, and
// reports both with [Disconnected].
type Pair struct{ A, B ConnID }

// SetTimer asks for a [TimerFired] for Conn after After. A later SetTimer
// or StopTimer for the same Conn replaces it.
type SetTimer struct {
	Conn  ConnID
	After time.Duration
}

// StopTimer cancels the timer of Conn.
type StopTimer struct{ Conn ConnID }

// Usage records a finished connection, one per connection.
type Usage struct {
	Conn  ConnID
	Mood  Mood
	Token string // "" if no valid handshake arrived
	// Waiting is the time from the handshake to pairing (or to the end for
	// a connection that never paired).
	Waiting time.Duration
	// Duration is the time from Connected to Disconnected (or Close).
	Duration time.Duration
	Bytes    int64
}

func (Send) isAction()      {}
func (Close) isAction()     {}
func (Pair) isAction()      {}
func (SetTimer) isAction()  {}
func (StopTimer) isAction() {}
func (Usage) isAction()     {}

type state int

const (
	stateConnected state = iota // waiting for the handshake line
	statePending                // handshake ok, waiting for a partner
	statePaired                 // relaying
)

type conn struct {
	state     state
	req       Request
	connected time.Time
	shook     time.Time
	paired    time.Time
	partner   ConnID
}

// Stats is a snapshot of the machine's counters.
type Stats struct {
	Connections int   // known connections (any state)
	Waiting     int   // handshake ok, no partner yet
	ActivePairs int   // pairs with at least one side still connected
	TotalPairs  int64 // pairs formed since start
}

// Machine pairs relay connections by token. It is not safe for concurrent
// use; drivers serialise calls to Handle.
type Machine struct {
	cfg     Config
	conns   map[ConnID]*conn
	pending map[string][]ConnID // token -> waiting connections, oldest first
	active  map[ConnID]bool     // keys: the A side of each active pair
	total   int64
}

// New returns an empty machine.
func New(cfg Config) *Machine {
	return &Machine{
		cfg:     cfg,
		conns:   map[ConnID]*conn{},
		pending: map[string][]ConnID{},
		active:  map[ConnID]bool{},
	}
}

// SetConfig replaces the settings; pending timers keep their old duration.
func (m *Machine) SetConfig(cfg Config) { m.cfg = cfg }

// Stats returns the current counters.
func (m *Machine) Stats() Stats {
	w := 0
	for _, ids := range m.pending {
		w += len(ids)
	}
	return Stats{Connections: len(m.conns), Waiting: w, ActivePairs: len(m.active), TotalPairs: m.total}
}

// Handle feeds one event and returns the actions the driver must perform,
// in order. Events for unknown connections are ignored, so a driver may
// report a connection's end after the machine already closed it.
func (m *Machine) Handle(ev Event) []Action {
	switch ev := ev.(type) {
	case Connected:
		if _, ok := m.conns[ev.Conn]; !ok {
			m.conns[ev.Conn] = &conn{state: stateConnected, connected: ev.Now}
		}
		return nil
	case Handshake:
		return m.handshake(ev)
	case Data:
		c := m.conns[ev.Conn]
		if c == nil || c.state == statePaired {
			return nil
		}
		// Bytes before "ok" would be lost or misread by the partner.
		return m.drop(ev.Conn, c, ev.Now, MoodImpatient, ErrImpatient, ReplyImpatient)
	case TimerFired:
		c := m.conns[ev.Conn]
		if c == nil || c.state != statePending {
			return nil
		}
		return m.drop(ev.Conn, c, ev.Now, MoodLonely, ErrUnpairedTimeout, nil)
	case Disconnected:
		return m.disconnected(ev)
	default:
		panic(fmt.Sprintf("transit: unknown event %T", ev))
	}
}

func (m *Machine) handshake(ev Handshake) []Action {
	c := m.conns[ev.Conn]
	if c == nil {
		// Tolerate drivers that skip Connected.
		c = &conn{state: stateConnected, connected: ev.Now}
		m.conns[ev.Conn] = c
	}
	if c.state != stateConnected {
		return nil
	}
	req, err := ParseLine(ev.Line)
	if err != nil {
		return m.drop(ev.Conn, c, ev.Now, MoodErrory, err, ReplyBadHandshake)
	}
	c.req, c.shook = req, ev.Now
	waiting := m.pending[req.Token]
	for i, id := range waiting {
		w := m.conns[id]
		if w.req.Side != "" && req.Side != "" && w.req.Side == req.Side {
			continue // two connections from one side never pair
		}
		// Matched: every other waiter on this token is now useless.
		var acts []Action
		for j, other := range waiting {
			if j != i {
				acts = append(acts, m.drop(other, m.conns[other], ev.Now, MoodRedundant, ErrRedundant, nil)...)
			}
		}
		delete(m.pending, req.Token)
		w.state, w.paired, w.partner = statePaired, ev.Now, ev.Conn
		c.state, c.paired, c.partner = statePaired, ev.Now, id
		m.active[id] = true
		m.total++
		return append(acts,
			StopTimer{Conn: id},
			Send{Conn: id, Data: ReplyOK},
			Send{Conn: ev.Conn, Data: ReplyOK},
			Pair{A: id, B: ev.Conn},
		)
	}
	c.state = statePending
	m.pending[req.Token] = append(waiting, ev.Conn)
	if m.cfg.UnpairedTimeout > 0 {
		return []Action{SetTimer{Conn: ev.Conn, After: m.cfg.UnpairedTimeout}}
	}
	return nil
}

// drop ends an unpaired connection: optional reply, close, usage record.
func (m *Machine) drop(id ConnID, c *conn, now time.Time, mood Mood, why error, reply []byte) []Action {
	var acts []Action
	if c.state == statePending {
		m.unpend(id, c.req.Token)
		acts = append(acts, StopTimer{Conn: id})
	}
	if reply != nil {
		acts = append(acts, Send{Conn: id, Data: reply})
	}
	acts = append(acts, Close{Conn: id, Why: why}, m.usage(id, c, now, mood, 0))
	delete(m.conns, id)
	return acts
}

func (m *Machine) unpend(id ConnID, token string) {
	ids := m.pending[token]
	for i, x := range ids {
		if x == id {
			ids = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(m.pending, token)
	} else {
		m.pending[token] = ids
	}
}

func (m *Machine) disconnected(ev Disconnected) []Action {
	c := m.conns[ev.Conn]
	if c == nil {
		return nil
	}
	delete(m.conns, ev.Conn)
	switch c.state {
	case stateConnected:
		return []Action{m.usage(ev.Conn, c, ev.Now, MoodErrory, ev.Bytes)}
	case statePending:
		m.unpend(ev.Conn, c.req.Token)
		return []Action{StopTimer{Conn: ev.Conn}, m.usage(ev.Conn, c, ev.Now, MoodLonely, ev.Bytes)}
	}
	mood := MoodHappy
	if _, partnerLeft := m.conns[c.partner]; !partnerLeft {
		mood = MoodJilted
		delete(m.active, ev.Conn)
		delete(m.active, c.partner)
	}
	return []Action{m.usage(ev.Conn, c, ev.Now, mood, ev.Bytes)}
}

func (m *Machine) usage(id ConnID, c *conn, now time.Time, mood Mood, n int64) Usage {
	u := Usage{Conn: id, Mood: mood, Token: c.req.Token, Duration: now.Sub(c.connected), Bytes: n}
	switch {
	case c.state == statePaired:
		u.Waiting = c.paired.Sub(c.shook)
	case !c.shook.IsZero():
		u.Waiting = now.Sub(c.shook)
	}
	return u
}
