package wormhole

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/wasmhole/wasmhole/core/client"
	"github.com/wasmhole/wasmhole/core/internal/logging"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
)

const (
	// DefaultMailboxURL is the public mailbox server of the 0.12 CLI.
	DefaultMailboxURL = "ws://relay.magic-wormhole.io:4000/v1"
	// AppID is the application id of `wormhole send`/`receive`.
	AppID = "lothar.com/wormhole/text-or-file-xfer"
	// Version is sent to the server in bind as ["wasmhole", Version].
	Version = "0.1.0"
)

// Client holds the settings for wormhole sessions. Its zero value talks to
// the public servers like `wormhole send`/`receive` do.
type Client struct {
	MailboxURL string // "" = DefaultMailboxURL
	AppID      string // "" = AppID
	CodeLength int    // words in an allocated code; 0 = 2
	// Relays are the transit relays offered for file transfers; nil means
	// DefaultRelay (tcp:transit.magic-wormhole.io:4001).
	Relays []transit.RelayHint
	// RelayOnly makes file transfers use relays only (no direct hints).
	RelayOnly bool
	// AppVersions is sent to the peer as "app_versions" in the version
	// message: a JSON object, such as {"tool": "x"}; empty = {}.
	AppVersions []byte
	// ResumeTimeout bounds how long a file transfer between two wasmhole
	// ends keeps reconnecting after its transit connection failed
	// (docs/resume.md); 0 = DefaultResumeTimeout, negative = never
	// resume (and do not advertise it). Stock CLIs never resume.
	ResumeTimeout time.Duration
	Logger        logging.Logger // a logr.Logger (a no-op under GOOS=js); zero = discard
	Rand          io.Reader      // nil = crypto/rand
	// DataPath, if not nil, moves the bytes of file transfers in place of
	// the built-in pipeline (the browser's JS workers); see DataPath. It
	// is not used for a transfer that may resume (docs/resume.md).
	DataPath DataPath
}

func (c *Client) mailboxURL() string {
	if c.MailboxURL != "" {
		return c.MailboxURL
	}
	return DefaultMailboxURL
}

func (c *Client) appID() string {
	if c.AppID != "" {
		return c.AppID
	}
	return AppID
}

// Wormhole is one mailbox session: one code, one peer, one shared key.
// Its methods are safe for concurrent use. Always call Close: it frees the
// nameplate and mailbox on the server and stops the goroutines.
type Wormhole struct {
	client *Client
	url    string
	log    logging.Logger
	resume bool // our app_versions advertise resume (docs/resume.md)

	mu      sync.Mutex
	m       *client.Machine
	changed chan struct{} // closed and replaced on every state change
	conn    *wsConn       // the live connection, or nil
	dials   int           // dial goroutines started, for logs
	timer   timerHandle   // the reconnect timer, if set
	sess    context.Context
	cancel  context.CancelFunc // aborts dials when the session ends

	welcomed  bool
	motd      string
	code      string
	codeAsked bool
	claimed   bool
	verifier  []byte
	versions  []byte
	inbox     [][]byte
	stored    map[int]bool // app phases the server stored
	nextPhase int          // phase of the next Send
	closing   bool
	err       error // the first failure
	closed    bool
}

// New connects to the mailbox server, binds and waits for the welcome
// (see MOTD). The first connection must succeed; later drops are
// reconnected transparently. ctx only bounds New itself. Its version
// message carries exactly c.AppVersions.
func (c *Client) New(ctx context.Context) (*Wormhole, error) {
	return c.newSession(ctx, c.AppVersions)
}

// NewSend is New for a wormhole that a file will be sent over later
// (SendOptions.Wormhole; a page opens it while the user is still choosing):
// unless ResumeTimeout is negative it also advertises resume
// (docs/resume.md), as SendFile's own session does, so the transfer can
// resume with a wasmhole peer.
func (c *Client) NewSend(ctx context.Context) (*Wormhole, error) {
	return c.newSession(ctx, c.resumeVersions(c.resumeEnabled()))
}

// newSession is New with the app_versions to send.
func (c *Client) newSession(ctx context.Context, versions []byte) (*Wormhole, error) {
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	if len(versions) == 0 {
		versions = nil // the client sends {}
	}
	m, err := client.New(client.Config{
		AppID: c.appID(), ClientVersion: [2]string{"wasmhole", Version}, AppVersions: versions, Rand: r,
	})
	if err != nil {
		return nil, errs.Wrap("wormhole", err)
	}
	w := &Wormhole{
		client:  c,
		resume:  advertisesResume(versions),
		url:     c.mailboxURL(),
		log:     c.Logger,
		m:       m,
		changed: make(chan struct{}),
		stored:  map[int]bool{},
	}
	if logging.Enabled {
		w.log = w.log.WithValues("side", m.Mailbox().Side())
	}
	w.sess, w.cancel = context.WithCancel(context.Background())

	ws, err := dialWS(ctx, w.url)
	if err != nil {
		w.cancel()
		return nil, errs.Wrap("wormhole: connecting to "+w.url, err)
	}
	w.mu.Lock()
	w.attach(ws)
	w.mu.Unlock()

	err = w.wait(ctx, func() (bool, error) {
		if w.err != nil {
			return true, w.err
		}
		return w.welcomed, nil
	})
	if err != nil {
		w.abort()
		return nil, errs.Wrap("wormhole: waiting for the server's welcome", err)
	}
	return w, nil
}

// MOTD is the server's message of the day, if any.
func (w *Wormhole) MOTD() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.motd
}

// Side is this client's random mailbox side.
func (w *Wormhole) Side() string { return w.m.Mailbox().Side() }

// AllocateCode asks the server for a nameplate and returns a new code of
// Client.CodeLength words on it. Give the code to the other person.
func (w *Wormhole) AllocateCode(ctx context.Context) (string, error) {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return "", errs.Wrap("wormhole: allocate code", err)
	}
	if w.codeAsked {
		w.mu.Unlock()
		return "", errs.Wrap("wormhole: allocate code", ErrCodeSet)
	}
	w.codeAsked = true
	w.handle(client.AllocateCode{Words: w.client.CodeLength})
	w.mu.Unlock()
	err := w.wait(ctx, func() (bool, error) {
		if w.code != "" {
			return true, nil
		}
		return w.failedOrClosed()
	})
	if err != nil {
		return "", errs.Wrap("wormhole: allocate code", err)
	}
	return w.Code(), nil
}

// SetCode uses a code the other person allocated. It returns once the
// server has given us the mailbox (so a crowded nameplate fails here);
// whether the code is right only shows in WaitVerified.
func (w *Wormhole) SetCode(ctx context.Context, code string) error {
	if _, err := client.CheckCode(code); err != nil {
		return errs.Wrap("wormhole", err)
	}
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return errs.Wrap("wormhole: set code", err)
	}
	if w.codeAsked {
		w.mu.Unlock()
		return errs.Wrap("wormhole: set code", ErrCodeSet)
	}
	w.codeAsked = true
	w.handle(client.SetCode{Code: code})
	w.mu.Unlock()
	err := w.wait(ctx, func() (bool, error) {
		if w.claimed {
			return true, nil
		}
		return w.failedOrClosed()
	})
	if err != nil {
		return errs.Wrap("wormhole: set code", err)
	}
	return nil
}

// Code is the code once allocated or set, else "".
func (w *Wormhole) Code() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.code
}

// WaitVerified waits until the peer has proved it holds the same key (its
// first message decrypted) and returns the verifier: 32 bytes both sides
// can compare out of band (`wormhole --verify` shows them as hex). A
// mistyped code gives ErrWrongCode.
func (w *Wormhole) WaitVerified(ctx context.Context) ([]byte, error) {
	var v []byte
	err := w.wait(ctx, func() (bool, error) {
		if w.verifier != nil {
			v = append([]byte(nil), w.verifier...)
			return true, nil
		}
		return w.failedOrClosed()
	})
	if err != nil {
		return nil, errs.Wrap("wormhole: waiting for the peer", err)
	}
	return v, nil
}

// PeerVersions is the peer's app_versions object, as JSON, once it
// arrived; else nil.
func (w *Wormhole) PeerVersions() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.versions
}

// Send sends data as the next numbered application message. It is held
// back until the key is confirmed, and Send returns once the server has
// stored it (a reconnection in between re-sends it).
func (w *Wormhole) Send(ctx context.Context, data []byte) error {
	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return errs.Wrap("wormhole: send", err)
	}
	if !w.codeAsked {
		w.mu.Unlock()
		return errors.New("wormhole: send: no code yet (call AllocateCode or SetCode)")
	}
	phase := w.nextPhase
	w.nextPhase++
	w.handle(client.Send{Data: data})
	w.mu.Unlock()
	err := w.wait(ctx, func() (bool, error) {
		if w.stored[phase] {
			delete(w.stored, phase)
			return true, nil
		}
		return w.failedOrClosed()
	})
	if err != nil {
		return errs.Wrap("wormhole: send message "+strconv.Itoa(phase), err)
	}
	return nil
}

// Receive returns the peer's next application message, in the order the
// peer sent them.
func (w *Wormhole) Receive(ctx context.Context) ([]byte, error) {
	var msg []byte
	err := w.wait(ctx, func() (bool, error) {
		if len(w.inbox) > 0 {
			msg = w.inbox[0]
			w.inbox = w.inbox[1:]
			return true, nil
		}
		return w.failedOrClosed()
	})
	if err != nil {
		return nil, errs.Wrap("wormhole: receive", err)
	}
	return msg, nil
}

// DeriveKey derives n bytes for purpose from the confirmed shared key
// (magic-wormhole's derive_key); file transfers use it for the transit
// key. Before WaitVerified succeeded it returns ErrNoKey.
func (w *Wormhole) DeriveKey(purpose string, n int) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, err := w.m.DeriveKey(purpose, n)
	if err != nil {
		return nil, errs.Wrap("wormhole: derive key "+strconv.Quote(purpose), err)
	}
	return k, nil
}

// Close releases the nameplate, closes the mailbox with mood and hangs up.
// Mood "" means happy if the key was confirmed, lonely if the peer never
// showed up (scary after a wrong code, errory after a server error). It
// returns the session's failure if there was one, and ctx's error if the
// server did not confirm in time (the connection is then dropped).
// Calling Close again returns the same result.
func (w *Wormhole) Close(ctx context.Context, mood string) error {
	w.mu.Lock()
	if !w.closing && !w.closed {
		w.closing = true
		w.handle(client.Close{Mood: mood})
	}
	w.mu.Unlock()
	err := w.wait(ctx, func() (bool, error) { return w.closed, nil })
	if err != nil {
		w.abort()
		return errs.Wrap("wormhole: close", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return errs.Wrap("wormhole", w.err)
	}
	return nil
}

// usable reports why no new command can be given. Called with w.mu held.
func (w *Wormhole) usable() error {
	switch {
	case w.err != nil:
		return w.err
	case w.closing || w.closed:
		return ErrClosed
	}
	return nil
}

// failedOrClosed is the end condition every wait shares. Called with w.mu
// held.
func (w *Wormhole) failedOrClosed() (bool, error) {
	if w.err != nil {
		return true, w.err
	}
	if w.closing || w.closed {
		return true, ErrClosed
	}
	return false, nil
}

// wait blocks until ready (called with w.mu held) reports done, or ctx
// ends.
func (w *Wormhole) wait(ctx context.Context, ready func() (bool, error)) error {
	w.mu.Lock()
	for {
		if done, err := ready(); done {
			w.mu.Unlock()
			return err
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
}
