package mailbox

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Command is one decoded client message. DecodeCommand never fails: a frame
// that is not a JSON object yields a Command with Invalid set, which the
// machine answers with an error message instead of dropping the connection.
//
// String fields are set only when the key was present with a string value;
// the Has* flags record presence of the key whatever its value, because the
// reference server's checks are about presence ("claim requires
// 'nameplate'") and a present key with the wrong JSON type is a different
// error.
type Command struct {
	// Raw is the frame as received (made valid UTF-8), echoed as "orig"
	// in error messages.
	Raw []byte
	// Invalid is set when Raw is not a JSON object.
	Invalid bool

	HasType bool
	Type    string // "" when "type" is not a string
	// ID is the raw JSON of "id" (nil when absent); it is copied into
	// "ack" and, for "add", into the resulting "message".
	ID json.RawMessage

	AppID, Side        Field
	Nameplate, Mailbox Field
	Phase, Body, Mood  Field
	Method, Stamp      Field
	HasPing            bool
	Ping               json.RawMessage // raw JSON of "ping"
	// ClientImpl and ClientVersion come from bind's optional
	// "client_version": ["python", "0.12.0"].
	ClientImpl, ClientVersion string
}

// Field is an optional string-valued key of a command.
type Field struct {
	Present bool   // the key exists
	IsStr   bool   // and its value is a JSON string
	S       string // the string, when IsStr
}

// wire is what encoding/json fills; RawMessage keeps presence and type.
type wire struct {
	Type          json.RawMessage `json:"type"`
	ID            json.RawMessage `json:"id"`
	AppID         json.RawMessage `json:"appid"`
	Side          json.RawMessage `json:"side"`
	Nameplate     json.RawMessage `json:"nameplate"`
	Mailbox       json.RawMessage `json:"mailbox"`
	Phase         json.RawMessage `json:"phase"`
	Body          json.RawMessage `json:"body"`
	Mood          json.RawMessage `json:"mood"`
	Ping          json.RawMessage `json:"ping"`
	Method        json.RawMessage `json:"method"`
	Stamp         json.RawMessage `json:"stamp"`
	ClientVersion json.RawMessage `json:"client_version"`
}

// DecodeCommand decodes one client frame (text or binary; both are accepted).
// It does not keep a reference to data except through Raw, which aliases it
// when data is valid UTF-8.
func DecodeCommand(data []byte) Command {
	if !utf8.Valid(data) {
		// Raw is echoed in "orig" inside a TEXT frame, which must be UTF-8.
		data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
	}
	c := Command{Raw: data}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		c.Invalid = true
		return c
	}
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		c.Invalid = true
		return c
	}
	if w.Type != nil {
		c.HasType = true
		c.Type, _ = str(w.Type)
	}
	if w.ID != nil {
		c.ID = compact(w.ID)
	}
	c.AppID = toField(w.AppID)
	c.Side = toField(w.Side)
	c.Nameplate = toField(w.Nameplate)
	c.Mailbox = toField(w.Mailbox)
	c.Phase = toField(w.Phase)
	c.Body = toField(w.Body)
	c.Mood = toField(w.Mood)
	c.Method = toField(w.Method)
	c.Stamp = toField(w.Stamp)
	if w.Ping != nil {
		c.HasPing = true
		c.Ping = compact(w.Ping)
	}
	if w.ClientVersion != nil {
		var cv []any
		if json.Unmarshal(w.ClientVersion, &cv) == nil && len(cv) == 2 {
			c.ClientImpl, _ = cv[0].(string)
			c.ClientVersion, _ = cv[1].(string)
		}
	}
	return c
}

func toField(raw json.RawMessage) Field {
	if raw == nil {
		return Field{}
	}
	s, ok := str(raw)
	return Field{Present: true, IsStr: ok, S: s}
}

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

// compact copies raw JSON without insignificant whitespace, so echoed ids
// stay small and own no part of the input buffer.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return json.RawMessage("null")
	}
	return b.Bytes()
}
