// Package client is the magic-wormhole client protocol (docs/protocol.md §2) as a
// pure state machine on top of package mailbox: no sockets, goroutines or
// clock. The driver feeds it the mailbox driver events plus the commands
// below and performs the actions it returns.
//
// # The protocol in brief
//
// Both sides know a code like "7-guitarist-revenge": the nameplate "7"
// (allocated by one side from the server, typed by the other) and words
// that only the two people know. Each side claims the nameplate, opens its
// mailbox and, as soon as it knows the code, adds its SPAKE2 message in
// phase "pake" ({"pake_v1": "<hex>"}). The whole NFC-normalised code is the
// SPAKE2 password and the appid its identity, so from the peer's pake each
// side computes the same 32-byte key only if the codes matched; a
// third party learns nothing it could test guesses against.
//
// Every later message is encrypted with NaCl secretbox under a key derived
// from the shared key, the sender's side and the phase. Right after the
// key each side sends phase "version" ({"app_versions": {...}}). The first
// peer message that decrypts proves the peer has the same key: the key is
// confirmed (mood happy, the verifier can be shown). A message that does
// not decrypt means somebody typed the wrong code: mood scary, ErrWrongCode,
// close. Application messages use phases "0", "1", ... counted per
// sender; like the reference client we hold ours back until the key is
// confirmed, and deliver the peer's in numeric order, each once.
//
// At the end each side closes its mailbox with a mood: happy (key
// confirmed), lonely (the peer never showed up), scary (wrong code) or
// errory (server error).
package client

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/wasmhole/wasmhole/core/internal/nfc"
	"github.com/wasmhole/wasmhole/core/keys"
	"github.com/wasmhole/wasmhole/core/mailbox"
	"github.com/wasmhole/wasmhole/core/spake2"
	"github.com/wasmhole/wasmhole/core/words"
	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// Moods for Close (sent to the server, recorded in its usage database).
const (
	MoodHappy  = "happy"
	MoodLonely = "lonely"
	MoodScary  = "scary"
	MoodErrory = "errory"
)

// Limits on what a peer can make us hold.
const (
	// MaxEarly bounds peer messages held until the peer's pake arrives.
	MaxEarly = 64
	// MaxAhead bounds how far ahead of the next expected app phase a peer
	// message may be; further ones are dropped.
	MaxAhead = 1024
)

// Sentinel errors, reported wrapped in Failed or returned by methods.
var (
	// ErrWrongCode: the peer's messages do not decrypt (or its pake is
	// malformed), which in practice means one side mistyped the code.
	ErrWrongCode = errors.New("wrong code: the other side's messages cannot be decrypted (scary)")
	// ErrBadCode: a code that cannot be used (see package words).
	ErrBadCode = errors.New("invalid wormhole code")
	// ErrNoKey: DeriveKey or Verifier before the key was confirmed.
	ErrNoKey = errors.New("the key is not confirmed yet")
)

// Config configures a Machine.
type Config struct {
	// AppID namespaces codes on the server and is the SPAKE2 identity.
	AppID string
	// Side, ClientVersion, MaxTrace: see mailbox.Config.
	Side          string
	ClientVersion [2]string
	MaxTrace      int
	// AppVersions is sent to the peer as "app_versions" in the version
	// message; it must be a JSON object; nil means {}. A json.RawMessage
	// can be assigned to it.
	AppVersions []byte
	// Rand supplies SPAKE2 entropy, code words, nonces, side, ids and
	// jitter; nil means crypto/rand.
	Rand io.Reader
}

// Event is a command below (AllocateCode, SetCode, Send, Close) or one of
// the driver events of package mailbox (mailbox.Connected,
// mailbox.Disconnected, mailbox.Received, mailbox.TimerFired).
type Event any

// Commands.
type (
	// AllocateCode allocates a nameplate and makes a code of Words random
	// words (0 means 2) on it; answered by CodeReady.
	AllocateCode struct{ Words int }
	// SetCode uses a code typed by the user; answered by CodeReady.
	SetCode struct{ Code string }
	// Send queues an application message for the next phase. It goes out
	// once the key is confirmed; Sent reports that the server stored it.
	Send struct{ Data []byte }
	// Close ends the session; Mood "" picks happy, lonely or scary.
	Close struct{ Mood string }
)

// Action is a driver action of package mailbox (mailbox.Dial,
// mailbox.Send, mailbox.Hangup, mailbox.SetTimer), mailbox.Welcome or
// mailbox.Claimed passed through for the driver, or one of the outputs
// below.
type Action any

// Outputs.
type (
	// CodeReady: the code is known (allocated or set).
	CodeReady struct{ Code string }
	// KeyConfirmed: the first peer message decrypted; Verifier is the
	// value `wormhole --verify` shows (hex it for display).
	KeyConfirmed struct{ Verifier []byte }
	// PeerVersion is the peer's app_versions object ({} if it sent none).
	PeerVersion struct{ AppVersions []byte }
	// AppMessage is the peer's next application message, in order.
	AppMessage struct {
		Phase int
		Data  []byte
	}
	// Sent: the server stored our application message Phase.
	Sent struct{ Phase int }
	// Closed ends the session; Mood is the one we closed with.
	Closed struct{ Mood string }
	// Failed reports the fatal error; Closed follows once the mailbox is
	// closed.
	Failed struct{ Err error }
)

// Machine runs one wormhole session. It is not safe for concurrent use.
type Machine struct {
	mb          *mailbox.Machine
	appID       string
	rand        io.Reader
	appVersions []byte

	allocWords int
	code       string
	pake       *spake2.Symmetric
	key        []byte
	peerSide   string
	verified   bool
	early      []mailbox.PeerMessage // peer messages before the key

	outQueue [][]byte // app messages waiting for key confirmation
	nextOut  int      // phase of the next app message we send
	nextIn   int      // phase of the next app message to deliver
	inbox    map[int][]byte

	closing bool
	mood    string
	failed  bool
	closed  bool
}

// New returns a machine that is not connected; see mailbox.New.
func New(cfg Config) (*Machine, error) {
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	av := cfg.AppVersions
	if av == nil {
		av = []byte(`{}`)
	}
	if v, err := jsonx.Parse(av); err != nil || v.Kind() != jsonx.Object {
		return nil, errors.New("client: AppVersions must be a JSON object: " + string(av))
	}
	mb, err := mailbox.New(mailbox.Config{
		AppID: cfg.AppID, Side: cfg.Side, ClientVersion: cfg.ClientVersion, Rand: r, MaxTrace: cfg.MaxTrace,
	})
	if err != nil {
		return nil, errs.Wrap("client", err)
	}
	return &Machine{
		mb: mb, appID: cfg.AppID, rand: r, appVersions: bytes.Clone(av), inbox: map[int][]byte{},
	}, nil
}

// Mailbox is the underlying mailbox machine (for its trace and ids).
func (m *Machine) Mailbox() *mailbox.Machine { return m.mb }

// Code is the code once known, or "".
func (m *Machine) Code() string { return m.code }

// Verified reports whether the key is confirmed.
func (m *Machine) Verified() bool { return m.verified }

// Verifier returns the verifier once the key is confirmed.
func (m *Machine) Verifier() ([]byte, error) {
	if !m.verified {
		return nil, ErrNoKey
	}
	return keys.Verifier(m.key), nil
}

// DeriveKey derives an application key, as wormhole.derive_key does:
// HKDF of the shared key with the NFC-normalised purpose. It needs a
// confirmed key, so that nothing is derived from a mistyped code.
func (m *Machine) DeriveKey(purpose string, n int) ([]byte, error) {
	if !m.verified {
		return nil, ErrNoKey
	}
	if n < 1 || n > 255*32 {
		return nil, errors.New("client: derive key " + strconv.Quote(purpose) + ": length " + strconv.Itoa(n) + " out of range")
	}
	return keys.DeriveKey(m.key, nfc.String(purpose), n), nil
}

// Handle feeds one event and returns the actions to perform, in order.
// It panics on an event type it does not know, a programming error.
func (m *Machine) Handle(ev Event) []Action {
	var out []Action
	switch ev := ev.(type) {
	case mailbox.Connected, mailbox.Disconnected, mailbox.Received, mailbox.TimerFired:
		out = m.mailbox(out, ev.(mailbox.Event))
	case AllocateCode:
		if m.closing || m.code != "" || m.allocWords != 0 {
			return nil
		}
		m.allocWords = ev.Words
		if m.allocWords <= 0 {
			m.allocWords = 2
		}
		out = m.mailbox(out, mailbox.Allocate{})
	case SetCode:
		if m.closing || m.code != "" || m.allocWords != 0 {
			return nil
		}
		nameplate, err := CheckCode(ev.Code)
		if err != nil {
			return m.fail(out, err, MoodErrory)
		}
		out = m.mailbox(out, mailbox.Claim{Nameplate: nameplate})
		out = m.codeReady(out, ev.Code)
	case Send:
		if m.closing {
			return nil
		}
		m.outQueue = append(m.outQueue, bytes.Clone(ev.Data))
		out = m.flushOut(out)
	case Close:
		out = m.close(out, ev.Mood)
	default:
		// A programming error. The message does not name ev's type as
		// it used to (%T): that alone took reflect into the browser build.
		panic("client: unknown event")
	}
	return out
}

// mailbox feeds the mailbox machine and translates its outputs.
func (m *Machine) mailbox(out []Action, ev mailbox.Event) []Action {
	for _, a := range m.mb.Handle(ev) {
		switch a := a.(type) {
		case mailbox.Allocated:
			code, err := words.Generate(m.rand, a.Nameplate, m.allocWords)
			if err != nil {
				out = m.fail(out, errs.Wrap("client: making a code", err), MoodErrory)
				continue
			}
			out = m.codeReady(out, code)
		case mailbox.PeerMessage:
			out = m.peerMessage(out, a)
		case mailbox.Delivered:
			if n, ok := appPhase(a.Phase); ok {
				out = append(out, Sent{Phase: n})
			}
		case mailbox.Failed:
			if !m.failed {
				m.failed = true
				out = append(out, Failed{Err: a.Err})
			}
			if !m.closing { // the mailbox machine closes errory by itself
				m.closing, m.mood = true, MoodErrory
			}
		case mailbox.Closed:
			m.closed = true
			out = append(out, Closed{Mood: m.mood})
		default: // driver actions, Welcome, Claimed
			out = append(out, a)
		}
	}
	return out
}

func (m *Machine) codeReady(out []Action, code string) []Action {
	m.code = code
	out = append(out, CodeReady{Code: code})
	pake, err := spake2.NewSymmetric([]byte(nfc.String(code)), []byte(nfc.String(m.appID)), m.rand)
	if err != nil {
		return m.fail(out, errs.Wrap("client: starting SPAKE2", err), MoodErrory)
	}
	m.pake = pake
	out = m.mailbox(out, mailbox.Add{Phase: "pake", Body: keys.EncodePake(pake.Message())})
	// A replayed mailbox may hand us the peer's pake before we had a code
	// (only if the layer above opened it directly); catch up.
	return m.replayEarly(out)
}

func (m *Machine) peerMessage(out []Action, pm mailbox.PeerMessage) []Action {
	if m.closing {
		return out
	}
	if pm.Phase == "pake" {
		if m.key != nil {
			return out
		}
		if m.pake == nil {
			return m.hold(out, pm)
		}
		msg, err := keys.DecodePake(pm.Body)
		if err == nil {
			m.key, err = m.pake.Finish(msg)
		}
		if err != nil {
			return m.fail(out, errs.Suffix(ErrWrongCode, " ("+err.Error()+")"), MoodScary)
		}
		m.peerSide = pm.Side
		box, err := keys.Seal(keys.PhaseKey(m.key, m.mb.Side(), "version"), m.versionPlaintext(), m.rand)
		if err != nil {
			return m.fail(out, errs.Wrap("client: sealing version", err), MoodErrory)
		}
		out = m.mailbox(out, mailbox.Add{Phase: "version", Body: box})
		return m.replayEarly(out)
	}
	if m.key == nil {
		// Phases are not ordered after a reconnect (docs/protocol.md §1.7).
		return m.hold(out, pm)
	}
	if pm.Side != m.peerSide {
		return out // the server lets only two sides in; ignore strays
	}
	plain, err := keys.Open(keys.PhaseKey(m.key, pm.Side, pm.Phase), pm.Body)
	if err != nil {
		return m.fail(out, errs.Suffix(ErrWrongCode, " (phase "+strconv.Quote(pm.Phase)+")"), MoodScary)
	}
	if !m.verified {
		m.verified = true
		out = append(out, KeyConfirmed{Verifier: keys.Verifier(m.key)})
		out = m.flushOut(out)
	}
	if pm.Phase == "version" {
		return append(out, PeerVersion{AppVersions: appVersions(plain)})
	}
	n, ok := appPhase(pm.Phase)
	if !ok || n < m.nextIn || n >= m.nextIn+MaxAhead {
		return out // dilation or unknown phases, or far ahead: not ours
	}
	m.inbox[n] = plain
	for {
		data, ok := m.inbox[m.nextIn]
		if !ok {
			return out
		}
		delete(m.inbox, m.nextIn)
		out = append(out, AppMessage{Phase: m.nextIn, Data: data})
		m.nextIn++
	}
}

func (m *Machine) hold(out []Action, pm mailbox.PeerMessage) []Action {
	if len(m.early) < MaxEarly {
		m.early = append(m.early, pm)
	}
	return out
}

func (m *Machine) replayEarly(out []Action) []Action {
	early := m.early
	m.early = nil
	for i, pm := range early {
		// pake first: it is the one that makes the others readable.
		if pm.Phase == "pake" {
			out = m.peerMessage(out, pm)
			early = append(early[:i:i], early[i+1:]...)
			break
		}
	}
	for _, pm := range early {
		out = m.peerMessage(out, pm)
	}
	return out
}

// versionPlaintext is spelt like Python's json.dumps for byte-identical
// traffic: {"app_versions": {...}}.
func (m *Machine) versionPlaintext() []byte {
	b := make([]byte, 0, len(`{"app_versions": }`)+len(m.appVersions))
	b = append(b, `{"app_versions": `...)
	b = append(b, m.appVersions...)
	return append(b, '}')
}

// appVersions extracts app_versions from a peer's version message; a
// missing or non-object value counts as {} like Python's .get(..., {}).
// The key matches as encoding/json matched a struct field: in any case,
// the last one winning.
func appVersions(plain []byte) []byte {
	v, err := jsonx.Parse(plain)
	if err != nil {
		return []byte(`{}`)
	}
	var av jsonx.Value
	for _, mem := range v.Members() {
		if strings.EqualFold(mem.Key, "app_versions") {
			av = mem.Value
		}
	}
	if av.Kind() != jsonx.Object {
		return []byte(`{}`)
	}
	return bytes.Clone(av.Raw())
}

// appPhase parses a canonical app phase number ("0", "1", ..., no signs
// or leading zeros, so each phase has one spelling).
func appPhase(p string) (int, bool) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || strconv.Itoa(n) != p {
		return 0, false
	}
	return n, true
}

func (m *Machine) flushOut(out []Action) []Action {
	if !m.verified {
		return out
	}
	for _, data := range m.outQueue {
		phase := strconv.Itoa(m.nextOut)
		box, err := keys.Seal(keys.PhaseKey(m.key, m.mb.Side(), phase), data, m.rand)
		if err != nil {
			return m.fail(out, errs.Wrap("client: sealing phase "+phase, err), MoodErrory)
		}
		m.nextOut++
		out = m.mailbox(out, mailbox.Add{Phase: phase, Body: box})
	}
	m.outQueue = nil
	return out
}

// fail reports err once and closes with mood.
func (m *Machine) fail(out []Action, err error, mood string) []Action {
	if !m.failed {
		m.failed = true
		out = append(out, Failed{Err: err})
	}
	return m.close(out, mood)
}

func (m *Machine) close(out []Action, mood string) []Action {
	if m.closing {
		return out
	}
	if mood == "" {
		mood = MoodLonely
		if m.verified {
			mood = MoodHappy
		}
	}
	m.closing, m.mood = true, mood
	m.outQueue, m.early = nil, nil
	return m.mailbox(out, mailbox.Close{Mood: mood})
}

// CheckCode returns the nameplate of a code typed by a person, or
// ErrBadCode, naming the code and saying what is wrong with it, for one
// that cannot be used.
func CheckCode(code string) (nameplate string, err error) {
	nameplate, err = words.Nameplate(code)
	if err != nil {
		return "", errs.Chain(errs.Suffix(ErrBadCode, " "+strconv.Quote(code)), err)
	}
	return nameplate, nil
}
