package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/wasmhole/wasmhole/internal/jsonx/jsonxtest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test vector %q: %v", s, err)
	}
	return b
}

// counting yields 0x00, 0x01, 0x02, ... like the nonce 000102..17 used to
// generate the end-to-end vector of docs/protocol.md §5.
type counting struct{ n byte }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// From magic-wormhole src/wormhole/test/test_keys.py.
const testKeysMain = "588ba9eef353778b074413a0140205d90d7479e36e0dd4ee35bb729d26131ef1"

// The end-to-end vector of docs/protocol.md §5 (code 7-guitarist-revenge).
const e2eKey = "b2a4468bf2c7d8cb72cc874a3e7bd367f944aac50696bba09e40e74ee5abff1a"

func TestDeriveKey(t *testing.T) {
	tests := []struct {
		name    string
		key     string // hex
		purpose string
		length  int
		want    string
	}{
		{"test_keys purpose1", testKeysMain, "purpose1", 32,
			"835b5df80ce9ca46908e8524fb308649122cfbcefbeaa7e65061c6ef08ee1b2a"},
		{"test_keys purpose2 len 10", testKeysMain, "purpose2", 10, "f2238e84315b47eb6279"},
		// RFC 5869 A.3: SHA-256 with zero-length salt and info.
		{"RFC 5869 A.3", strings.Repeat("0b", 22), "", 42,
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
		// test_transit.py test_transit_keys, T = b"123".
		{"transit_sender", hex.EncodeToString([]byte("123")), "transit_sender", 32,
			"559bdeae4b49fa6a23378d2b68f4c7e69378615d4af049c371c6a26e82391089"},
		{"transit_receiver", hex.EncodeToString([]byte("123")), "transit_receiver", 32,
			"ed447528194bac4c00d0c854b12a97ce51413d89aa74d6304475f516fdc23a1b"},
		{"transit_record_sender_key", hex.EncodeToString([]byte("123")), "transit_record_sender_key", 32,
			"5a2fba3a9e524ab2e2823ff53b05f946896f6e4ce4e282ffd8e3ac0e5e9e0cda"},
		{"transit_record_receiver_key", hex.EncodeToString([]byte("123")), "transit_record_receiver_key", 32,
			"eedb143117249f45b39da324decf6bd9aae33b7ccd58487436de611a3c6b871d"},
		{"zero length", testKeysMain, "x", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DeriveKey(unhex(t, tc.key), tc.purpose, tc.length)
			if hex.EncodeToString(got) != tc.want {
				t.Errorf("DeriveKey = %x, want %s", got, tc.want)
			}
		})
	}
}

// TestHKDFKAT replays the salt-less half of magic-wormhole's test_hkdf.py
// known-answer table at every output length: DeriveKey never salts, and an
// empty salt equals "no salt" in RFC 5869.
func TestHKDFKAT(t *testing.T) {
	kat := []struct{ info, out string }{
		{"", "2f34e5ff91ec85d53ca9b543683174d0cf550b60d5f52b24c97b386cfcf6cbbf" +
			"9cfd42fd37e1e5a214d15f03058d7fee63dc28f564b7b9fe3da514f80daad4bf"},
		{"context", "c24c303a1adfb4c3e2b092e6254ed481c41d8955ba8ec3f6a1473493a60c957b" +
			"31b723018ca75557214d3d5c61c0c7a5315b103b21ff00cb03ebe023dc347a47"},
	}
	for _, v := range kat {
		want := unhex(t, v.out)
		for n := 0; n <= len(want); n++ {
			got := DeriveKey([]byte("secret"), v.info, n)
			if !bytes.Equal(got, want[:n]) {
				t.Fatalf("info %q len %d: got %x, want %x", v.info, n, got, want[:n])
			}
		}
	}
}

func TestDeriveKeyPanicsOnBadLength(t *testing.T) {
	for _, n := range []int{-1, 255*32 + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DeriveKey(len %d) did not panic", n)
				}
			}()
			DeriveKey([]byte("k"), "p", n)
		}()
	}
}

func TestPhaseKey(t *testing.T) {
	tests := []struct{ key, side, phase, want string }{
		// test_keys.py test_derive_phase_key
		{testKeysMain, "side1", "phase1", "3af6a61d1a111225cc8968c6ca6265efe892065c3ab46de79dda21306b062990"},
		{testKeysMain, "side1", "phase2", "88a1dd12182d989ff498022a9656d1e2806f17328d8bf5d8d0c9753e4381a752"},
		{testKeysMain, "side2", "phase1", "a306627b436ec23bdae3af8fa90c9ac927780d86be1831003e7f617c518ea689"},
		{testKeysMain, "side2", "phase2", "bf99e3e16420f2dad33f9b1ccb0be1462b253d639dacdb50ed9496fa528d8758"},
		// end-to-end vector
		{e2eKey, "aaaaaaaaaa", "version", "4f19994dbf3c081c34dec28b0d6dd6b08b396463c379903d863fe5c2b1556cd9"},
		{e2eKey, "aaaaaaaaaa", "0", "cea8cbc1125ff017fb568617672076183db044c1a8f1f81c777f9ae1d30b3219"},
	}
	for _, tc := range tests {
		t.Run(tc.side+"/"+tc.phase, func(t *testing.T) {
			got := PhaseKey(unhex(t, tc.key), tc.side, tc.phase)
			if hex.EncodeToString(got) != tc.want {
				t.Errorf("PhaseKey = %x, want %s", got, tc.want)
			}
		})
	}
}

func TestVerifierAndTransitKey(t *testing.T) {
	key := unhex(t, e2eKey)
	if got, want := hex.EncodeToString(Verifier(key)),
		"fbf85d7fdbe3cdec123936f738d8dcb1c4c556f63746316eb9566e4b5dcda5a5"; got != want {
		t.Errorf("Verifier = %s, want %s", got, want)
	}
	tk := TransitKey(key)
	if got, want := hex.EncodeToString(tk),
		"c650af6ed01f0ecc538d16491fd0168a8fe72fa95e2d44e7af1d21131539b0ec"; got != want {
		t.Errorf("TransitKey = %s, want %s", got, want)
	}
	// The transit handshake derives from the transit key; checking one
	// value ties TransitKey to the handshake strings of the same vector.
	if got, want := hex.EncodeToString(DeriveKey(tk, "transit_sender", 32)),
		"a2f7741bf1ec20521db79c01fee8ee086ab373aa6ff78f869fd9d6ac86e6d759"; got != want {
		t.Errorf("sender handshake hash = %s, want %s", got, want)
	}
}

func TestSealOpenVectors(t *testing.T) {
	tests := []struct {
		name      string
		key       []byte
		nonce     []byte
		plaintext []byte
		box       string
	}{
		{
			name:      "test_keys.py test_encrypt",
			key:       unhex(t, "ddc543ef8e4629a603d39dd0307a51bb1e7adb9cb259f6b085c91d0842a18679"),
			nonce:     unhex(t, "2d5e43eb465aa42e750f991e425bee485f06abad7e04af80"),
			plaintext: unhex(t, "edc089a518219ec1cee184e89d2d37af"),
			box: "2d5e43eb465aa42e750f991e425bee485f06abad7e04af80fe318e39d0e4ce93" +
				"2d2b54b300c56d2cda55ee5f0488d63eb1d5f76f7919a49a",
		},
		{
			name:      "end-to-end version body",
			key:       PhaseKey(unhex(t, e2eKey), "aaaaaaaaaa", "version"),
			nonce:     unhex(t, "000102030405060708090a0b0c0d0e0f1011121314151617"),
			plaintext: []byte(`{"app_versions": {}}`),
			box: "000102030405060708090a0b0c0d0e0f10111213141516171aeaa32c1efb0979" +
				"07864211cfd0384e52f2f20f025310e2ca21b75375828bd1e50cd9c7",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			box, err := Seal(tc.key, tc.plaintext, bytes.NewReader(tc.nonce))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(box) != tc.box {
				t.Errorf("Seal = %x\nwant    %s", box, tc.box)
			}
			if len(box) != len(tc.plaintext)+Overhead {
				t.Errorf("len(box) = %d, want %d", len(box), len(tc.plaintext)+Overhead)
			}
			pt, err := Open(tc.key, unhex(t, tc.box))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, tc.plaintext) {
				t.Errorf("Open = %x, want %x", pt, tc.plaintext)
			}
		})
	}
	// The e2e vector's nonce is 000102..17; a counting reader must give it.
	box, err := Seal(tests[1].key, tests[1].plaintext, &counting{})
	if err != nil || hex.EncodeToString(box) != tests[1].box {
		t.Errorf("Seal with counting nonce = %x, %v", box, err)
	}
}

func TestSealRandomNonce(t *testing.T) {
	key := make([]byte, 32)
	a, err := Seal(key, []byte("same"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Seal(key, []byte("same"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[:NonceSize], b[:NonceSize]) {
		t.Error("two Seal calls reused a nonce")
	}
	for _, box := range [][]byte{a, b} {
		if pt, err := Open(key, box); err != nil || string(pt) != "same" {
			t.Errorf("Open = %q, %v", pt, err)
		}
	}
	empty, err := Seal(key, nil, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := Open(key, empty); err != nil || pt == nil || len(pt) != 0 {
		t.Errorf("Open(empty box) = %#v, %v; want empty non-nil slice", pt, err)
	}
}

func TestSealErrors(t *testing.T) {
	if _, err := Seal(make([]byte, 31), []byte("x"), rand.Reader); err == nil {
		t.Error("Seal accepted a 31-byte key")
	}
	if _, err := Seal(make([]byte, 32), []byte("x"), bytes.NewReader(make([]byte, 23))); err == nil {
		t.Error("Seal accepted a nonce source that ran dry")
	}
}

func TestOpenErrors(t *testing.T) {
	key := unhex(t, "ddc543ef8e4629a603d39dd0307a51bb1e7adb9cb259f6b085c91d0842a18679")
	good := unhex(t, "2d5e43eb465aa42e750f991e425bee485f06abad7e04af80fe318e39d0e4ce93"+
		"2d2b54b300c56d2cda55ee5f0488d63eb1d5f76f7919a49a")
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	wrongKey := bytes.Clone(key)
	wrongKey[0] ^= 0x80
	tests := []struct {
		name string
		key  []byte
		box  []byte
	}{
		{"nil", key, nil},
		{"nonce only", key, good[:24]},
		{"one short of tag", key, good[:39]},
		{"tag only, wrong", key, good[:40]},
		{"flipped nonce", key, flip(0)},
		{"flipped tag", key, flip(30)},
		{"flipped ciphertext", key, flip(len(good) - 1)},
		{"truncated", key, good[:len(good)-1]},
		{"wrong key", wrongKey, good},
		{"short key", key[:16], good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := Open(tc.key, tc.box)
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("Open error = %v, want ErrDecrypt", err)
			}
			if pt != nil {
				t.Errorf("Open returned plaintext %x on failure", pt)
			}
		})
	}
}

func TestEncodePake(t *testing.T) {
	msgA := unhex(t, "5324d2fa436e391825bea277b3ba32e9d40424ee688af99fd72408aacbcca5821f")
	want := `{"pake_v1": "5324d2fa436e391825bea277b3ba32e9d40424ee688af99fd72408aacbcca5821f"}`
	if got := string(EncodePake(msgA)); got != want {
		t.Errorf("EncodePake = %s, want %s", got, want)
	}
	if got := string(EncodePake(nil)); got != `{"pake_v1": ""}` {
		t.Errorf("EncodePake(nil) = %s", got)
	}
}

func TestDecodePake(t *testing.T) {
	msg := unhex(t, "53499d6c39fb675869ec983bfa78281a032a767de6c8e0b430aba4a873043c54f4")
	tests := []struct {
		name    string
		body    string
		want    []byte
		wantErr string // substring; "" means success
	}{
		{"python spelling", `{"pake_v1": "53499d6c39fb675869ec983bfa78281a032a767de6c8e0b430aba4a873043c54f4"}`, msg, ""},
		{"go spelling", `{"pake_v1":"53499d6c39fb675869ec983bfa78281a032a767de6c8e0b430aba4a873043c54f4"}`, msg, ""},
		{"upper-case hex", `{"pake_v1":"53499D6C39FB675869EC983BFA78281A032A767DE6C8E0B430ABA4A873043C54F4"}`, msg, ""},
		{"extra keys ignored", `{"x":1,"pake_v1":"00ff","y":[null]}`, []byte{0, 0xff}, ""},
		{"empty hex", `{"pake_v1":""}`, []byte{}, ""},
		{"missing key", `{"pake_v2":"00"}`, nil, `no "pake_v1" key`},
		{"wrong case key", `{"PAKE_V1":"00"}`, nil, `no "pake_v1" key`},
		{"not a string", `{"pake_v1":53}`, nil, "not a string"},
		{"null value", `{"pake_v1":null}`, nil, "not a string"},
		{"bad hex", `{"pake_v1":"zz"}`, nil, "not hex"},
		{"odd hex", `{"pake_v1":"530"}`, nil, "not hex"},
		{"array", `["pake_v1"]`, nil, "not a JSON object"},
		{"truncated", `{"pake_v1":"53`, nil, "not a JSON object"},
		{"empty", ``, nil, "not a JSON object"},
		{"json null", `null`, nil, `no "pake_v1" key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodePake([]byte(tc.body))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrBadPake) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodePake error = %v, want ErrBadPake containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("DecodePake = %x, want %x", got, tc.want)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	key := unhex(f, "ddc543ef8e4629a603d39dd0307a51bb1e7adb9cb259f6b085c91d0842a18679")
	f.Add(unhex(f, "2d5e43eb465aa42e750f991e425bee485f06abad7e04af80fe318e39d0e4ce93"+
		"2d2b54b300c56d2cda55ee5f0488d63eb1d5f76f7919a49a"))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, box []byte) {
		pt, err := Open(key, box)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) || pt != nil {
				t.Fatalf("failure not reported as ErrDecrypt: %v, %x", err, pt)
			}
			return
		}
		// Anything that opens must re-seal to the same bytes with its nonce.
		again, err := Seal(key, pt, bytes.NewReader(box[:NonceSize]))
		if err != nil || !bytes.Equal(again, box) {
			t.Fatalf("re-seal mismatch: %x vs %x (%v)", again, box, err)
		}
	})
}

func FuzzDecodePake(f *testing.F) {
	f.Add([]byte(`{"pake_v1": "5324d2fa"}`))
	f.Add([]byte(`{"pake_v1": 1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Add([]byte(`{"pake_v1":"00","pake_v1":"\u0066f"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !jsonxtest.TooDeep(body) {
			checkSameAsJSON(t, body)
		}
		msg, err := DecodePake(body)
		if err != nil {
			if !errors.Is(err, ErrBadPake) {
				t.Fatalf("error does not wrap ErrBadPake: %v", err)
			}
			return
		}
		// A decoded message must round-trip through EncodePake.
		back, err := DecodePake(EncodePake(msg))
		if err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("round trip: %x vs %x (%v)", back, msg, err)
		}
	})
}
