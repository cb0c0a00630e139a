//go:build !js

// Package nfc normalises strings to Unicode NFC with the platform's
// tables: golang.org/x/text natively, the browser's own
// String.prototype.normalize under GOOS=js (nfc_js.go), which keeps
// x/text's tables out of the wasm.
//
// The Python client normalises the code, the app id and DeriveKey's
// purpose before they become bytes (without it, "é" typed as e + combining
// accent on one side and as one character on the other would give two
// different keys), and received names are compared after normalising, as
// a macOS file system would.
package nfc

import "golang.org/x/text/unicode/norm"

// String normalises s to Unicode NFC.
func String(s string) string { return norm.NFC.String(s) }
