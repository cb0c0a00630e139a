package mailbox

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// enc builds one server→client JSON object. Messages are built by hand
// rather than with encoding/json: they are tiny, hot (every command gets an
// ack) and broadcast frames are built once and shared by every listener.
type enc struct{ b []byte }

func newEnc(typ string, sizeHint int) *enc {
	e := &enc{b: make([]byte, 0, 64+sizeHint)}
	e.b = append(e.b, `{"type":`...)
	e.b = appendString(e.b, typ)
	return e
}

func (e *enc) key(k string) {
	e.b = append(e.b, ',', '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *enc) str(k, v string) {
	e.key(k)
	e.b = appendString(e.b, v)
}

// raw writes already-encoded JSON, or null when v is empty.
func (e *enc) raw(k string, v []byte) {
	e.key(k)
	if len(v) == 0 {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, v...)
}

// time writes Unix microseconds as float seconds (the reference sends
// Python's time.time() floats).
func (e *enc) time(k string, micros int64) {
	e.key(k)
	e.b = appendSeconds(e.b, micros)
}

// done appends server_tx and closes the object.
func (e *enc) done(nowMicros int64) []byte {
	e.time("server_tx", nowMicros)
	e.b = append(e.b, '}')
	return e.b
}

func appendSeconds(b []byte, micros int64) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, float64(micros)/1e6, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, '.', '0') // keep it a float for strict decoders
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so
// the frame stays valid as a TEXT message.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// EncodeRefusal is the welcome a driver sends to a connection it refuses
// (a per-address limit, say) before closing it: clients show the "error"
// and give up instead of retrying blindly.
func EncodeRefusal(reason string, now time.Time) []byte {
	e := newEnc("welcome", len(reason)+16)
	e.key("welcome")
	e.b = append(e.b, `{"error":`...)
	e.b = appendString(e.b, reason)
	e.b = append(e.b, '}')
	return e.done(now.UnixMicro())
}
