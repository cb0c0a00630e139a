package store

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSlowDiskFallsBack: a slow flush moves the average over rawSyncMax
// (so the next flushes use the scheduler-aware call), and quick ones
// bring it back.
func TestSlowDiskFallsBack(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "m.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(testOps); err != nil {
		t.Fatal(err)
	}
	s.syncAvg.Store(0)
	s.noteSync(100 * time.Millisecond)
	if avg := time.Duration(s.syncAvg.Load()); avg < rawSyncMax {
		t.Fatalf("average %v after a 100 ms flush, want ≥ %v", avg, rawSyncMax)
	}
	for range 64 {
		s.noteSync(50 * time.Microsecond)
	}
	if avg := time.Duration(s.syncAvg.Load()); avg >= rawSyncMax {
		t.Fatalf("average %v after 64 quick flushes, want < %v", avg, rawSyncMax)
	}
	if err := s.Apply(testOps[:1]); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSyncs: Syncs may run at once, with each other and with
// Commit and Close, without error or race (run with -race).
func TestConcurrentSyncs(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "m.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(testOps); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := s.Sync(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err == nil {
		t.Error("Sync after Close succeeded")
	}
}
