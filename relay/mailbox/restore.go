package mailbox

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wasmhole/wasmhole/relay/store"
)

func (np *nameplate) record(a *app) store.Nameplate {
	return store.Nameplate{AppID: a.id, Name: np.name, MailboxID: np.mb.id,
		Created: np.created, Sides: slices.Clone(np.sides)}
}

func (mb *mailbox) record() store.Mailbox {
	return store.Mailbox{AppID: mb.app.id, ID: mb.id, ForNameplate: mb.forNameplate,
		Created: mb.created, Updated: mb.updated, Sides: slices.Clone(mb.sides)}
}

// Restore loads a stored state into a fresh Machine (before Start and any
// connection). Inconsistent rows are repaired rather than refused: a
// nameplate or message whose mailbox row is missing gets a mailbox, which
// the pruner will expire if nobody comes back for it.
func (m *Machine) Restore(s *store.Snapshot) error {
	if len(m.conns) > 0 || len(m.apps) > 0 {
		return fmt.Errorf("mailbox: restore into a machine that is in use")
	}
	getApp := func(id string) *app {
		a := m.apps[id]
		if a == nil {
			a = &app{id: id, nameplates: make(map[string]*nameplate), mailboxes: make(map[string]*mailbox)}
			m.apps[id] = a
		}
		return a
	}
	for _, r := range s.Mailboxes {
		a := getApp(r.AppID)
		mb := m.addMailbox(a, r.ID, r.ForNameplate, r.Created)
		mb.updated = r.Updated
		mb.sides = slices.Clone(r.Sides)
	}
	for _, r := range s.Nameplates {
		a := getApp(r.AppID)
		mb := a.mailboxes[r.MailboxID]
		if mb == nil {
			mb = m.addMailbox(a, r.MailboxID, true, r.Created)
		}
		a.nameplates[r.Name] = &nameplate{name: r.Name, mb: mb, created: r.Created, sides: slices.Clone(r.Sides)}
		mb.nameplates = append(mb.nameplates, r.Name)
		m.stats.nameplates++
	}
	msgs := slices.Clone(s.Messages)
	slices.SortStableFunc(msgs, func(a, b store.Message) int {
		if a.AppID != b.AppID {
			return strings.Compare(a.AppID, b.AppID)
		}
		if a.MailboxID != b.MailboxID {
			return strings.Compare(a.MailboxID, b.MailboxID)
		}
		return int(a.Seq - b.Seq)
	})
	for _, r := range msgs {
		a := getApp(r.AppID)
		mb := a.mailboxes[r.MailboxID]
		if mb == nil {
			mb = m.addMailbox(a, r.MailboxID, false, r.ServerRX)
		}
		mb.msgs = append(mb.msgs, r)
		m.charge(mb, "", MessageCost(&r))
		mb.lastRX = max(mb.lastRX, r.ServerRX)
		mb.updated = max(mb.updated, r.ServerRX)
		mb.nextSeq = max(mb.nextSeq, r.Seq+1)
		m.stats.messages++
	}
	return nil
}
