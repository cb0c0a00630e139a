// Package keys holds the key schedule and message encryption that a
// magic-wormhole client runs after SPAKE2 has produced the 32-byte shared key.
//
// Everything here is byte-compatible with the Python reference
// (wormhole/_key.py and util.py) and with wormhole-william:
//
//   - DeriveKey is HKDF-SHA256 with no salt (RFC 5869 then uses 32 zero
//     bytes) and the purpose string as HKDF "info".
//   - Each mailbox message phase gets its own key:
//     PhaseKey(key, side, phase) = DeriveKey(key, "wormhole:phase:" ||
//     SHA256(side) || SHA256(phase)). The digests are the raw 32 bytes, not
//     hex, and side is the side of the sender of the message.
//   - The verifier that `wormhole --verify` shows is
//     DeriveKey(key, "wormhole:verifier", 32).
//   - File transfers derive their transit key from the fixed purpose
//     TransitPurpose; the Python CLI uses that literal even with --appid.
//   - Encrypted mailbox bodies are nonce(24 random bytes) || NaCl secretbox
//     (XSalsa20-Poly1305: 16-byte tag then ciphertext). Seal builds one,
//     Open checks and strips it; a failure to open means the peers hold
//     different keys, i.e. someone typed the wrong code.
//   - The only plaintext message, phase "pake", carries the SPAKE2 message
//     as UTF-8 JSON {"pake_v1": "<hex>"} (EncodePake/DecodePake); the mailbox
//     layer hex-encodes those JSON bytes once more into add.body.
//
// The package does no IO besides reading nonces from the io.Reader given
// to Seal.
package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"

	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/secretbox"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/hexstr"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// TransitPurpose is the derive_key purpose of the file-transfer transit key.
const TransitPurpose = "lothar.com/wormhole/text-or-file-xfer/transit-key"

const (
	// KeySize is the size of the SPAKE2 shared key and of every derived
	// secretbox key.
	KeySize = 32
	// NonceSize is the size of the random nonce prefixed to a sealed box.
	NonceSize = 24
	// Overhead is how much longer a sealed box is than its plaintext.
	Overhead = NonceSize + secretbox.Overhead
)

var (
	// ErrDecrypt is returned (wrapped) by Open for every box that does not
	// authenticate under the key, which in practice means a wrong code.
	ErrDecrypt = errors.New("keys: message could not be decrypted (wrong code?)")
	// ErrBadPake is returned (wrapped) by DecodePake for a body that is not
	// a well-formed {"pake_v1": "<hex>"} object.
	ErrBadPake = errors.New("keys: malformed pake message")
)

// DeriveKey returns length bytes of HKDF-SHA256(IKM=key, salt=none,
// info=purpose). It panics if length is negative or larger than HKDF allows
// (255*32 bytes): lengths are constants chosen by the caller, not input.
func DeriveKey(key []byte, purpose string, length int) []byte {
	if length < 0 {
		panic("keys: DeriveKey(" + strconv.Quote(purpose) + "): negative length " + strconv.Itoa(length))
	}
	out := make([]byte, length)
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, nil, []byte(purpose)), out); err != nil {
		panic("keys: DeriveKey(" + strconv.Quote(purpose) + ", " + strconv.Itoa(length) + "): " + err.Error())
	}
	return out
}

// PhaseKey returns the secretbox key for the message that side sends in
// phase. Python builds the purpose from raw digests, so both strings are
// hashed as UTF-8 bytes before being concatenated.
func PhaseKey(key []byte, side, phase string) []byte {
	sideHash := sha256.Sum256([]byte(side))
	phaseHash := sha256.Sum256([]byte(phase))
	purpose := make([]byte, 0, len("wormhole:phase:")+2*sha256.Size)
	purpose = append(purpose, "wormhole:phase:"...)
	purpose = append(purpose, sideHash[:]...)
	purpose = append(purpose, phaseHash[:]...)
	return DeriveKey(key, string(purpose), KeySize)
}

// Verifier returns the 32-byte value both sides can compare out of band.
func Verifier(key []byte) []byte {
	return DeriveKey(key, "wormhole:verifier", KeySize)
}

// TransitKey returns the file-transfer transit key.
func TransitKey(key []byte) []byte {
	return DeriveKey(key, TransitPurpose, KeySize)
}

// Seal encrypts plaintext under the 32-byte key with a fresh nonce read
// from rand and returns nonce || secretbox output.
func Seal(key, plaintext []byte, rand io.Reader) ([]byte, error) {
	k, err := boxKey(key)
	if err != nil {
		return nil, errs.Wrap("keys: seal", err)
	}
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, errs.Wrap("keys: seal: reading nonce", err)
	}
	out := make([]byte, NonceSize, NonceSize+secretbox.Overhead+len(plaintext))
	copy(out, nonce[:])
	return secretbox.Seal(out, plaintext, &nonce, k), nil
}

// Open authenticates and decrypts a box made by Seal (or by the Python
// client's encrypt_data). Every failure, including input too short to hold
// a nonce and tag, wraps ErrDecrypt.
func Open(key, box []byte) ([]byte, error) {
	k, err := boxKey(key)
	if err != nil {
		return nil, errs.With(ErrDecrypt, err.Error())
	}
	if len(box) < Overhead {
		return nil, errs.With(ErrDecrypt, "box is "+strconv.Itoa(len(box))+" bytes, need at least "+strconv.Itoa(Overhead))
	}
	var nonce [NonceSize]byte
	copy(nonce[:], box[:NonceSize])
	out, ok := secretbox.Open(nil, box[NonceSize:], &nonce, k)
	if !ok {
		return nil, errs.With(ErrDecrypt, "authentication failed")
	}
	if out == nil {
		// An empty plaintext authenticates to nil; callers expect non-nil.
		out = []byte{}
	}
	return out, nil
}

func boxKey(key []byte) (*[KeySize]byte, error) {
	if len(key) != KeySize {
		return nil, errors.New("key is " + strconv.Itoa(len(key)) + " bytes, want " + strconv.Itoa(KeySize))
	}
	var k [KeySize]byte
	copy(k[:], key)
	return &k, nil
}

// EncodePake returns the UTF-8 JSON body of the "pake" phase. It is spelt
// exactly like Python's json.dumps ({"pake_v1": "<hex>"}, with the space)
// so our mailbox traffic is byte-identical to the reference client's.
func EncodePake(msg []byte) []byte {
	out := make([]byte, 0, len(`{"pake_v1": ""}`)+2*len(msg))
	out = append(out, `{"pake_v1": "`...)
	out = hex.AppendEncode(out, msg)
	out = append(out, `"}`...)
	return out
}

// DecodePake parses a "pake" body and returns the SPAKE2 message bytes.
// The key must be spelt exactly "pake_v1" (Python dict lookup is
// case-sensitive, unlike encoding/json struct matching) and hold a hex
// string; other keys are ignored. The message length is not checked here:
// the SPAKE2 layer rejects wrong lengths.
func DecodePake(body []byte) ([]byte, error) {
	obj, err := jsonx.Parse(body)
	if err != nil {
		return nil, errs.With(ErrBadPake, "not a JSON object: "+err.Error())
	}
	if k := obj.Kind(); k != jsonx.Object && k != jsonx.Null {
		return nil, errs.With(ErrBadPake, "not a JSON object")
	}
	// null has no keys (encoding/json decoded it to a nil map); a key
	// that repeats counts with its last value.
	raw := obj.Get("pake_v1")
	if raw.Kind() == jsonx.Invalid {
		return nil, errs.With(ErrBadPake, `no "pake_v1" key`)
	}
	s, ok := raw.Str()
	if !ok {
		return nil, errs.With(ErrBadPake, `"pake_v1" is not a string`)
	}
	msg, err := hexstr.Decode(s)
	if err != nil {
		return nil, errs.With(ErrBadPake, `"pake_v1" is not hex: `+err.Error())
	}
	return msg, nil
}
