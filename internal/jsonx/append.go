package jsonx

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Obj writes the members of one JSON object. Get one from AppendObject;
// each method appends one member, in the order called.
type Obj struct {
	b []byte
	n int
}

// AppendObject appends to dst the JSON object that f writes, and returns
// the extended buffer.
//
//	msg := jsonx.AppendObject(nil, func(o *jsonx.Obj) {
//		o.String("type", "add")
//		o.String("phase", "pake")
//	})
func AppendObject(dst []byte, f func(o *Obj)) []byte {
	o := Obj{b: append(dst, '{')}
	f(&o)
	return append(o.b, '}')
}

func (o *Obj) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = AppendString(o.b, k)
	o.b = append(o.b, ':')
}

// String appends a string member.
func (o *Obj) String(k, v string) { o.key(k); o.b = AppendString(o.b, v) }

// StringOmitEmpty appends a string member unless v is empty, as a field
// tagged omitempty is written by encoding/json.
func (o *Obj) StringOmitEmpty(k, v string) {
	if v != "" {
		o.String(k, v)
	}
}

// Int appends an integer member.
func (o *Obj) Int(k string, v int64) { o.key(k); o.b = strconv.AppendInt(o.b, v, 10) }

// Float appends a number member, formatted as encoding/json formats a
// float64. NaN and infinities have no JSON form and are written as null.
func (o *Obj) Float(k string, v float64) { o.key(k); o.b = AppendFloat(o.b, v) }

// Bool appends a boolean member.
func (o *Obj) Bool(k string, v bool) { o.key(k); o.b = strconv.AppendBool(o.b, v) }

// Null appends a null member.
func (o *Obj) Null(k string) { o.key(k); o.b = append(o.b, "null"...) }

// Raw appends a member whose value is already encoded JSON, such as a
// Value's Raw bytes. An empty raw is written as null.
func (o *Obj) Raw(k string, raw []byte) { o.key(k); o.b = appendRaw(o.b, raw) }

// Object appends a member that is an object, written by f.
func (o *Obj) Object(k string, f func(o *Obj)) { o.key(k); o.b = AppendObject(o.b, f) }

// Array appends a member that is an array, written by f.
func (o *Obj) Array(k string, f func(a *Arr)) { o.key(k); o.b = AppendArray(o.b, f) }

// Arr writes the elements of one JSON array.
type Arr struct {
	b []byte
	n int
}

// AppendArray appends to dst the JSON array that f writes.
func AppendArray(dst []byte, f func(a *Arr)) []byte {
	a := Arr{b: append(dst, '[')}
	f(&a)
	return append(a.b, ']')
}

func (a *Arr) sep() {
	if a.n > 0 {
		a.b = append(a.b, ',')
	}
	a.n++
}

// String appends a string element.
func (a *Arr) String(v string) { a.sep(); a.b = AppendString(a.b, v) }

// Int appends an integer element.
func (a *Arr) Int(v int64) { a.sep(); a.b = strconv.AppendInt(a.b, v, 10) }

// Float appends a number element (see Obj.Float).
func (a *Arr) Float(v float64) { a.sep(); a.b = AppendFloat(a.b, v) }

// Raw appends an element that is already encoded JSON.
func (a *Arr) Raw(raw []byte) { a.sep(); a.b = appendRaw(a.b, raw) }

// appendRaw appends already encoded JSON, or null for none.
func appendRaw(b, raw []byte) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// Object appends an element that is an object, written by f.
func (a *Arr) Object(f func(o *Obj)) { a.sep(); a.b = AppendObject(a.b, f) }

// Array appends an element that is an array, written by f.
func (a *Arr) Array(f func(a *Arr)) { a.sep(); a.b = AppendArray(a.b, f) }

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json
// escapes it: control characters, quote, backslash, "<", ">", "&", U+2028
// and U+2029, with invalid UTF-8 replaced by U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends f as encoding/json writes a float64: the shortest
// decimal that reads back as f, in exponent form only below 1e-6 or from
// 1e21 up. NaN and infinities, which JSON cannot hold, become null.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// Compact returns the valid JSON b without the white space outside its
// strings, and with "<", ">", "&", U+2028 and U+2029 inside them escaped:
// the bytes encoding/json writes for a json.RawMessage. For input that is
// not valid JSON the result is unspecified.
func Compact(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !inString:
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case '"':
				inString = true
			}
			out = append(out, c)
		case c == '\\':
			out = append(out, c, b[i+1])
			i++
		case c == '"':
			inString = false
			out = append(out, c)
		case c == '<':
			out = append(out, `\u003c`...)
		case c == '>':
			out = append(out, `\u003e`...)
		case c == '&':
			out = append(out, `\u0026`...)
		case c == 0xe2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xa8 || b[i+2] == 0xa9):
			// U+2028 and U+2029, which JavaScript once took for newlines
			out = append(out, `\u202`...)
			out = append(out, "89"[b[i+2]-0xa8])
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}
