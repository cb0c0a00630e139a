package transfer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Wire strings of the file-transfer protocol (docs/protocol.md §3).
const (
	// AppID is the application id of the file-transfer protocol.
	AppID = "lothar.com/wormhole/text-or-file-xfer"
	// AckOK is the value of message_ack, file_ack and the transit ack.
	AckOK = "ok"
	// ModeZip is the mode of directory offers. It says "deflated" even for
	// stored entries; receivers only check the "zipfile" prefix.
	ModeZip = "zipfile/deflated"

	TextRejected             = "transfer rejected"
	TextUnknownOffer         = "unknown offer type"
	TextUnknownMode          = "unknown mode"
	TextVerificationRejected = "sender rejected verification check, abandoned transfer"
)

// MaxMessageSize bounds one app message. Offers and hint lists are far
// smaller; the cap keeps a hostile peer from making us parse megabytes.
const MaxMessageSize = 256 << 10

var (
	// ErrRejected matches a PeerError whose text is "transfer rejected":
	// the receiving user declined.
	ErrRejected = errors.New("transfer rejected")
	// ErrUnknownOffer means an offer had none of message, file, directory.
	// Reply with ErrorMessage(ReplyText(err)).
	ErrUnknownOffer = errors.New("unknown offer type")
	// ErrUnknownMode means a directory offer's mode does not start with
	// "zipfile".
	ErrUnknownMode = errors.New("unknown directory mode")
	// ErrUnknownMessage means a message had none of offer, answer,
	// transit, error: a newer peer's message that may be ignored.
	ErrUnknownMessage = errors.New("unknown app message")
	// ErrMalformed means a message is not valid for the protocol.
	ErrMalformed = errors.New("malformed app message")
)

// Message is one file-transfer app message; exactly one field is set.
type Message struct {
	Offer   *Offer          `json:"offer,omitempty"`
	Answer  *Answer         `json:"answer,omitempty"`
	Transit json.RawMessage `json:"transit,omitempty"` // parsed by core/transit
	Error   string          `json:"error,omitempty"`
	// Resume is the wasmhole resume extension (resume.go); only sent to
	// a peer that advertised it.
	Resume *Resume `json:"wasmhole-resume,omitempty"`
}

// Offer is what the sender proposes; exactly one field is set.
type Offer struct {
	Message   *string    `json:"message,omitempty"`
	File      *FileOffer `json:"file,omitempty"`
	Directory *DirOffer  `json:"directory,omitempty"`
}

// FileOffer announces a single file of Filesize bytes.
type FileOffer struct {
	Filename string `json:"filename"` // untrusted: pass through SafeFilename
	Filesize int64  `json:"filesize"`
}

// DirOffer announces a directory sent as a zip of Zipsize bytes.
type DirOffer struct {
	Mode     string `json:"mode"`
	Dirname  string `json:"dirname"` // untrusted: pass through SafeFilename
	Zipsize  int64  `json:"zipsize"`
	Numbytes int64  `json:"numbytes"`
	Numfiles int64  `json:"numfiles"`
}

// Answer is the receiver's reply to an offer.
type Answer struct {
	MessageAck string `json:"message_ack,omitempty"`
	FileAck    string `json:"file_ack,omitempty"`
}

// PeerError is an {"error": text} message from the peer.
type PeerError struct{ Text string }

func (e *PeerError) Error() string { return "transfer: peer error: " + e.Text }

// Is makes errors.Is(err, ErrRejected) true for the peer's "transfer
// rejected".
func (e *PeerError) Is(target error) bool {
	return target == ErrRejected && e.Text == TextRejected
}

// Err returns the peer's error as a *PeerError, or nil if m is not an
// error message.
func (m *Message) Err() error {
	if m.Error == "" {
		return nil
	}
	return &PeerError{Text: m.Error}
}

// TextOffer returns {"offer": {"message": text}}.
func TextOffer(text string) *Message { return &Message{Offer: &Offer{Message: &text}} }

// FileOfferMessage returns {"offer": {"file": {...}}}.
func FileOfferMessage(filename string, size int64) *Message {
	return &Message{Offer: &Offer{File: &FileOffer{Filename: filename, Filesize: size}}}
}

// DirOfferMessage returns the directory offer for sending plan under
// dirname.
func DirOfferMessage(dirname string, plan *ZipPlan) *Message {
	return &Message{Offer: &Offer{Directory: &DirOffer{
		Mode: ModeZip, Dirname: dirname, Zipsize: plan.Size(),
		Numbytes: plan.NumBytes(), Numfiles: int64(plan.NumFiles()),
	}}}
}

// MessageAck returns {"answer": {"message_ack": "ok"}}.
func MessageAck() *Message { return &Message{Answer: &Answer{MessageAck: AckOK}} }

// FileAck returns {"answer": {"file_ack": "ok"}}.
func FileAck() *Message { return &Message{Answer: &Answer{FileAck: AckOK}} }

// ErrorMessage returns {"error": text}.
func ErrorMessage(text string) *Message { return &Message{Error: text} }

// ReplyText is the error text to send to the peer for err: the exact
// protocol strings for ErrRejected, ErrUnknownOffer and ErrUnknownMode,
// otherwise err.Error().
func ReplyText(err error) string {
	switch {
	case errors.Is(err, ErrRejected):
		return TextRejected
	case errors.Is(err, ErrUnknownOffer):
		return TextUnknownOffer
	case errors.Is(err, ErrUnknownMode):
		return TextUnknownMode
	}
	return err.Error()
}

// Encode checks that exactly one field is set and returns the JSON.
func (m *Message) Encode() ([]byte, error) {
	n := 0
	if m.Offer != nil {
		n++
		k := 0
		if m.Offer.Message != nil {
			k++
		}
		if m.Offer.File != nil {
			k++
		}
		if m.Offer.Directory != nil {
			k++
		}
		if k != 1 {
			return nil, fmt.Errorf("transfer: encode: offer has %d kinds, want 1: %w", k, ErrMalformed)
		}
	}
	if m.Answer != nil {
		n++
	}
	if m.Transit != nil {
		n++
		if !isObject(m.Transit) {
			return nil, fmt.Errorf("transfer: encode: transit is not a JSON object: %w", ErrMalformed)
		}
	}
	if m.Error != "" {
		n++
	}
	if m.Resume != nil {
		n++
	}
	if n != 1 {
		return nil, fmt.Errorf("transfer: encode: message has %d fields, want 1: %w", n, ErrMalformed)
	}
	return json.Marshal(m)
}

// ParseMessage decodes one app message. Unknown keys are ignored; a
// message with none of the known keys returns ErrUnknownMessage, an offer
// of no known kind ErrUnknownOffer, a directory mode other than zipfile/*
// ErrUnknownMode, anything else invalid ErrMalformed (all wrapped).
func ParseMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("transfer: message of %d bytes exceeds %d: %w", len(b), MaxMessageSize, ErrMalformed)
	}
	obj, err := decodeObject(b)
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
		m.Offer, err = parseOffer(raw)
	case "answer":
		m.Answer, err = parseAnswer(raw)
	case "transit":
		if !isObject(raw) {
			err = fmt.Errorf("transit is not an object: %w", ErrMalformed)
		} else {
			m.Transit = append(json.RawMessage(nil), raw...)
		}
	case "wasmhole-resume":
		m.Resume, err = parseResume(raw)
	case "error":
		m.Error, err = str(raw, "error")
		if err == nil && m.Error == "" {
			err = fmt.Errorf("empty error text: %w", ErrMalformed)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: %s: %w", known[0], err)
	}
	return m, nil
}

func parseOffer(raw json.RawMessage) (*Offer, error) {
	obj, err := decodeObject(raw)
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
		s, err := str(obj["message"], "message")
		if err != nil {
			return nil, err
		}
		o.Message = &s
	case "file":
		f, err := decodeObject(obj["file"])
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		fo := &FileOffer{}
		if fo.Filename, err = reqStr(f, "filename"); err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if fo.Filesize, err = reqSize(f, "filesize"); err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		o.File = fo
	case "directory":
		d, err := decodeObject(obj["directory"])
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		do := &DirOffer{}
		if do.Mode, err = reqStr(d, "mode"); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		if do.Dirname, err = reqStr(d, "dirname"); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		if do.Zipsize, err = reqSize(d, "zipsize"); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		// numbytes and numfiles are informational; tolerate their absence.
		for key, dst := range map[string]*int64{"numbytes": &do.Numbytes, "numfiles": &do.Numfiles} {
			if _, ok := d[key]; ok {
				if *dst, err = reqSize(d, key); err != nil {
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

func parseAnswer(raw json.RawMessage) (*Answer, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	a := &Answer{}
	if v, ok := obj["message_ack"]; ok {
		if a.MessageAck, err = str(v, "message_ack"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["file_ack"]; ok {
		if a.FileAck, err = str(v, "file_ack"); err != nil {
			return nil, err
		}
	}
	if a.MessageAck == "" && a.FileAck == "" {
		return nil, fmt.Errorf("answer has no message_ack or file_ack: %w", ErrMalformed)
	}
	return a, nil
}

// decodeObject decodes a JSON object into its raw members. json.Unmarshal
// already rejects trailing data and invalid JSON.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	if !isObject(b) {
		return nil, fmt.Errorf("not a JSON object: %w", ErrMalformed)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	return obj, nil
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// str decodes a JSON string; null and other types are errors (Unmarshal
// would silently accept null).
func str(raw json.RawMessage, key string) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string: %w", key, ErrMalformed)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %v: %w", key, err, ErrMalformed)
	}
	return s, nil
}

func reqStr(obj map[string]json.RawMessage, key string) (string, error) {
	raw, ok := obj[key]
	if !ok {
		return "", fmt.Errorf("missing %s: %w", key, ErrMalformed)
	}
	return str(raw, key)
}

// reqSize decodes a required non-negative JSON integer that fits int64.
func reqSize(obj map[string]json.RawMessage, key string) (int64, error) {
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
