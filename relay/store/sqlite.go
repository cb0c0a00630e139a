//go:build !js

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
)

// SQLiteOptions tunes OpenSQLiteWith.
type SQLiteOptions struct {
	// Synchronous is how durable a commit is: "FULL" (default: every
	// Apply is on disk before it returns, and so is every Commit after the
	// next Sync), "NORMAL" (in WAL mode a process crash loses nothing, a
	// power cut may lose the last batches; Sync does nothing), "EXTRA" or
	// "OFF" (SQLite's pragma of that name).
	Synchronous string
}

// SQLite is a Store in an SQLite database (modernc.org/sqlite, no cgo).
// It uses one connection in WAL mode; each Apply is one transaction, so
// the driver's batching turns many protocol events into one commit.
//
// In FULL mode SQLite itself runs with synchronous=NORMAL, which writes
// each commit to the WAL without flushing it, and Sync flushes the WAL
// file (fsync) from our side. That is as durable as SQLite's FULL, which
// flushes the same file at the end of each commit: a commit is acknowledged
// only after a flush that started after its frames were written, and
// everything a checkpoint moves into the database file is flushed there
// by SQLite before the WAL is reused. What it buys is that the flush no
// longer holds the database, and one flush covers all the batches
// committed before it.
type SQLite struct {
	mu sync.Mutex // guards everything up to syncMu
	db *sql.DB
	// conn is db's one connection, held for the store's life: Commit
	// runs its prepared statements on the driver connection directly
	// (see commitRaw), and Load queries through it.
	conn   *sql.Conn
	closed bool
	stmts  [numStmts]driver.StmtExecContext
	args   []driver.NamedValue // reused by run

	// walPath is the WAL file Sync flushes; "" when Sync has nothing to
	// do (":memory:", or a mode other than FULL).
	walPath string
	syncMu  sync.Mutex // guards wal, walClosed
	wal     *os.File
	// walClosed is set by Close, so a late Sync cannot reopen the file.
	walClosed bool
	// syncAvg is a moving average of flush times (ns) and syncing the
	// number of flushes running: they choose how syncWAL flushes.
	syncAvg atomic.Int64
	syncing atomic.Int32
}

const sqliteSchemaVersion = 1

var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS nameplates (
		app_id TEXT NOT NULL, name TEXT NOT NULL, mailbox_id TEXT NOT NULL,
		created INTEGER NOT NULL, sides TEXT NOT NULL,
		PRIMARY KEY (app_id, name)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS mailboxes (
		app_id TEXT NOT NULL, id TEXT NOT NULL, for_nameplate INTEGER NOT NULL,
		created INTEGER NOT NULL, updated INTEGER NOT NULL, sides TEXT NOT NULL,
		PRIMARY KEY (app_id, id)) WITHOUT ROWID`,
	// messages keep a rowid: bodies can be large, which WITHOUT ROWID
	// tables handle badly.
	`CREATE TABLE IF NOT EXISTS messages (
		app_id TEXT NOT NULL, mailbox_id TEXT NOT NULL, seq INTEGER NOT NULL,
		side TEXT NOT NULL, phase TEXT NOT NULL, body TEXT NOT NULL,
		server_rx INTEGER NOT NULL, msg_id TEXT NOT NULL)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS messages_by_mailbox ON messages (app_id, mailbox_id, seq)`,
}

// The statements Commit runs, prepared once on the connection.
const (
	stBegin = iota
	stCommit
	stRollback
	stPutNameplate
	stDelNameplate
	stPutMailbox
	stTouchMailbox
	stAddMessage
	stDelMessages
	stDelMailbox
	numStmts
)

var sqliteStmts = [numStmts]string{
	stBegin:        `BEGIN`,
	stCommit:       `COMMIT`,
	stRollback:     `ROLLBACK`,
	stPutNameplate: `INSERT OR REPLACE INTO nameplates (app_id, name, mailbox_id, created, sides) VALUES (?, ?, ?, ?, ?)`,
	stDelNameplate: `DELETE FROM nameplates WHERE app_id = ? AND name = ?`,
	stPutMailbox:   `INSERT OR REPLACE INTO mailboxes (app_id, id, for_nameplate, created, updated, sides) VALUES (?, ?, ?, ?, ?, ?)`,
	stTouchMailbox: `UPDATE mailboxes SET updated = ? WHERE app_id = ? AND id = ?`,
	stAddMessage:   `INSERT OR REPLACE INTO messages (app_id, mailbox_id, seq, side, phase, body, server_rx, msg_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	stDelMessages:  `DELETE FROM messages WHERE app_id = ? AND mailbox_id = ?`,
	stDelMailbox:   `DELETE FROM mailboxes WHERE app_id = ? AND id = ?`,
}

// OpenSQLite opens (creating if needed) the database at path with
// synchronous=FULL. path ":memory:" gives a private in-memory database.
func OpenSQLite(path string) (*SQLite, error) {
	return OpenSQLiteWith(path, SQLiteOptions{})
}

// OpenSQLiteWith is OpenSQLite with options.
func OpenSQLiteWith(path string, opts SQLiteOptions) (*SQLite, error) {
	syncMode := strings.ToUpper(opts.Synchronous)
	switch syncMode {
	case "":
		syncMode = "FULL"
	case "FULL", "NORMAL", "OFF", "EXTRA":
	default:
		return nil, fmt.Errorf("store: open sqlite %s: bad synchronous mode %q", path, opts.Synchronous)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// One connection: the writer is single anyway, and ":memory:" is
	// per connection.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &SQLite{db: db}
	pragmaMode := syncMode
	// A "file:" URI is left to SQLite's own FULL: its WAL path is
	// not simply path+"-wal".
	if syncMode == "FULL" && path != ":memory:" && path != "" && !strings.HasPrefix(path, "file:") {
		pragmaMode = "NORMAL"
		s.walPath = path + "-wal"
	}
	if err := s.init(pragmaMode); err != nil {
		s.closeConn()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	return s, nil
}

func (s *SQLite) init(syncMode string) error {
	for _, p := range []string{
		// One process owns the database: exclusive locking saves the
		// file-lock syscalls of every transaction (and the WAL index
		// lives in heap memory instead of a shared-memory file).
		"PRAGMA locking_mode=EXCLUSIVE",
		"PRAGMA journal_mode=WAL",
		"PRAGMA synchronous=" + syncMode,
		"PRAGMA busy_timeout=5000",
		"PRAGMA foreign_keys=OFF",
	} {
		if _, err := s.db.Exec(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read user_version: %w", err)
	}
	if version > sqliteSchemaVersion {
		return fmt.Errorf("database schema version %d is newer than this program's %d", version, sqliteSchemaVersion)
	}
	for _, q := range sqliteSchema {
		if _, err := s.db.Exec(q); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := s.db.Exec(fmt.Sprintf("PRAGMA user_version=%d", sqliteSchemaVersion)); err != nil {
		return fmt.Errorf("set user_version: %w", err)
	}
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		return err
	}
	s.conn = conn
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare statements", dc)
		}
		for i, q := range sqliteStmts {
			st, err := pc.PrepareContext(context.Background(), q)
			if err != nil {
				return fmt.Errorf("prepare %q: %w", q, err)
			}
			ex, ok := st.(driver.StmtExecContext)
			if !ok {
				st.Close()
				return fmt.Errorf("driver statement %T cannot execute with a context", st)
			}
			s.stmts[i] = ex
		}
		return nil
	})
}

// Load implements Store.
func (s *SQLite) Load() (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	snap := &Snapshot{}
	ctx := context.Background()
	rows, err := s.conn.QueryContext(ctx, `SELECT app_id, name, mailbox_id, created, sides FROM nameplates ORDER BY app_id, name`)
	if err != nil {
		return nil, fmt.Errorf("store: load nameplates: %w", err)
	}
	for rows.Next() {
		var n Nameplate
		var sides string
		if err := rows.Scan(&n.AppID, &n.Name, &n.MailboxID, &n.Created, &sides); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: load nameplates: %w", err)
		}
		if err := json.Unmarshal([]byte(sides), &n.Sides); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: load nameplate %q/%s sides: %w", n.AppID, n.Name, err)
		}
		snap.Nameplates = append(snap.Nameplates, n)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store: load nameplates: %w", err)
	}

	rows, err = s.conn.QueryContext(ctx, `SELECT app_id, id, for_nameplate, created, updated, sides FROM mailboxes ORDER BY app_id, id`)
	if err != nil {
		return nil, fmt.Errorf("store: load mailboxes: %w", err)
	}
	for rows.Next() {
		var m Mailbox
		var sides string
		if err := rows.Scan(&m.AppID, &m.ID, &m.ForNameplate, &m.Created, &m.Updated, &sides); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: load mailboxes: %w", err)
		}
		if err := json.Unmarshal([]byte(sides), &m.Sides); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: load mailbox %q/%s sides: %w", m.AppID, m.ID, err)
		}
		snap.Mailboxes = append(snap.Mailboxes, m)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store: load mailboxes: %w", err)
	}

	rows, err = s.conn.QueryContext(ctx, `SELECT app_id, mailbox_id, seq, side, phase, body, server_rx, msg_id FROM messages ORDER BY app_id, mailbox_id, seq`)
	if err != nil {
		return nil, fmt.Errorf("store: load messages: %w", err)
	}
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.AppID, &m.MailboxID, &m.Seq, &m.Side, &m.Phase, &m.Body, &m.ServerRX, &m.MsgID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: load messages: %w", err)
		}
		snap.Messages = append(snap.Messages, m)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store: load messages: %w", err)
	}
	return snap, nil
}

func closeRows(rows *sql.Rows) error {
	return errors.Join(rows.Err(), rows.Close())
}

// Apply implements Store: all ops in one transaction, on disk when Apply
// returns (in FULL mode).
func (s *SQLite) Apply(ops []Op) error {
	if err := s.Commit(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	return s.Sync()
}

// Sync implements Pipelined: it flushes the WAL file, which holds every
// commit not yet checkpointed (and a checkpoint flushes the database file
// itself). It does not take the database lock, so it runs alongside the
// next Commit, and several Syncs may run at once (a disk serves parallel
// flushes about as fast as one).
func (s *SQLite) Sync() error {
	if s.walPath == "" {
		return nil
	}
	f, err := s.walFile()
	if err != nil {
		return err
	}
	if err := s.syncWAL(f); err != nil {
		return fmt.Errorf("store: sync %s: %w", s.walPath, err)
	}
	return nil
}

// walFile returns the open WAL file, (re)opening it if needed. A Close
// of the file while a flush uses it waits for the flush (os.File counts
// its users).
func (s *SQLite) walFile() (*os.File, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.walClosed {
		return nil, ErrClosed
	}
	if s.wal != nil && unlinked(s.wal) {
		// SQLite keeps the WAL file for as long as it holds the
		// database in exclusive mode, but should it ever unlink and
		// recreate it, flushing the old inode would prove nothing.
		s.wal.Close()
		s.wal = nil
	}
	if s.wal == nil {
		f, err := os.Open(s.walPath)
		if err != nil {
			return nil, fmt.Errorf("store: sync: %w", err)
		}
		s.wal = f
	}
	return s.wal, nil
}

// sameFile reports whether fi (of an open file) is still the file at path.
func sameFile(fi os.FileInfo, path string) bool {
	cur, err := os.Stat(path)
	return err == nil && os.SameFile(fi, cur)
}

// Commit implements Pipelined: all ops in one transaction, durable after
// the next Sync.
func (s *SQLite) Commit(ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.conn.Raw(func(any) error { return s.commitRaw(ops) })
}

// commitRaw runs the transaction with the statements prepared on the
// driver connection, which database/sql holds for us during Conn.Raw.
// Going around database/sql's Tx and Stmt saves their bookkeeping and
// argument conversion on every op, and re-parsing BEGIN and COMMIT on every
// batch: about a third of the CPU of a session's ops in
// BenchmarkSQLiteSessionOps (NORMAL: 83–126 → 70–80 µs on a shared 2-core VM).
func (s *SQLite) commitRaw(ops []Op) error {
	if err := s.run(stBegin); err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	for _, op := range ops {
		if err := s.apply(op); err != nil {
			s.run(stRollback)
			return fmt.Errorf("store: %s: %w", op, err)
		}
	}
	if err := s.run(stCommit); err != nil {
		// A failed COMMIT may leave the transaction open (SQLITE_BUSY)
		// or have rolled it back already (I/O error, disk full): end it
		// either way, so the next batch starts clean.
		s.run(stRollback)
		return fmt.Errorf("store: commit %d ops: %w", len(ops), err)
	}
	return nil
}

// run executes statement st with args. Only under Conn.Raw, s.mu held.
func (s *SQLite) run(st int, args ...any) error {
	nv := s.args[:0]
	for i, a := range args {
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	s.args = nv
	_, err := s.stmts[st].ExecContext(context.Background(), nv)
	clear(nv) // drop the references to this op's strings
	return err
}

func (s *SQLite) apply(op Op) error {
	switch o := op.(type) {
	case PutNameplate:
		n := o.Nameplate
		sides, err := json.Marshal(nonNil(n.Sides))
		if err != nil {
			return err
		}
		return s.run(stPutNameplate, n.AppID, n.Name, n.MailboxID, n.Created, string(sides))
	case DeleteNameplate:
		return s.run(stDelNameplate, o.AppID, o.Name)
	case PutMailbox:
		m := o.Mailbox
		sides, err := json.Marshal(nonNil(m.Sides))
		if err != nil {
			return err
		}
		return s.run(stPutMailbox, m.AppID, m.ID, m.ForNameplate, m.Created, m.Updated, string(sides))
	case TouchMailbox:
		return s.run(stTouchMailbox, o.Updated, o.AppID, o.ID)
	case AddMessage:
		m := o.Message
		return s.run(stAddMessage, m.AppID, m.MailboxID, m.Seq, m.Side, m.Phase, m.Body, m.ServerRX, m.MsgID)
	case DeleteMailbox:
		if err := s.run(stDelMessages, o.AppID, o.ID); err != nil {
			return err
		}
		return s.run(stDelMailbox, o.AppID, o.ID)
	default:
		return fmt.Errorf("unknown op %T", op)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Close implements Store.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.syncMu.Lock()
	s.walClosed = true
	if s.wal != nil {
		s.wal.Close()
		s.wal = nil
	}
	s.syncMu.Unlock()
	if err := s.closeConn(); err != nil {
		return fmt.Errorf("store: close sqlite: %w", err)
	}
	return nil
}

// closeConn closes the statements, the held connection and the database.
func (s *SQLite) closeConn() error {
	var errs []error
	if s.conn != nil {
		errs = append(errs, s.conn.Raw(func(any) error {
			for i, st := range s.stmts {
				if st != nil {
					st.(driver.Stmt).Close()
					s.stmts[i] = nil
				}
			}
			return nil
		}), s.conn.Close())
	}
	return errors.Join(append(errs, s.db.Close())...)
}
