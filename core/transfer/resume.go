package transfer

// Resuming a file transfer between two wasmhole ends after its transit
// connection failed (docs/resume.md). Two parts, both free of IO:
//
//   - the "wasmhole-resume" app message that each side sends through the
//     mailbox to start a new transit attempt: the attempt number, fresh
//     transit hints and, from the receiver, how many bytes it holds and
//     their SHA-256;
//   - ResumeMachine, which decides when to start an attempt, when to dial
//     and when to give up: events in, actions out, like the other
//     machines in core.

import (
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/hexstr"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// ResumeVersion is the version of the extension, advertised in the
// version message as app_versions {"wasmhole": {"resume": 1}}.
const ResumeVersion = 1

// maxAttempt bounds the attempt counter a peer may send (two minutes of
// attempts at the shortest back-off are a few hundred).
const maxAttempt = 1 << 20

// Resume is the body of a {"wasmhole-resume": {...}} app message.
type Resume struct {
	// Attempt numbers the transit connections of one transfer: the first
	// (from the file-transfer v1 flow) is 0, each resume the next one.
	// The transit key of attempt n is derived with ResumeKeyPurpose(n).
	Attempt int
	// Transit is this side's transit message for the attempt
	// (abilities-v1, hints-v1), parsed by core/transit.
	Transit []byte
	// Offset and SHA256 are set by the receiver only: how many bytes of
	// the file (or zip) it holds, and the SHA-256 of exactly those bytes.
	// The sender goes on from Offset. HasOffset is false for the sender.
	HasOffset bool
	Offset    int64
	SHA256    []byte
}

// ResumeKeyPurpose is the derive_key purpose of the transit key of
// attempt n ≥ 1. A fresh key per attempt gives a fresh relay token and
// handshake, so a connection left over from an earlier attempt can never
// pair with, or be mistaken for, the new one.
func ResumeKeyPurpose(attempt int) string {
	return "wasmhole.io/resume/transit-key/" + strconv.Itoa(attempt)
}

// ResumeMessage returns {"wasmhole-resume": r}.
func ResumeMessage(r *Resume) *Message { return &Message{Resume: r} }

// MarshalJSON encodes the body: {"attempt":n,"transit":{...}}, and for
// the receiver "offset" and "sha256" after them.
func (r *Resume) MarshalJSON() ([]byte, error) {
	if !isObject(r.Transit) {
		return nil, errs.Wrap("transfer: encode resume: transit is not a JSON object", ErrMalformed)
	}
	return jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		o.Int("attempt", int64(r.Attempt))
		o.Raw("transit", jsonx.Compact(r.Transit))
		if r.HasOffset {
			o.Int("offset", r.Offset)
			if len(r.SHA256) > 0 {
				o.String("sha256", hex.EncodeToString(r.SHA256))
			}
		}
	}), nil
}

// parseResume checks a resume body: attempt 1..maxAttempt, transit an
// object, offset and sha256 both present or both absent.
func parseResume(obj jsonx.Value) (*Resume, error) {
	if err := isObjectValue(obj); err != nil {
		return nil, err
	}
	n, err := reqSize(obj, "attempt")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxAttempt {
		return nil, errs.Wrap("attempt "+strconv.FormatInt(n, 10)+" out of range", ErrMalformed)
	}
	r := &Resume{Attempt: int(n)}
	t := obj.Get("transit")
	if t.Kind() != jsonx.Object {
		return nil, errs.Wrap("missing or non-object transit", ErrMalformed)
	}
	r.Transit = append([]byte(nil), t.Raw()...)
	hasOff, hasSum := obj.Has("offset"), obj.Has("sha256")
	if hasOff != hasSum {
		return nil, errs.Wrap("offset and sha256 go together", ErrMalformed)
	}
	if !hasOff {
		return r, nil
	}
	if r.Offset, err = reqSize(obj, "offset"); err != nil {
		return nil, err
	}
	s, err := reqStr(obj, "sha256")
	if err != nil {
		return nil, err
	}
	if r.SHA256, err = hexstr.Decode(s); err != nil || len(r.SHA256) != 32 || s != hex.EncodeToString(r.SHA256) {
		return nil, errs.Wrap("sha256 is not 64 lowercase hex digits: "+quote(s, 80), ErrMalformed)
	}
	r.HasOffset = true
	return r, nil
}

// Defaults of ResumeConfig.
const (
	DefaultResumeTimeout = 2 * time.Minute
	ResumeBackoffInitial = 500 * time.Millisecond
	ResumeBackoffMax     = 8 * time.Second
	resumeBackoffJitter  = 0.25
)

// ErrResumeTimeout: the transit connection could not be re-established
// within the configured time.
var ErrResumeTimeout = errors.New("gave up reconnecting the transfer")

// ResumeConfig configures a ResumeMachine.
type ResumeConfig struct {
	// Timeout bounds the time from a loss until data flows again;
	// 0 = DefaultResumeTimeout.
	Timeout time.Duration
	// Rand supplies the back-off jitter; nil = no jitter.
	Rand io.Reader
}

// Events of a ResumeMachine.
type (
	// ResumeLost: the current attempt failed (the connection ended, or
	// dialling it failed).
	ResumeLost struct{ Now time.Time }
	// ResumePeer: the peer's resume message arrived.
	ResumePeer struct {
		Msg *Resume
		Now time.Time
	}
	// ResumeTimer: the SetTimer of an action fired.
	ResumeTimer struct {
		Attempt int
		Now     time.Time
	}
	// ResumeFlowing: the attempt connected and data flows again.
	ResumeFlowing struct{ Attempt int }
)

// Actions of a ResumeMachine, to be carried out in order.
type (
	// ResumeAbort: drop the current connection or dial (a newer attempt
	// replaces it).
	ResumeAbort struct{}
	// ResumeSend: open a new transit listener and send our resume message
	// for Attempt (the receiver states its offset and hash).
	ResumeSend struct{ Attempt int }
	// ResumeDial: both messages of Attempt are known: derive its key and
	// connect to Peer's hints, then carry on with the data.
	ResumeDial struct {
		Attempt int
		Peer    *Resume
	}
	// ResumeSetTimer: feed ResumeTimer{Attempt} after After.
	ResumeSetTimer struct {
		Attempt int
		After   time.Duration
	}
	// ResumeFail: give up with Err.
	ResumeFail struct{ Err error }
)

// ResumeMachine coordinates the attempts of one transfer. Either side may
// notice a loss first: it waits a jittered back-off (none for the first
// loss after data flowed) and sends a resume message with the next attempt
// number. A side that receives a higher attempt than its own drops what
// it is doing and joins it; lower ones are stale and ignored. Once both
// messages of an attempt are known, both sides dial it. It never blocks
// and never reads the clock.
type ResumeMachine struct {
	cfg      ResumeConfig
	attempt  int       // current attempt; 0 = the original connection
	sent     bool      // our message for attempt went out
	peer     *Resume   // the peer's message for attempt
	dialing  bool      // ResumeDial issued for attempt
	tries    int       // losses since data last flowed, for the back-off
	deadline time.Time // zero while data flows
	failed   bool
}

// NewResumeMachine returns a machine whose data flows on attempt 0.
func NewResumeMachine(cfg ResumeConfig) *ResumeMachine {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultResumeTimeout
	}
	return &ResumeMachine{cfg: cfg, sent: true, dialing: true}
}

// Deadline is when the machine gives up unless data flows again; zero
// while it flows. Drivers bound a dial by it.
func (m *ResumeMachine) Deadline() time.Time { return m.deadline }

// Attempt is the current attempt number.
func (m *ResumeMachine) Attempt() int { return m.attempt }

// Handle feeds one event and returns the actions to carry out.
func (m *ResumeMachine) Handle(ev any) []any {
	if m.failed {
		return nil
	}
	switch ev := ev.(type) {
	case ResumeLost:
		if !m.dialing {
			return nil // a loss of something already replaced
		}
		m.dialing = false
		if m.deadline.IsZero() {
			m.deadline = ev.Now.Add(m.cfg.Timeout)
		}
		if !ev.Now.Before(m.deadline) {
			return m.fail()
		}
		m.tries++
		if m.tries == 1 {
			return m.next(m.attempt+1, ev.Now)
		}
		return []any{ResumeSetTimer{Attempt: m.attempt, After: min(m.backoff(), m.deadline.Sub(ev.Now))}}
	case ResumeTimer:
		if ev.Attempt != m.attempt || m.dialing {
			return nil
		}
		if !ev.Now.Before(m.deadline) {
			return m.fail()
		}
		return m.next(m.attempt+1, ev.Now)
	case ResumePeer:
		switch {
		case ev.Msg.Attempt < m.attempt:
			return nil
		case ev.Msg.Attempt > m.attempt:
			if m.deadline.IsZero() {
				m.deadline = ev.Now.Add(m.cfg.Timeout)
			}
			out := m.next(ev.Msg.Attempt, ev.Now)
			m.peer = ev.Msg
			return append(out, m.dial()...)
		}
		if m.peer == nil {
			m.peer = ev.Msg
			return m.dial()
		}
		return nil
	case ResumeFlowing:
		if ev.Attempt == m.attempt {
			m.tries, m.deadline = 0, time.Time{}
		}
	}
	return nil
}

// next moves to attempt n and sends our message for it. Its timer fires
// at the deadline in case the peer never answers.
func (m *ResumeMachine) next(n int, now time.Time) []any {
	var out []any
	if m.dialing {
		out = append(out, ResumeAbort{})
	}
	m.attempt, m.sent, m.peer, m.dialing = n, true, nil, false
	return append(out, ResumeSend{Attempt: n}, ResumeSetTimer{Attempt: n, After: m.deadline.Sub(now)})
}

// dial starts the attempt once both messages are known.
func (m *ResumeMachine) dial() []any {
	if !m.sent || m.peer == nil || m.dialing {
		return nil
	}
	m.dialing = true
	return []any{ResumeDial{Attempt: m.attempt, Peer: m.peer}}
}

func (m *ResumeMachine) fail() []any {
	m.failed = true
	return []any{ResumeFail{Err: errs.Wrap("transfer", errs.Suffix(ErrResumeTimeout, " after "+m.cfg.Timeout.String()))}}
}

// backoff is the jittered delay after the m.tries-th loss in a row.
func (m *ResumeMachine) backoff() time.Duration {
	d := ResumeBackoffInitial
	for i := 2; i < m.tries && d < ResumeBackoffMax; i++ {
		d *= 2
	}
	d = min(d, ResumeBackoffMax)
	u := 0.5
	var b [2]byte
	if m.cfg.Rand != nil {
		if _, err := io.ReadFull(m.cfg.Rand, b[:]); err == nil {
			u = float64(uint16(b[0])<<8|uint16(b[1])) / 65536
		}
	}
	return time.Duration(float64(d) * (1 - resumeBackoffJitter + 2*resumeBackoffJitter*u))
}
