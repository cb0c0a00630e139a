package mailbox

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/hexstr"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// MaxMessageSize bounds one server message. The reference server has no
// limit of its own, but an app message (a text transfer) is the only large
// thing a client ever receives; 16 MiB of hex is 8 MiB of ciphertext.
const MaxMessageSize = 16 << 20

// ErrMalformed is wrapped by ParseServerMessage for input that is not a
// server message the client can act on.
var ErrMalformed = errors.New("mailbox: malformed server message")

// ServerMessage is one decoded server→client message. Only the fields of
// its Type are set; unknown keys are ignored and unknown types are kept
// (the machine skips them), as docs/protocol.md §1.1 requires.
type ServerMessage struct {
	Type     string
	ID       string  // "" when the id was null, missing or not a string
	ServerTx float64 // 0 when missing or not a number
	ServerRx float64 // "message" only

	Welcome []byte // "welcome": the whole welcome object, as JSON
	MOTD    string // "welcome": welcome.motd
	Refusal string // "welcome": welcome.error (the server refuses us)

	Nameplate string // "allocated"
	Mailbox   string // "claimed"

	Side  string // "message"
	Phase string // "message"
	Body  []byte // "message": body, hex-decoded

	Error string // "error": the error text
	Orig  []byte // "error": the offending command, as sent back (JSON)
}

// ParseServerMessage decodes one WebSocket message from the mailbox server.
// It is lenient wherever the references differ (id null or absent, integer
// or float timestamps, extra keys) and strict only where the client would
// otherwise act on garbage: the message must be a JSON object with a string
// "type", and the keys a known type depends on must have the right JSON
// types ("message" needs string side and phase and a hex body).
func ParseServerMessage(data []byte) (*ServerMessage, error) {
	if len(data) > MaxMessageSize {
		return nil, errs.With(ErrMalformed, strconv.Itoa(len(data))+" bytes (limit "+strconv.Itoa(MaxMessageSize)+")")
	}
	obj, err := jsonx.Parse(data)
	if err != nil || obj.Kind() != jsonx.Object {
		return nil, errs.With(ErrMalformed, "not a JSON object")
	}
	m := &ServerMessage{}
	var ok bool
	if m.Type, ok = obj.Get("type").Str(); !ok {
		return nil, errs.With(ErrMalformed, `no string "type"`)
	}
	m.ID, _ = obj.Get("id").Str()
	m.ServerTx = num(obj.Get("server_tx"))

	switch m.Type {
	case "welcome":
		// A welcome without a usable object is still a welcome: the
		// connection works, there is just nothing to show.
		if w := obj.Get("welcome"); w.Kind() == jsonx.Object {
			m.Welcome = bytes.Clone(w.Raw())
			m.MOTD, _ = w.Get("motd").Str()
			if e := w.Get("error"); e.Kind() != jsonx.Invalid {
				// Any error value refuses us; show it as text.
				if m.Refusal, ok = e.Str(); !ok || m.Refusal == "" {
					m.Refusal = string(e.Raw())
				}
			}
		}
	case "allocated":
		if m.Nameplate, ok = obj.Get("nameplate").Str(); !ok || m.Nameplate == "" {
			return nil, errs.With(ErrMalformed, "allocated without a nameplate")
		}
	case "claimed":
		if m.Mailbox, ok = obj.Get("mailbox").Str(); !ok || m.Mailbox == "" {
			return nil, errs.With(ErrMalformed, "claimed without a mailbox")
		}
	case "message":
		var side, phase, body bool
		m.Side, side = obj.Get("side").Str()
		m.Phase, phase = obj.Get("phase").Str()
		var hexBody string
		hexBody, body = obj.Get("body").Str()
		if !side || !phase || !body {
			return nil, errs.With(ErrMalformed, "message needs string side, phase and body")
		}
		if m.Body, err = hexstr.Decode(hexBody); err != nil {
			return nil, errs.With(ErrMalformed, "message body is not hex")
		}
		m.ServerRx = num(obj.Get("server_rx"))
	case "error":
		e := obj.Get("error")
		if m.Error, ok = e.Str(); !ok {
			// Still an error; keep whatever the server put there.
			m.Error = string(e.Raw())
		}
		m.Orig = bytes.Clone(obj.Get("orig").Raw())
	}
	return m, nil
}

// num returns v as a float64 if it is a JSON number within float64's
// range, else 0.
func num(v jsonx.Value) float64 {
	f, _ := v.Float()
	return f
}

// origType is the "type" of the command an error message sends back, or
// "". It reads orig as decoding into struct{ Type string `json:"type"` }
// did: keys match case-insensitively, the last one wins, null leaves the
// type alone, and any other non-string (or orig not an object) voids it.
func origType(orig []byte) string {
	v, err := jsonx.Parse(orig)
	if err != nil || v.Kind() != jsonx.Object {
		return ""
	}
	typ := ""
	for _, mem := range v.Members() {
		if !strings.EqualFold(mem.Key, "type") || mem.Value.IsNull() {
			continue
		}
		s, ok := mem.Value.Str()
		if !ok {
			return ""
		}
		typ = s
	}
	return typ
}
