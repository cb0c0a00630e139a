package mailbox

import (
	"slices"
	"strings"
	"time"
)

// Stats is a snapshot of the machine's counters.
type Stats struct {
	Connections   int               // live connections
	Nameplates    int               // allocated/claimed nameplates
	Mailboxes     int               // open mailboxes
	Messages      int               // messages stored now
	Bytes         int64             // their MessageCost, summed
	MessagesTotal uint64            // messages added since start
	Sessions      map[string]uint64 // finished mailboxes by result (happy, lonely, errory, scary, pruney, quiet, closed)
	Errors        map[string]uint64 // error messages sent, by kind
}

// Stats returns the current counters (maps are copies).
func (m *Machine) Stats() Stats {
	s := Stats{
		Connections: len(m.conns), Nameplates: m.stats.nameplates, Mailboxes: m.stats.mailboxes,
		Messages: m.stats.messages, Bytes: m.stats.bytes, MessagesTotal: m.stats.messagesTotal,
		Sessions: make(map[string]uint64, len(m.stats.sessions)),
		Errors:   make(map[string]uint64, len(m.stats.errors)),
	}
	for k, v := range m.stats.sessions {
		s.Sessions[k] = v
	}
	for k, v := range m.stats.errors {
		s.Errors[k] = v
	}
	return s
}

// MailboxInfo describes one mailbox for the admin API.
type MailboxInfo struct {
	AppID     string    `json:"appid"`
	ID        string    `json:"id"`
	Nameplate string    `json:"nameplate,omitempty"`
	Sides     []string  `json:"sides"`
	Messages  int       `json:"messages"`
	Listeners int       `json:"listeners"`
	Updated   time.Time `json:"updated"`
}

// ListMailboxes lists every mailbox, sorted by app id and mailbox id.
func (m *Machine) ListMailboxes() []MailboxInfo {
	var out []MailboxInfo
	for _, a := range m.apps {
		for _, mb := range a.mailboxes {
			info := MailboxInfo{AppID: a.id, ID: mb.id, Messages: len(mb.msgs),
				Listeners: len(mb.listeners), Updated: time.UnixMicro(mb.updated).UTC(),
				Sides: make([]string, 0, len(mb.sides))}
			if len(mb.nameplates) > 0 {
				info.Nameplate = mb.nameplates[0]
			}
			for _, s := range mb.sides {
				info.Sides = append(info.Sides, s.Side)
			}
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(x, y MailboxInfo) int {
		if x.AppID != y.AppID {
			return strings.Compare(x.AppID, y.AppID)
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// HasMailbox reports whether a mailbox with this id exists in any app.
func (m *Machine) HasMailbox(id string) bool {
	for _, a := range m.apps {
		if a.mailboxes[id] != nil {
			return true
		}
	}
	return false
}
