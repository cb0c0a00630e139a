package transfer

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/hexstr"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// MaxAckSize bounds the final ack record; the real one is under 100 bytes.
const MaxAckSize = 4096

var (
	// ErrAckFailed means the receiver's ack was not "ok".
	ErrAckFailed = errors.New("transit ack not ok")
	// ErrHashMismatch means the receiver hashed different bytes than we sent.
	ErrHashMismatch = errors.New("sha256 mismatch")
)

// Ack is the last transit record, sent by the receiver after it has read
// every byte: {"ack": "ok", "sha256": "<hex of SHA-256 of the bytes>"}.
type Ack struct {
	Ack    string `json:"ack"`
	SHA256 string `json:"sha256,omitempty"`
}

// NewAck returns the "ok" ack for data whose SHA-256 digest is sum.
func NewAck(sum []byte) *Ack { return &Ack{Ack: AckOK, SHA256: hex.EncodeToString(sum)} }

// Encode returns the JSON record plaintext, {"ack":...,"sha256":...}
// with sha256 left out when empty.
func (a *Ack) Encode() ([]byte, error) {
	return jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		o.String("ack", a.Ack)
		o.StringOmitEmpty("sha256", a.SHA256)
	}), nil
}

// ParseAck decodes the final record. sha256, when present, must be 64 hex
// digits.
func ParseAck(b []byte) (*Ack, error) {
	if len(b) > MaxAckSize {
		return nil, errs.Wrap("transfer: ack of "+strconv.Itoa(len(b))+" bytes exceeds "+strconv.Itoa(MaxAckSize), ErrMalformed)
	}
	obj, err := decodeObject(b)
	if err != nil {
		return nil, errs.Wrap("transfer: ack", err)
	}
	a := &Ack{}
	if a.Ack, err = reqStr(obj, "ack"); err != nil {
		return nil, errs.Wrap("transfer: ack", err)
	}
	if obj.Has("sha256") {
		if a.SHA256, err = str(obj.Get("sha256"), "sha256"); err != nil {
			return nil, errs.Wrap("transfer: ack", err)
		}
		if d, err := hexstr.Decode(a.SHA256); err != nil || len(d) != 32 {
			return nil, errs.Wrap("transfer: ack: sha256 "+quote(a.SHA256, 80)+" is not 64 hex digits", ErrMalformed)
		}
	}
	return a, nil
}

// Verify checks the ack against the SHA-256 of the bytes we sent. An ack
// without sha256 (old peers) is accepted on "ok" alone, as Python does.
func (a *Ack) Verify(sum []byte) error {
	if a.Ack != AckOK {
		return errs.Wrap("transfer: receiver said "+quote(a.Ack, 80), ErrAckFailed)
	}
	if a.SHA256 == "" {
		return nil
	}
	got, err := hexstr.Decode(a.SHA256)
	if err != nil || !bytes.Equal(got, sum) {
		return errs.Wrap("transfer: receiver got sha256 "+a.SHA256+", sent "+hex.EncodeToString(sum), ErrHashMismatch)
	}
	return nil
}
