package mailbox

import (
	"fmt"

	"github.com/wasmhole/wasmhole/relay/store"
)

// MessageOverhead is what a stored message costs beyond its strings: the
// machine's record of it, the store's row and index entries.
const MessageOverhead = 256

// MessageCost is what msg counts against the storage caps: everything a
// client chose (body, phase, id, side) plus MessageOverhead, so that
// neither a huge id nor a flood of empty messages is free.
func MessageCost(msg *store.Message) int64 {
	return int64(len(msg.Body)+len(msg.Phase)+len(msg.MsgID)+len(msg.Side)) + MessageOverhead
}

// orDefault applies the Config convention: 0 means def, negative means
// unlimited (returned as is).
func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// admitMessage checks the caps for a message of cost bytes added to mb by
// c, from the narrowest to the widest, so the error names the cap that
// the client itself can do something about.
func (m *Machine) admitMessage(c *conn, mb *mailbox, cost int64) error {
	cfg := &m.cfg
	if cfg.MaxMailboxMessages > 0 && len(mb.msgs) >= cfg.MaxMailboxMessages {
		return protoErr{"mailbox_full", fmt.Sprintf(
			"mailbox full: it may hold at most %d messages", cfg.MaxMailboxMessages)}
	}
	if cfg.MaxMailboxBytes > 0 && mb.bytes+cost > cfg.MaxMailboxBytes {
		return protoErr{"mailbox_full", fmt.Sprintf(
			"mailbox full: its messages may total at most %d bytes (body, phase, id and side, plus %d per message)",
			cfg.MaxMailboxBytes, MessageOverhead)}
	}
	if c.client != "" && cfg.MaxClientBytes > 0 && m.clientBytes[c.client]+cost > cfg.MaxClientBytes {
		return protoErr{"client_over_budget", fmt.Sprintf(
			"over budget: messages added from your address and still stored may total at most %d bytes; close finished mailboxes or retry later",
			cfg.MaxClientBytes)}
	}
	if cfg.MaxTotalBytes > 0 && m.stats.bytes+cost > cfg.MaxTotalBytes {
		return protoErr{"server_full", "server full: it stores as many messages as it may; retry later"}
	}
	return nil
}

// charge books a stored message of cost bytes added by client ("" for
// none: restored messages, exempt clients) to mb.
func (m *Machine) charge(mb *mailbox, client string, cost int64) {
	mb.bytes += cost
	m.stats.bytes += cost
	if client != "" {
		if mb.charges == nil {
			mb.charges = make(map[string]int64, 1)
		}
		mb.charges[client] += cost
		m.clientBytes[client] += cost
	}
}

// refund releases everything charged to mb, which is being deleted.
func (m *Machine) refund(mb *mailbox) {
	m.stats.bytes -= mb.bytes
	for client, b := range mb.charges {
		if left := m.clientBytes[client] - b; left > 0 {
			m.clientBytes[client] = left
		} else {
			delete(m.clientBytes, client)
		}
	}
	mb.bytes, mb.charges = 0, nil
}

// listenersOf counts the connections listening to mb as side.
func (mb *mailbox) listenersOf(side string) int {
	n := 0
	for _, l := range mb.listeners {
		if l.side == side {
			n++
		}
	}
	return n
}
