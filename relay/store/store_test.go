package store

import (
	"errors"
	"reflect"
	"testing"
)

var testOps = []Op{
	PutMailbox{Mailbox{AppID: "app", ID: "mb1", ForNameplate: true, Created: 10, Updated: 10,
		Sides: []MailboxSide{{Side: "a", Opened: true, Added: 10}}}},
	PutNameplate{Nameplate{AppID: "app", Name: "7", MailboxID: "mb1", Created: 10,
		Sides: []NameplateSide{{Side: "a", Claimed: true, Added: 10}}}},
	AddMessage{Message{AppID: "app", MailboxID: "mb1", Seq: 0, Side: "a", Phase: "pake", Body: "00ff", ServerRX: 11, MsgID: `"3f5f"`}},
	AddMessage{Message{AppID: "app", MailboxID: "mb1", Seq: 1, Side: "a", Phase: "version", Body: "", ServerRX: 12}},
	TouchMailbox{AppID: "app", ID: "mb1", Updated: 12},
	PutNameplate{Nameplate{AppID: "app", Name: "7", MailboxID: "mb1", Created: 10,
		Sides: []NameplateSide{{Side: "a", Claimed: false, Added: 10}, {Side: "b", Claimed: true, Added: 13}}}},
	// a second app with the same mailbox id is a different mailbox
	PutMailbox{Mailbox{AppID: "other", ID: "mb1", Created: 14, Updated: 14}},
	AddMessage{Message{AppID: "other", MailboxID: "mb1", Seq: 0, Side: "x", Phase: "0", Body: "aa", ServerRX: 14}},
	PutMailbox{Mailbox{AppID: "app", ID: "gone", Created: 1, Updated: 1}},
	AddMessage{Message{AppID: "app", MailboxID: "gone", Seq: 0, Side: "x", Phase: "0", Body: "aa", ServerRX: 1}},
	PutNameplate{Nameplate{AppID: "app", Name: "8", MailboxID: "gone", Created: 1}},
	DeleteNameplate{AppID: "app", Name: "8"},
	DeleteMailbox{AppID: "app", ID: "gone"},
	TouchMailbox{AppID: "app", ID: "missing", Updated: 99}, // no-op
}

var wantSnap = &Snapshot{
	Nameplates: []Nameplate{{AppID: "app", Name: "7", MailboxID: "mb1", Created: 10,
		Sides: []NameplateSide{{Side: "a", Claimed: false, Added: 10}, {Side: "b", Claimed: true, Added: 13}}}},
	Mailboxes: []Mailbox{
		{AppID: "app", ID: "mb1", ForNameplate: true, Created: 10, Updated: 12,
			Sides: []MailboxSide{{Side: "a", Opened: true, Added: 10}}},
		{AppID: "other", ID: "mb1", Created: 14, Updated: 14, Sides: []MailboxSide{}},
	},
	Messages: []Message{
		{AppID: "app", MailboxID: "mb1", Seq: 0, Side: "a", Phase: "pake", Body: "00ff", ServerRX: 11, MsgID: `"3f5f"`},
		{AppID: "app", MailboxID: "mb1", Seq: 1, Side: "a", Phase: "version", Body: "", ServerRX: 12},
		{AppID: "other", MailboxID: "mb1", Seq: 0, Side: "x", Phase: "0", Body: "aa", ServerRX: 14},
	},
}

// normalize makes nil and empty side lists compare equal.
func normalize(s *Snapshot) *Snapshot {
	c := *s
	c.Mailboxes = append([]Mailbox(nil), s.Mailboxes...)
	for i := range c.Mailboxes {
		if len(c.Mailboxes[i].Sides) == 0 {
			c.Mailboxes[i].Sides = nil
		}
	}
	c.Nameplates = append([]Nameplate(nil), s.Nameplates...)
	for i := range c.Nameplates {
		if len(c.Nameplates[i].Sides) == 0 {
			c.Nameplates[i].Sides = nil
		}
	}
	return &c
}

func checkStore(t *testing.T, s Store) {
	t.Helper()
	// Applied in two batches to check they compose.
	if err := s.Apply(testOps[:5]); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(testOps[5:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(wantSnap)) {
		t.Fatalf("load:\n got %+v\nwant %+v", got, wantSnap)
	}
}

func TestMemory(t *testing.T) {
	s := NewMemory()
	checkStore(t, s)
	if s.Applies() != 3 {
		t.Fatalf("applies %d", s.Applies())
	}
	s.Close()
	if _, err := s.Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
	if err := s.Apply(testOps); !errors.Is(err, ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
	s.Reopen()
	got, _ := s.Load()
	if !reflect.DeepEqual(normalize(got), normalize(wantSnap)) {
		t.Fatal("reopen lost state")
	}
}

func TestMemoryCopiesSides(t *testing.T) {
	s := NewMemory()
	sides := []MailboxSide{{Side: "a"}}
	s.Apply([]Op{PutMailbox{Mailbox{AppID: "x", ID: "y", Sides: sides}}})
	sides[0].Side = "changed"
	got, _ := s.Load()
	got.Mailboxes[0].Sides[0].Opened = true
	again, _ := s.Load()
	if again.Mailboxes[0].Sides[0].Side != "a" || again.Mailboxes[0].Sides[0].Opened {
		t.Fatal("memory store aliases caller slices")
	}
}
