// Package dostore keeps the mailbox server's state in a Cloudflare Durable
// Object's SQLite storage, so a relay running in a Durable Object survives
// eviction, restarts and redeploys the way the native relay survives a
// process restart with its SQLite file.
//
// # How it fits the mailbox server
//
// relay/mailbox keeps everything in memory and describes each change as a
// relay/store Op; the driver applies the ops of an event with
// [store.Store.Apply] before it lets any reply of that event reach the
// network. On start the driver loads a [store.Snapshot] and restores the
// machine from it. [Store] implements that interface on top of [SQL], the
// part of a Durable Object's storage it needs:
//
//   - Query is ctx.storage.sql.exec(query, ...bindings) for reads;
//   - Batch runs a list of statements inside ctx.storage.transactionSync, so
//     the statements of one Apply commit together or not at all.
//
// Both are synchronous, so Apply needs no Promise and the Go side never
// waits on the JavaScript event loop. Apply crosses from Go to JavaScript
// once, with every statement of the batch: calls across that boundary, and
// above all JavaScript calling back into Go, are what cost time in a Go
// wasm program.
//
// Durability before replies is the runtime's job: a Durable Object holds
// every outgoing message (WebSocket frames included) behind its "output
// gate" until the writes made before it are confirmed, and if a write fails
// it discards those messages and restarts the object. So a client that saw
// "allocated", "claimed" or the echo of its "add" can rely on the state
// being on disk, exactly the guarantee docs/protocol.md §1.7's reconnect rules
// need.
//
// # Tables
//
// The layout matches the native relay/store SQLite schema (nameplates,
// mailboxes, messages; sides as JSON; times in Unix microseconds), plus a
// wasmhole_meta table holding the schema version. A row never exceeds the
// Durable Object's 2 MB row limit as long as the driver refuses frames
// larger than that (relay/worker/host caps them at 1 MiB).
//
// The package has no build constraints: natively its tests run the same
// statements against modernc.org/sqlite, and the GOOS=js build passes the
// real Durable Object storage.
package dostore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/wasmhole/wasmhole/relay/store"
)

// SchemaVersion is the layout this package writes.
const SchemaVersion = 1

// ErrNewerSchema means the storage was written by a newer version.
var ErrNewerSchema = errors.New("dostore: storage schema is newer than this program")

// SQL is the part of a Durable Object's storage the store uses. Arguments
// bound to a statement's ? placeholders are string or int64.
type SQL interface {
	// Query runs one statement and returns the result rows, each a slice
	// of column values: string, int64 or float64 (JavaScript numbers), or
	// nil for NULL.
	Query(query string, args ...any) ([][]any, error)
	// Batch runs the statements in order as one transaction: when one
	// fails, none of them is kept.
	Batch(stmts []Stmt) error
}

// Stmt is one statement of a Batch.
type Stmt struct {
	Query string
	Args  []any
}

// Store is a store.Store in Durable Object SQLite storage. Like the
// machine it serves it is used from one goroutine: a Durable Object is
// single-threaded.
type Store struct {
	sql    SQL
	closed bool
}

var _ store.Store = (*Store)(nil)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS wasmhole_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS nameplates (
		app_id TEXT NOT NULL, name TEXT NOT NULL, mailbox_id TEXT NOT NULL,
		created INTEGER NOT NULL, sides TEXT NOT NULL,
		PRIMARY KEY (app_id, name))`,
	`CREATE TABLE IF NOT EXISTS mailboxes (
		app_id TEXT NOT NULL, id TEXT NOT NULL, for_nameplate INTEGER NOT NULL,
		created INTEGER NOT NULL, updated INTEGER NOT NULL, sides TEXT NOT NULL,
		PRIMARY KEY (app_id, id))`,
	`CREATE TABLE IF NOT EXISTS messages (
		app_id TEXT NOT NULL, mailbox_id TEXT NOT NULL, seq INTEGER NOT NULL,
		side TEXT NOT NULL, phase TEXT NOT NULL, body TEXT NOT NULL,
		server_rx INTEGER NOT NULL, msg_id TEXT NOT NULL,
		PRIMARY KEY (app_id, mailbox_id, seq))`,
}

const (
	qVersion      = `SELECT value FROM wasmhole_meta WHERE key = 'schema'`
	qSetVersion   = `INSERT OR REPLACE INTO wasmhole_meta (key, value) VALUES ('schema', ?)`
	qNameplates   = `SELECT app_id, name, mailbox_id, created, sides FROM nameplates ORDER BY app_id, name`
	qMailboxes    = `SELECT app_id, id, for_nameplate, created, updated, sides FROM mailboxes ORDER BY app_id, id`
	qMessages     = `SELECT app_id, mailbox_id, seq, side, phase, body, server_rx, msg_id FROM messages ORDER BY app_id, mailbox_id, seq`
	qPutNameplate = `INSERT OR REPLACE INTO nameplates (app_id, name, mailbox_id, created, sides) VALUES (?, ?, ?, ?, ?)`
	qDelNameplate = `DELETE FROM nameplates WHERE app_id = ? AND name = ?`
	qPutMailbox   = `INSERT OR REPLACE INTO mailboxes (app_id, id, for_nameplate, created, updated, sides) VALUES (?, ?, ?, ?, ?, ?)`
	qTouchMailbox = `UPDATE mailboxes SET updated = ? WHERE app_id = ? AND id = ?`
	qAddMessage   = `INSERT OR REPLACE INTO messages (app_id, mailbox_id, seq, side, phase, body, server_rx, msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qDelMessages  = `DELETE FROM messages WHERE app_id = ? AND mailbox_id = ?`
	qDelMailbox   = `DELETE FROM mailboxes WHERE app_id = ? AND id = ?`
)

// Open creates the tables if needed and checks the schema version. (A
// Durable Object runs one event at a time, so nothing can write between
// the version check and the version write.)
func Open(db SQL) (*Store, error) {
	stmts := make([]Stmt, len(schema))
	for i, q := range schema {
		stmts[i] = Stmt{Query: q}
	}
	if err := db.Batch(stmts); err != nil {
		return nil, fmt.Errorf("dostore: open: create schema: %w", err)
	}
	rows, err := db.Query(qVersion)
	if err != nil {
		return nil, fmt.Errorf("dostore: open: read schema version: %w", err)
	}
	if len(rows) == 1 && len(rows[0]) == 1 {
		v, err := toInt(rows[0][0])
		if err != nil {
			return nil, fmt.Errorf("dostore: open: read schema version: %w", err)
		}
		if v > SchemaVersion {
			return nil, fmt.Errorf("dostore: open: %w (%d > %d)", ErrNewerSchema, v, SchemaVersion)
		}
	}
	if err := db.Batch([]Stmt{{Query: qSetVersion, Args: []any{int64(SchemaVersion)}}}); err != nil {
		return nil, fmt.Errorf("dostore: open: write schema version: %w", err)
	}
	return &Store{sql: db}, nil
}

// Load implements store.Store.
func (s *Store) Load() (*store.Snapshot, error) {
	if s.closed {
		return nil, store.ErrClosed
	}
	snap := &store.Snapshot{}
	rows, err := s.sql.Query(qNameplates)
	if err != nil {
		return nil, fmt.Errorf("dostore: load nameplates: %w", err)
	}
	for _, r := range rows {
		var n store.Nameplate
		var sides string
		if err := scan(r, &n.AppID, &n.Name, &n.MailboxID, &n.Created, &sides); err != nil {
			return nil, fmt.Errorf("dostore: load nameplates: %w", err)
		}
		if err := json.Unmarshal([]byte(sides), &n.Sides); err != nil {
			return nil, fmt.Errorf("dostore: load nameplate %q/%s sides: %w", n.AppID, n.Name, err)
		}
		snap.Nameplates = append(snap.Nameplates, n)
	}
	rows, err = s.sql.Query(qMailboxes)
	if err != nil {
		return nil, fmt.Errorf("dostore: load mailboxes: %w", err)
	}
	for _, r := range rows {
		var m store.Mailbox
		var forNP int64
		var sides string
		if err := scan(r, &m.AppID, &m.ID, &forNP, &m.Created, &m.Updated, &sides); err != nil {
			return nil, fmt.Errorf("dostore: load mailboxes: %w", err)
		}
		m.ForNameplate = forNP != 0
		if err := json.Unmarshal([]byte(sides), &m.Sides); err != nil {
			return nil, fmt.Errorf("dostore: load mailbox %q/%s sides: %w", m.AppID, m.ID, err)
		}
		snap.Mailboxes = append(snap.Mailboxes, m)
	}
	rows, err = s.sql.Query(qMessages)
	if err != nil {
		return nil, fmt.Errorf("dostore: load messages: %w", err)
	}
	for _, r := range rows {
		var m store.Message
		if err := scan(r, &m.AppID, &m.MailboxID, &m.Seq, &m.Side, &m.Phase, &m.Body, &m.ServerRX, &m.MsgID); err != nil {
			return nil, fmt.Errorf("dostore: load messages: %w", err)
		}
		snap.Messages = append(snap.Messages, m)
	}
	return snap, nil
}

// Apply implements store.Store: the ops commit in one transaction.
func (s *Store) Apply(ops []store.Op) error {
	if s.closed {
		return store.ErrClosed
	}
	if len(ops) == 0 {
		return nil
	}
	stmts := make([]Stmt, 0, len(ops)+1)
	for _, op := range ops {
		var err error
		if stmts, err = appendStmts(stmts, op); err != nil {
			return fmt.Errorf("dostore: %s: %w", op, err)
		}
	}
	if err := s.sql.Batch(stmts); err != nil {
		return fmt.Errorf("dostore: apply %d ops: %w", len(ops), err)
	}
	return nil
}

func stmt(q string, args ...any) Stmt { return Stmt{Query: q, Args: args} }

// appendStmts appends the statements that perform op.
func appendStmts(stmts []Stmt, op store.Op) ([]Stmt, error) {
	switch o := op.(type) {
	case store.PutNameplate:
		n := o.Nameplate
		sides, err := json.Marshal(nonNil(n.Sides))
		if err != nil {
			return nil, err
		}
		return append(stmts, stmt(qPutNameplate, n.AppID, n.Name, n.MailboxID, n.Created, string(sides))), nil
	case store.DeleteNameplate:
		return append(stmts, stmt(qDelNameplate, o.AppID, o.Name)), nil
	case store.PutMailbox:
		m := o.Mailbox
		sides, err := json.Marshal(nonNil(m.Sides))
		if err != nil {
			return nil, err
		}
		forNP := int64(0)
		if m.ForNameplate {
			forNP = 1
		}
		return append(stmts, stmt(qPutMailbox, m.AppID, m.ID, forNP, m.Created, m.Updated, string(sides))), nil
	case store.TouchMailbox:
		return append(stmts, stmt(qTouchMailbox, o.Updated, o.AppID, o.ID)), nil
	case store.AddMessage:
		m := o.Message
		return append(stmts, stmt(qAddMessage, m.AppID, m.MailboxID, m.Seq, m.Side, m.Phase, m.Body, m.ServerRX, m.MsgID)), nil
	case store.DeleteMailbox:
		return append(stmts, stmt(qDelMessages, o.AppID, o.ID), stmt(qDelMailbox, o.AppID, o.ID)), nil
	default:
		return nil, fmt.Errorf("unknown op %T", op)
	}
}

// Close implements store.Store; the storage itself belongs to the Durable
// Object and stays open.
func (s *Store) Close() error {
	s.closed = true
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errColumn reports a row whose shape does not match the schema.
var errColumn = errors.New("unexpected column value")

// scan copies one row into string and int64 destinations.
func scan(row []any, dst ...any) error {
	if len(row) != len(dst) {
		return fmt.Errorf("%w: %d columns, want %d", errColumn, len(row), len(dst))
	}
	for i, d := range dst {
		switch p := d.(type) {
		case *string:
			v, ok := row[i].(string)
			if !ok {
				return fmt.Errorf("%w: column %d is %T, want string", errColumn, i, row[i])
			}
			*p = v
		case *int64:
			v, err := toInt(row[i])
			if err != nil {
				return fmt.Errorf("column %d: %w", i, err)
			}
			*p = v
		default:
			panic(fmt.Sprintf("dostore: scan into %T", d))
		}
	}
	return nil
}

// toInt accepts the integer forms a row may carry: int64 from database/sql,
// float64 from JavaScript (exact below 2^53, which Unix microseconds are
// until the year 2255).
func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%w: %v is not an exact integer", errColumn, x)
		}
		return int64(x), nil
	default:
		return 0, fmt.Errorf("%w: %T, want a number", errColumn, v)
	}
}
