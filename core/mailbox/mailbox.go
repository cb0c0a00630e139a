package mailbox

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/wasmhole/wasmhole/internal/errs"
)

// ReconnectTimer is the name of the only timer the machine sets.
const ReconnectTimer = "reconnect"

// Backoff parameters of the reconnect timer (docs/protocol.md §1.7).
const (
	BackoffInitial = time.Second
	BackoffFactor  = 1.5
	BackoffMax     = 60 * time.Second
	// BackoffJitter spreads each delay uniformly over ±20 % so that many
	// clients dropped by one server restart do not return in lock step.
	BackoffJitter = 0.2
)

// Sentinel errors reported (wrapped) in Failed.
var (
	// ErrUnwelcome: the server's welcome carried an "error" and refuses us.
	ErrUnwelcome = errors.New("mailbox: server refused the connection")
	// ErrCrowded: a third side touched the nameplate or mailbox.
	ErrCrowded = errors.New("mailbox: crowded (someone else is using this code)")
	// ErrServer: any other "error" message from the server.
	ErrServer = errors.New("mailbox: server error")
)

// Config configures a Machine.
type Config struct {
	AppID string
	// Side identifies this client in the mailbox; "" picks 5 random bytes
	// as 10 hex digits like the reference client.
	Side string
	// ClientVersion is sent in bind as [implementation, version];
	// zero means ["wasmhole", "dev"].
	ClientVersion [2]string
	// Rand supplies the side, the command ids and the backoff jitter;
	// nil means crypto/rand.
	Rand io.Reader
	// MaxTrace bounds the timing trace; 0 means 4096 entries. Later
	// messages are counted but not recorded.
	MaxTrace int
}

// Event is something the driver or the layer above feeds into Handle.
type Event interface{ mailboxEvent() }

// Driver events.
type (
	// Connected: a WebSocket connection to the server is up.
	Connected struct{ Now time.Time }
	// Disconnected: the connection (or a dial) failed or closed.
	Disconnected struct {
		Now time.Time
		Err error
	}
	// Received: one WebSocket message arrived from the server.
	Received struct {
		Now  time.Time
		Data []byte
	}
	// TimerFired answers a SetTimer action.
	TimerFired struct {
		Name string
		Now  time.Time
	}
)

// Commands from the layer above. Now is optional and only timestamps the
// trace; zero means the time of the last event that carried one.
type (
	// Allocate asks the server for a free nameplate (answered by
	// Allocated), which is then claimed and opened as if by Claim.
	Allocate struct{ Now time.Time }
	// Claim claims a nameplate; the mailbox it maps to (Claimed) is then
	// opened automatically, as the reference client does.
	Claim struct {
		Nameplate string
		Now       time.Time
	}
	// Open opens a mailbox whose id is already known, without a nameplate.
	Open struct {
		Mailbox string
		Now     time.Time
	}
	// Add sends a message in a phase. It is queued until the mailbox is
	// open and re-sent after every reconnection until its echo arrives.
	Add struct {
		Phase string
		Body  []byte
		Now   time.Time
	}
	// Release releases the nameplate early. The machine does this by itself
	// on the first peer message, so the layer above rarely needs it.
	Release struct{ Now time.Time }
	// Close releases the nameplate if still held, closes the mailbox with
	// Mood, waits for the server's "closed" and hangs up.
	Close struct {
		Mood string
		Now  time.Time
	}
)

func (Connected) mailboxEvent()    {}
func (Disconnected) mailboxEvent() {}
func (Received) mailboxEvent()     {}
func (TimerFired) mailboxEvent()   {}
func (Allocate) mailboxEvent()     {}
func (Claim) mailboxEvent()        {}
func (Open) mailboxEvent()         {}
func (Add) mailboxEvent()          {}
func (Release) mailboxEvent()      {}
func (Close) mailboxEvent()        {}

// Action is something Handle asks of the driver or tells the layer above.
type Action interface{ mailboxAction() }

// Driver actions.
type (
	// Dial: open a new WebSocket connection; answer Connected or
	// Disconnected.
	Dial struct{}
	// Send: write Data as one TEXT WebSocket message on the current
	// connection. Sends are only asked for while connected.
	Send struct{ Data []byte }
	// Hangup: close the connection and stop; the session is over.
	Hangup struct{}
	// SetTimer: feed TimerFired{Name} after After.
	SetTimer struct {
		Name  string
		After time.Duration
	}
)

// Outputs for the layer above.
type (
	// Welcome is the first welcome of the session.
	Welcome struct {
		MOTD string
		Raw  []byte // the welcome object, as JSON
	}
	// Allocated answers Allocate.
	Allocated struct{ Nameplate string }
	// Claimed answers Claim; the mailbox is being opened.
	Claimed struct{ Mailbox string }
	// PeerMessage is a message from another side, once per phase.
	PeerMessage struct {
		Side, Phase string
		Body        []byte
	}
	// Delivered: the server echoed our own message in Phase, so it is
	// stored in the mailbox and will not be re-sent.
	Delivered struct{ Phase string }
	// Closed ends every session, clean or not; Hangup precedes it.
	Closed struct{}
	// Failed reports a fatal error; the machine then closes with mood
	// "errory" (or just hangs up when it cannot), ending with Closed.
	Failed struct{ Err error }
)

func (Dial) mailboxAction()        {}
func (Send) mailboxAction()        {}
func (Hangup) mailboxAction()      {}
func (SetTimer) mailboxAction()    {}
func (Welcome) mailboxAction()     {}
func (Allocated) mailboxAction()   {}
func (Claimed) mailboxAction()     {}
func (PeerMessage) mailboxAction() {}
func (Delivered) mailboxAction()   {}
func (Closed) mailboxAction()      {}
func (Failed) mailboxAction()      {}

// Machine is the client side of the mailbox server protocol. It is not
// safe for concurrent use; the driver serialises calls to Handle.
type Machine struct {
	appID   string
	side    string
	version [2]string
	rand    io.Reader
	now     time.Time
	idSeq   uint16 // fallback ids if rand fails

	conns        int  // connections made so far, for the trace
	connected    bool // a connection is up
	dialing      bool // a Dial is outstanding
	timerPending bool // the reconnect timer is set
	attempts     int  // failed connections since the last welcome
	welcomed     bool // Welcome was output
	done         bool // Hangup was output

	// What the current connection has been sent.
	sent struct{ bind, allocate, claim, release, open, close bool }

	allocWanted   bool
	nameplate     string
	held          bool // the server considers the nameplate claimed by us
	claimWanted   bool
	claimed       bool
	releaseWanted bool
	released      bool
	mailbox       string
	closing       bool
	mood          string
	closedAck     bool
	failed        bool // a server error: pending answers may never come

	outbox    []*outMsg       // adds whose echo has not arrived, in order
	delivered map[string]bool // our phases the server echoed
	seen      map[string]bool // peer phases already output

	tr trace
}

type outMsg struct {
	phase string
	body  []byte
	sent  bool // on the current connection
}

// New returns a machine that is not yet connected. The driver dials the
// first connection on its own (and feeds Connected); after a disconnection
// the machine asks for Dial itself.
func New(cfg Config) (*Machine, error) {
	m := &Machine{
		appID:     cfg.AppID,
		side:      cfg.Side,
		version:   cfg.ClientVersion,
		rand:      cfg.Rand,
		delivered: map[string]bool{},
		seen:      map[string]bool{},
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	if m.version == [2]string{} {
		m.version = [2]string{"wasmhole", "dev"}
	}
	if m.side == "" {
		var b [5]byte
		if _, err := io.ReadFull(m.rand, b[:]); err != nil {
			return nil, errs.Wrap("mailbox: choosing a side", err)
		}
		m.side = hex.EncodeToString(b[:])
	}
	m.tr.side = m.side
	m.tr.max = cfg.MaxTrace
	if m.tr.max <= 0 {
		m.tr.max = 4096
	}
	return m, nil
}

// Side is this client's side.
func (m *Machine) Side() string { return m.side }

// Nameplate is the allocated or claimed nameplate, or "".
func (m *Machine) Nameplate() string { return m.nameplate }

// Mailbox is the mailbox id once known, or "".
func (m *Machine) Mailbox() string { return m.mailbox }

// Done reports whether the session is over (Hangup was output).
func (m *Machine) Done() bool { return m.done }

// Handle feeds one event and returns the actions to perform, in order.
func (m *Machine) Handle(ev Event) []Action {
	var out []Action
	switch ev := ev.(type) {
	case Connected:
		m.tick(ev.Now)
		if m.done {
			return []Action{Hangup{}}
		}
		m.conns++
		m.connected, m.dialing = true, false
		m.sent = struct{ bind, allocate, claim, release, open, close bool }{}
		for _, o := range m.outbox {
			o.sent = false
		}
	case Disconnected:
		m.tick(ev.Now)
		if m.done || m.timerPending {
			return nil
		}
		m.connected, m.dialing = false, false
		m.timerPending = true
		delay := m.backoff()
		m.attempts++
		return []Action{SetTimer{Name: ReconnectTimer, After: delay}}
	case TimerFired:
		m.tick(ev.Now)
		if ev.Name != ReconnectTimer || !m.timerPending || m.done {
			return nil
		}
		m.timerPending = false
		if m.connected || m.dialing {
			return nil
		}
		m.dialing = true
		return []Action{Dial{}}
	case Received:
		m.tick(ev.Now)
		if m.done || !m.connected {
			return nil
		}
		out = m.receive(ev.Data, out)
	case Allocate:
		m.tick(ev.Now)
		if !m.closing && !m.allocWanted && m.nameplate == "" && m.mailbox == "" {
			m.allocWanted = true
		}
	case Claim:
		m.tick(ev.Now)
		if !m.closing && !m.claimWanted && !m.allocWanted && m.mailbox == "" && ev.Nameplate != "" {
			m.nameplate = ev.Nameplate
			m.claimWanted, m.held = true, true
		}
	case Open:
		m.tick(ev.Now)
		if !m.closing && m.mailbox == "" && !m.claimWanted && ev.Mailbox != "" {
			m.mailbox = ev.Mailbox
		}
	case Add:
		m.tick(ev.Now)
		if !m.closing && !m.delivered[ev.Phase] && !m.queued(ev.Phase) {
			m.outbox = append(m.outbox, &outMsg{phase: ev.Phase, body: append([]byte(nil), ev.Body...)})
		}
	case Release:
		m.tick(ev.Now)
		if m.held {
			m.releaseWanted = true
		}
	case Close:
		m.tick(ev.Now)
		if !m.closing && !m.done {
			m.closing, m.mood = true, ev.Mood
		}
	}
	return m.pump(out)
}

func (m *Machine) tick(now time.Time) {
	if !now.IsZero() {
		m.now = now
	}
}

func (m *Machine) queued(phase string) bool {
	for _, o := range m.outbox {
		if o.phase == phase {
			return true
		}
	}
	return false
}

// backoff is the jittered delay before reconnection attempt m.attempts.
func (m *Machine) backoff() time.Duration {
	d := float64(BackoffInitial)
	for i := 0; i < m.attempts && d < float64(BackoffMax); i++ {
		d *= BackoffFactor
	}
	d = min(d, float64(BackoffMax))
	var b [2]byte
	u := 0.5
	if _, err := io.ReadFull(m.rand, b[:]); err == nil {
		u = float64(binary.BigEndian.Uint16(b[:])) / 65536
	}
	return time.Duration(d * (1 - BackoffJitter + 2*BackoffJitter*u))
}

// pump sends whatever the current connection still owes the server. It is
// idempotent, so every event can end with it; the per-connection "sent"
// flags make a fresh connection resume exactly where the state says
// (docs/protocol.md §1.7).
func (m *Machine) pump(out []Action) []Action {
	if m.done {
		return out
	}
	if m.connected {
		if !m.sent.bind {
			m.sent.bind = true
			out = m.send(out, &clientMsg{Type: "bind", AppID: m.appID, Side: m.side, ClientVersion: m.version[:]})
		}
		if m.allocWanted && m.nameplate == "" && !m.closing && !m.sent.allocate {
			m.sent.allocate = true
			out = m.send(out, &clientMsg{Type: "allocate"})
		}
		if m.claimWanted && !m.claimed && !m.closing && !m.sent.claim {
			m.sent.claim = true
			out = m.send(out, &clientMsg{Type: "claim", Nameplate: m.nameplate})
		}
		if m.held && !m.released && (m.releaseWanted || m.closing) && !m.sent.release {
			m.sent.release = true
			out = m.send(out, &clientMsg{Type: "release", Nameplate: m.nameplate})
		}
		if m.mailbox != "" && !m.closing && !m.sent.open {
			m.sent.open = true
			out = m.send(out, &clientMsg{Type: "open", Mailbox: m.mailbox})
		}
		if m.sent.open && !m.closing {
			for _, o := range m.outbox {
				if !o.sent {
					o.sent = true
					phase, body := o.phase, hex.EncodeToString(o.body)
					out = m.send(out, &clientMsg{Type: "add", Phase: &phase, Body: &body})
				}
			}
		}
		if m.closing && m.mailbox != "" && !m.closedAck && !m.sent.close {
			m.sent.close = true
			out = m.send(out, &clientMsg{Type: "close", Mailbox: m.mailbox, Mood: m.mood})
		}
	}
	if m.closing && m.closeComplete() {
		out = m.finish(out)
	}
	return out
}

// closeComplete reports whether closing has nothing left to wait for.
// Answers are only awaited for requests made on the live connection:
// without a connection, anything not yet acknowledged is abandoned only
// if there is nothing the server still holds for us.
func (m *Machine) closeComplete() bool {
	releasePending := m.held && !m.released
	closePending := m.mailbox != "" && !m.closedAck
	if !m.connected {
		return !releasePending && !closePending
	}
	allocPending := m.sent.allocate && m.nameplate == "" && !m.failed
	claimPending := m.sent.claim && !m.claimed && !m.failed // its mailbox must be closed too
	return !allocPending && !claimPending && !releasePending && !closePending
}

func (m *Machine) finish(out []Action) []Action {
	m.done = true
	m.connected = false
	return append(out, Hangup{}, Closed{})
}

// fail reports err and starts an "errory" close, or ends at once when the
// machine is already closing (the close itself failed).
func (m *Machine) fail(out []Action, err error) []Action {
	out = append(out, Failed{Err: err})
	m.failed = true
	if m.closing {
		return m.finish(out)
	}
	m.closing, m.mood = true, "errory"
	return out
}

func (m *Machine) receive(data []byte, out []Action) []Action {
	msg, err := ParseServerMessage(data)
	if err != nil {
		m.tr.recv(m.now, m.conns, "malformed", nil, len(data))
		return out
	}
	m.tr.recv(m.now, m.conns, msg.Type, msg, len(data))
	switch msg.Type {
	case "welcome":
		m.attempts = 0 // this connection works: the next drop starts at 1 s
		if msg.Refusal != "" {
			out = append(out, Failed{Err: errs.With(ErrUnwelcome, msg.Refusal)})
			return m.finish(out)
		}
		if !m.welcomed {
			m.welcomed = true
			out = append(out, Welcome{MOTD: msg.MOTD, Raw: msg.Welcome})
		}
	case "ack":
		m.tr.ack(msg.ID, m.now, msg.ServerTx)
	case "allocated":
		if m.allocWanted && m.nameplate == "" {
			// Allocation already opened a mailbox for us; claim at once
			// to learn its id, as the reference client does, or it could
			// never be closed.
			m.nameplate, m.held, m.claimWanted = msg.Nameplate, true, true
			out = append(out, Allocated{Nameplate: msg.Nameplate})
		}
	case "claimed":
		if m.claimWanted && !m.claimed {
			m.claimed, m.mailbox = true, msg.Mailbox
			out = append(out, Claimed{Mailbox: msg.Mailbox})
		}
	case "released":
		m.released = true
	case "closed":
		if m.closing {
			m.closedAck = true
		}
	case "message":
		if msg.Side == m.side {
			// Our own echo: the server has stored it; stop re-sending.
			for i, o := range m.outbox {
				if o.phase == msg.Phase {
					m.outbox = append(m.outbox[:i], m.outbox[i+1:]...)
					break
				}
			}
			if !m.delivered[msg.Phase] {
				m.delivered[msg.Phase] = true
				out = append(out, Delivered{Phase: msg.Phase})
			}
			break
		}
		if m.seen[msg.Phase] {
			break // replayed by a re-open
		}
		m.seen[msg.Phase] = true
		if m.held {
			m.releaseWanted = true // the peer is here: free the nameplate
		}
		out = append(out, PeerMessage{Side: msg.Side, Phase: msg.Phase, Body: msg.Body})
	case "error":
		err := errs.With(ErrServer, strconv.Quote(msg.Error))
		if msg.Error == "crowded" {
			err = ErrCrowded
		}
		if typ := origType(msg.Orig); typ != "" {
			err = errs.Wrap("mailbox: "+typ, err)
		}
		out = m.fail(out, err)
	}
	return out
}

func (m *Machine) send(out []Action, msg *clientMsg) []Action {
	msg.ID = m.newID()
	data := msg.marshal()
	phase := ""
	if msg.Phase != nil {
		phase = *msg.Phase
	}
	m.tr.send(m.now, m.conns, msg.Type, msg.ID, phase, len(data))
	return append(out, Send{Data: data})
}

// newID is 2 random bytes in hex, like the reference client.
func (m *Machine) newID() string {
	var b [2]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		m.idSeq++
		binary.BigEndian.PutUint16(b[:], m.idSeq)
	}
	return hex.EncodeToString(b[:])
}
