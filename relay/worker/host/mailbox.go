package host

import (
	"errors"
	"fmt"
	"time"

	"github.com/wasmhole/wasmhole/relay/iplimit"
	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/store"
)

// DefaultMaxFrame is the largest mailbox frame accepted, as in the native
// relay (relay/mailboxws). It also keeps every stored row far below a
// Durable Object's 2 MB row limit.
const DefaultMaxFrame = 1 << 20

// ErrBroken is wrapped by the Reset reason after a failed store write.
var ErrBroken = errors.New("host: mailbox store write failed")

// MailboxConfig configures NewMailbox.
type MailboxConfig struct {
	Machine mailbox.Config
	// MaxFrame bounds an incoming frame (default DefaultMaxFrame); larger
	// frames are answered with an error message and dropped.
	MaxFrame int
	// Limits are the per-address connection limits (relay/iplimit); a
	// refused client gets a welcome with "error" (clients print it and
	// stop) and is closed with 1008.
	Limits iplimit.Config
}

// Mailbox is the mailbox server of one Durable Object.
type Mailbox struct {
	m        *mailbox.Machine
	st       store.Store
	maxFrame int
	admit    admission
	broken   error
}

// NewMailbox restores the machine from st, starts it and returns the
// commands of Start (the first alarm). This is what makes the mailbox
// survive eviction: whatever an earlier instance applied to st is loaded
// here before the first client event.
func NewMailbox(cfg MailboxConfig, st store.Store, now time.Time) (*Mailbox, []Cmd, error) {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	snap, err := st.Load()
	if err != nil {
		return nil, nil, fmt.Errorf("host: load mailbox state: %w", err)
	}
	m := mailbox.New(cfg.Machine)
	if err := m.Restore(snap); err != nil {
		return nil, nil, fmt.Errorf("host: restore mailbox state: %w", err)
	}
	h := &Mailbox{m: m, st: st, maxFrame: cfg.MaxFrame, admit: newAdmission(cfg.Limits)}
	return h, h.run(mailbox.Start{Now: now}), nil
}

// Open reports a new WebSocket from client address ip; the machine
// answers with welcome, unless the address is over its limits.
func (h *Mailbox) Open(conn uint64, ip string, now time.Time) []Cmd {
	if h.broken == nil {
		if err := h.admit.admit(conn, ip, now); err != nil {
			return []Cmd{
				{Kind: KindSend, Conn: conn, Text: true, Data: mailbox.EncodeRefusal(err.Error()+": retry later", now)},
				{Kind: KindClose, Conn: conn, Code: mailbox.ClosePolicyViolation, Reason: "refused"},
			}
		}
	}
	return h.run(mailbox.Connected{Conn: mailbox.ConnID(conn), Now: now})
}

// Frame reports one received frame (text or binary).
func (h *Mailbox) Frame(conn uint64, data []byte, now time.Time) []Cmd {
	if len(data) > h.maxFrame {
		return h.run(mailbox.TooLarge{Conn: mailbox.ConnID(conn), Now: now, Size: int64(len(data)), Limit: int64(h.maxFrame)})
	}
	return h.run(mailbox.Received{Conn: mailbox.ConnID(conn), Now: now, Cmd: mailbox.DecodeCommand(data)})
}

// Gone reports that a WebSocket closed or failed.
func (h *Mailbox) Gone(conn uint64, now time.Time) []Cmd {
	h.admit.release(conn)
	return h.run(mailbox.Disconnected{Conn: mailbox.ConnID(conn), Now: now})
}

// Alarm reports that the Durable Object alarm fired.
func (h *Mailbox) Alarm(now time.Time) []Cmd {
	cmds := h.run(mailbox.TimerFired{Name: mailbox.PruneTimer, Now: now})
	if h.broken != nil {
		return cmds
	}
	if s := h.m.Stats(); s.Connections == 0 && s.Mailboxes == 0 && s.Nameplates == 0 {
		// Nothing left to expire: let the object stay evicted.
		out := cmds[:0]
		for _, c := range cmds {
			if c.Kind != KindAlarm {
				out = append(out, c)
			}
		}
		return append(out, Cmd{Kind: KindCancelAlarm})
	}
	return cmds
}

// Stats are the machine's counters.
func (h *Mailbox) Stats() mailbox.Stats { return h.m.Stats() }

// run feeds one event, persists its ops, and converts the other actions.
func (h *Mailbox) run(ev mailbox.Event) []Cmd {
	if h.broken != nil {
		return []Cmd{{Kind: KindReset, Reason: h.broken.Error()}}
	}
	acts := h.m.Handle(ev)
	var ops []store.Op
	for _, a := range acts {
		if p, ok := a.(mailbox.Persist); ok {
			ops = append(ops, p.Op)
		}
	}
	if len(ops) > 0 {
		if err := h.st.Apply(ops); err != nil {
			h.broken = fmt.Errorf("%w: %w", ErrBroken, err)
			return []Cmd{{Kind: KindReset, Reason: h.broken.Error()}}
		}
	}
	cmds := make([]Cmd, 0, len(acts))
	for _, a := range acts {
		switch a := a.(type) {
		case mailbox.Send:
			cmds = append(cmds, Cmd{Kind: KindSend, Conn: uint64(a.Conn), Data: a.Data, Text: true})
		case mailbox.CloseConn:
			cmds = append(cmds, Cmd{Kind: KindClose, Conn: uint64(a.Conn), Code: a.Code, Reason: a.Reason})
		case mailbox.SetTimer:
			cmds = append(cmds, Cmd{Kind: KindAlarm, After: a.After})
		}
	}
	return cmds
}
