package transfer

import (
	"errors"
	"strconv"
	"strings"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsonx"
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
// The json tags name the wire keys; Encode and ParseMessage read and write
// them without reflection.
type Message struct {
	Offer   *Offer  `json:"offer,omitempty"`
	Answer  *Answer `json:"answer,omitempty"`
	Transit []byte  `json:"transit,omitempty"` // a JSON object, parsed by core/transit
	Error   string  `json:"error,omitempty"`
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

// Encode checks that exactly one field is set and returns the JSON, with
// the bytes encoding/json's Marshal wrote for these types: keys in field
// order, empty optional fields left out, Transit compacted.
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
			return nil, errs.Wrap("transfer: encode: offer has "+strconv.Itoa(k)+" kinds, want 1", ErrMalformed)
		}
	}
	if m.Answer != nil {
		n++
	}
	if m.Transit != nil {
		n++
		if !isObject(m.Transit) {
			return nil, errs.Wrap("transfer: encode: transit is not a JSON object", ErrMalformed)
		}
	}
	if m.Error != "" {
		n++
	}
	var resume []byte
	if m.Resume != nil {
		n++
		var err error
		if resume, err = m.Resume.MarshalJSON(); err != nil {
			return nil, err
		}
	}
	if n != 1 {
		return nil, errs.Wrap("transfer: encode: message has "+strconv.Itoa(n)+" fields, want 1", ErrMalformed)
	}
	return jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		switch {
		case m.Offer != nil:
			o.Object("offer", m.Offer.appendTo)
		case m.Answer != nil:
			o.Object("answer", m.Answer.appendTo)
		case m.Transit != nil:
			o.Raw("transit", jsonx.Compact(m.Transit))
		case m.Error != "":
			o.String("error", m.Error)
		default:
			o.Raw("wasmhole-resume", resume)
		}
	}), nil
}

// MarshalJSON is Encode, so that encoding/json writes a Message as it
// always has.
func (m *Message) MarshalJSON() ([]byte, error) { return m.Encode() }

func (f *Offer) appendTo(o *jsonx.Obj) {
	switch {
	case f.Message != nil:
		o.String("message", *f.Message)
	case f.File != nil:
		o.Object("file", func(o *jsonx.Obj) {
			o.String("filename", f.File.Filename)
			o.Int("filesize", f.File.Filesize)
		})
	case f.Directory != nil:
		d := f.Directory
		o.Object("directory", func(o *jsonx.Obj) {
			o.String("mode", d.Mode)
			o.String("dirname", d.Dirname)
			o.Int("zipsize", d.Zipsize)
			o.Int("numbytes", d.Numbytes)
			o.Int("numfiles", d.Numfiles)
		})
	}
}

func (a *Answer) appendTo(o *jsonx.Obj) {
	o.StringOmitEmpty("message_ack", a.MessageAck)
	o.StringOmitEmpty("file_ack", a.FileAck)
}

// ParseMessage decodes one app message. Unknown keys are ignored; a
// message with none of the known keys returns ErrUnknownMessage, an offer
// of no known kind ErrUnknownOffer, a directory mode other than zipfile/*
// ErrUnknownMode, anything else invalid ErrMalformed (all wrapped).
func ParseMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, errs.Wrap("transfer: message of "+strconv.Itoa(len(b))+" bytes exceeds "+strconv.Itoa(MaxMessageSize), ErrMalformed)
	}
	obj, err := decodeObject(b)
	if err != nil {
		return nil, errs.Wrap("transfer: message", err)
	}
	var known []string
	for _, k := range []string{"offer", "answer", "transit", "error", "wasmhole-resume"} {
		if obj.Has(k) {
			known = append(known, k)
		}
	}
	switch len(known) {
	case 0:
		return nil, errs.Wrap("transfer: message has none of offer, answer, transit, error", ErrUnknownMessage)
	case 1:
	default:
		return nil, errs.Wrap("transfer: message has several of "+strings.Join(known, ", "), ErrMalformed)
	}
	v := obj.Get(known[0])
	m := &Message{}
	switch known[0] {
	case "offer":
		m.Offer, err = parseOffer(v)
	case "answer":
		m.Answer, err = parseAnswer(v)
	case "transit":
		if v.Kind() != jsonx.Object {
			err = errs.Wrap("transit is not an object", ErrMalformed)
		} else {
			m.Transit = append([]byte(nil), v.Raw()...)
		}
	case "wasmhole-resume":
		m.Resume, err = parseResume(v)
	case "error":
		m.Error, err = str(v, "error")
		if err == nil && m.Error == "" {
			err = errs.Wrap("empty error text", ErrMalformed)
		}
	}
	if err != nil {
		return nil, errs.Wrap("transfer: "+known[0], err)
	}
	return m, nil
}

func parseOffer(v jsonx.Value) (*Offer, error) {
	if err := isObjectValue(v); err != nil {
		return nil, err
	}
	var kinds []string
	for _, k := range []string{"message", "file", "directory"} {
		if v.Has(k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, ErrUnknownOffer
	}
	if len(kinds) > 1 {
		return nil, errs.Wrap("offer has several of "+strings.Join(kinds, ", "), ErrMalformed)
	}
	o := &Offer{}
	switch kinds[0] {
	case "message":
		s, err := str(v.Get("message"), "message")
		if err != nil {
			return nil, err
		}
		o.Message = &s
	case "file":
		f, err := parseFileOffer(v.Get("file"))
		if err != nil {
			return nil, errs.Wrap("file", err)
		}
		o.File = f
	case "directory":
		d, err := parseDirOffer(v.Get("directory"))
		if err != nil {
			return nil, err
		}
		o.Directory = d
	}
	return o, nil
}

func parseFileOffer(v jsonx.Value) (*FileOffer, error) {
	if err := isObjectValue(v); err != nil {
		return nil, err
	}
	fo := &FileOffer{}
	var err error
	if fo.Filename, err = reqStr(v, "filename"); err != nil {
		return nil, err
	}
	if fo.Filesize, err = reqSize(v, "filesize"); err != nil {
		return nil, err
	}
	return fo, nil
}

// parseDirOffer reads a directory offer; its errors say "directory: ",
// except the one for an unknown mode, which stands alone.
func parseDirOffer(v jsonx.Value) (*DirOffer, error) {
	if err := isObjectValue(v); err != nil {
		return nil, errs.Wrap("directory", err)
	}
	do := &DirOffer{}
	var err error
	if do.Mode, err = reqStr(v, "mode"); err != nil {
		return nil, errs.Wrap("directory", err)
	}
	if do.Dirname, err = reqStr(v, "dirname"); err != nil {
		return nil, errs.Wrap("directory", err)
	}
	if do.Zipsize, err = reqSize(v, "zipsize"); err != nil {
		return nil, errs.Wrap("directory", err)
	}
	// numbytes and numfiles are informational; tolerate their absence.
	if v.Has("numbytes") {
		if do.Numbytes, err = reqSize(v, "numbytes"); err != nil {
			return nil, errs.Wrap("directory", err)
		}
	}
	if v.Has("numfiles") {
		if do.Numfiles, err = reqSize(v, "numfiles"); err != nil {
			return nil, errs.Wrap("directory", err)
		}
	}
	if !strings.HasPrefix(do.Mode, "zipfile") {
		return nil, errs.Wrap("directory mode "+strconv.Quote(do.Mode), ErrUnknownMode)
	}
	return do, nil
}

func parseAnswer(v jsonx.Value) (*Answer, error) {
	if err := isObjectValue(v); err != nil {
		return nil, err
	}
	a := &Answer{}
	var err error
	if v.Has("message_ack") {
		if a.MessageAck, err = str(v.Get("message_ack"), "message_ack"); err != nil {
			return nil, err
		}
	}
	if v.Has("file_ack") {
		if a.FileAck, err = str(v.Get("file_ack"), "file_ack"); err != nil {
			return nil, err
		}
	}
	if a.MessageAck == "" && a.FileAck == "" {
		return nil, errs.Wrap("answer has no message_ack or file_ack", ErrMalformed)
	}
	return a, nil
}
