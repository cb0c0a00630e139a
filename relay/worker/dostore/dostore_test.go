//go:build !js

package dostore

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/wasmhole/wasmhole/relay/store"
)

// sqliteSQL implements SQL on modernc.org/sqlite, the way the shim
// implements it on the Durable Object's SQLite: statements run on one
// connection, Batch is BEGIN/COMMIT with ROLLBACK on error.
type sqliteSQL struct {
	db *sql.DB
	// failOn makes statements containing it fail (fault injection).
	failOn string
	execs  int
}

func openSQLite(t testing.TB) *sqliteSQL {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return &sqliteSQL{db: db}
}

func (s *sqliteSQL) Query(query string, args ...any) ([][]any, error) {
	s.execs++
	rows, err := s.db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func (s *sqliteSQL) Batch(stmts []Stmt) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	for _, st := range stmts {
		s.execs++
		if s.failOn != "" && strings.Contains(st.Query, s.failOn) {
			tx.Rollback()
			return errors.New("injected failure")
		}
		if _, err := tx.Exec(st.Query, st.Args...); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// jsNumbers wraps an SQL and turns every int64 column into float64, as the
// JavaScript runtime delivers them.
type jsNumbers struct{ SQL }

func (j jsNumbers) Query(q string, args ...any) ([][]any, error) {
	rows, err := j.SQL.Query(q, args...)
	for _, r := range rows {
		for i, v := range r {
			if n, ok := v.(int64); ok {
				r[i] = float64(n)
			}
		}
	}
	return rows, err
}

var ops = []store.Op{
	store.PutMailbox{Mailbox: store.Mailbox{AppID: "lothar.com/wormhole/text-or-file-xfer", ID: "og5rg7k5evsva", ForNameplate: true,
		Created: 1795322793839868, Updated: 1795322793839868,
		Sides: []store.MailboxSide{{Side: "fb4955f747", Opened: true, Added: 1795322793839868}}}},
	store.PutNameplate{Nameplate: store.Nameplate{AppID: "lothar.com/wormhole/text-or-file-xfer", Name: "7", MailboxID: "og5rg7k5evsva",
		Created: 1795322793839868, Sides: []store.NameplateSide{{Side: "fb4955f747", Claimed: true, Added: 1795322793839868}}}},
	store.AddMessage{Message: store.Message{AppID: "lothar.com/wormhole/text-or-file-xfer", MailboxID: "og5rg7k5evsva", Seq: 0,
		Side: "fb4955f747", Phase: "pake", Body: "7b2270616b655f7631223a20", ServerRX: 1795322793860000, MsgID: `"3f5f"`}},
	store.AddMessage{Message: store.Message{AppID: "lothar.com/wormhole/text-or-file-xfer", MailboxID: "og5rg7k5evsva", Seq: 1,
		Side: "6d700fdfdb", Phase: "pake", Body: "", ServerRX: 1795322793870000}},
	store.TouchMailbox{AppID: "lothar.com/wormhole/text-or-file-xfer", ID: "og5rg7k5evsva", Updated: 1795322793870000},
	store.PutMailbox{Mailbox: store.Mailbox{AppID: "other/app", ID: "og5rg7k5evsva", Created: 5, Updated: 5}},
	store.AddMessage{Message: store.Message{AppID: "other/app", MailboxID: "og5rg7k5evsva", Seq: 0, Side: "x", Phase: "0", Body: "ünïcödé", ServerRX: 5}},
	store.PutMailbox{Mailbox: store.Mailbox{AppID: "other/app", ID: "gone", Created: 1, Updated: 1}},
	store.AddMessage{Message: store.Message{AppID: "other/app", MailboxID: "gone", Seq: 0, Side: "x", Phase: "0", Body: "aa", ServerRX: 1}},
	store.PutNameplate{Nameplate: store.Nameplate{AppID: "other/app", Name: "12", MailboxID: "gone", Created: 1}},
	store.DeleteNameplate{AppID: "other/app", Name: "12"},
	store.DeleteMailbox{AppID: "other/app", ID: "gone"},
	store.TouchMailbox{AppID: "other/app", ID: "missing", Updated: 99},
}

// equalSnap compares snapshots, treating nil and empty side lists alike.
func equalSnap(a, b *store.Snapshot) bool {
	norm := func(s *store.Snapshot) store.Snapshot {
		c := store.Snapshot{Messages: s.Messages}
		for _, n := range s.Nameplates {
			if len(n.Sides) == 0 {
				n.Sides = nil
			}
			c.Nameplates = append(c.Nameplates, n)
		}
		for _, m := range s.Mailboxes {
			if len(m.Sides) == 0 {
				m.Sides = nil
			}
			c.Mailboxes = append(c.Mailboxes, m)
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestStoreMatchesMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(SQL) SQL
	}{
		{"int64 columns", func(s SQL) SQL { return s }},
		{"JavaScript numbers", func(s SQL) SQL { return jsNumbers{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openSQLite(t)
			s, err := Open(tc.wrap(db))
			if err != nil {
				t.Fatal(err)
			}
			mem := store.NewMemory()
			for _, batch := range [][]store.Op{ops[:3], ops[3:9], nil, ops[9:]} {
				if err := s.Apply(batch); err != nil {
					t.Fatal(err)
				}
				mem.Apply(batch)
			}
			got, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := mem.Load()
			if !equalSnap(got, want) {
				t.Fatalf("load:\n got %+v\nwant %+v", got, want)
			}
			// A second Open on the same storage (the Durable Object's next
			// life) sees the same state.
			again, err := Open(tc.wrap(db))
			if err != nil {
				t.Fatal(err)
			}
			got2, err := again.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !equalSnap(got2, want) {
				t.Fatalf("reopen:\n got %+v\nwant %+v", got2, want)
			}
		})
	}
}

// TestStoreRandomOps applies random op sequences to the store and to
// relay/store's Memory (the reference semantics) and compares the loads.
func TestStoreRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		db := openSQLite(t)
		s, err := Open(jsNumbers{db})
		if err != nil {
			t.Fatal(err)
		}
		mem := store.NewMemory()
		for range 30 {
			batch := make([]store.Op, r.IntN(5))
			for i := range batch {
				batch[i] = randomOp(r)
			}
			if err := s.Apply(batch); err != nil {
				t.Fatal(err)
			}
			mem.Apply(batch)
		}
		got, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mem.Load()
		if !equalSnap(got, want) {
			t.Fatalf("round %d:\n got %+v\nwant %+v", round, got, want)
		}
	}
}

func randomOp(r *rand.Rand) store.Op {
	app := []string{"a", "b/c"}[r.IntN(2)]
	id := fmt.Sprint("mb", r.IntN(3))
	now := int64(1_700_000_000_000_000 + r.IntN(1_000_000))
	switch r.IntN(6) {
	case 0:
		return store.PutNameplate{Nameplate: store.Nameplate{AppID: app, Name: fmt.Sprint(r.IntN(3) + 1), MailboxID: id, Created: now,
			Sides: []store.NameplateSide{{Side: "s1", Claimed: r.IntN(2) == 0, Added: now}}}}
	case 1:
		return store.DeleteNameplate{AppID: app, Name: fmt.Sprint(r.IntN(3) + 1)}
	case 2:
		return store.PutMailbox{Mailbox: store.Mailbox{AppID: app, ID: id, ForNameplate: r.IntN(2) == 0, Created: now, Updated: now,
			Sides: []store.MailboxSide{{Side: "s1", Opened: true, Mood: "happy", Added: now}, {Side: "s2", Added: now}}}}
	case 3:
		return store.TouchMailbox{AppID: app, ID: id, Updated: now}
	case 4:
		// Seq collisions replace, as in the native SQLite store; Memory
		// appends, so keep sequence numbers unique per test.
		seqCounter++
		return store.AddMessage{Message: store.Message{AppID: app, MailboxID: id, Seq: seqCounter, Side: "s1",
			Phase: fmt.Sprint(r.IntN(4)), Body: fmt.Sprintf("%x", r.Uint64()), ServerRX: now, MsgID: `"ab12"`}}
	default:
		return store.DeleteMailbox{AppID: app, ID: id}
	}
}

var seqCounter int64

func TestApplyIsAtomic(t *testing.T) {
	db := openSQLite(t)
	s, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ops[:2]); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Load()
	db.failOn = "INTO messages"
	err = s.Apply(ops[2:])
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("apply with a failing statement: %v", err)
	}
	db.failOn = ""
	after, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !equalSnap(before, after) {
		t.Fatalf("failed apply left changes:\n before %+v\n after %+v", before, after)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	db := openSQLite(t)
	if _, err := Open(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Batch([]Stmt{{Query: qSetVersion, Args: []any{int64(SchemaVersion + 1)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(db); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open newer schema: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(openSQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Load(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
	if err := s.Apply(ops); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
}

func TestEmptyApplyDoesNotTouchStorage(t *testing.T) {
	db := openSQLite(t)
	s, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	n := db.execs
	if err := s.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if db.execs != n {
		t.Fatalf("empty apply ran %d statements", db.execs-n)
	}
}

func TestBadRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  []any
	}{
		{"short row", []any{"a"}},
		{"number for string", []any{int64(1), "n", "m", int64(1), "[]"}},
		{"fraction for integer", []any{"a", "n", "m", 1.5, "[]"}},
		{"string for integer", []any{"a", "n", "m", "1", "[]"}},
		{"huge float", []any{"a", "n", "m", 1e300, "[]"}},
		{"bad sides JSON", []any{"a", "n", "m", int64(1), "{"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{sql: fixedRows{tc.row}}
			if _, err := s.Load(); err == nil {
				t.Fatal("load accepted a malformed row")
			}
		})
	}
}

// fixedRows answers every query with one row.
type fixedRows struct{ row []any }

func (f fixedRows) Query(string, ...any) ([][]any, error) { return [][]any{f.row}, nil }
func (f fixedRows) Batch([]Stmt) error                    { return nil }
