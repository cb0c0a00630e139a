package wormhole

// The sending half of file-transfer v1 (docs/protocol.md §3), on top of one
// mailbox session (Client.New):
//
//	text: offer {"message"}             -> answer {"message_ack":"ok"}
//	file: transit, offer {"file"}       -> transit, answer {"file_ack":"ok"}
//	      then the transit race as sender (leader), the bytes in records,
//	      and the receiver's last record {"ack":"ok","sha256":...}
//	dir:  the same with offer {"directory"} and a zip of exactly zipsize
//	      bytes streamed from a transfer.ZipPlan
//
// A Transfer succeeds only when the receiver's sha256 matches ours. A peer
// {"error"} ends it with ErrRejected ("transfer rejected") or
// ErrPeerCancelled; a transit connection that ends before the ack with no
// {"error"} following it ends it with ErrPeerGone (the receiver was killed
// or lost its network; the receiving side reports a vanished sender the
// same way). Cancelling the context closes the transit connection, tells
// the peer and closes the mailbox with mood errory, so the peer fails too
// instead of waiting.

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// SendOptions configures one send.
type SendOptions struct {
	// Code to use; "" allocates a nameplate and generates a code of
	// Client.CodeLength words.
	Code string
	// OnCode is called once with the code, before SendXxx returns.
	OnCode func(code string)
	// Progress is called as the file or zip bytes go out (never for
	// text): first with sent == 0 (or the resume offset), last with
	// sent == total.
	Progress func(sent, total int64)
	// Wormhole, if not nil, is a session opened earlier with Client.New,
	// perhaps with its code allocated already: a page allocates while the
	// user is still choosing, so the code shows the moment they press
	// Send. The transfer takes it over and closes it when it ends. Its
	// code, if it has one, wins over Code, which must then be "" or equal.
	Wormhole *Wormhole
	// OnReconnect, if set, is called when the transit connection was lost
	// and a resume begins, and with err == nil when data flows again (see
	// AcceptOptions.OnReconnect; held is 0 on this side).
	OnReconnect func(held int64, err error)
}

// Transfer is a send in progress. It runs in the background from the
// moment SendText, SendFile or SendDirectory returns; the context given
// to them bounds and cancels it.
type Transfer struct {
	code     string
	size     int64
	verified chan struct{} // closed when verifier is set
	verifier []byte
	done     chan struct{} // closed when err is set
	err      error
}

// Code is the wormhole code the receiver must type.
func (t *Transfer) Code() string { return t.code }

// Size is the number of bytes the transfer streams: the file's size, the
// zip's size for a directory (what Progress counts to), 0 for text.
func (t *Transfer) Size() int64 { return t.size }

// Wait blocks until the transfer has ended. It returns nil only after the
// receiver acknowledged: a text with message_ack "ok", a file or directory
// with a final ack whose sha256 matches the bytes we sent.
func (t *Transfer) Wait() error {
	<-t.done
	return t.err
}

// Done is closed when the transfer has ended (Wait no longer blocks).
func (t *Transfer) Done() <-chan struct{} { return t.done }

// Verifier returns the verifier (both sides derive the same bytes from the
// key) once the peer's key has been confirmed.
func (t *Transfer) Verifier(ctx context.Context) ([]byte, error) {
	select {
	case <-t.verified:
		return t.verifier, nil
	case <-t.done:
		select {
		case <-t.verified:
			return t.verifier, nil
		default:
			return nil, t.err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// payload is what a send offers and, for files and directories, streams.
type payload struct {
	offer *transfer.Message
	text  bool
	size  int64 // bytes on the wire (filesize or zipsize)
	// write streams bytes off..size; off > 0 only if resumable.
	write     func(w io.Writer, off int64) (int64, error)
	resumable bool // the source can be read again from any offset
	// source is a file's reader, for a DataPath that reads it itself
	// (write stays the way the Go pipeline reads it); nil for a directory.
	source io.Reader
}

// SendText sends a text message.
func (c *Client) SendText(ctx context.Context, text string, opts SendOptions) (*Transfer, error) {
	return c.send(ctx, opts, payload{offer: transfer.TextOffer(text), text: true})
}

// SendFile offers one file called name (the receiver keeps only its base
// name) of exactly size bytes, read from r once the receiver accepted.
// Fewer bytes from r fail the transfer; more are not read.
func (c *Client) SendFile(ctx context.Context, name string, size int64, r io.Reader, opts SendOptions) (*Transfer, error) {
	if size < 0 {
		return nil, errors.New("wormhole: send file " + strconv.Quote(name) + ": negative size " + strconv.FormatInt(size, 10))
	}
	if name == "" {
		return nil, errors.New("wormhole: send file: empty name")
	}
	p := payload{offer: transfer.FileOfferMessage(name, size), size: size, source: r}
	p.write, p.resumable = fileSource(r, size)
	return c.send(ctx, opts, p)
}

// SendDirectory offers a directory called dirname whose content is
// entries (transfer.DirEntries(os.DirFS(dir)) for a local one). It is
// sent as a zip with stored entries, laid out before the offer so that
// the offer carries its exact size, and streamed without a temporary copy.
func (c *Client) SendDirectory(ctx context.Context, dirname string, entries []transfer.Entry, opts SendOptions) (*Transfer, error) {
	if dirname == "" {
		return nil, errors.New("wormhole: send directory: empty name")
	}
	plan, err := transfer.NewZipPlan(entries)
	if err != nil {
		return nil, errs.Wrap("wormhole: send directory "+strconv.Quote(dirname), err)
	}
	return c.send(ctx, opts, payload{
		offer: transfer.DirOfferMessage(dirname, plan),
		size:  plan.Size(),
		// The zip's bytes are deterministic: a resume builds it again and
		// skips what the receiver holds.
		write: func(w io.Writer, off int64) (int64, error) {
			n, err := plan.WriteTo(&skipWriter{w: w, n: off})
			return n - off, err
		},
		resumable: true,
	})
}

// send opens the session and gets the code synchronously, then runs the
// rest of the exchange in the background.
func (c *Client) send(ctx context.Context, opts SendOptions, p payload) (*Transfer, error) {
	w := opts.Wormhole
	if w == nil {
		var err error
		if w, err = c.newSession(ctx, c.resumeVersions(c.resumeEnabled() && p.resumable)); err != nil {
			return nil, err
		}
	}
	var err error
	code := w.Code()
	switch {
	case code != "" && opts.Code != "" && opts.Code != code:
		err = errs.New("wormhole: send: "+ErrCodeSet.Error()+" ("+code+", not "+opts.Code+")", ErrCodeSet)
	case code != "":
	case opts.Code == "":
		code, err = w.AllocateCode(ctx)
	default:
		code = opts.Code
		err = w.SetCode(ctx, code)
	}
	if err != nil {
		goodbye(ctx, c, w, err, false)
		return nil, err
	}
	t := &Transfer{code: code, size: p.size, verified: make(chan struct{}), done: make(chan struct{})}
	if opts.OnCode != nil {
		opts.OnCode(code)
	}
	go func() {
		t.err = c.runSend(ctx, w, t, opts, p)
		close(t.done)
	}()
	return t, nil
}

func (c *Client) runSend(ctx context.Context, w *Wormhole, t *Transfer, opts SendOptions, p payload) (err error) {
	verified := false
	var own *ownTransit
	defer func() {
		own.close()
		if err != nil {
			goodbye(ctx, c, w, err, verified)
		}
	}()
	v, err := w.WaitVerified(ctx)
	if err != nil {
		return err
	}
	t.verifier, verified = v, true
	close(t.verified)

	if p.text {
		if err := sendMsg(ctx, w, p.offer); err != nil {
			return err
		}
		for {
			m, err := recvMsg(ctx, w)
			if err != nil {
				return err
			}
			switch {
			case m.Error != "":
				return peerError(m.Error)
			case m.Answer != nil:
				if m.Answer.MessageAck != transfer.AckOK {
					return errs.With(errTransferFailed, "ambiguous answer to a text offer: "+answerString(m.Answer))
				}
				closeHappy(ctx, c, w)
				return nil
			}
		}
	}

	// The transit message goes first so that the receiver can answer with
	// its own right away and both sides know all hints before file_ack.
	own = c.openTransit()
	if err := own.send(ctx, w); err != nil {
		return err
	}
	if err := sendMsg(ctx, w, p.offer); err != nil {
		return err
	}
	var peer transit.Hints
wait:
	for {
		m, err := recvMsg(ctx, w)
		if err != nil {
			return err
		}
		switch {
		case m.Transit != nil:
			peer = c.parsePeerTransit(m.Transit)
		case m.Error != "":
			return peerError(m.Error)
		case m.Answer != nil:
			if m.Answer.FileAck != transfer.AckOK {
				return errs.With(errTransferFailed, "ambiguous answer to a file offer: "+answerString(m.Answer))
			}
			break wait
		}
	}

	dctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	rs := &resumer{c: c, w: w, sender: true, onLost: opts.OnReconnect,
		enabled: c.resumeEnabled() && w.resume && p.resumable && advertisesResume(w.PeerVersions())}
	rs.peer = make(chan *transfer.Resume)
	go watchPeer(dctx, w, abort, rs.peer)
	conn, key, err := c.connectTransit(dctx, w, true, own, peer, transitKeyPurpose)
	if err != nil {
		return cause(dctx, err)
	}
	own.close()
	st := newSendState(rs.enabled)
	rs.phase = func(ctx context.Context, conn net.Conn, key []byte, peer *transfer.Resume) error {
		if !rs.enabled {
			return c.sendPayload(ctx, conn, key, p, opts.Progress)
		}
		off := int64(0)
		if peer != nil {
			if !peer.HasOffset || peer.Offset > p.size {
				return errs.With(errTransferFailed, "resume message without a valid offset")
			}
			off = peer.Offset
			if err := st.rewind(off, peer.SHA256, p.write); err != nil {
				return err
			}
		}
		return sendFrom(ctx, conn, key, st, off, p.size, p.write, opts.Progress, rs.enabled)
	}
	if err := rs.run(dctx, conn, key); err != nil {
		return cause(dctx, err)
	}
	closeHappy(ctx, c, w)
	return nil
}

// answerString shows an answer as fmt's %+v would, for the error about an
// answer that is neither "ok" nor an error.
func answerString(a *transfer.Answer) string {
	return "{MessageAck:" + a.MessageAck + " FileAck:" + a.FileAck + "}"
}

// fileSource streams a file's bytes from r; it can resume when r can
// seek (from its current position) or read at offsets.
func fileSource(r io.Reader, size int64) (func(io.Writer, int64) (int64, error), bool) {
	once := func(w io.Writer, _ int64) (int64, error) { return io.Copy(w, io.LimitReader(r, size)) }
	if s, ok := r.(io.Seeker); ok {
		// A pipe is an *os.File too, but cannot seek (nor read at offsets).
		start, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return once, false
		}
		first := true
		return func(w io.Writer, off int64) (int64, error) {
			if !first || off != 0 {
				if _, err := s.Seek(start+off, io.SeekStart); err != nil {
					return 0, err
				}
			}
			first = false
			return io.Copy(w, io.LimitReader(r, size-off))
		}, true
	}
	if ra, ok := r.(io.ReaderAt); ok {
		return func(w io.Writer, off int64) (int64, error) {
			return io.Copy(w, io.NewSectionReader(ra, off, size-off))
		}, true
	}
	return once, false
}
