// Package spake2 implements the symmetric SPAKE2 password-authenticated key
// exchange exactly as python-spake2 (the library behind the Python
// magic-wormhole client) does it, so a Go peer derives the same key as a
// Python peer from the same wormhole code.
//
// How a wormhole uses it: both sides know the code (say
// "7-guitarist-revenge") and the application id. Each side creates a
// Symmetric with password = NFC UTF-8 of the full code and idSymmetric =
// NFC UTF-8 of the appid (normalising is the caller's job), sends Message()
// to the peer in the mailbox phase "pake", and calls Finish with the peer's
// message. Both sides get the same 32-byte key only if they typed the same
// code; nobody watching the mailbox learns anything that lets them test
// guesses offline.
//
// The math, on the prime-order subgroup of Ed25519 (order L, base point B,
// filippo.io/edwards25519 does all curve and scalar arithmetic):
//
//	pw = HKDF-SHA256(password, info "SPAKE2 pw", 48 bytes), big-endian mod L
//	x  = 64 bytes of entropy, big-endian mod L
//	S  = arbitrary_element("symmetric"), a point nobody knows the log of
//	message = 'S' || enc(x·B + pw·S)                     (33 bytes)
//	K  = x·(Y − pw·S)  for the peer's element Y
//	key = SHA256(SHA256(password) || SHA256(idSymmetric) ||
//	             min(X, Y) || max(X, Y) || enc(K))
//
// where X and Y are the two 32-byte element encodings as sent (without the
// side byte), sorted bytewise because symmetric peers have no order. Python
// reads hash outputs and entropy as big-endian integers while Ed25519
// encodes scalars little-endian; we reverse the bytes before reducing.
//
// Finish is strict about the peer's message: the side byte must be 'S'
// (python-spake2 asymmetric sides 'A'/'B' are refused), the element must be
// a valid point in the prime-order subgroup and not the identity, and a
// copy of our own message is refused as a reflection. python-spake2 accepts
// non-canonical encodings of valid points, and so do we (the transcript
// hashes the bytes as received, like Python); it only refuses the canonical
// encoding of the identity, while we refuse every encoding of it.
package spake2

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/hkdf"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/hexstr"
)

const (
	// MessageSize is the length of Message(): side byte plus element.
	MessageSize = 1 + elementSize
	// KeySize is the length of the shared key returned by Finish.
	KeySize = sha256.Size
	// EntropySize is how many bytes NewSymmetric reads from its rand.
	EntropySize = 64

	elementSize   = 32
	sideSymmetric = 'S'
)

var (
	// ErrBadMessage is returned (wrapped) by Finish for a peer message
	// that is not a symmetric SPAKE2 message on the right group.
	ErrBadMessage = errors.New("spake2: bad peer message")
	// ErrReflection is returned (wrapped) by Finish when the peer's message
	// is our own message sent back to us.
	ErrReflection = errors.New("spake2: peer reflected our own message")
	// ErrFinished is returned by a second call to Finish: like
	// python-spake2, a Symmetric gives out one key and is then spent.
	ErrFinished = errors.New("spake2: Finish already called")
)

// blindingS is arbitrary_element(b"symmetric") from python-spake2. The
// tests recompute it (and M, N) from the seed with the published
// procedure, so this constant is checked, not trusted.
const blindingSHex = "6f00dae87c1be1a73b5922ef431cd8f57879569c222d22b1cd71e8546ab8e6f1"

var blindingS = mustPoint(blindingSHex)

// lMinusOne is L−1; [L−1]P + P is the identity exactly when P has order
// dividing L (edwards25519 scalars cannot hold L itself).
var lMinusOne = edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne())

func scalarOne() *edwards25519.Scalar {
	var one [32]byte
	one[0] = 1
	s, err := edwards25519.NewScalar().SetCanonicalBytes(one[:])
	if err != nil {
		panic(err)
	}
	return s
}

func mustPoint(h string) *edwards25519.Point {
	b, err := hexstr.Decode(h)
	if err != nil {
		panic(err)
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		panic(err)
	}
	return p
}

// Symmetric is one side of a symmetric SPAKE2 exchange. It is not safe for
// concurrent use.
type Symmetric struct {
	password    []byte
	idSymmetric []byte
	pw          *edwards25519.Scalar
	x           *edwards25519.Scalar
	msg         [MessageSize]byte // 'S' || our element
	finished    bool
}

// NewSymmetric starts an exchange: it reads EntropySize bytes from rand for
// the secret scalar and computes the outbound message. password and
// idSymmetric are copied.
func NewSymmetric(password, idSymmetric []byte, rand io.Reader) (*Symmetric, error) {
	var entropy [EntropySize]byte
	if _, err := io.ReadFull(rand, entropy[:]); err != nil {
		return nil, errs.Wrap("spake2: reading "+strconv.Itoa(EntropySize)+" bytes of entropy", err)
	}
	s := &Symmetric{
		password:    bytes.Clone(password),
		idSymmetric: bytes.Clone(idSymmetric),
		pw:          passwordScalar(password),
		x:           scalarFromBigEndian(entropy[:]),
	}
	clear(entropy[:])
	// Constant-time multiplications: both scalars are secret.
	xB := new(edwards25519.Point).ScalarBaseMult(s.x)
	pwS := new(edwards25519.Point).ScalarMult(s.pw, blindingS)
	elem := new(edwards25519.Point).Add(xB, pwS)
	s.msg[0] = sideSymmetric
	copy(s.msg[1:], elem.Bytes())
	return s, nil
}

// Message returns the 33-byte message to send to the peer.
func (s *Symmetric) Message() []byte {
	return bytes.Clone(s.msg[:])
}

// Finish checks the peer's message and returns the 32-byte shared key.
// The key only matches the peer's if both used the same password and
// idSymmetric; a mismatch is not detectable here but only when the first
// encrypted message fails to open. Finish may be called once.
func (s *Symmetric) Finish(peerMsg []byte) ([]byte, error) {
	if s.finished {
		return nil, ErrFinished
	}
	s.finished = true
	if len(peerMsg) != MessageSize {
		return nil, errs.With(ErrBadMessage, strconv.Itoa(len(peerMsg))+" bytes, want "+strconv.Itoa(MessageSize))
	}
	switch side := peerMsg[0]; side {
	case sideSymmetric:
	case 'A', 'B':
		return nil, errs.With(ErrBadMessage, "peer runs asymmetric SPAKE2 as side "+strconv.QuoteRune(rune(side)))
	default:
		return nil, errs.With(ErrBadMessage, "unknown side byte 0x"+hex.EncodeToString([]byte{side}))
	}
	peerElem := peerMsg[1:]
	y, err := new(edwards25519.Point).SetBytes(peerElem)
	if err != nil {
		return nil, errs.With(ErrBadMessage, "element is not a curve point")
	}
	if y.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errs.With(ErrBadMessage, "element is the identity")
	}
	// Y is public, so a variable-time check is fine here.
	t := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, y, edwards25519.NewScalar())
	if t.Add(t, y).Equal(edwards25519.NewIdentityPoint()) != 1 {
		return nil, errs.With(ErrBadMessage, "element is not in the prime-order subgroup")
	}
	// Compare canonical encodings, as python-spake2 does, so a
	// re-encoded copy of our element counts as a reflection too.
	if bytes.Equal(y.Bytes(), s.msg[1:]) {
		return nil, ErrReflection
	}
	pwS := new(edwards25519.Point).ScalarMult(s.pw, blindingS)
	k := new(edwards25519.Point).Subtract(y, pwS)
	k.ScalarMult(s.x, k)
	key := finalizeSymmetric(s.idSymmetric, s.msg[1:], peerElem, k.Bytes(), s.password)
	// The secret scalar is no longer needed; drop it.
	s.x = edwards25519.NewScalar()
	return key, nil
}

// finalizeSymmetric is python-spake2's finalize_SPAKE2_symmetric.
func finalizeSymmetric(idSymmetric, msg1, msg2, kBytes, password []byte) []byte {
	first, second := msg1, msg2
	if bytes.Compare(first, second) > 0 {
		first, second = second, first
	}
	pwHash := sha256.Sum256(password)
	idHash := sha256.Sum256(idSymmetric)
	h := sha256.New()
	h.Write(pwHash[:])
	h.Write(idHash[:])
	h.Write(first)
	h.Write(second)
	h.Write(kBytes)
	return h.Sum(nil)
}

// passwordScalar is python-spake2's password_to_scalar for Ed25519: 16
// bytes more than the scalar size, to make the reduction nearly unbiased.
func passwordScalar(password []byte) *edwards25519.Scalar {
	var wide [48]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, password, nil, []byte("SPAKE2 pw")), wide[:]); err != nil {
		panic(err) // 48 bytes is far below HKDF's limit
	}
	return scalarFromBigEndian(wide[:])
}

// scalarFromBigEndian reduces a big-endian integer of at most 64 bytes
// modulo L. Python reads bytes as big-endian numbers; SetUniformBytes
// wants 64 little-endian bytes, so reverse and zero-pad.
func scalarFromBigEndian(b []byte) *edwards25519.Scalar {
	if len(b) > 64 {
		panic("spake2: scalar input longer than 64 bytes")
	}
	var le [64]byte
	for i, c := range b {
		le[len(b)-1-i] = c
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(le[:])
	if err != nil {
		panic(err) // length is always 64
	}
	clear(le[:])
	return s
}
