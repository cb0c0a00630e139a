package transfer

// The file-transfer messages as encoding/json read and wrote them before
// internal/jsonx replaced it (the browser build leaves encoding/json
// out): the structs with their json tags, and the decoders verbatim. The
// tests hold the new code to them byte for byte and error for error.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// refMessage is Message as encoding/json wrote it.
type refMessage struct {
	Offer   *Offer          `json:"offer,omitempty"`
	Answer  *Answer         `json:"answer,omitempty"`
	Transit json.RawMessage `json:"transit,omitempty"`
	Error   string          `json:"error,omitempty"`
	Resume  *refResume      `json:"wasmhole-resume,omitempty"`
}

type refResume Resume

func refMarshal(m *Message) ([]byte, error) {
	return json.Marshal(refMessage{m.Offer, m.Answer, m.Transit, m.Error, (*refResume)(m.Resume)})
}

// refAck is Ack as encoding/json wrote it.
type refAck struct {
	Ack    string `json:"ack"`
	SHA256 string `json:"sha256,omitempty"`
}

// refParseMessage is ParseMessage as it was with encoding/json: the
// reference the new decoder is held to. It decodes one app message. Unknown keys are ignored; a
// message with none of the known keys returns ErrUnknownMessage, an offer
// of no known kind ErrUnknownOffer, a directory mode other than zipfile/*
// ErrUnknownMode, anything else invalid ErrMalformed (all wrapped).
func refParseMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("transfer: message of %d bytes exceeds %d: %w", len(b), MaxMessageSize, ErrMalformed)
	}
	obj, err := refDecodeObject(b)
	if err != nil {
		return nil, fmt.Errorf("transfer: message: %w", err)
	}
	var known []string
	for _, k := range []string{"offer", "answer", "transit", "error", "wasmhole-resume"} {
		if _, ok := obj[k]; ok {
			known = append(known, k)
		}
	}
	switch len(known) {
	case 0:
		return nil, fmt.Errorf("transfer: message has none of offer, answer, transit, error: %w", ErrUnknownMessage)
	case 1:
	default:
		return nil, fmt.Errorf("transfer: message has several of %s: %w", strings.Join(known, ", "), ErrMalformed)
	}
	raw := obj[known[0]]
	m := &Message{}
	switch known[0] {
	case "offer":
		m.Offer, err = refParseOffer(raw)
	case "answer":
		m.Answer, err = refParseAnswer(raw)
	case "transit":
		if !refIsObject(raw) {
			err = fmt.Errorf("transit is not an object: %w", ErrMalformed)
		} else {
			m.Transit = append(json.RawMessage(nil), raw...)
		}
	case "wasmhole-resume":
		m.Resume, err = refParseResume(raw)
	case "error":
		m.Error, err = refStr(raw, "error")
		if err == nil && m.Error == "" {
			err = fmt.Errorf("empty error text: %w", ErrMalformed)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: %s: %w", known[0], err)
	}
	return m, nil
}

func refParseOffer(raw json.RawMessage) (*Offer, error) {
	obj, err := refDecodeObject(raw)
	if err != nil {
		return nil, err
	}
	var kinds []string
	for _, k := range []string{"message", "file", "directory"} {
		if _, ok := obj[k]; ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, ErrUnknownOffer
	}
	if len(kinds) > 1 {
		return nil, fmt.Errorf("offer has several of %s: %w", strings.Join(kinds, ", "), ErrMalformed)
	}
	o := &Offer{}
	switch kinds[0] {
	case "message":
		s, err := refStr(obj["message"], "message")
		if err != nil {
			return nil, err
		}
		o.Message = &s
	case "file":
		f, err := refDecodeObject(obj["file"])
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		fo := &FileOffer{}
		if fo.Filename, err = refReqStr(f, "filename"); err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if fo.Filesize, err = refReqSize(f, "filesize"); err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		o.File = fo
	case "directory":
		d, err := refDecodeObject(obj["directory"])
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		do := &DirOffer{}
		if do.Mode, err = refReqStr(d, "mode"); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		if do.Dirname, err = refReqStr(d, "dirname"); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		if do.Zipsize, err = refReqSize(d, "zipsize"); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		// numbytes and numfiles are informational; tolerate their absence.
		// (A map in the original: its order made the error for two bad
		// counts random; fixed here as the new code has it.)
		for _, key := range []string{"numbytes", "numfiles"} {
			dst := map[string]*int64{"numbytes": &do.Numbytes, "numfiles": &do.Numfiles}[key]
			if _, ok := d[key]; ok {
				if *dst, err = refReqSize(d, key); err != nil {
					return nil, fmt.Errorf("directory: %w", err)
				}
			}
		}
		if !strings.HasPrefix(do.Mode, "zipfile") {
			return nil, fmt.Errorf("directory mode %q: %w", do.Mode, ErrUnknownMode)
		}
		o.Directory = do
	}
	return o, nil
}

func refParseAnswer(raw json.RawMessage) (*Answer, error) {
	obj, err := refDecodeObject(raw)
	if err != nil {
		return nil, err
	}
	a := &Answer{}
	if v, ok := obj["message_ack"]; ok {
		if a.MessageAck, err = refStr(v, "message_ack"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["file_ack"]; ok {
		if a.FileAck, err = refStr(v, "file_ack"); err != nil {
			return nil, err
		}
	}
	if a.MessageAck == "" && a.FileAck == "" {
		return nil, fmt.Errorf("answer has no message_ack or file_ack: %w", ErrMalformed)
	}
	return a, nil
}

// refDecodeObject decodes a JSON object into its raw members. json.Unmarshal
// already rejects trailing data and invalid JSON.
func refDecodeObject(b []byte) (map[string]json.RawMessage, error) {
	if !refIsObject(b) {
		return nil, fmt.Errorf("not a JSON object: %w", ErrMalformed)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	return obj, nil
}

func refIsObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// str decodes a JSON string; null and other types are errors (Unmarshal
// would silently accept null).
func refStr(raw json.RawMessage, key string) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string: %w", key, ErrMalformed)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %v: %w", key, err, ErrMalformed)
	}
	return s, nil
}

func refReqStr(obj map[string]json.RawMessage, key string) (string, error) {
	raw, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("missing %s: %w", key, ErrMalformed)
	}
	return refStr(raw, key)
}

// refReqSize decodes a required non-negative JSON integer that fits int64.
func refReqSize(obj map[string]json.RawMessage, key string) (int64, error) {
	raw, ok := obj[key]
	if !ok {
		return 0, fmt.Errorf("missing %s: %w", key, ErrMalformed)
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s is not a non-negative integer: %.40q: %w", key, raw, ErrMalformed)
	}
	return n, nil
}

// MarshalJSON encodes the body.
func (r *refResume) MarshalJSON() ([]byte, error) {
	if !refIsObject(r.Transit) {
		return nil, fmt.Errorf("transfer: encode resume: transit is not a JSON object: %w", ErrMalformed)
	}
	v := struct {
		Attempt int             `json:"attempt"`
		Transit json.RawMessage `json:"transit"`
		Offset  *int64          `json:"offset,omitempty"`
		SHA256  string          `json:"sha256,omitempty"`
	}{Attempt: r.Attempt, Transit: r.Transit}
	if r.HasOffset {
		v.Offset, v.SHA256 = &r.Offset, hex.EncodeToString(r.SHA256)
	}
	return json.Marshal(v)
}

// refParseResume checks a resume body: attempt 1..maxAttempt, transit an
// object, offset and sha256 both present or both absent.
func refParseResume(raw json.RawMessage) (*Resume, error) {
	obj, err := refDecodeObject(raw)
	if err != nil {
		return nil, err
	}
	n, err := refReqSize(obj, "attempt")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxAttempt {
		return nil, fmt.Errorf("attempt %d out of range: %w", n, ErrMalformed)
	}
	r := &Resume{Attempt: int(n)}
	t, ok := obj["transit"]
	if !ok || !refIsObject(t) {
		return nil, fmt.Errorf("missing or non-object transit: %w", ErrMalformed)
	}
	r.Transit = append(json.RawMessage(nil), t...)
	_, hasOff := obj["offset"]
	_, hasSum := obj["sha256"]
	if hasOff != hasSum {
		return nil, fmt.Errorf("offset and sha256 go together: %w", ErrMalformed)
	}
	if !hasOff {
		return r, nil
	}
	if r.Offset, err = refReqSize(obj, "offset"); err != nil {
		return nil, err
	}
	s, err := refReqStr(obj, "sha256")
	if err != nil {
		return nil, err
	}
	if r.SHA256, err = hex.DecodeString(s); err != nil || len(r.SHA256) != 32 || s != hex.EncodeToString(r.SHA256) {
		return nil, fmt.Errorf("sha256 is not 64 lowercase hex digits: %.80q: %w", s, ErrMalformed)
	}
	r.HasOffset = true
	return r, nil
}

// refParseAck decodes the final record. sha256, when present, must be 64 hex
// digits.
func refParseAck(b []byte) (*Ack, error) {
	if len(b) > MaxAckSize {
		return nil, fmt.Errorf("transfer: ack of %d bytes exceeds %d: %w", len(b), MaxAckSize, ErrMalformed)
	}
	obj, err := refDecodeObject(b)
	if err != nil {
		return nil, fmt.Errorf("transfer: ack: %w", err)
	}
	a := &Ack{}
	if a.Ack, err = refReqStr(obj, "ack"); err != nil {
		return nil, fmt.Errorf("transfer: ack: %w", err)
	}
	if raw, ok := obj["sha256"]; ok {
		if a.SHA256, err = refStr(raw, "sha256"); err != nil {
			return nil, fmt.Errorf("transfer: ack: %w", err)
		}
		if d, err := hex.DecodeString(a.SHA256); err != nil || len(d) != 32 {
			return nil, fmt.Errorf("transfer: ack: sha256 %.80q is not 64 hex digits: %w", a.SHA256, ErrMalformed)
		}
	}
	return a, nil
}
