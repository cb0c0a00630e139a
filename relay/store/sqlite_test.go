//go:build !js

package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSQLiteMemory(t *testing.T) {
	s, err := OpenSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkStore(t, s)
}

func TestSQLiteFileSurvivesReopen(t *testing.T) {
	for _, mode := range []string{"", "normal", "OFF"} {
		t.Run("sync="+mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mailbox.sqlite")
			s, err := OpenSQLiteWith(path, SQLiteOptions{Synchronous: mode})
			if err != nil {
				t.Fatal(err)
			}
			checkStore(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
			if err := s.Apply(testOps); !errors.Is(err, ErrClosed) {
				t.Fatalf("apply after close: %v", err)
			}
			s2 := reopenHasWant(t, path)
			defer s2.Close()
			var jm string
			s2.conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&jm)
			if jm != "wal" {
				t.Fatalf("journal_mode %q", jm)
			}
		})
	}
}

func TestSQLiteBadOptions(t *testing.T) {
	if _, err := OpenSQLiteWith(":memory:", SQLiteOptions{Synchronous: "sometimes"}); err == nil ||
		!strings.Contains(err.Error(), "synchronous") {
		t.Fatalf("err %v", err)
	}
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")); err == nil {
		t.Fatal("opened a database in a missing directory")
	}
}

func TestSQLiteNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sqlite")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	s.conn.ExecContext(context.Background(), "PRAGMA user_version=99")
	s.Close()
	if _, err := OpenSQLite(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err %v", err)
	}
}

// TestSQLiteApplyIsAtomic: a failing op rolls the whole batch back.
func TestSQLiteApplyIsAtomic(t *testing.T) {
	s, err := OpenSQLite(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.conn.ExecContext(context.Background(), `CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.phase = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	err = s.Apply([]Op{
		PutMailbox{Mailbox{AppID: "a", ID: "m"}},
		AddMessage{Message{AppID: "a", MailboxID: "m", Phase: "boom"}},
	})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err %v", err)
	}
	got, _ := s.Load()
	if len(got.Mailboxes) != 0 {
		t.Fatalf("partial batch committed: %+v", got)
	}
	// The failed batch's transaction is over: the next one commits.
	if err := s.Apply([]Op{PutMailbox{Mailbox{AppID: "a", ID: "m"}}}); err != nil {
		t.Fatalf("apply after a failed batch: %v", err)
	}
	if got, _ := s.Load(); len(got.Mailboxes) != 1 {
		t.Fatalf("after the next batch: %+v", got)
	}
}

func BenchmarkSQLiteApply(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run(mode, func(b *testing.B) { benchApply(b, mode) })
	}
}

func benchApply(b *testing.B, mode string) {
	s, err := OpenSQLiteWith(filepath.Join(b.TempDir(), "bench.sqlite"), SQLiteOptions{Synchronous: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// one batch = what 16 sessions' worth of events typically produce
	var ops []Op
	for i := range 16 {
		id := string(rune('a' + i))
		ops = append(ops,
			PutMailbox{Mailbox{AppID: "app", ID: id, Sides: []MailboxSide{{Side: "s", Opened: true}}}},
			PutNameplate{Nameplate{AppID: "app", Name: id, MailboxID: id, Sides: []NameplateSide{{Side: "s", Claimed: true}}}},
			AddMessage{Message{AppID: "app", MailboxID: id, Side: "s", Phase: "pake", Body: strings.Repeat("ab", 40)}},
			TouchMailbox{AppID: "app", ID: id, Updated: 5},
			DeleteNameplate{AppID: "app", Name: id},
			DeleteMailbox{AppID: "app", ID: id})
	}
	b.ResetTimer()
	for range b.N {
		if err := s.Apply(ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// TestSQLitePipelined: in FULL mode SQLite commits without flushing and
// Sync flushes the WAL file; Commit+Sync is what Apply does, and a second
// process (the reopen) sees every synced commit.
func TestSQLitePipelined(t *testing.T) {
	for _, tc := range []struct {
		mode, pragma string
		syncs        bool
	}{
		{"", "1", true}, // FULL: SQLite runs NORMAL (1), we flush
		{"full", "1", true},
		{"normal", "1", false},
		{"extra", "3", false},
		{"off", "0", false},
	} {
		t.Run("sync="+tc.mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mailbox.sqlite")
			s, err := OpenSQLiteWith(path, SQLiteOptions{Synchronous: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			var pragma string
			if err := s.conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&pragma); err != nil || pragma != tc.pragma {
				t.Fatalf("PRAGMA synchronous = %q (%v), want %s", pragma, err, tc.pragma)
			}
			var p Pipelined = s
			for _, op := range testOps {
				if err := p.Commit([]Op{op}); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Sync(); err != nil {
				t.Fatal(err)
			}
			if tc.syncs {
				fi, err := s.wal.Stat()
				if err != nil || !sameFile(fi, path+"-wal") {
					t.Fatalf("Sync flushed %v (%v), not the WAL file", s.wal.Name(), err)
				}
			} else if s.wal != nil {
				t.Fatalf("Sync opened %s in mode %q", s.wal.Name(), tc.mode)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(); tc.syncs && !errors.Is(err, ErrClosed) {
				t.Fatalf("sync after close: %v", err)
			}
			reopenHasWant(t, path).Close()
		})
	}
}

// TestSQLiteSyncFollowsReplacedWAL: should the WAL file ever be replaced,
// Sync flushes the new one, not the unlinked inode it had open.
func TestSQLiteSyncFollowsReplacedWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbox.sqlite")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(testOps[:1]); err != nil {
		t.Fatal(err)
	}
	old := s.wal
	// Swap the WAL's directory entry for a copy (SQLite keeps writing
	// its own descriptor; this only checks which file Sync picks).
	data, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-wal", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if s.wal == old {
		t.Fatal("Sync kept flushing the unlinked WAL")
	}
	fi, _ := s.wal.Stat()
	if !sameFile(fi, path+"-wal") {
		t.Fatal("Sync did not open the current WAL")
	}
}

// reopenHasWant opens path again and checks it holds wantSnap.
func reopenHasWant(t *testing.T, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(wantSnap)) {
		s.Close()
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, wantSnap)
	}
	return s
}
