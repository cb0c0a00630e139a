package mailbox

import (
	"fmt"
	"slices"

	"github.com/wasmhole/wasmhole/relay/store"
)

// admits reports whether side may join mb: it is already a side, or there
// is room for a second one.
func (mb *mailbox) admits(side string) bool {
	return len(mb.sides) < 2 || mb.side(side) >= 0
}

func (mb *mailbox) side(side string) int {
	return slices.IndexFunc(mb.sides, func(s store.MailboxSide) bool { return s.Side == side })
}

// openSide records side as a member of mb (if new) and touches it. The
// caller has checked admits. Like the reference, a side that closed and
// re-opens stays closed: open is a subscription, not a state change.
//
// A touch alone is not persisted: "updated" only feeds the pruner, a
// restarted server gets it from the last stored change (PutMailbox,
// messages' server_rx, the pruner's own touches), and clients that come
// back after a restart touch their mailbox again by re-opening it. Not
// writing it keeps re-claims and opens off the disk.
func (m *Machine) openSide(o *out, mb *mailbox, side string) {
	mb.updated = max(mb.updated, o.now)
	if mb.side(side) < 0 {
		mb.sides = append(mb.sides, store.MailboxSide{Side: side, Opened: true, Added: o.now})
		mb.persisted = o.persist(store.PutMailbox{Mailbox: mb.record()})
	}
}

func (m *Machine) newMailbox(a *app, forNameplate bool, now int64) *mailbox {
	id := m.randomID()
	for a.mailboxes[id] != nil {
		id = m.randomID()
	}
	return m.addMailbox(a, id, forNameplate, now)
}

func (m *Machine) addMailbox(a *app, id string, forNameplate bool, now int64) *mailbox {
	mb := &mailbox{app: a, id: id, forNameplate: forNameplate, created: now, updated: now}
	a.mailboxes[id] = mb
	m.stats.mailboxes++
	return mb
}

func checkMailboxID(f Field) error {
	if !f.IsStr {
		return errNotString("mailbox")
	}
	if len(f.S) > maxMailboxLen {
		return errTooLong("mailbox", maxMailboxLen)
	}
	return nil
}

func (m *Machine) handleOpen(o *out, c *conn, cmd *Command) error {
	if c.mb != nil {
		return errOneOpen
	}
	if !cmd.Mailbox.Present {
		return errOpenMailbox
	}
	if err := checkMailboxID(cmd.Mailbox); err != nil {
		return err
	}
	id := cmd.Mailbox.S
	if mb := c.app.mailboxes[id]; mb != nil && m.cfg.MaxListenersPerSide > 0 &&
		mb.listenersOf(c.side) >= m.cfg.MaxListenersPerSide {
		// Refused before anything is recorded: the connection may retry.
		return protoErr{"too_many_listeners", fmt.Sprintf(
			"too many connections have this mailbox open as side %q (limit %d): close one and retry",
			c.side, m.cfg.MaxListenersPerSide)}
	}
	c.mailboxID, c.hasMB = id, true
	mb, err := m.openMailbox(o, c.app, id, c.side)
	if err != nil {
		return err
	}
	c.mb = mb
	c.listening = true
	mb.listeners = append(mb.listeners, c)
	// The mailbox row and every message are in mb.persisted.
	if m.cfg.StreamReplays {
		if len(mb.msgs) > 0 {
			// Capped: later adds to mb.msgs never write into it.
			msgs := mb.msgs[:len(mb.msgs):len(mb.msgs)]
			o.acts = append(o.acts, Replay{Conn: c.id, Msgs: msgs, After: mb.persisted, now: o.now})
		}
		return nil
	}
	for i := range mb.msgs {
		o.sendAfter(c.id, encodeMessage(&mb.msgs[i], o.now), mb.persisted)
	}
	return nil
}

// openMailbox finds or creates mailbox id and opens it for side.
func (m *Machine) openMailbox(o *out, a *app, id, side string) (*mailbox, error) {
	mb := a.mailboxes[id]
	if mb == nil {
		mb = m.addMailbox(a, id, false, o.now)
	} else if !mb.admits(side) {
		return nil, errCrowded
	}
	m.openSide(o, mb, side)
	return mb, nil
}

func encodeMessage(msg *store.Message, now int64) []byte {
	e := newEnc("message", len(msg.Body)+len(msg.Side)+len(msg.Phase)+len(msg.MsgID)+64)
	e.str("side", msg.Side)
	e.str("phase", msg.Phase)
	e.str("body", msg.Body)
	e.time("server_rx", msg.ServerRX)
	e.raw("id", []byte(msg.MsgID))
	return e.done(now)
}

func (m *Machine) handleAdd(o *out, c *conn, cmd *Command) error {
	mb := c.mb
	if mb == nil {
		return errMustOpen
	}
	if !cmd.Phase.Present {
		return errMissingPhase
	}
	if !cmd.Body.Present {
		return errMissingBody
	}
	if !cmd.Phase.IsStr {
		return errNotString("phase")
	}
	if !cmd.Body.IsStr {
		return errNotString("body")
	}
	if len(cmd.Phase.S) > maxPhaseLen {
		return errTooLong("phase", maxPhaseLen)
	}
	// server_rx orders replays; keep it strictly increasing within a
	// mailbox even if the wall clock steps back.
	rx := max(o.now, mb.lastRX+1)
	msg := store.Message{
		AppID: mb.app.id, MailboxID: mb.id, Seq: mb.nextSeq,
		Side: c.side, Phase: cmd.Phase.S, Body: cmd.Body.S,
		ServerRX: rx, MsgID: string(cmd.ID),
	}
	cost := MessageCost(&msg)
	if err := m.admitMessage(c, mb, cost); err != nil {
		return err
	}
	mb.nextSeq++
	mb.lastRX = rx
	m.charge(mb, c.client, cost)
	mb.updated = max(mb.updated, o.now)
	mb.msgs = append(mb.msgs, msg)
	m.stats.messages++
	m.stats.messagesTotal++
	// (Restore takes "updated" from the newest server_rx, so the message
	// row is the touch.)
	mb.persisted = o.persist(store.AddMessage{Message: msg})
	// One frame for every listener, the sender's own connection included.
	data := encodeMessage(&mb.msgs[len(mb.msgs)-1], o.now)
	for _, l := range mb.listeners {
		o.send(l.id, data)
	}
	return nil
}

func (m *Machine) handleClose(o *out, c *conn, cmd *Command) error {
	if c.didClose {
		return errOneClose
	}
	var id string
	if cmd.Mailbox.Present {
		if err := checkMailboxID(cmd.Mailbox); err != nil {
			return err
		}
		if c.hasMB && cmd.Mailbox.S != c.mailboxID {
			return errCloseSame
		}
		id = cmd.Mailbox.S
	} else {
		if !c.hasMB {
			return errCloseNoOpen
		}
		id = c.mailboxID
	}
	mood := ""
	if cmd.Mood.IsStr && len(cmd.Mood.S) <= maxMoodLen {
		mood = cmd.Mood.S
	}
	mb := c.mb
	if mb == nil {
		mb = c.app.mailboxes[id]
		if mb != nil && !mb.admits(c.side) {
			return errCrowded
		}
	}
	c.didClose = true
	if mb != nil {
		if c.listening {
			mb.removeListener(c)
			c.listening = false
		}
		m.closeSide(o, mb, c.side, mood)
	}
	// A close for a mailbox that does not exist (already deleted, or
	// never opened) is answered "closed" without creating anything.
	c.mb = nil
	o.send(c.id, newEnc("closed", 0).done(o.now))
	return nil
}

func (mb *mailbox) removeListener(c *conn) {
	mb.listeners = slices.DeleteFunc(mb.listeners, func(l *conn) bool { return l == c })
}

// closeSide marks side closed with mood; when no side is open the mailbox,
// its messages and any nameplate still pointing at it are deleted (so a
// close before release works, unlike the reference 0.4.1).
func (m *Machine) closeSide(o *out, mb *mailbox, side, mood string) {
	i := mb.side(side)
	if i < 0 {
		// The reference adds the side (open_mailbox) and closes it.
		mb.sides = append(mb.sides, store.MailboxSide{Side: side, Added: o.now})
		i = len(mb.sides) - 1
	}
	mb.sides[i].Opened = false
	mb.sides[i].Mood = mood
	for _, s := range mb.sides {
		if s.Opened {
			mb.persisted = o.persist(store.PutMailbox{Mailbox: mb.record()})
			return
		}
	}
	m.deleteMailbox(o, mb, summarize(mb.sides, false))
}

// summarize gives the usage result of a finished mailbox, like the
// reference's usage database (docs/protocol.md §1.8).
func summarize(sides []store.MailboxSide, pruned bool) string {
	result := "happy"
	switch len(sides) {
	case 0:
		result = "quiet"
	case 1:
		result = "lonely"
	}
	// precedence over the sides' moods: lonely < errory < scary
	best := 0
	for _, s := range sides {
		r := 0
		switch s.Mood {
		case "lonely":
			r = 1
		case "errory":
			r = 2
		case "scary":
			r = 3
		}
		if r > best {
			best, result = r, s.Mood
		}
	}
	if pruned {
		result = "pruney"
	}
	return result
}

func (m *Machine) deleteMailbox(o *out, mb *mailbox, result string) {
	a := mb.app
	for _, name := range slices.Clone(mb.nameplates) {
		if np := a.nameplates[name]; np != nil && np.mb == mb {
			m.deleteNameplate(o, a, np)
		}
	}
	delete(a.mailboxes, mb.id)
	m.stats.mailboxes--
	m.stats.messages -= len(mb.msgs)
	m.refund(mb)
	m.stats.sessions[result]++
	o.persist(store.DeleteMailbox{AppID: a.id, ID: mb.id})
	for _, l := range mb.listeners {
		l.mb = nil
		l.listening = false
	}
	mb.listeners = nil
	m.maybeDropApp(a)
}

func (m *Machine) maybeDropApp(a *app) {
	if a.bound == 0 && len(a.nameplates) == 0 && len(a.mailboxes) == 0 {
		delete(m.apps, a.id)
	}
}

// untouched for Expiry, with their nameplates and messages.
func (m *Machine) prune(o *out) {
	cutoff := o.now - m.cfg.Expiry.Microseconds()
	for _, a := range m.apps {
		for _, mb := range a.mailboxes {
			if len(mb.listeners) > 0 {
				mb.updated = max(mb.updated, o.now)
				mb.persisted = o.persist(store.TouchMailbox{AppID: a.id, ID: mb.id, Updated: mb.updated})
				continue
			}
			if mb.updated <= cutoff {
				m.deleteMailbox(o, mb, summarize(mb.sides, true))
			}
		}
	}
}

func (m *Machine) adminClose(o *out, id, reason string) {
	var found []*mailbox
	for _, a := range m.apps {
		if mb := a.mailboxes[id]; mb != nil {
			found = append(found, mb)
		}
	}
	for _, mb := range found {
		for _, l := range mb.listeners {
			m.sendError(o, l, protoErr{"closed_by_operator", reason}, nil)
		}
		m.deleteMailbox(o, mb, "closed")
	}
}
