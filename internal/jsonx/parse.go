// Package jsonx reads and writes the JSON of the magic-wormhole protocols
// without reflection.
//
// Every message the protocols exchange is a small JSON object: mailbox
// server commands, the client's "pake" and "version" bodies, the
// file-transfer offer, answer and ack, transit hints. encoding/json handles
// them through reflection, which costs the browser build about 130 KB of
// gzip (with fmt, which it also needs, about 200 KB). This package is what
// those messages need and nothing more:
//
//   - [Parse] checks a document against RFC 8259 and returns a tree of
//     [Value]s. Each value keeps its source bytes ([Value.Raw]), so a
//     caller can hand a nested object on unparsed, as json.RawMessage did.
//   - [AppendObject] writes an object member by member, with the same bytes
//     encoding/json's Marshal would write for the same members in the same
//     order (compact, with "<", ">", "&", U+2028 and U+2029 escaped).
//
// Decoding follows encoding/json where the two could differ: the last of
// duplicate keys wins, invalid UTF-8 and lone surrogates in strings become
// U+FFFD, and a number read as an integer must be written as one. Input is
// untrusted, so nesting is limited to [MaxDepth].
package jsonx

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest. No protocol message
// comes near it; the limit keeps a hostile peer from exhausting the stack.
const MaxDepth = 100

// ErrSyntax is returned, wrapped with the offset, for input that is not
// one JSON value.
var ErrSyntax = errors.New("jsonx: invalid JSON")

// ErrDepth is returned for input nested deeper than MaxDepth.
var ErrDepth = errors.New("jsonx: JSON nested too deeply")

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON value. The zero Value is Invalid: what Get returns
// for a missing key.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// Value is one parsed JSON value. Its methods are safe on the zero Value,
// so lookups chain: v.Get("offer").Get("file").Get("filename").Str().
type Value struct {
	kind    Kind
	raw     []byte   // the value's bytes in the input
	str     string   // String: decoded contents
	items   []Value  // Array
	members []Member // Object, in input order
}

// Member is one key and value of an object.
type Member struct {
	Key   string
	Value Value
}

// Kind returns the value's type; Invalid for the zero Value.
func (v Value) Kind() Kind { return v.kind }

// Raw returns the value's JSON text as it appeared in the input (a slice
// of it, not a copy). It is nil for the zero Value.
func (v Value) Raw() []byte { return v.raw }

// Get returns the member of an object named key; the last one when the
// key repeats. It returns the zero Value when v is not an object or has no
// such key.
func (v Value) Get(key string) Value {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].Key == key {
			return v.members[i].Value
		}
	}
	return Value{}
}

// Has reports whether v is an object with a member named key.
func (v Value) Has(key string) bool { return v.Get(key).kind != Invalid }

// Members returns an object's members in input order, duplicates
// included; nil for any other kind.
func (v Value) Members() []Member { return v.members }

// Items returns an array's elements; nil for any other kind.
func (v Value) Items() []Value { return v.items }

// Str returns a string's decoded contents and true, or "" and false for
// any other kind.
func (v Value) Str() (string, bool) { return v.str, v.kind == String }

// Bool returns a boolean's value and true, or false and false for any
// other kind.
func (v Value) Bool() (b, ok bool) {
	if v.kind != Bool {
		return false, false
	}
	return v.raw[0] == 't', true
}

// Int returns an integer's value and true. It returns false for other
// kinds, for numbers with a fraction or exponent and for numbers outside
// int64, as encoding/json does when it decodes into an int64.
func (v Value) Int() (int64, bool) {
	if v.kind != Number {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.raw), 10, 64)
	return n, err == nil
}

// Float returns a number's value and true, or 0 and false for any other
// kind or a number beyond float64's range.
func (v Value) Float() (float64, bool) {
	if v.kind != Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v.raw), 64)
	if err != nil {
		return 0, false // ParseFloat's ±Inf for a number out of range
	}
	return f, true
}

// IsNull reports whether v is JSON null.
func (v Value) IsNull() bool { return v.kind == Null }

// Parse parses data, which must hold exactly one JSON value, with
// optional whitespace around it. The returned tree refers to data: do not
// modify data while the Value is in use.
func Parse(data []byte) (Value, error) {
	p := parser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.space()
	if p.pos != len(p.data) {
		return Value{}, p.fail()
	}
	return v, nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) fail() error {
	return &SyntaxError{Offset: p.pos}
}

// SyntaxError says where input stopped being JSON. It unwraps to
// ErrSyntax.
type SyntaxError struct{ Offset int }

func (e *SyntaxError) Error() string {
	return "jsonx: invalid JSON at offset " + strconv.Itoa(e.Offset)
}

func (e *SyntaxError) Unwrap() error { return ErrSyntax }

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if p.pos >= len(p.data) {
		return Value{}, p.fail()
	}
	start := p.pos
	var v Value
	var err error
	switch c := p.data[p.pos]; {
	case c == '{':
		v, err = p.object(depth + 1)
	case c == '[':
		v, err = p.array(depth + 1)
	case c == '"':
		v.kind = String
		v.str, err = p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		v.kind = Number
		err = p.number()
	default:
		v.kind, err = p.literal()
	}
	if err != nil {
		return Value{}, err
	}
	v.raw = p.data[start:p.pos:p.pos]
	return v, nil
}

func (p *parser) literal() (Kind, error) {
	for _, l := range [...]struct {
		text string
		kind Kind
	}{{"null", Null}, {"true", Bool}, {"false", Bool}} {
		if len(p.data)-p.pos >= len(l.text) && string(p.data[p.pos:p.pos+len(l.text)]) == l.text {
			p.pos += len(l.text)
			return l.kind, nil
		}
	}
	return Invalid, p.fail()
}

func (p *parser) object(depth int) (Value, error) {
	if depth > MaxDepth {
		return Value{}, ErrDepth
	}
	v := Value{kind: Object}
	if p.open('}') {
		return v, nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return Value{}, p.fail()
		}
		key, err := p.string()
		if err != nil {
			return Value{}, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return Value{}, p.fail()
		}
		p.pos++
		p.space()
		val, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		v.members = append(v.members, Member{key, val})
		more, err := p.more('}')
		if err != nil {
			return Value{}, err
		}
		if !more {
			return v, nil
		}
	}
}

func (p *parser) array(depth int) (Value, error) {
	if depth > MaxDepth {
		return Value{}, ErrDepth
	}
	v := Value{kind: Array}
	if p.open(']') {
		return v, nil
	}
	for {
		item, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		v.items = append(v.items, item)
		more, err := p.more(']')
		if err != nil {
			return Value{}, err
		}
		if !more {
			return v, nil
		}
	}
}

// open steps over an opening bracket and the space after it, and reports
// whether the container is empty (closer follows at once, and is consumed).
func (p *parser) open(closer byte) bool {
	p.pos++
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == closer {
		p.pos++
		return true
	}
	return false
}

// more steps over what follows a member or an item: a comma and the space
// after it (another one follows) or closer (the container is done).
// Anything else is a syntax error.
func (p *parser) more(closer byte) (bool, error) {
	p.space()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.space()
			return true, nil
		case closer:
			p.pos++
			return false, nil
		}
	}
	return false, p.fail()
}

// number checks the RFC 8259 grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() error {
	d := p.data
	if p.pos < len(d) && d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		p.digits()
	default:
		return p.fail()
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if !p.digits() {
			return p.fail()
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			return p.fail()
		}
	}
	return nil
}

func (p *parser) digits() bool {
	start := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

// string reads a quoted string at p.pos and returns its contents.
func (p *parser) string() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes, valid UTF-8.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			p.pos++
			if utf8.Valid(s) {
				return string(s), nil
			}
			return string(validUTF8(nil, s)), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	out := validUTF8(make([]byte, 0, p.pos-start+16), p.data[start:p.pos])
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(out), nil
		case c < 0x20:
			return "", p.fail()
		case c == '\\':
			var err error
			if out, err = p.escape(out); err != nil {
				return "", err
			}
		default:
			run := p.pos
			for p.pos < len(p.data) && p.data[p.pos] != '"' && p.data[p.pos] != '\\' && p.data[p.pos] >= 0x20 {
				p.pos++
			}
			out = validUTF8(out, p.data[run:p.pos])
		}
	}
	return "", p.fail()
}

// escape decodes the escape sequence at p.pos onto out.
func (p *parser) escape(out []byte) ([]byte, error) {
	if p.pos+1 >= len(p.data) {
		return nil, p.fail()
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(out, c), nil
	case 'b':
		return append(out, '\b'), nil
	case 'f':
		return append(out, '\f'), nil
	case 'n':
		return append(out, '\n'), nil
	case 'r':
		return append(out, '\r'), nil
	case 't':
		return append(out, '\t'), nil
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return nil, p.fail()
		}
		if utf16.IsSurrogate(r) {
			// A pair is two escapes; anything else is a lone surrogate.
			r2 := rune(-1)
			if save := p.pos; p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				p.pos += 2
				var ok2 bool
				if r2, ok2 = p.hex4(); !ok2 {
					return nil, p.fail()
				}
				if utf16.DecodeRune(r, r2) == utf8.RuneError {
					p.pos = save // not a pair: the second escape stands alone
					r2 = -1
				}
			}
			if r2 < 0 {
				return utf8.AppendRune(out, utf8.RuneError), nil
			}
			r = utf16.DecodeRune(r, r2)
		}
		return utf8.AppendRune(out, r), nil
	}
	return nil, p.fail()
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// validUTF8 appends s to out with each invalid byte replaced by U+FFFD,
// as encoding/json does.
func validUTF8(out, s []byte) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[:n]...)
		}
		s = s[n:]
	}
	return out
}
