//go:build js

package nfc

import (
	"strings"
	"syscall/js"
	"unicode/utf8"
)

// String normalises s to Unicode NFC (see nfc.go). In the browser it asks String.prototype.normalize: the
// browser carries the Unicode tables anyway, and linking golang.org/x/text's
// copy would add about 54 KB (gzip) to the wasm.
//
// Bytes that are not UTF-8 cannot cross into a JS string unchanged, so
// they are kept as they are and only the valid runs around them are
// normalised, as golang.org/x/text does. (Strings that come from JS are
// always valid UTF-8.)
func String(s string) string {
	if isASCII(s) {
		return s // NFC never changes ASCII; the common case needs no JS call
	}
	if utf8.ValidString(s) {
		return jsNFC(s)
	}
	var b strings.Builder
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			r, size := utf8.DecodeRuneInString(s[n:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			n += size
		}
		b.WriteString(jsNFC(s[:n]))
		if n < len(s) {
			b.WriteByte(s[n]) // the invalid byte itself
			n++
		}
		s = s[n:]
	}
	return b.String()
}

func jsNFC(s string) string {
	if isASCII(s) {
		return s
	}
	// A primitive string has no methods for syscall/js (Reflect.get needs
	// an object), so call the prototype's method on it.
	return normalize.Call("call", s, "NFC").String()
}

var normalize = js.Global().Get("String").Get("prototype").Get("normalize")

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
