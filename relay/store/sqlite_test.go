//go:build !js

package store

import (
	"errors"
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
			s2, err := OpenSQLite(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			got, err := s2.Load()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(wantSnap)) {
				t.Fatalf("after reopen:\n got %+v\nwant %+v", got, wantSnap)
			}
			var jm string
			s2.db.QueryRow("PRAGMA journal_mode").Scan(&jm)
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
	s.db.Exec("PRAGMA user_version=99")
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
	s.db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.phase = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END`)
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
