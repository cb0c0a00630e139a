// Package host runs the relay's pure machines (relay/mailbox and
// relay/transit) the way a Cloudflare Durable Object can: one event at a
// time, synchronously, with the result handed back as a list of [Cmd]s for
// the JavaScript shim to perform. It is the Worker's counterpart of the
// native drivers relay/mailboxws and relay/transitnet, without their
// goroutines and sockets, and has no build constraints so its tests run
// natively.
//
// # Mailbox
//
// [Mailbox] owns a mailbox.Machine and a store.Store (relay/worker/dostore in
// the Worker). Each call (Open, Frame, Gone, Alarm) feeds one event to the
// machine, applies that event's Persist ops to the store in one transaction
// and returns the Sends, Closes and timer requests. Because the writes
// happen before the shim sends anything, and a Durable Object's output gate
// holds outgoing frames until earlier writes are durable, no client sees a
// reply whose state could be lost. If a write fails the memory and the
// storage disagree, so every later call answers [KindReset]: the shim
// aborts the Durable Object, the clients reconnect, and the next instance
// restores the machine from storage (see [NewMailbox]).
//
// The machine's prune timer becomes a Durable Object alarm ([KindAlarm]),
// which fires even after the object was evicted from memory, so stored
// mailboxes nobody comes back for still expire. An idle relay (no
// connections, nothing stored) cancels it ([KindCancelAlarm]) so it can stay
// evicted.
//
// # Transit
//
// [Transit] serves /transit WebSockets in one of two modes:
//
//   - pairing (no upstream configured): a transit.Machine pairs WebSocket
//     clients by token, exactly as the native relay's WebSocket listener
//     does. After [KindPair] the shim copies bytes between the two sockets
//     itself; payload never passes through Go.
//   - bridge (Upstream set to host:port of a TCP transit relay): the first
//     message must be a valid handshake line (transit.ParseLine); the host
//     answers [KindBridge] with the line normalised to end in "\n", and the
//     shim connects to the upstream relay, writes the line and copies bytes
//     both ways. The upstream relay pairs, answers ok/impatient, and meets
//     TCP clients (the stock CLIs) there.
package host

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/wasmhole/wasmhole/relay/iplimit"
)

// Default per-address limits, the native relay's defaults: open
// connections, new connections per second, and the burst allowance.
const (
	DefaultPerIPConns = 250
	DefaultPerIPRate  = 20
	DefaultPerIPBurst = 100
)

// DefaultLimits is what a Worker uses unless configured otherwise.
// Loopback is exempt so `wrangler dev` tests and benchmarks are never
// throttled; in production Cloudflare reports the client's public address.
var DefaultLimits = iplimit.Config{MaxConns: DefaultPerIPConns, Rate: DefaultPerIPRate, Burst: DefaultPerIPBurst, ExemptLoopback: true}

// admission tracks the per-address limiter's release functions by
// connection. A Durable Object sees the client address in the
// CF-Connecting-IP header; an empty or unparsable address is not limited.
type admission struct {
	lim      *iplimit.Limiter
	releases map[uint64]func()
}

func newAdmission(cfg iplimit.Config) admission {
	return admission{lim: iplimit.New(cfg), releases: map[uint64]func(){}}
}

// admit returns nil, or why conn from ip is refused.
func (a admission) admit(conn uint64, ip string, now time.Time) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	release, err := a.lim.Acquire(addr, now)
	if err != nil {
		return err
	}
	a.releases[conn] = release
	return nil
}

func (a admission) release(conn uint64) {
	if r := a.releases[conn]; r != nil {
		r()
		delete(a.releases, conn)
	}
}

// Kind says what a Cmd asks the shim to do.
type Kind int

const (
	// KindSend sends Data on Conn: a TEXT frame when Text, else binary.
	KindSend Kind = iota + 1
	// KindClose closes Conn with Code and Reason (after earlier Sends).
	KindClose
	// KindAlarm sets the Durable Object alarm to fire After from now
	// (mailbox prune timer); the shim then calls Mailbox.Alarm.
	KindAlarm
	// KindCancelAlarm deletes the alarm.
	KindCancelAlarm
	// KindReset asks the shim to abort the Durable Object (Reason says why).
	KindReset
	// KindPair: Conn and Peer are paired; copy bytes between them.
	KindPair
	// KindBridge: connect Conn to Host:Port, write Data, then copy bytes.
	KindBridge
	// KindTimer asks for Transit.Timer(Conn) After from now.
	KindTimer
	// KindStopTimer cancels Conn's timer.
	KindStopTimer
	// KindLog asks the shim to log Reason (one line, JSON).
	KindLog
)

var kindNames = [...]string{"", "send", "close", "alarm", "cancelAlarm", "reset", "pair", "bridge", "timer", "stopTimer", "log"}

// String is the name the shim switches on.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Cmd is one thing for the shim to do; which fields matter depends on Kind.
type Cmd struct {
	Kind   Kind
	Conn   uint64
	Peer   uint64 // KindPair
	Data   []byte // KindSend payload, KindBridge line
	Text   bool   // KindSend: TEXT frame
	Code   int    // KindClose
	Reason string // KindClose, KindReset, KindLog
	After  time.Duration
	Host   string // KindBridge
	Port   int    // KindBridge
}
