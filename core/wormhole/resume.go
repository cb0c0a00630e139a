package wormhole

// The driver of transfer resume between two wasmhole ends
// (docs/resume.md). Both ends advertise {"wasmhole": {"resume": 1}} in
// app_versions; when both did, a data phase whose transit connection
// ends is not fatal: transfer.ResumeMachine decides when to send a
// "wasmhole-resume" message with fresh hints through the mailbox (which
// reconnects on its own) and when to dial the new attempt, whose transit
// key is derived afresh. The receiver states the bytes it holds and
// their SHA-256; the sender checks that hash against its own bytes and
// goes on from there. The final ack still covers the whole file.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"hash"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/wasmhole/wasmhole/core/internal/logging"
	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// DefaultResumeTimeout is how long a transfer between wasmhole ends keeps
// trying to reconnect after its transit connection failed.
const DefaultResumeTimeout = transfer.DefaultResumeTimeout

// errConnLost marks a data phase whose transit connection ended, when a
// resume may follow.
var errConnLost = errors.New("wormhole: transit connection lost")

// resumeKey is our key in app_versions.
const resumeKey = "wasmhole"

// resumeEnabled says whether this client offers resume.
func (c *Client) resumeEnabled() bool { return c.ResumeTimeout >= 0 }

// resumeVersions is c.AppVersions plus our advertisement, if enabled:
// the members in key order, as encoding/json writes a map. AppVersions
// that are not a JSON object are returned as they are, for client.New
// to refuse.
func (c *Client) resumeVersions(enabled bool) []byte {
	if !enabled {
		return c.AppVersions
	}
	members := map[string][]byte{}
	if len(c.AppVersions) > 0 {
		v, err := jsonx.Parse(c.AppVersions)
		if err != nil || v.Kind() != jsonx.Object {
			return c.AppVersions
		}
		for _, m := range v.Members() {
			members[m.Key] = m.Value.Raw() // the last of duplicates wins
		}
	}
	members[resumeKey] = jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		o.Int("resume", transfer.ResumeVersion)
	})
	return jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		for _, k := range slices.Sorted(maps.Keys(members)) {
			o.Raw(k, members[k])
		}
	})
}

// advertisesResume reports whether app_versions (ours or the peer's)
// advertise resume: {"wasmhole": {"resume": n}} with an integer n of at
// least transfer.ResumeVersion.
func advertisesResume(appVersions []byte) bool {
	v, err := jsonx.Parse(appVersions)
	if err != nil {
		return false
	}
	n, ok := v.Get(resumeKey).Get("resume").Int()
	return ok && n >= transfer.ResumeVersion
}

// sendState is what the sender keeps across attempts: the running hash
// and snapshots of it at the buffer boundaries passed so far, so that it
// can check the receiver's hash at any offset by re-reading at most one
// buffer's worth of data (ioChunk) instead of the whole prefix.
type sendState struct {
	h     hash.Hash
	at    int64      // bytes hashed into h
	snaps []hashSnap // increasing offsets, the first at 0
}

type hashSnap struct {
	off   int64
	state []byte
}

func newSendState(resumable bool) *sendState {
	st := &sendState{h: sha256.New()}
	if resumable {
		st.snap()
	}
	return st
}

func (st *sendState) snap() {
	b, err := st.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("wormhole: sha256 state: " + err.Error()) // crypto/sha256 always can
	}
	st.snaps = append(st.snaps, hashSnap{off: st.at, state: b})
}

// passed returns the chunkWriter hook for a phase starting at off, or nil
// when no snapshots are kept.
func (st *sendState) passed(off int64) func(int) {
	if st.snaps == nil {
		return nil
	}
	st.at = off
	return func(n int) {
		st.at += int64(n)
		st.snap()
	}
}

// rewind sets the hash to cover bytes 0..off, reading at most the bytes
// since the nearest snapshot again through write, and checks it against
// the receiver's sum of those bytes.
func (st *sendState) rewind(off int64, sum []byte, write func(io.Writer, int64) (int64, error)) error {
	i := len(st.snaps) - 1
	for i > 0 && st.snaps[i].off > off {
		i--
	}
	s := st.snaps[i]
	st.snaps = st.snaps[:i+1]
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.state); err != nil {
		return err
	}
	if off > s.off {
		_, err := write(&limitedWriter{w: h, n: off - s.off}, s.off)
		if err != nil && !errors.Is(err, errLimit) {
			return errs.Chain(errTransferFailed, errs.Wrap("re-reading the data", err))
		}
	}
	if !bytes.Equal(h.Sum(nil), sum) {
		return errs.With(errTransferFailed, "the receiver's first "+strconv.FormatInt(off, 10)+" bytes differ from ours (did the file change?)")
	}
	st.h, st.at = h, off
	return nil
}

// errLimit stops a write once limitedWriter has had its bytes.
var errLimit = errors.New("wormhole: enough bytes")

type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		k, _ := l.w.Write(p[:l.n])
		l.n = 0
		return k, errLimit
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// skipWriter drops the first n bytes written to it (a zip re-generated
// to resume in its middle) and passes on the rest.
type skipWriter struct {
	w io.Writer
	n int64
}

func (s *skipWriter) Write(p []byte) (int, error) {
	if s.n >= int64(len(p)) {
		s.n -= int64(len(p))
		return len(p), nil
	}
	k := int(s.n)
	s.n = 0
	m, err := s.w.Write(p[k:])
	return k + m, err
}

// recvState is what the receiver holds across attempts.
type recvState struct {
	n        int64     // bytes written to the destination
	h        hash.Hash // their SHA-256
	finished bool      // the caller's finish step ran
}

// resumer runs the data phase of one transfer, and resumes it when it is
// negotiated and the connection is lost.
type resumer struct {
	c       *Client
	w       *Wormhole
	sender  bool
	enabled bool // both ends advertise resume
	m       *transfer.ResumeMachine
	peer    chan *transfer.Resume // the peer's resume messages (watchPeer)
	own     *ownTransit           // our listener and hints of the attempt
	held    func() (int64, []byte)
	// onLost reports a lost connection (err != nil, held = bytes the
	// receiver keeps) and data flowing again (err == nil).
	onLost func(held int64, err error)
	// phase runs the data phase on a connection; peer is nil for the
	// first attempt, else the peer's resume message.
	phase func(ctx context.Context, conn net.Conn, key []byte, peer *transfer.Resume) error
}

// phaseResult is what one attempt's goroutine reports.
type phaseResult struct {
	attempt   int
	connected bool  // dialled; the data phase starts
	held      int64 // with connected: what the receiver holds
	err       error
}

// run runs the first attempt's data phase on conn and then, on a loss,
// the attempts the machine asks for, until the data phase of one of
// them succeeds or the machine gives up.
func (r *resumer) run(ctx context.Context, conn net.Conn, key []byte) error {
	if !r.enabled {
		defer conn.Close()
		return r.phase(ctx, conn, key, nil)
	}
	r.m = transfer.NewResumeMachine(transfer.ResumeConfig{Timeout: r.c.ResumeTimeout, Rand: r.c.Rand})
	defer func() { r.own.close() }()
	results := make(chan phaseResult, 8)
	var stop context.CancelFunc
	var done chan struct{}
	start := func(attempt int, conn net.Conn, key []byte, peer *transfer.Resume, deadline time.Time) {
		pctx, cancel := context.WithCancel(ctx)
		stop, done = cancel, make(chan struct{})
		go func(done chan struct{}) {
			defer close(done)
			defer cancel()
			if conn == nil {
				var err error
				conn, key, err = r.dial(pctx, attempt, peer, deadline)
				if err != nil {
					results <- phaseResult{attempt: attempt, err: errs.Chain(errConnLost, err)}
					return
				}
				// What is held is read here, before the phase
				// writes to it, not by run, which races the phase.
				held, _ := r.heldNow()
				results <- phaseResult{attempt: attempt, connected: true, held: held}
			}
			defer conn.Close()
			results <- phaseResult{attempt: attempt, err: r.phase(pctx, conn, key, peer)}
		}(done)
	}
	halt := func() {
		if stop != nil {
			stop()
			<-done
		}
	}
	defer halt()
	start(0, conn, key, nil, time.Time{})

	var timer *time.Timer
	var timerC <-chan time.Time
	timerAttempt := 0
	var lastErr error
	waiting := false // between a loss and data flowing again
	// A backstop for the machine's own deadline: whatever state it is
	// in, a transfer never waits much longer than ResumeTimeout.
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		var ev any
		select {
		case now := <-check.C:
			if d := r.m.Deadline(); !d.IsZero() && now.After(d.Add(5*time.Second)) {
				halt()
				return bracket(transfer.ErrResumeTimeout, cmp.Or(lastErr, errConnLost))
			}
			continue
		case res := <-results:
			if res.attempt != r.m.Attempt() {
				continue // an attempt already replaced
			}
			switch {
			case res.connected:
				ev = transfer.ResumeFlowing{Attempt: res.attempt}
				waiting = false
				r.report(res.held, nil)
			case res.err == nil:
				return nil
			case !errors.Is(res.err, errConnLost) || ctx.Err() != nil:
				return res.err
			default:
				lastErr = res.err
				ev = transfer.ResumeLost{Now: time.Now()}
				held, _ := r.heldNow()
				if logging.Enabled {
					r.c.Logger.Info("transit connection lost, resuming", "attempt", res.attempt, "held", held, "error", res.err)
				}
				if !waiting {
					waiting = true
					r.report(held, res.err)
				}
			}
		case msg := <-r.peer:
			ev = transfer.ResumePeer{Msg: msg, Now: time.Now()}
		case now := <-timerC:
			ev, timerC = transfer.ResumeTimer{Attempt: timerAttempt, Now: now}, nil
		case <-ctx.Done():
			halt()
			return cause(ctx, ctx.Err())
		}
		for _, a := range r.m.Handle(ev) {
			switch a := a.(type) {
			case transfer.ResumeAbort:
				halt()
				if !waiting {
					// The peer noticed the loss first.
					waiting = true
					held, _ := r.heldNow()
					r.report(held, errs.With(errConnLost, "the peer is reconnecting"))
				}
			case transfer.ResumeSend:
				if err := r.send(ctx, a.Attempt); err != nil {
					return err
				}
			case transfer.ResumeSetTimer:
				if timer != nil {
					timer.Stop()
				}
				timer, timerAttempt = time.NewTimer(max(a.After, 0)), a.Attempt
				timerC = timer.C
			case transfer.ResumeDial:
				start(a.Attempt, nil, nil, a.Peer, r.m.Deadline())
			case transfer.ResumeFail:
				return bracket(a.Err, lastErr)
			}
		}
	}
}

// bracket is the error of a resume that gave up: "wormhole: why (the
// last loss)", unwrapping to both.
func bracket(why, last error) error {
	if last == nil { // the peer's messages ended it before any loss here
		return errs.Wrap("wormhole", why)
	}
	return errs.New("wormhole: "+why.Error()+" ("+last.Error()+")", why, last)
}

func (r *resumer) report(held int64, err error) {
	if r.onLost != nil {
		r.onLost(held, err)
	}
}

// heldNow is what the receiver holds (the sender reports 0).
func (r *resumer) heldNow() (int64, []byte) {
	if r.held == nil {
		return 0, nil
	}
	return r.held()
}

// send opens a fresh listener and sends our resume message for attempt;
// the receiver adds what it holds (no phase runs meanwhile).
func (r *resumer) send(ctx context.Context, attempt int) error {
	r.own.close()
	r.own = r.c.openTransit()
	raw, err := r.own.msg.MarshalJSON()
	if err != nil {
		return err
	}
	msg := &transfer.Resume{Attempt: attempt, Transit: raw}
	if r.held != nil {
		msg.HasOffset = true
		msg.Offset, msg.SHA256 = r.held()
	}
	sctx := ctx
	if d := r.m.Deadline(); !d.IsZero() {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	if err := sendMsg(sctx, r.w, transfer.ResumeMessage(msg)); err != nil {
		return errs.Wrap("wormhole: sending the resume message", err)
	}
	return nil
}

// dial connects attempt with its own transit key, no later than deadline.
func (r *resumer) dial(ctx context.Context, attempt int, peer *transfer.Resume, deadline time.Time) (net.Conn, []byte, error) {
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	hints := transit.Hints{}
	if m, err := transit.ParseMessage(peer.Transit); err == nil {
		hints = m.Hints
	} else {
		if logging.Enabled {
			r.c.Logger.Info("ignoring the peer's resume hints", "error", err)
		}
	}
	return r.c.connectTransit(ctx, r.w, r.sender, r.own, hints, transfer.ResumeKeyPurpose(attempt))
}
