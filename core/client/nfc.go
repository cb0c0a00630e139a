//go:build !js

package client

import "golang.org/x/text/unicode/norm"

// nfc normalises s to Unicode NFC, as the Python client's to_bytes does
// with the code, the app id and DeriveKey's purpose before they become
// bytes. (Without it, "é" typed as e + combining accent on one side and
// as one character on the other would give two different keys.)
func nfc(s string) string { return norm.NFC.String(s) }
