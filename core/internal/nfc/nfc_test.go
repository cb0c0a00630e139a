package nfc

import "testing"

// TestNFC checks String against NFC results computed with Python's
// unicodedata.normalize("NFC", ...), which the Python client applies to
// the code, the app id and DeriveKey's purpose. The same test runs in the
// browser build (GOOS=js, String.prototype.normalize) under Node.
func TestNFC(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii", "4-purple-sausages", "4-purple-sausages"},
		{"empty", "", ""},
		{"combining acute", "7-cafe\u0301", "7-caf\u00e9"},
		{"already composed", "7-caf\u00e9", "7-caf\u00e9"},
		{"angstrom sign", "\u212b", "\u00c5"},
		{"hangul jamo", "\u1100\u1161\u11a8", "\uac01"},
		{"reordered marks", "a\u0323\u0302", "\u1ead"},
		{"singleton kelvin", "\u212a", "K"},
		{"compatibility kept", "\ufb01", "\ufb01"}, // NFKC would give "fi"
		{"invalid bytes kept", "e\u0301\xffe\u0301", "\u00e9\xff\u00e9"},
		{"invalid at the end", "x\xc3", "x\xc3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in); got != tc.want {
				t.Errorf("String(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
		})
	}
}
