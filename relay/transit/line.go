package transit

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxLineLength bounds the handshake line, newline included. The reference
// relay gives up with "bad handshake" once 1024 bytes arrived without one.
const MaxLineLength = 1024

// Token and side lengths required by the relay line.
const (
	TokenLength = 64
	SideLength  = 16
)

// Replies the relay writes before raw mode. They are exact byte strings.
var (
	ReplyOK           = []byte("ok\n")
	ReplyBadHandshake = []byte("bad handshake\n")
	ReplyImpatient    = []byte("impatient\n")
)

// Sentinel errors of the handshake line; callers test them with errors.Is.
var (
	// ErrBadHandshake: the line does not match either accepted form.
	ErrBadHandshake = errors.New("transit: bad handshake")
	// ErrLineTooLong: MaxLineLength bytes arrived without a newline.
	ErrLineTooLong = errors.New("transit: handshake line too long")
)

// Request is a parsed relay line.
type Request struct {
	// Token is the 64-character pairing token (hex in practice).
	Token string
	// Side is the 16-character side, or "" for the legacy line that has
	// none. An unsided request pairs with anything holding the same token.
	Side string
}

const (
	prefix  = "please relay "
	sideSep = " for side "
)

// ParseLine parses one handshake line: "please relay TOKEN" or
// "please relay TOKEN for side SIDE", with at most one trailing "\n".
//
// TOKEN is 64 and SIDE 16 ASCII word characters ([0-9A-Za-z_]), which is what
// the reference relay's bytes regex \w accepts; real clients send lowercase
// hex. Over TCP the caller passes the bytes up to and including the first
// newline; over WebSocket the whole first message, which the reference
// matches with "$" and so may end with one newline.
func ParseLine(line []byte) (Request, error) {
	// MaxLineLength counts the newline, so a line without one must be
	// shorter.
	if len(line) > MaxLineLength || (len(line) == MaxLineLength && line[len(line)-1] != '\n') {
		return Request{}, fmt.Errorf("%w (%d bytes)", ErrLineTooLong, len(line))
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte(prefix))
	if !ok {
		return Request{}, fmt.Errorf("%w: missing %q", ErrBadHandshake, prefix)
	}
	if len(rest) < TokenLength || !isWord(rest[:TokenLength]) {
		return Request{}, fmt.Errorf("%w: token must be %d word characters", ErrBadHandshake, TokenLength)
	}
	req := Request{Token: string(rest[:TokenLength])}
	rest = rest[TokenLength:]
	if len(rest) == 0 {
		return req, nil
	}
	side, ok := bytes.CutPrefix(rest, []byte(sideSep))
	if !ok || len(side) != SideLength || !isWord(side) {
		return Request{}, fmt.Errorf("%w: side must be %q and %d word characters", ErrBadHandshake, sideSep, SideLength)
	}
	req.Side = string(side)
	return req, nil
}

// SplitLine finds the handshake line at the start of buf, the bytes read so
// far from a TCP client. It returns the line including its newline and the
// bytes after it. ok is false while more bytes are needed; err is
// ErrLineTooLong once buf holds MaxLineLength bytes without a newline.
func SplitLine(buf []byte) (line, rest []byte, ok bool, err error) {
	limit := min(len(buf), MaxLineLength)
	if i := bytes.IndexByte(buf[:limit], '\n'); i >= 0 {
		return buf[:i+1], buf[i+1:], true, nil
	}
	if len(buf) >= MaxLineLength {
		return nil, nil, false, ErrLineTooLong
	}
	return nil, nil, false, nil
}

// String is the line a client sends for this request, newline included.
func (r Request) String() string {
	if r.Side == "" {
		return prefix + r.Token + "\n"
	}
	return prefix + r.Token + sideSep + r.Side + "\n"
}

func isWord(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		default:
			return false
		}
	}
	return true
}
