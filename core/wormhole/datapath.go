package wormhole

// A DataPath lets the bytes of a file transfer bypass the Go pipeline of
// xfer.go while the protocol stays here: the browser build hands them to
// JS workers (libsodium's secretbox, several records sealed at once),
// which a single wasm thread cannot match. The core derives the keys, runs
// the offer, the transit race and the ack; a DataPath only seals or opens
// records with the key and counter it is given and reports the SHA-256 of
// the plaintext, which the core checks exactly as for its own pipeline.

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/wasmhole/wasmhole/core/transfer"
	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// ErrDataPathDeclined is what a DataPath returns, before it touched the
// connection, for a transfer it does not handle (a source or sink it does
// not know, a connection it cannot take over). The Go pipeline runs then.
var ErrDataPathDeclined = errors.New("wormhole: data path declined the transfer")

// Records is the record state of one direction of a transit connection:
// the 32-byte secretbox key (transit.RecordKeys) and the counter, used as
// the nonce, of the next record. The data of a transfer starts at record 0
// today; a resumed transfer would start later.
type Records struct {
	Key  []byte
	Next uint64
}

// DataSend is one data phase to send: Size bytes read from Source (which
// starts at byte Offset of the offered data), sealed into records and
// written to Conn.
type DataSend struct {
	Conn     net.Conn
	Records  Records
	Source   io.Reader
	Offset   int64
	Size     int64
	Progress func(sent int64) // bytes sent so far; may be nil
}

// DataReceive is one data phase to receive: Size bytes of plaintext read
// from the records arriving on Conn, written to Dest.
type DataReceive struct {
	Conn     net.Conn
	Records  Records
	Dest     io.Writer
	Offset   int64
	Size     int64
	Progress func(got int64) // may be nil
}

// DataPath moves the bytes of a data phase. Both methods return the
// SHA-256 of the plaintext they moved, or ErrDataPathDeclined.
//
// Errors: a failure of the connection is returned as is (the core then
// waits briefly for the peer's reason, as for its own pipeline); a record
// that does not open must wrap transit.ErrDecrypt or transit.ErrBadNonce;
// a failure of Source or Dest must wrap ErrDataIO.
type DataPath interface {
	Send(ctx context.Context, d DataSend) (sha256 []byte, err error)
	Receive(ctx context.Context, d DataReceive) (sha256 []byte, err error)
}

// ErrDataIO marks a DataPath failure of the transfer's source or sink
// rather than of the connection.
var ErrDataIO = errors.New("wormhole: data source or sink failed")

// sendPayload sends p's bytes through c.DataPath when it takes them, else
// through the Go pipeline (sendData).
func (c *Client) sendPayload(ctx context.Context, conn net.Conn, key []byte, p payload, progress func(sent, total int64)) error {
	if c.DataPath == nil || p.source == nil {
		return sendFrom(ctx, conn, key, newSendState(false), 0, p.size, p.write, progress, false)
	}
	defer watchConn(ctx, conn)()
	sendKey, recvKey := transit.RecordKeys(key, true)
	report := newReporterAt(0, p.size, progress)
	sum, err := c.DataPath.Send(ctx, DataSend{
		Conn:    conn,
		Records: Records{Key: sendKey},
		Source:  p.source,
		Size:    p.size,
		Progress: func(n int64) {
			report.add(int(n - report.n))
		},
	})
	switch {
	case errors.Is(err, ErrDataPathDeclined):
		return sendFrom(ctx, conn, key, newSendState(false), 0, p.size, p.write, progress, false)
	case errors.Is(err, ErrDataIO):
		return cause(ctx, errs.Chain(errTransferFailed, errs.Wrap("reading the data", err)))
	case err != nil:
		return dataErr(ctx, errs.Chain(errTransferFailed, errs.Wrap("sending data", err)), true, false)
	}
	if p.size == 0 {
		wakeEmpty(transit.NewWriter(conn, sendKey))
	}
	return awaitAck(ctx, conn, recvKey, sum, false)
}

// receivePayload is receiveData through c.DataPath when it takes dst.
func (c *Client) receivePayload(ctx context.Context, conn net.Conn, key []byte, size int64, dst io.Writer, progress func(got, total int64), finish func() error) error {
	if c.DataPath == nil {
		return receiveData(ctx, conn, key, size, dst, progress, finish)
	}
	defer watchConn(ctx, conn)()
	sendKey, recvKey := transit.RecordKeys(key, false)
	report := newReporterAt(0, size, progress)
	sum, err := c.DataPath.Receive(ctx, DataReceive{
		Conn:    conn,
		Records: Records{Key: recvKey},
		Dest:    dst,
		Size:    size,
		Progress: func(n int64) {
			report.add(int(n - report.n))
		},
	})
	switch {
	case errors.Is(err, ErrDataPathDeclined):
		return receiveData(ctx, conn, key, size, dst, progress, finish)
	case errors.Is(err, ErrDataIO):
		return errs.Chain(errTransferFailed, errs.Wrap("writing the data", err))
	case err != nil:
		return dataErr(ctx, errs.Chain(errTransferFailed, err), connEnded(err), false)
	}
	return sendAck(ctx, conn, sendKey, sum, finish, false)
}

// awaitAck reads the receiver's ack record and checks its sha256 against
// sum, the hash of what we sent. resumable is as for dataErr.
func awaitAck(ctx context.Context, conn net.Conn, recvKey, sum []byte, resumable bool) error {
	rec, err := transit.NewReader(conn, recvKey, transfer.MaxAckSize+transit.RecordOverhead).ReadRecord()
	if err != nil {
		return dataErr(ctx, errs.Chain(errTransferFailed, errs.Wrap("waiting for the receiver's ack", err)), connEnded(err), resumable)
	}
	ack, err := transfer.ParseAck(rec)
	if err != nil {
		return errs.Chain(errTransferFailed, err)
	}
	if err := ack.Verify(sum); err != nil {
		return errs.Chain(errTransferFailed, err)
	}
	return nil
}

// sendAck runs finish (if not nil) and then sends the ack record with sum,
// the sha256 of what we received: nothing is acked that did not land.
// resumable is as for dataErr.
func sendAck(ctx context.Context, conn net.Conn, sendKey, sum []byte, finish func() error, resumable bool) error {
	if finish != nil {
		if err := finish(); err != nil {
			return err
		}
	}
	ack, err := transfer.NewAck(sum).Encode()
	if err != nil {
		return err
	}
	if err := transit.NewWriter(conn, sendKey).WriteRecord(ack); err != nil {
		return dataErr(ctx, errs.Chain(errTransferFailed, errs.Wrap("sending the ack", err)), true, resumable)
	}
	return nil
}
