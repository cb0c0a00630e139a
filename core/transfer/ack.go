package transfer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// Encode returns the JSON record plaintext.
func (a *Ack) Encode() ([]byte, error) { return json.Marshal(a) }

// ParseAck decodes the final record. sha256, when present, must be 64 hex
// digits.
func ParseAck(b []byte) (*Ack, error) {
	if len(b) > MaxAckSize {
		return nil, fmt.Errorf("transfer: ack of %d bytes exceeds %d: %w", len(b), MaxAckSize, ErrMalformed)
	}
	obj, err := decodeObject(b)
	if err != nil {
		return nil, fmt.Errorf("transfer: ack: %w", err)
	}
	a := &Ack{}
	if a.Ack, err = reqStr(obj, "ack"); err != nil {
		return nil, fmt.Errorf("transfer: ack: %w", err)
	}
	if raw, ok := obj["sha256"]; ok {
		if a.SHA256, err = str(raw, "sha256"); err != nil {
			return nil, fmt.Errorf("transfer: ack: %w", err)
		}
		if d, err := hex.DecodeString(a.SHA256); err != nil || len(d) != 32 {
			return nil, fmt.Errorf("transfer: ack: sha256 %.80q is not 64 hex digits: %w", a.SHA256, ErrMalformed)
		}
	}
	return a, nil
}

// Verify checks the ack against the SHA-256 of the bytes we sent. An ack
// without sha256 (old peers) is accepted on "ok" alone, as Python does.
func (a *Ack) Verify(sum []byte) error {
	if a.Ack != AckOK {
		return fmt.Errorf("transfer: receiver said %.80q: %w", a.Ack, ErrAckFailed)
	}
	if a.SHA256 == "" {
		return nil
	}
	got, err := hex.DecodeString(a.SHA256)
	if err != nil || !bytes.Equal(got, sum) {
		return fmt.Errorf("transfer: receiver got sha256 %s, sent %x: %w", a.SHA256, sum, ErrHashMismatch)
	}
	return nil
}
