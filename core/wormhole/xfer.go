package wormhole

// Shared plumbing of the file-transfer v1 flows in send.go and receive.go:
// app messages as core/transfer values, our transit message, the transit
// connection, the data phase with hashing and progress, and the goodbye
// after a failure.

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/wasmhole/wasmhole/core/internal/logging"
	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/transitnet"
	"github.com/wasmhole/wasmhole/internal/errs"
)

const (
	// transitKeyPurpose derives the transit key from the wormhole key.
	// Python uses this literal even when --appid changes the appid, so it
	// is fixed here too (docs/protocol.md §3).
	transitKeyPurpose = transfer.AppID + "/transit-key"

	// DefaultRelay is the transit relay used when Client.Relays is empty,
	// the default of wormhole-william and of upstream Python.
	DefaultRelay = "tcp:transit.magic-wormhole.io:4001"

	moodHappy  = "happy"
	moodErrory = "errory"
	moodScary  = "scary"

	// goodbyeTimeout bounds the farewell after a failure (an {"error"}
	// message, the mailbox close): the caller's context may be done
	// already, and the peer must still hear that we gave up.
	goodbyeTimeout = 5 * time.Second

	// ioChunk is how many bytes each end moves per file read or write and
	// per hash update: 16 full records. It saves a few per cent of CPU
	// over one record per syscall (BenchmarkDataPhase); a multiple of the
	// record size keeps records full and lets transit.Reader decrypt whole
	// records straight into the buffer.
	ioChunk = 16 * transit.MaxPlain

	// textCancelled is what we tell the peer when our side is cancelled.
	textCancelled = "transfer cancelled"

	// peerErrorGrace is how long a data phase whose connection ended waits
	// for the peer's {"error"} before calling the peer gone. A peer that
	// gives up closes its transit connection first and only then sends
	// the message through the mailbox, so the end of the connection
	// usually arrives a few milliseconds ahead of the reason.
	peerErrorGrace = 2 * time.Second
)

// errTransferFailed marks a data phase that ended without a valid ack.
var errTransferFailed = errors.New("wormhole: transfer failed")

// relays is the relay list we offer and dial: Client.Relays or DefaultRelay.
func (c *Client) relays() []transit.RelayHint {
	if len(c.Relays) > 0 {
		return c.Relays
	}
	r, err := transit.ParseRelay(DefaultRelay)
	if err != nil {
		panic("wormhole: bad DefaultRelay: " + err.Error()) // a constant
	}
	return []transit.RelayHint{r}
}

// sendMsg encodes and sends one app message.
func sendMsg(ctx context.Context, w *Wormhole, m *transfer.Message) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	return w.Send(ctx, b)
}

// recvMsg returns the next app message we understand. Messages of unknown
// kinds (a newer peer's additions) are skipped, as Python does.
func recvMsg(ctx context.Context, w *Wormhole) (*transfer.Message, error) {
	for {
		b, err := w.Receive(ctx)
		if err != nil {
			return nil, err
		}
		m, err := transfer.ParseMessage(b)
		if errors.Is(err, transfer.ErrUnknownMessage) {
			continue
		}
		return m, err
	}
}

// peerError turns the peer's {"error": text} into ErrRejected (the user
// said no) or ErrPeerCancelled (anything else), keeping the peer's text.
func peerError(text string) error {
	perr := &transfer.PeerError{Text: text}
	if errors.Is(perr, transfer.ErrRejected) {
		return errs.New("wormhole: the receiver declined: "+ErrRejected.Error()+" ("+perr.Error()+")", ErrRejected, perr)
	}
	return errs.Wrap("wormhole: the peer gave up", errs.Chain(ErrPeerCancelled, perr))
}

// fromPeer reports whether err came from the peer or from a failed key
// exchange, when there is no point in sending an {"error"} back.
func fromPeer(err error) bool {
	return errors.Is(err, ErrRejected) || errors.Is(err, ErrPeerCancelled) || errors.Is(err, ErrWrongCode)
}

// goodbye ends a failed session: unless the failure came from the peer it
// tells the peer why (so it fails now instead of waiting for a timeout),
// then closes the mailbox with a matching mood. It uses its own short
// deadline because ctx may be the cancelled reason for the failure.
func goodbye(ctx context.Context, c *Client, w *Wormhole, cause error, verified bool) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), goodbyeTimeout)
	defer cancel()
	mood := moodErrory
	switch {
	case errors.Is(cause, ErrWrongCode):
		mood = moodScary
	case verified && !fromPeer(cause):
		text := cause.Error()
		if ctx.Err() != nil {
			text = textCancelled
		}
		if err := sendMsg(gctx, w, transfer.ErrorMessage(text)); err != nil {
			if logging.Enabled {
				c.Logger.V(1).Info("telling the peer about the failure", "error", err)
			}
		}
	}
	if err := w.Close(gctx, mood); err != nil {
		if logging.Enabled {
			c.Logger.V(1).Info("closing the mailbox after a failure", "error", err)
		}
	}
}

// closeHappy ends a successful session. A failing close does not undo the
// transfer, which is complete; it is only logged.
func closeHappy(ctx context.Context, c *Client, w *Wormhole) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), goodbyeTimeout)
	defer cancel()
	if err := w.Close(gctx, moodHappy); err != nil {
		if logging.Enabled {
			c.Logger.V(1).Info("closing the mailbox", "error", err)
		}
	}
}

// ownTransit is our side of the transit setup: the listener for direct
// connections (nil with RelayOnly or when listening failed) and the
// transit message that advertises it and our relays.
type ownTransit struct {
	ln  *transitnet.Listener
	msg transit.Message
}

// openTransit starts listening (unless RelayOnly) and builds our transit
// message. Failing to listen is not fatal: the relays still work.
func (c *Client) openTransit() *ownTransit {
	t := &ownTransit{msg: transit.Message{Hints: transit.Hints{Relays: c.relays()}}}
	if c.RelayOnly {
		return t
	}
	ln, hints, err := transitnet.Listen()
	if err != nil {
		if logging.Enabled {
			c.Logger.Info("not listening for direct transit connections", "error", err)
		}
		return t
	}
	t.ln, t.msg.Hints.Direct = ln, hints
	return t
}

func (t *ownTransit) send(ctx context.Context, w *Wormhole) error {
	raw, err := t.msg.MarshalJSON()
	if err != nil {
		return err
	}
	return sendMsg(ctx, w, &transfer.Message{Transit: raw})
}

func (t *ownTransit) close() {
	if t != nil && t.ln != nil {
		t.ln.Close()
	}
}

// parsePeerTransit reads the peer's transit message. A message we cannot
// read leaves us with our own relays only, which may still work.
func (c *Client) parsePeerTransit(raw []byte) transit.Hints {
	m, err := transit.ParseMessage(raw)
	if err != nil {
		if logging.Enabled {
			c.Logger.Info("ignoring the peer's transit message", "error", err)
		}
		return transit.Hints{}
	}
	return m.Hints
}

// connectTransit derives the transit key (purpose transitKeyPurpose, or
// that of a resume attempt) and runs the connection race.
func (c *Client) connectTransit(ctx context.Context, w *Wormhole, sender bool, own *ownTransit, peer transit.Hints, purpose string) (net.Conn, []byte, error) {
	key, err := w.DeriveKey(purpose, 32)
	if err != nil {
		return nil, nil, err
	}
	cfg := transitnet.Config{
		Sender:     sender,
		TransitKey: key,
		Peer:       peer,
		Relays:     c.relays(),
		RelayOnly:  c.RelayOnly,
		Logger:     c.Logger,
	}
	var ln *transitnet.Listener
	if own != nil {
		ln = own.ln
	}
	conn, err := transitnet.Connect(ctx, cfg, ln)
	if err != nil {
		return nil, nil, errs.Wrap("wormhole: transit connection", err)
	}
	if logging.Enabled {
		relay, via := false, ""
		if tc, ok := conn.(*transitnet.Conn); ok {
			relay, via = tc.Relay, tc.Desc
		}
		c.Logger.Info("transit connected", "relay", relay, "via", via, "remote", conn.RemoteAddr().String())
	}
	return conn, key, nil
}

// watchPeer reads the app messages that arrive once offer and answer have
// been exchanged. None is expected except an {"error"} from a peer that
// gave up, which must end our transit phase now (abort closes the
// connection) rather than after the race's timeout. It returns when
// Receive fails, at the latest when ctx ends.
//
// With resume negotiated, the peer's resume messages go to resumes.
func watchPeer(ctx context.Context, w *Wormhole, abort context.CancelCauseFunc, resumes chan<- *transfer.Resume) {
	for {
		m, err := recvMsg(ctx, w)
		if errors.Is(err, transfer.ErrMalformed) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return
		}
		if m.Error != "" {
			abort(peerError(m.Error))
			return
		}
		if m.Resume != nil && resumes != nil {
			select {
			case resumes <- m.Resume:
			case <-ctx.Done():
				return
			}
		}
	}
}

// reporter calls a progress callback with the running byte count: first
// (0, total), last (total, total).
type reporter struct {
	n, total int64
	progress func(done, total int64)
}

// A resumed transfer starts counting at the offset, done > 0.
func newReporterAt(done, total int64, progress func(done, total int64)) *reporter {
	r := &reporter{n: done, total: total, progress: progress}
	if progress != nil {
		progress(done, total)
	}
	return r
}

func (r *reporter) add(n int) {
	r.n += int64(n)
	if r.progress != nil && n > 0 {
		r.progress(r.n, r.total)
	}
}

// watchConn closes conn as soon as ctx is done, which unblocks any read
// or write on it. The returned function stops the watch.
func watchConn(ctx context.Context, conn net.Conn) func() bool {
	return context.AfterFunc(ctx, func() { conn.Close() })
}

// cause prefers the reason ctx was cancelled (the caller's cancellation or
// the peer's {"error"}) over the IO error it provoked.
func cause(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	c := context.Cause(ctx)
	if errors.Is(c, context.Canceled) || errors.Is(c, context.DeadlineExceeded) {
		return errs.Wrap("wormhole", c)
	}
	return c
}

// connEnded reports whether a failed read of the transit connection means
// that the connection ended (closed, reset, or a browser WebSocket that
// failed, whatever error type the platform uses) rather than that the
// peer sent something the record layer refuses.
func connEnded(err error) bool {
	for _, e := range []error{transit.ErrDecrypt, transit.ErrBadNonce, transit.ErrRecordTooLarge,
		transit.ErrShortRecord, os.ErrDeadlineExceeded, transitnet.ErrReceiveBacklog} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// dataErr is the error of a data phase that failed on the connection;
// gone says whether err means the connection ended: any failed write (the
// record layer's writes fail only when the connection does, whatever
// error type the platform's connection uses for it) and a read that hit
// connEnded. Then it waits up to peerErrorGrace for the peer's {"error"}
// (watchPeer cancels ctx with it); without one the peer is gone:
// ErrPeerGone. ctx's cause wins as in cause.
func dataErr(ctx context.Context, err error, gone, resumable bool) error {
	if resumable && gone && ctx.Err() == nil {
		// No grace: a peer's {"error"} ends the resume loop anyway.
		return errs.Chain(errConnLost, err)
	}
	if ctx.Err() == nil && gone {
		t := time.NewTimer(peerErrorGrace)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if ctx.Err() != nil {
		return cause(ctx, err)
	}
	if gone {
		return errs.Chain(ErrPeerGone, err)
	}
	return err
}

// sendData streams size bytes produced by write through the transit
// connection (records of transit.MaxPlain bytes), then reads the
// receiver's ack record and checks its sha256 against what we sent.
//
// Two stages overlap (see chunkPipe): this goroutine runs write (reading
// the file or building the zip) and hashes; another seals the records and
// writes them to the connection.
func sendData(ctx context.Context, conn net.Conn, key []byte, size int64, write func(io.Writer) (int64, error), progress func(sent, total int64)) error {
	from := func(w io.Writer, _ int64) (int64, error) { return write(w) }
	return sendFrom(ctx, conn, key, &sendState{h: sha256.New()}, 0, size, from, progress, false)
}

// sendFrom is sendData from byte off on, with the hash of the bytes
// before off in st (resume.go). write(w, off) streams bytes off..size.
// With resumable, a connection that ends returns errConnLost at once.
func sendFrom(ctx context.Context, conn net.Conn, key []byte, st *sendState, off, size int64, write func(io.Writer, int64) (int64, error), progress func(sent, total int64), resumable bool) error {
	defer watchConn(ctx, conn)()
	transitnet.ReadAhead(conn) // the ack may come as the last record goes
	sendKey, recvKey := transit.RecordKeys(key, true)
	tw := transit.NewWriter(conn, sendKey)
	report := newReporterAt(off, size, progress)
	p := newChunkPipe(size - off)
	var sendErr error
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for buf := range p.full {
			if sendErr == nil {
				if _, err := tw.Write(buf); err != nil {
					sendErr = err
					p.halt()
				} else {
					report.add(len(buf))
				}
			}
			p.free <- buf
		}
	}()
	h := st.h
	cw := &chunkWriter{p: p, h: h, passed: st.passed(off)}
	n, err := write(cw, off)
	if err == nil {
		err = cw.flush()
	}
	close(p.full)
	<-sent
	if sendErr != nil {
		return dataErr(ctx, errs.Chain(errTransferFailed, errs.Wrap("sending data", sendErr)), true, resumable)
	}
	if err != nil {
		return cause(ctx, errs.Chain(errTransferFailed, errs.Wrap("reading the data", err)))
	}
	if n != size-off {
		return errs.With(errTransferFailed, "sent "+strconv.FormatInt(off+n, 10)+" bytes, offered "+strconv.FormatInt(size, 10))
	}
	if size == 0 {
		wakeEmpty(tw)
	}
	return awaitAck(ctx, conn, recvKey, h.Sum(nil), resumable)
}

// wakeEmpty sends the one empty record of a 0-byte file.
// wormhole-william receivers (<= 1.0.8) read a record before they compare
// the byte count with the size, so a 0-byte file, which has no data
// records, leaves them waiting forever; the empty record wakes them.
// Python and we read nothing for size 0 and ack at once, the record
// staying unread, and may have closed the connection by the time it is
// written: a browser's WebSocket then refuses the write although the ack
// is already waiting to be read. So a failed write is not the transfer's
// failure; the ack (or its absence) decides.
func wakeEmpty(tw *transit.Writer) {
	_ = tw.WriteRecord(nil)
}

// receiveData reads exactly size bytes from the transit connection into
// dst while hashing them, runs finish (if not nil), then sends the ack
// record with their sha256. finish is where a receiver makes the data
// durable (sync, rename, unzip): if it fails no ack goes out, so the
// sender never believes in a transfer that did not land.
//
// Two stages overlap (see chunkPipe): another goroutine reads and opens
// the records; this one writes to dst and hashes.
func receiveData(ctx context.Context, conn net.Conn, key []byte, size int64, dst io.Writer, progress func(got, total int64), finish func() error) error {
	return receiveInto(ctx, conn, key, &recvState{h: sha256.New()}, size, dst, progress, finish, false)
}

// receiveInto is receiveData going on from what st holds (resume.go):
// st.n bytes already in dst with hash st.h, finish already run if
// st.finished. With resumable, a connection that ends returns
// errConnLost at once; st then says what dst holds.
func receiveInto(ctx context.Context, conn net.Conn, key []byte, st *recvState, size int64, dst io.Writer, progress func(got, total int64), finish func() error, resumable bool) error {
	defer watchConn(ctx, conn)()
	sendKey, recvKey := transit.RecordKeys(key, false)
	report := newReporterAt(st.n, size, progress)
	src := transit.NewReader(conn, recvKey, 0)
	p := newChunkPipe(size - st.n)
	var readErr error
	go func() {
		defer close(p.full)
		n := st.n
		for n < size {
			buf := p.get()
			if buf == nil {
				return
			}
			k, err := io.ReadFull(src, buf[:min(int64(cap(buf)), size-n)])
			n += int64(k)
			if k > 0 {
				p.full <- buf[:k]
			} else {
				p.free <- buf
			}
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				readErr = errs.Wrap("received "+strconv.FormatInt(n, 10)+" of "+strconv.FormatInt(size, 10)+" bytes", err)
				return
			}
		}
	}()
	h := st.h
	var writeErr error
	for buf := range p.full {
		if writeErr == nil {
			if _, err := dst.Write(buf); err != nil {
				writeErr = err
				p.halt()
				conn.Close() // unblocks the reading stage
			} else {
				h.Write(buf)
				st.n += int64(len(buf))
				report.add(len(buf))
			}
		}
		p.free <- buf
	}
	if writeErr != nil {
		return errs.Chain(errTransferFailed, errs.Wrap("writing the data", writeErr))
	}
	if readErr != nil {
		return dataErr(ctx, errs.Chain(errTransferFailed, readErr), connEnded(readErr), resumable)
	}
	if finish != nil && !st.finished {
		st.finished = true
		if err := finish(); err != nil {
			return err
		}
	}
	return sendAck(ctx, conn, sendKey, h.Sum(nil), nil, resumable)
}
