package mailbox

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

	Welcome json.RawMessage // "welcome": the whole welcome object
	MOTD    string          // "welcome": welcome.motd
	Refusal string          // "welcome": welcome.error (the server refuses us)

	Nameplate string // "allocated"
	Mailbox   string // "claimed"

	Side  string // "message"
	Phase string // "message"
	Body  []byte // "message": body, hex-decoded

	Error string          // "error": the error text
	Orig  json.RawMessage // "error": the offending command, as sent back
}

// ParseServerMessage decodes one WebSocket message from the mailbox server.
// It is lenient wherever the references differ (id null or absent, integer
// or float timestamps, extra keys) and strict only where the client would
// otherwise act on garbage: the message must be a JSON object with a string
// "type", and the keys a known type depends on must have the right JSON
// types ("message" needs string side and phase and a hex body).
func ParseServerMessage(data []byte) (*ServerMessage, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrMalformed, len(data), MaxMessageSize)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	m := &ServerMessage{}
	var ok bool
	if m.Type, ok = str(obj["type"]); !ok {
		return nil, fmt.Errorf("%w: no string \"type\"", ErrMalformed)
	}
	m.ID, _ = str(obj["id"])
	m.ServerTx = num(obj["server_tx"])

	switch m.Type {
	case "welcome":
		// A welcome without a usable object is still a welcome: the
		// connection works, there is just nothing to show.
		var w map[string]json.RawMessage
		if raw := obj["welcome"]; json.Unmarshal(raw, &w) == nil && w != nil {
			m.Welcome = bytes.Clone(raw)
			m.MOTD, _ = str(w["motd"])
			if e, present := w["error"]; present {
				// Any error value refuses us; show it as text.
				if m.Refusal, ok = str(e); !ok || m.Refusal == "" {
					m.Refusal = string(e)
				}
			}
		}
	case "allocated":
		if m.Nameplate, ok = str(obj["nameplate"]); !ok || m.Nameplate == "" {
			return nil, fmt.Errorf("%w: allocated without a nameplate", ErrMalformed)
		}
	case "claimed":
		if m.Mailbox, ok = str(obj["mailbox"]); !ok || m.Mailbox == "" {
			return nil, fmt.Errorf("%w: claimed without a mailbox", ErrMalformed)
		}
	case "message":
		var side, phase, body bool
		m.Side, side = str(obj["side"])
		m.Phase, phase = str(obj["phase"])
		var hexBody string
		hexBody, body = str(obj["body"])
		if !side || !phase || !body {
			return nil, fmt.Errorf("%w: message needs string side, phase and body", ErrMalformed)
		}
		b, err := hex.DecodeString(hexBody)
		if err != nil {
			return nil, fmt.Errorf("%w: message body is not hex", ErrMalformed)
		}
		m.Body = b
		m.ServerRx = num(obj["server_rx"])
	case "error":
		if m.Error, ok = str(obj["error"]); !ok {
			// Still an error; keep whatever the server put there.
			m.Error = string(obj["error"])
		}
		if o := obj["orig"]; len(o) > 0 {
			m.Orig = bytes.Clone(o)
		}
	}
	return m, nil
}

// str returns raw as a Go string if it is a JSON string.
func str(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// num returns raw as a float64 if it is a finite JSON number, else 0.
func num(raw json.RawMessage) float64 {
	var f float64
	if len(raw) == 0 || json.Unmarshal(raw, &f) != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	return f
}
