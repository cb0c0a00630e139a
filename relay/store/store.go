// Package store persists the state of the wasmhole mailbox server.
//
// The mailbox server (relay/mailbox) keeps its whole state in memory and
// describes every change as an [Op]. A driver (relay/mailboxws) collects the
// ops of many events and hands them to [Store.Apply] in one batch, and only
// after Apply returns does it send the acks, echoes and replies those events
// produced. A client that saw the reply to a command can therefore rely on
// the server remembering it across a restart, which is what makes the
// reconnect-and-resume rules of the protocol (docs/protocol.md §1.7) work when the
// server itself restarts: on start the driver calls [Store.Load] and feeds
// the [Snapshot] to the machine, clients re-bind with the same side, re-claim
// their nameplate and re-open their mailbox, and get the stored messages
// replayed.
//
// What is stored mirrors the reference server's channel database
// (docs/protocol.md §1.8), folded into three tables:
//
//   - nameplates: (app, name) → mailbox id, with at most two sides, each
//     claimed or released;
//   - mailboxes: (app, id) with created/updated times and at most two sides,
//     each opened or closed with the mood given at close;
//   - messages: (app, mailbox, seq) with side, phase, body, server_rx and the
//     client's message id (raw JSON).
//
// A third side never reaches the store (the machine answers it "crowded"
// without recording it), so "at most two sides" is an invariant, not a limit.
//
// Two implementations exist: [NewMemory] (maps; also what a Cloudflare
// Durable Object build uses, so this file and memory.go build with
// GOOS=js GOARCH=wasm) and, on everything but js, [OpenSQLite]
// (modernc.org/sqlite, pure Go, WAL mode, one transaction per Apply). The
// SQLite store is also [Pipelined].
//
// Times are Unix microseconds (int64), so they round-trip exactly.
package store

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("store: closed")

// Store is the persistence used by the mailbox server.
//
// Apply is called from one goroutine at a time (the driver's writer); Load
// is called once before any Apply. Implementations need not be safe for
// concurrent Apply calls, but Memory and SQLite are.
type Store interface {
	// Load returns the stored state. Messages are ordered by
	// (AppID, MailboxID, Seq).
	Load() (*Snapshot, error)
	// Apply performs ops in order as one atomic, durable change.
	Apply(ops []Op) error
	// Close releases the store. It does not need to be called for a
	// Memory store.
	Close() error
}

// Pipelined is implemented by stores that can split Apply into its two
// halves, so that a driver can schedule them: flush on another goroutine
// while it collects the next batch, and cover every batch committed before
// a flush with that one flush (relay/mailboxws commits what arrived during
// a flush as one batch once the flush is done; relay/README.md has the
// numbers).
type Pipelined interface {
	Store
	// Commit performs ops in order as one atomic change. It is visible to
	// later Commits at once, but only durable after a Sync that started
	// after Commit returned. A crash before that Sync loses the batch as a
	// whole, never part of it.
	Commit(ops []Op) error
	// Sync makes every Commit that returned before Sync was called
	// durable. It may run concurrently with Commit and with other Syncs.
	Sync() error
}

// NameplateSide is one side's claim on a nameplate.
type NameplateSide struct {
	Side    string `json:"side"`
	Claimed bool   `json:"claimed"`
	Added   int64  `json:"added"`
}

// Nameplate maps a short numeric name to a mailbox within one app id.
type Nameplate struct {
	AppID     string
	Name      string
	MailboxID string
	Created   int64
	Sides     []NameplateSide
}

// MailboxSide is one side's membership in a mailbox.
type MailboxSide struct {
	Side   string `json:"side"`
	Opened bool   `json:"opened"`
	Mood   string `json:"mood,omitempty"`
	Added  int64  `json:"added"`
}

// Mailbox is a two-sided store-and-forward queue.
type Mailbox struct {
	AppID        string
	ID           string
	ForNameplate bool
	Created      int64
	Updated      int64
	Sides        []MailboxSide
}

// Message is one "add" stored in a mailbox.
type Message struct {
	AppID     string
	MailboxID string
	// Seq orders messages within a mailbox (0, 1, 2, ...).
	Seq      int64
	Side     string
	Phase    string
	Body     string
	ServerRX int64
	// MsgID is the raw JSON of the add's "id" ("" when it had none).
	MsgID string
}

// Snapshot is the whole stored state.
type Snapshot struct {
	Nameplates []Nameplate
	Mailboxes  []Mailbox
	Messages   []Message
}

// Op is one change to the stored state: one of [PutNameplate],
// [DeleteNameplate], [PutMailbox], [TouchMailbox], [AddMessage],
// [DeleteMailbox].
type Op interface {
	isOp()
	fmt.Stringer
}

// PutNameplate creates or replaces a nameplate (with its sides).
type PutNameplate struct{ Nameplate Nameplate }

// DeleteNameplate removes a nameplate.
type DeleteNameplate struct{ AppID, Name string }

// PutMailbox creates or replaces a mailbox row (with its sides); its
// messages are untouched.
type PutMailbox struct{ Mailbox Mailbox }

// TouchMailbox sets a mailbox's updated time.
type TouchMailbox struct {
	AppID, ID string
	Updated   int64
}

// AddMessage appends a message.
type AddMessage struct{ Message Message }

// DeleteMailbox removes a mailbox and all its messages.
type DeleteMailbox struct{ AppID, ID string }

func (PutNameplate) isOp()    {}
func (DeleteNameplate) isOp() {}
func (PutMailbox) isOp()      {}
func (TouchMailbox) isOp()    {}
func (AddMessage) isOp()      {}
func (DeleteMailbox) isOp()   {}

func (o PutNameplate) String() string {
	return fmt.Sprintf("put nameplate %q/%s -> %s sides=%d", o.Nameplate.AppID, o.Nameplate.Name, o.Nameplate.MailboxID, len(o.Nameplate.Sides))
}
func (o DeleteNameplate) String() string {
	return fmt.Sprintf("delete nameplate %q/%s", o.AppID, o.Name)
}
func (o PutMailbox) String() string {
	return fmt.Sprintf("put mailbox %q/%s sides=%d", o.Mailbox.AppID, o.Mailbox.ID, len(o.Mailbox.Sides))
}
func (o TouchMailbox) String() string {
	return fmt.Sprintf("touch mailbox %q/%s at %d", o.AppID, o.ID, o.Updated)
}
func (o AddMessage) String() string {
	return fmt.Sprintf("add message %q/%s #%d phase %q", o.Message.AppID, o.Message.MailboxID, o.Message.Seq, o.Message.Phase)
}
func (o DeleteMailbox) String() string { return fmt.Sprintf("delete mailbox %q/%s", o.AppID, o.ID) }
