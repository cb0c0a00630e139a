package transit

import (
	"encoding/hex"
	"io"

	"github.com/wasmhole/wasmhole/core/keys"
	"github.com/wasmhole/wasmhole/internal/errs"
)

// HKDF purposes of the values derived from the transit key (Python
// wormhole/transit.py).
const (
	purposeSender     = "transit_sender"
	purposeReceiver   = "transit_receiver"
	purposeRelay      = "transit_relay_token"
	purposeSenderKey  = "transit_record_sender_key"
	purposeReceiveKey = "transit_record_receiver_key"
)

// SideLen is the length of a relay side string: 8 random bytes in hex.
const SideLen = 16

// SenderHandshake is what the transit sender writes first on every
// connection (after the relay's "ok\n" on relayed ones):
// "transit sender <hex> ready\n\n".
func SenderHandshake(transitKey []byte) []byte {
	return handshake("sender", keys.DeriveKey(transitKey, purposeSender, 32))
}

// ReceiverHandshake is the transit receiver's counterpart of
// SenderHandshake: "transit receiver <hex> ready\n\n".
func ReceiverHandshake(transitKey []byte) []byte {
	return handshake("receiver", keys.DeriveKey(transitKey, purposeReceiver, 32))
}

func handshake(role string, secret []byte) []byte {
	b := append([]byte("transit "+role+" "), hex.EncodeToString(secret)...)
	return append(b, " ready\n\n"...)
}

// RelayLine is the line a client sends to a transit relay before anything
// else: "please relay <hex token> for side <side>\n". Both peers derive the
// same token, which is how the relay pairs them; side tells the two apart
// (and lets the relay drop our own redundant connections). side must be
// SideLen word characters, as NewSide makes, or the relay refuses the line.
func RelayLine(transitKey []byte, side string) []byte {
	token := keys.DeriveKey(transitKey, purposeRelay, 32)
	return []byte("please relay " + hex.EncodeToString(token) + " for side " + side + "\n")
}

// NewSide returns a fresh relay side: 8 bytes from rand, hex encoded.
// Python makes a new one per Transit object, i.e. per transfer.
func NewSide(rand io.Reader) (string, error) {
	var b [SideLen / 2]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", errs.Wrap("transit: new side", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validSide reports whether side matches the relay's (\w{16}).
func validSide(side string) bool {
	if len(side) != SideLen {
		return false
	}
	for i := 0; i < len(side); i++ {
		c := side[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

// RecordKeys returns the secretbox keys of the two record directions as
// seen from one side: the sender seals with the "sender" key and opens with
// the "receiver" key, the receiver the other way round.
func RecordKeys(transitKey []byte, sender bool) (sendKey, recvKey []byte) {
	s := keys.DeriveKey(transitKey, purposeSenderKey, 32)
	r := keys.DeriveKey(transitKey, purposeReceiveKey, 32)
	if sender {
		return s, r
	}
	return r, s
}
