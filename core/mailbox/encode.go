package mailbox

import "github.com/wasmhole/wasmhole/internal/jsonx"

// clientMsg is every client→server message; empty keys are left out (see
// marshal).
type clientMsg struct {
	Type          string
	ID            string
	AppID         string
	Side          string
	ClientVersion []string
	Nameplate     string
	Mailbox       string
	Phase         *string // add only: "" is a phase too
	Body          *string
	Mood          string
}

// marshal writes msg in field order, compact, leaving out empty strings,
// an empty ClientVersion and nil pointers: the bytes encoding/json wrote
// for the struct with `json:"...,omitempty"` tags on all but type and id.
func (msg *clientMsg) marshal() []byte {
	return jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		o.String("type", msg.Type)
		o.String("id", msg.ID)
		o.StringOmitEmpty("appid", msg.AppID)
		o.StringOmitEmpty("side", msg.Side)
		if len(msg.ClientVersion) > 0 {
			o.Array("client_version", func(a *jsonx.Arr) {
				for _, v := range msg.ClientVersion {
					a.String(v)
				}
			})
		}
		o.StringOmitEmpty("nameplate", msg.Nameplate)
		o.StringOmitEmpty("mailbox", msg.Mailbox)
		if msg.Phase != nil {
			o.String("phase", *msg.Phase)
		}
		if msg.Body != nil {
			o.String("body", *msg.Body)
		}
		o.StringOmitEmpty("mood", msg.Mood)
	})
}
