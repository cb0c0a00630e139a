package store

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// Memory is a Store that keeps everything in maps. Its state outlives a
// mailbox server that used it, so a test (or a Durable Object that keeps the
// Go instance alive) can "restart" a server on the same Memory.
type Memory struct {
	mu         sync.Mutex
	closed     bool
	nameplates map[key]Nameplate
	mailboxes  map[key]Mailbox
	messages   map[key][]Message
	applies    int
}

type key struct{ app, id string }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		nameplates: make(map[key]Nameplate),
		mailboxes:  make(map[key]Mailbox),
		messages:   make(map[key][]Message),
	}
}

// Load implements Store.
func (s *Memory) Load() (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	snap := &Snapshot{}
	for _, n := range s.nameplates {
		n.Sides = slices.Clone(n.Sides)
		snap.Nameplates = append(snap.Nameplates, n)
	}
	for _, m := range s.mailboxes {
		m.Sides = slices.Clone(m.Sides)
		snap.Mailboxes = append(snap.Mailboxes, m)
	}
	for _, ms := range s.messages {
		snap.Messages = append(snap.Messages, ms...)
	}
	slices.SortFunc(snap.Nameplates, func(a, b Nameplate) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(snap.Mailboxes, func(a, b Mailbox) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(snap.Messages, func(a, b Message) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.MailboxID, b.MailboxID), cmp.Compare(a.Seq, b.Seq))
	})
	return snap, nil
}

// Apply implements Store.
func (s *Memory) Apply(ops []Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, op := range ops {
		switch o := op.(type) {
		case PutNameplate:
			n := o.Nameplate
			n.Sides = slices.Clone(n.Sides)
			s.nameplates[key{n.AppID, n.Name}] = n
		case DeleteNameplate:
			delete(s.nameplates, key{o.AppID, o.Name})
		case PutMailbox:
			m := o.Mailbox
			m.Sides = slices.Clone(m.Sides)
			s.mailboxes[key{m.AppID, m.ID}] = m
		case TouchMailbox:
			k := key{o.AppID, o.ID}
			if m, ok := s.mailboxes[k]; ok {
				m.Updated = o.Updated
				s.mailboxes[k] = m
			}
		case AddMessage:
			k := key{o.Message.AppID, o.Message.MailboxID}
			s.messages[k] = append(s.messages[k], o.Message)
		case DeleteMailbox:
			k := key{o.AppID, o.ID}
			delete(s.mailboxes, k)
			delete(s.messages, k)
		default:
			return fmt.Errorf("store: memory apply: unknown op %T", op)
		}
	}
	s.applies++
	return nil
}

// Applies reports how many Apply calls succeeded (for tests of batching).
func (s *Memory) Applies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applies
}

// Close implements Store. A closed Memory refuses Load and Apply.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Reopen makes a closed Memory usable again, keeping its contents; tests use
// it to model a process restart.
func (s *Memory) Reopen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = false
}
