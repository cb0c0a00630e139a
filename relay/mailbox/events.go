package mailbox

import (
	"time"

	"github.com/wasmhole/wasmhole/relay/store"
)

// Event is an input to Handle.
type Event interface{ isEvent() }

// Start must be the first event after New (and Restore); it arms the
// prune timer.
type Start struct{ Now time.Time }

// Connected: a client's WebSocket opened. The machine answers with welcome.
type Connected struct {
	Conn ConnID
	Now  time.Time
	// Client names the client's address for Config.MaxClientBytes (the
	// driver groups IPv6 by /64); "" exempts the connection from that
	// cap.
	Client string
}

// Received: one complete frame, decoded with DecodeCommand.
type Received struct {
	Conn ConnID
	Now  time.Time
	Cmd  Command
}

// TooLarge: the driver dropped a frame of Size bytes that exceeded its
// Limit. The machine answers with an error message.
type TooLarge struct {
	Conn        ConnID
	Now         time.Time
	Size, Limit int64
}

// Disconnected: the connection is gone (either side closed it).
type Disconnected struct {
	Conn ConnID
	Now  time.Time
}

// TimerFired answers a SetTimer action.
type TimerFired struct {
	Name string
	Now  time.Time
}

// CloseMailbox is the operator's "close this mailbox now": listeners get an
// error message, the mailbox and its nameplates are deleted.
type CloseMailbox struct {
	ID     string
	Now    time.Time
	Reason string // default "mailbox closed by the server operator"
}

func (Start) isEvent()        {}
func (Connected) isEvent()    {}
func (Received) isEvent()     {}
func (TooLarge) isEvent()     {}
func (Disconnected) isEvent() {}
func (TimerFired) isEvent()   {}
func (CloseMailbox) isEvent() {}

// Action is an output of Handle. Actions must be performed in order, with
// one relaxation: a Send must not reach the network before the first
// Send.After Persists (counted over all Handle calls) are durable, nor
// before the frames sent earlier to the same connection, but it may
// overtake Persists beyond After and other connections' frames. A driver
// that waits for every preceding Persist is correct too, only slower.
type Action interface{ isAction() }

// Send one TEXT frame to a connection. Broadcasts share Data between
// several Sends: treat it as read-only.
type Send struct {
	Conn ConnID
	Data []byte
	// After is how many Persists (the first After ever emitted) the frame
	// depends on. Most frames depend on all emitted so far; a welcome, an
	// ack or a pong on none; a "claimed" that changed nothing only on the
	// ops that stored its nameplate and mailbox. This is what lets a
	// claim whose allocate is already on disk be answered without waiting
	// for the flush of other clients' changes.
	After uint64
}

// Replay sends a mailbox's stored messages to a connection that opened
// it, one "message" frame each, in order (only with Config.StreamReplays).
// Frame encodes one when the driver is about to write it, so a client that
// reads slowly holds a reference to the stored messages and one frame, not
// a copy of the whole mailbox. After is as for Send.
type Replay struct {
	Conn  ConnID
	Msgs  []store.Message // read-only: shared with the machine
	After uint64
	now   int64
}

// Frame returns the frame of Msgs[i].
func (r Replay) Frame(i int) []byte { return encodeMessage(&r.Msgs[i], r.now) }

// Persist a change (see relay/store).
type Persist struct{ Op store.Op }

// CloseConn: after the Sends before it, close the WebSocket with Code and
// Reason. The driver later reports Disconnected.
type CloseConn struct {
	Conn   ConnID
	Code   int
	Reason string
}

// SetTimer asks for TimerFired{Name} after After.
type SetTimer struct {
	Name  string
	After time.Duration
}

func (Send) isAction()      {}
func (Replay) isAction()    {}
func (Persist) isAction()   {}
func (CloseConn) isAction() {}
func (SetTimer) isAction()  {}

// WebSocket close codes used in CloseConn.
const (
	CloseNormal          = 1000
	ClosePolicyViolation = 1008
)
