package wormhole

// The receiving half of file-transfer v1 (docs/protocol.md §3). Receive joins
// the session with the code, waits for key confirmation and then for the
// offer. The sender's transit message comes before its offer; like the
// Python CLI we answer it with ours at once (start listening, send our
// hints), so that both sides know every hint when the user decides. A
// text offer is acknowledged and the session closed inside Receive; a file
// or directory offer is returned for the caller to Accept or Reject.

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// OfferKind says what an Offer carries.
type OfferKind int

// The kinds of offers.
const (
	Text OfferKind = iota + 1
	File
	Directory
)

func (k OfferKind) String() string {
	switch k {
	case Text:
		return "text"
	case File:
		return "file"
	case Directory:
		return "directory"
	}
	return "OfferKind(" + strconv.Itoa(int(k)) + ")"
}

// Offer is what the sender proposes. A text offer is complete when
// Receive returns it (already acknowledged, session closed). A file or
// directory offer holds the open session: call exactly one of Accept,
// AcceptToPath, AcceptToDir or Reject.
type Offer struct {
	Kind OfferKind
	// Text is the message of a text offer.
	Text string
	// Name is the filename or dirname exactly as the sender wrote it:
	// untrusted, pass it through transfer.SafeFilename (AcceptToDir does).
	Name string
	// Size is the number of bytes the transfer carries: the file's size,
	// or the zip's size for a directory.
	Size int64
	// NumFiles and NumBytes describe a directory as the sender announced
	// it (count of entries, sum of file sizes); informational.
	NumFiles int
	NumBytes int64

	c        *Client
	w        *Wormhole
	verifier []byte
	own      *ownTransit
	peer     transit.Hints

	mu       sync.Mutex
	answered bool
}

var (
	// errAnswered: Accept or Reject was already called on the offer.
	errAnswered = errors.New("wormhole: offer already answered")
	// errNoData: Accept or Reject on a text offer.
	errNoData = errors.New("wormhole: a text offer has nothing to accept")
)

// Verifier returns the verifier of the session (both sides derive the same
// bytes from the key), for users who compare it out of band. It has the
// signature of Transfer.Verifier; an offer's key is always confirmed, so
// it never blocks and never fails.
func (o *Offer) Verifier(context.Context) ([]byte, error) { return o.verifier, nil }

// Receive joins the wormhole with code and returns the sender's offer.
// A wrong code fails with ErrWrongCode once the peer's key could not be
// confirmed. ctx bounds only this part; Accept takes its own.
func (c *Client) Receive(ctx context.Context, code string) (_ *Offer, err error) {
	w, err := c.newSession(ctx, c.resumeVersions(c.resumeEnabled()))
	if err != nil {
		return nil, err
	}
	o := &Offer{c: c, w: w}
	tell := false // whether goodbye should send the peer an {"error"}
	defer func() {
		if err != nil {
			o.own.close()
			goodbye(ctx, c, w, err, tell)
		}
	}()
	if err := w.SetCode(ctx, code); err != nil {
		return nil, err
	}
	if o.verifier, err = w.WaitVerified(ctx); err != nil {
		return nil, err
	}
	tell = true
	for {
		m, err := recvMsg(ctx, w)
		if errors.Is(err, transfer.ErrUnknownOffer) || errors.Is(err, transfer.ErrUnknownMode) {
			// The exact strings Python answers with.
			if serr := sendMsg(ctx, w, transfer.ErrorMessage(transfer.ReplyText(err))); serr == nil {
				tell = false
			}
		}
		if err != nil {
			return nil, err
		}
		switch {
		case m.Error != "":
			return nil, peerError(m.Error)
		case m.Transit != nil:
			o.peer = c.parsePeerTransit(m.Transit)
			if err := o.openTransit(ctx); err != nil {
				return nil, err
			}
		case m.Offer != nil:
			return o.take(ctx, m.Offer)
		}
	}
}

// openTransit starts our side of transit once and tells the peer.
func (o *Offer) openTransit(ctx context.Context) error {
	if o.own != nil {
		return nil
	}
	o.own = o.c.openTransit()
	return o.own.send(ctx, o.w)
}

// take fills o from the offer; a text offer is acknowledged and closed.
func (o *Offer) take(ctx context.Context, off *transfer.Offer) (*Offer, error) {
	switch {
	case off.Message != nil:
		o.Kind, o.Text = Text, *off.Message
		o.answered = true
		o.own.close()
		if err := sendMsg(ctx, o.w, transfer.MessageAck()); err != nil {
			return nil, err
		}
		closeHappy(ctx, o.c, o.w)
		return o, nil
	case off.File != nil:
		o.Kind, o.Name, o.Size = File, off.File.Filename, off.File.Filesize
	case off.Directory != nil:
		d := off.Directory
		o.Kind, o.Name, o.Size = Directory, d.Dirname, d.Zipsize
		o.NumFiles, o.NumBytes = int(min(d.Numfiles, 1<<31-1)), d.Numbytes
	}
	// A sender that skipped the transit message still needs our hints.
	if err := o.openTransit(ctx); err != nil {
		return nil, err
	}
	return o, nil
}

// claim marks the offer answered; only the first answer proceeds.
func (o *Offer) claim() error {
	if o.Kind == Text {
		return errNoData
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.answered {
		return errAnswered
	}
	o.answered = true
	return nil
}

// AcceptOptions configures how an offer is accepted. The zero value is
// ready to use.
type AcceptOptions struct {
	// Progress is called as the bytes arrive: first with got == 0, last
	// with got == total.
	Progress func(got, total int64)
	// Finish, if set, runs after every byte reached the destination and
	// before the ack goes out; it is where a receiver makes the data
	// durable (flush and close a file, unpack a zip). If it fails no ack
	// is sent: the sender gets our {"error"} with its text, and Accept
	// returns Finish's error unchanged (errors.Is works on it). Nothing is
	// ever acknowledged that did not land. With AcceptToPath it runs
	// after the file or directory is in place.
	Finish func() error
	// OnReconnect, if set, is called when the transit connection was lost
	// and a resume begins (err says why, held = bytes kept, which the
	// sender will not send again), and with err == nil when data flows
	// again. Resume runs only between wasmhole ends (Client.ResumeTimeout).
	OnReconnect func(held int64, err error)
}

// Accept takes the file (or the directory's zip) and writes exactly Size
// bytes to w, calling opts.Progress as they arrive. It returns nil after
// every record authenticated, all bytes reached w, opts.Finish succeeded
// and the final ack (with their sha256) went to the sender. Cancelling
// ctx aborts the transfer; the sender sees an error.
func (o *Offer) Accept(ctx context.Context, w io.Writer, opts AcceptOptions) error {
	if err := o.claim(); err != nil {
		return err
	}
	return o.accept(ctx, w, opts)
}

// accept runs the data phase of an answered offer.
func (o *Offer) accept(ctx context.Context, dst io.Writer, opts AcceptOptions) (err error) {
	c, w := o.c, o.w
	defer func() {
		o.own.close()
		if err != nil {
			goodbye(ctx, c, w, err, true)
		}
	}()
	if err := sendMsg(ctx, w, transfer.FileAck()); err != nil {
		return err
	}
	dctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	rs := &resumer{c: c, w: w, enabled: c.resumeEnabled() && w.resume && advertisesResume(w.PeerVersions()), onLost: opts.OnReconnect}
	rs.peer = make(chan *transfer.Resume)
	go watchPeer(dctx, w, abort, rs.peer)
	conn, key, err := c.connectTransit(dctx, w, false, o.own, o.peer, transitKeyPurpose)
	if err != nil {
		return cause(dctx, err)
	}
	o.own.close()
	st := &recvState{h: sha256.New()}
	rs.held = func() (int64, []byte) { return st.n, st.h.Sum(nil) }
	rs.phase = func(ctx context.Context, conn net.Conn, key []byte, peer *transfer.Resume) error {
		if !rs.enabled {
			return c.receivePayload(ctx, conn, key, o.Size, dst, opts.Progress, opts.Finish)
		}
		return receiveInto(ctx, conn, key, st, o.Size, dst, opts.Progress, opts.Finish, rs.enabled)
	}
	if err := rs.run(dctx, conn, key); err != nil {
		return cause(dctx, err)
	}
	closeHappy(ctx, c, w)
	return nil
}

// Reject declines the offer: the sender gets "transfer rejected"
// (ErrRejected for our own sender).
func (o *Offer) Reject(ctx context.Context) error {
	if err := o.claim(); err != nil {
		return err
	}
	return o.decline(ctx, transfer.TextRejected)
}

// decline sends {"error": text} and closes the session.
func (o *Offer) decline(ctx context.Context, text string) error {
	o.own.close()
	err := sendMsg(ctx, o.w, transfer.ErrorMessage(text))
	closeHappy(ctx, o.c, o.w)
	if err != nil {
		return errs.Wrap("wormhole: declining the offer", err)
	}
	return nil
}
