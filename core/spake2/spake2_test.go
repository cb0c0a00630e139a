package spake2

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"golang.org/x/crypto/hkdf"
)

// prg is python-spake2's test PRG (spake2/test/common.py): the
// concatenation of SHA256("prng-<counter>-<seed>") for counter 0, 1, ...
type prg struct {
	seed    string
	counter int
	buf     []byte
}

func newPRG(seed string) *prg { return &prg{seed: seed} }

func (p *prg) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if len(p.buf) == 0 {
			h := sha256.Sum256(fmt.Appendf(nil, "prng-%d-%s", p.counter, p.seed))
			p.counter++
			p.buf = h[:]
		}
		c := copy(b[n:], p.buf)
		p.buf = p.buf[c:]
		n += c
	}
	return n, nil
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// leFromDecimal encodes a decimal integer as a 32-byte little-endian
// scalar, the way python-spake2's scalar_to_bytes does.
func leFromDecimal(t *testing.T, dec string) []byte {
	t.Helper()
	n, ok := new(big.Int).SetString(dec, 10)
	if !ok {
		t.Fatalf("bad decimal %q", dec)
	}
	b := n.FillBytes(make([]byte, 32))
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

func TestPRG(t *testing.T) {
	// test_compat.py TestPRG
	for _, tc := range []struct{ seed, want string }{
		{"A", "c1d59d78903e9d7874d9064e12d36c58"},
		{"B", "2af6d4b843a9e6cd1d185eb5de870f77"},
	} {
		b := make([]byte, 16)
		newPRG(tc.seed).Read(b)
		if hex.EncodeToString(b) != tc.want {
			t.Errorf("PRG(%s)(16) = %x, want %s", tc.seed, b, tc.want)
		}
	}
	// Reading in odd-sized pieces must give the same stream.
	whole := make([]byte, 100)
	newPRG("x").Read(whole)
	p := newPRG("x")
	var pieces []byte
	for _, n := range []int{1, 31, 33, 35} {
		b := make([]byte, n)
		p.Read(b)
		pieces = append(pieces, b...)
	}
	if !bytes.Equal(whole, pieces) {
		t.Error("PRG stream depends on read sizes")
	}
}

// TestEntropyScalars checks how NewSymmetric turns its 64 bytes of entropy
// (and the password) into scalars, against the integers that
// test_compat.py test_asymmetric prints for PRG(b"A"), PRG(b"B") and
// password b"password".
func TestEntropyScalars(t *testing.T) {
	for _, tc := range []struct{ seed, dec string }{
		{"A", "2611694063369306139794446498317402240796898290761098242657700742213257926693"},
		{"B", "7002393159576182977806091886122272758628412261510164356026361256515836884383"},
	} {
		s, err := NewSymmetric([]byte("password"), nil, newPRG(tc.seed))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.x.Bytes(), leFromDecimal(t, tc.dec); !bytes.Equal(got, want) {
			t.Errorf("x for PRG(%s) = %x, want %x", tc.seed, got, want)
		}
		if got, want := s.pw.Bytes(), leFromDecimal(t,
			"3515301705789368674385125653994241092664323519848410154015274772661223168839"); !bytes.Equal(got, want) {
			t.Errorf("pw scalar = %x, want %x", got, want)
		}
	}
}

func TestNewSymmetricReadsExactly64Bytes(t *testing.T) {
	r := bytes.NewReader(make([]byte, 100))
	if _, err := NewSymmetric([]byte("pw"), nil, r); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 100-EntropySize {
		t.Errorf("NewSymmetric consumed %d bytes, want %d", 100-r.Len(), EntropySize)
	}
	if _, err := NewSymmetric([]byte("pw"), nil, bytes.NewReader(make([]byte, 63))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NewSymmetric with 63 bytes of entropy: err = %v, want ErrUnexpectedEOF", err)
	}
}

// TestScalarFromBigEndian compares the byte-reversing reduction with
// math/big on random inputs of every length up to 64.
func TestScalarFromBigEndian(t *testing.T) {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	for n := 0; n <= 64; n++ {
		for range 20 {
			b := make([]byte, n)
			rand.Read(b)
			if n > 0 && n%3 == 0 {
				b[0] = 0xff // exercise the top bits
			}
			want := new(big.Int).Mod(new(big.Int).SetBytes(b), l)
			wantLE := want.FillBytes(make([]byte, 32))
			for i, j := 0, 31; i < j; i, j = i+1, j-1 {
				wantLE[i], wantLE[j] = wantLE[j], wantLE[i]
			}
			if got := scalarFromBigEndian(b).Bytes(); !bytes.Equal(got, wantLE) {
				t.Fatalf("scalarFromBigEndian(%x) = %x, want %x", b, got, wantLE)
			}
		}
	}
}

func TestPasswordToScalar(t *testing.T) {
	// test_compat.py P2S_TEST_VECTORS, group Ed25519 (little-endian bytes).
	for _, tc := range []struct{ pw, want string }{
		{"7077", "cf090b60384cb818b12c8d972dfbaf910c0c7295c5cfe560e508f5f062f3960f"},
		{"0001feff", "e86622bb57ea0f6f9f963354f2973a43a9e981901a478e6478682374441b0c04"},
	} {
		if got := hex.EncodeToString(passwordScalar(unhex(t, tc.pw)).Bytes()); got != tc.want {
			t.Errorf("password_to_scalar(%s) = %s, want %s", tc.pw, got, tc.want)
		}
	}
}

// arbitraryElement is python-spake2's ed25519 arbitrary_element, written
// with filippo.io/edwards25519 field and point operations: y = HKDF(seed,
// info "SPAKE2 arbitrary element", 48 bytes) big-endian mod p; for y, y+1,
// ... take the point with even x (sign bit 0, like xrecover), skip y values
// off the curve, multiply by the cofactor 8 and skip the identity.
func arbitraryElement(t *testing.T, seed []byte) *edwards25519.Point {
	t.Helper()
	wide := make([]byte, 48)
	if _, err := io.ReadFull(hkdf.New(sha256.New, seed, nil, []byte("SPAKE2 arbitrary element")), wide); err != nil {
		t.Fatal(err)
	}
	var le [64]byte
	for i, c := range wide {
		le[len(wide)-1-i] = c
	}
	y, err := new(field.Element).SetWideBytes(le[:])
	if err != nil {
		t.Fatal(err)
	}
	one := new(field.Element).One()
	for tries := 0; tries < 1000; tries++ {
		p, err := new(edwards25519.Point).SetBytes(y.Bytes())
		y.Add(y, one)
		if err != nil {
			continue // no x for this y: not on the curve
		}
		p8 := new(edwards25519.Point).MultByCofactor(p)
		if p8.Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		if !inPrimeOrderSubgroup(p8) {
			t.Fatalf("arbitrary element for %q is not in the subgroup", seed)
		}
		return p8
	}
	t.Fatalf("no arbitrary element for %q", seed)
	return nil
}

// inPrimeOrderSubgroup tests P == [1/8]([8]P), an independent way of
// asking whether P has no small-order component (Finish uses [L]P == 0).
func inPrimeOrderSubgroup(p *edwards25519.Point) bool {
	var eight [32]byte
	eight[0] = 8
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(eight[:])
	inv := edwards25519.NewScalar().Invert(s)
	q := new(edwards25519.Point).MultByCofactor(p)
	q.ScalarMult(inv, q)
	return q.Equal(p) == 1
}

func TestArbitraryElement(t *testing.T) {
	tests := []struct{ seed, want string }{
		// test_compat.py AE_TEST_VECTORS (Ed25519)
		{"A", "4637592ae2914247de5804be805867266ccac99c635df8077dcdc1d72becf354"},
		{"B", "88228ee4046ba5d5fa2f23a0480a99efb1a9554ce50153d69330928215d50775"},
		// python-spake2 params.py seeds; the constants it computes
		{"symmetric", blindingSHex},
		{"M", "15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312"},
		{"N", "f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(arbitraryElement(t, []byte(tc.seed)).Bytes()); got != tc.want {
			t.Errorf("arbitrary_element(%q) = %s, want %s", tc.seed, got, tc.want)
		}
	}
	if got := hex.EncodeToString(blindingS.Bytes()); got != blindingSHex {
		t.Errorf("blindingS decodes and re-encodes to %s", got)
	}
}

func TestFinalize(t *testing.T) {
	// test_compat.py Finalize.test_symmetric: order-independent.
	const want = "330a7ce7bb010fea7dae7e15b2261315403ab5dc269e461f6eb1cc6566620790"
	k1 := finalizeSymmetric([]byte("idSymmetric"), []byte("X_msg"), []byte("Y_msg"), []byte("K_bytes"), []byte("pw"))
	k2 := finalizeSymmetric([]byte("idSymmetric"), []byte("Y_msg"), []byte("X_msg"), []byte("K_bytes"), []byte("pw"))
	if hex.EncodeToString(k1) != want || hex.EncodeToString(k2) != want {
		t.Errorf("finalize = %x / %x, want %s", k1, k2, want)
	}
}

func TestVectors(t *testing.T) {
	tests := []struct {
		name, password, id string
		msg1, msg2, key    string
	}{
		{
			name: "test_compat symmetric", password: "password", id: "",
			msg1: "5308f692d38c4034ad6e2e1054c469ca1dbe990bcaec4bbd3ad78c7d968eadd0b3",
			msg2: "5329e2d5f9b7a53e609204115c6458921b0bb27419ce82a27679fc5961002897df",
			key:  "9c4fccaa3f0740615cee6fd10ed5d3a311b91b5bdc65f53e4ea7cb2fe8aa96eb",
		},
		{
			name: "wormhole end-to-end", password: "7-guitarist-revenge", id: "lothar.com/wormhole/text-or-file-xfer",
			msg1: "5324d2fa436e391825bea277b3ba32e9d40424ee688af99fd72408aacbcca5821f",
			msg2: "53499d6c39fb675869ec983bfa78281a032a767de6c8e0b430aba4a873043c54f4",
			key:  "b2a4468bf2c7d8cb72cc874a3e7bd367f944aac50696bba09e40e74ee5abff1a",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s1, err := NewSymmetric([]byte(tc.password), []byte(tc.id), newPRG("1"))
			if err != nil {
				t.Fatal(err)
			}
			s2, err := NewSymmetric([]byte(tc.password), []byte(tc.id), newPRG("2"))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(s1.Message()); got != tc.msg1 {
				t.Errorf("msg1 = %s, want %s", got, tc.msg1)
			}
			if got := hex.EncodeToString(s2.Message()); got != tc.msg2 {
				t.Errorf("msg2 = %s, want %s", got, tc.msg2)
			}
			k1, err := s1.Finish(s2.Message())
			if err != nil {
				t.Fatal(err)
			}
			k2, err := s2.Finish(s1.Message())
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(k1) != tc.key || hex.EncodeToString(k2) != tc.key {
				t.Errorf("keys = %x / %x, want %s", k1, k2, tc.key)
			}
		})
	}
}

func TestMismatchedInputsGiveDifferentKeys(t *testing.T) {
	run := func(pw1, id1, pw2, id2 string) (k1, k2 []byte) {
		t.Helper()
		s1, err := NewSymmetric([]byte(pw1), []byte(id1), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := NewSymmetric([]byte(pw2), []byte(id2), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if k1, err = s1.Finish(s2.Message()); err != nil {
			t.Fatal(err)
		}
		if k2, err = s2.Finish(s1.Message()); err != nil {
			t.Fatal(err)
		}
		return k1, k2
	}
	if k1, k2 := run("7-a-b", "app", "7-a-b", "app"); !bytes.Equal(k1, k2) || len(k1) != KeySize {
		t.Errorf("same inputs: keys %x / %x", k1, k2)
	}
	if k1, k2 := run("7-a-b", "app", "7-a-c", "app"); bytes.Equal(k1, k2) {
		t.Error("different passwords gave the same key")
	}
	if k1, k2 := run("7-a-b", "app1", "7-a-b", "app2"); bytes.Equal(k1, k2) {
		t.Error("different idSymmetric gave the same key")
	}
}

// badElements are 32-byte encodings python-spake2 also refuses (checked
// against python3-spake2 in TestInteropRejects), plus non-canonical
// identities that python accepts and we refuse on purpose.
var badElements = []struct {
	name   string
	hex    string
	python bool // python-spake2 refuses it too
}{
	{"not on curve (y=2)", "0200000000000000000000000000000000000000000000000000000000000000", true},
	{"identity", "0100000000000000000000000000000000000000000000000000000000000000", true},
	{"order 2 (0,-1)", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true},
	{"order 4 (y=0)", "0000000000000000000000000000000000000000000000000000000000000000", true},
	{"order 8", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", true},
	{"order 8 other", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", true},
	{"y=p (non-canonical 0)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true},
	{"identity with sign bit", "0100000000000000000000000000000000000000000000000000000000000080", false},
	{"identity as y=p+1", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
}

// mixedOrder returns a valid element plus the order-2 point: on the curve
// but outside the prime-order subgroup.
func mixedOrder(t *testing.T, valid []byte) []byte {
	p, err := new(edwards25519.Point).SetBytes(valid)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := new(edwards25519.Point).SetBytes(unhex(t, badElements[2].hex))
	if err != nil {
		t.Fatal(err)
	}
	return p.Add(p, t2).Bytes()
}

func TestFinishRejects(t *testing.T) {
	peer, err := NewSymmetric([]byte("pw"), nil, newPRG("2"))
	if err != nil {
		t.Fatal(err)
	}
	good := peer.Message()
	withSide := func(side byte, elem []byte) []byte { return append([]byte{side}, elem...) }

	type tc struct {
		name string
		msg  []byte
		want error
	}
	tests := []tc{
		{"empty", nil, ErrBadMessage},
		{"side byte only", []byte("S"), ErrBadMessage},
		{"one short", good[:32], ErrBadMessage},
		{"one long", append(bytes.Clone(good), 0), ErrBadMessage},
		{"side A", withSide('A', good[1:]), ErrBadMessage},
		{"side B", withSide('B', good[1:]), ErrBadMessage},
		{"side 0", withSide(0, good[1:]), ErrBadMessage},
		{"lowercase s", withSide('s', good[1:]), ErrBadMessage},
		{"mixed order", withSide('S', mixedOrder(t, good[1:])), ErrBadMessage},
	}
	for _, b := range badElements {
		tests = append(tests, tc{b.name, withSide('S', unhex(t, b.hex)), ErrBadMessage})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSymmetric([]byte("pw"), nil, newPRG("1"))
			if err != nil {
				t.Fatal(err)
			}
			key, err := s.Finish(tc.msg)
			if !errors.Is(err, tc.want) || key != nil {
				t.Errorf("Finish = %x, %v; want %v", key, err, tc.want)
			}
		})
	}

	t.Run("reflection", func(t *testing.T) {
		s, err := NewSymmetric([]byte("pw"), nil, newPRG("1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(s.Message()); !errors.Is(err, ErrReflection) {
			t.Errorf("Finish(own message) err = %v, want ErrReflection", err)
		}
	})

	t.Run("only once", func(t *testing.T) {
		s, err := NewSymmetric([]byte("pw"), nil, newPRG("1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(good); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(good); !errors.Is(err, ErrFinished) {
			t.Errorf("second Finish err = %v, want ErrFinished", err)
		}
		// A failed Finish also spends the instance, as in python-spake2.
		s2, _ := NewSymmetric([]byte("pw"), nil, newPRG("1"))
		s2.Finish(nil)
		if _, err := s2.Finish(good); !errors.Is(err, ErrFinished) {
			t.Errorf("Finish after failed Finish err = %v, want ErrFinished", err)
		}
	})
}

func TestMessageIsACopy(t *testing.T) {
	s, err := NewSymmetric([]byte("pw"), nil, newPRG("1"))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Message()
	if len(m) != MessageSize || m[0] != 'S' {
		t.Fatalf("Message = %x", m)
	}
	m[5] ^= 0xff
	if bytes.Equal(s.Message(), m) {
		t.Error("Message returns internal state")
	}
}

// FuzzFinish feeds arbitrary peer messages to Finish and checks the
// verdict against an independent description of a valid message.
func FuzzFinish(f *testing.F) {
	peer, err := NewSymmetric([]byte("pw"), []byte("id"), newPRG("2"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(peer.Message())
	f.Add([]byte{})
	f.Add(append([]byte{'A'}, peer.Message()[1:]...))
	for _, b := range badElements {
		f.Add(append([]byte{'S'}, unhex(f, b.hex)...))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := NewSymmetric([]byte("pw"), []byte("id"), newPRG("1"))
		if err != nil {
			t.Fatal(err)
		}
		key, err := s.Finish(msg)

		valid := len(msg) == MessageSize && msg[0] == 'S'
		if valid {
			p, derr := new(edwards25519.Point).SetBytes(msg[1:])
			valid = derr == nil &&
				p.Equal(edwards25519.NewIdentityPoint()) == 0 &&
				inPrimeOrderSubgroup(p) &&
				!bytes.Equal(p.Bytes(), s.Message()[1:])
		}
		switch {
		case valid && (err != nil || len(key) != KeySize):
			t.Fatalf("valid message %x refused: %v", msg, err)
		case !valid && err == nil:
			t.Fatalf("invalid message %x accepted", msg)
		case err != nil && !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrReflection):
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func BenchmarkNewSymmetricFinish(b *testing.B) {
	peer, err := NewSymmetric([]byte("7-guitarist-revenge"), []byte("lothar.com/wormhole/text-or-file-xfer"), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	peerMsg := peer.Message()
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewSymmetric([]byte("7-guitarist-revenge"), []byte("lothar.com/wormhole/text-or-file-xfer"), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Finish(peerMsg); err != nil {
			b.Fatal(err)
		}
	}
}
