package transit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors from docs/protocol.md §5: magic-wormhole's test_transit_keys (T =
// "123") and the end-to-end vector generated with the Python reference.
func TestKeyVectors(t *testing.T) {
	tests := []struct {
		name                 string
		key                  []byte
		sender, receiver     string
		sendKey, receiverKey string
		relayLine            string // with side 0123456789abcdef; "" = no vector
	}{
		{
			name:        "test_transit_keys",
			key:         []byte("123"),
			sender:      "transit sender 559bdeae4b49fa6a23378d2b68f4c7e69378615d4af049c371c6a26e82391089 ready\n\n",
			receiver:    "transit receiver ed447528194bac4c00d0c854b12a97ce51413d89aa74d6304475f516fdc23a1b ready\n\n",
			sendKey:     "5a2fba3a9e524ab2e2823ff53b05f946896f6e4ce4e282ffd8e3ac0e5e9e0cda",
			receiverKey: "eedb143117249f45b39da324decf6bd9aae33b7ccd58487436de611a3c6b871d",
		},
		{
			name:        "end-to-end",
			key:         unhex(t, "c650af6ed01f0ecc538d16491fd0168a8fe72fa95e2d44e7af1d21131539b0ec"),
			sender:      "transit sender a2f7741bf1ec20521db79c01fee8ee086ab373aa6ff78f869fd9d6ac86e6d759 ready\n\n",
			receiver:    "transit receiver 8e74eed2d6e07376794b7870cb9f73d279d8e0200b4e96a930ff2f5bade524c2 ready\n\n",
			sendKey:     "f453570df330dea0d2bc8de7d0e5baebecce4d816a8c319c763c7be2801771f2",
			receiverKey: "ab584b50fd83a542df3199e254a7fa39f68ff318fc7102feba02a030776d3150",
			relayLine:   "please relay 6d5de652b11d83728b570a955b4742903e15d5781c86ec6a5d6b78b7bbbf3059 for side 0123456789abcdef\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(SenderHandshake(tt.key)); got != tt.sender {
				t.Errorf("SenderHandshake = %q, want %q", got, tt.sender)
			}
			if got := string(ReceiverHandshake(tt.key)); got != tt.receiver {
				t.Errorf("ReceiverHandshake = %q, want %q", got, tt.receiver)
			}
			s, r := RecordKeys(tt.key, true)
			if hex.EncodeToString(s) != tt.sendKey || hex.EncodeToString(r) != tt.receiverKey {
				t.Errorf("RecordKeys(sender) = %x, %x", s, r)
			}
			s2, r2 := RecordKeys(tt.key, false)
			if !bytes.Equal(s2, r) || !bytes.Equal(r2, s) {
				t.Errorf("RecordKeys(receiver) = %x, %x; want the sender's swapped", s2, r2)
			}
			if tt.relayLine != "" {
				if got := string(RelayLine(tt.key, "0123456789abcdef")); got != tt.relayLine {
					t.Errorf("RelayLine = %q, want %q", got, tt.relayLine)
				}
			}
		})
	}
}

func TestNewSide(t *testing.T) {
	side, err := NewSide(bytes.NewReader([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}))
	if err != nil || side != "0123456789abcdef" {
		t.Fatalf("NewSide = %q, %v", side, err)
	}
	if !validSide(side) {
		t.Errorf("validSide(%q) = false", side)
	}
	if _, err := NewSide(bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Error("NewSide with 3 random bytes: no error")
	}
	boom := errors.New("boom")
	if _, err := NewSide(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("NewSide error = %v, want it to wrap %v", err, boom)
	}
	for _, bad := range []string{"", "0123456789abcde", "0123456789abcdef0", "0123456789abcde-", "0123456789abcdé"} {
		if validSide(bad) {
			t.Errorf("validSide(%q) = true", bad)
		}
	}
}
