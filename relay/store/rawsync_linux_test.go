package store

import (
	"path/filepath"
	"testing"
	"time"
)

// TestSlowDiskFallsBack: after one flush slower than slowSync, Sync uses
// the scheduler-aware call for good.
func TestSlowDiskFallsBack(t *testing.T) {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "m.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(testOps); err != nil {
		t.Fatal(err)
	}
	// (A skip would count as a pass: a first flush that really was slow
	// leaves nothing to test, so start from the fast path.)
	s.slowDisk = false
	defer func(d time.Duration) { slowSync = d }(slowSync)
	slowSync = -1 // every flush is "slow"
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if !s.slowDisk {
		t.Fatal("a slow flush did not switch to the ordinary call")
	}
	if err := s.Apply(testOps[:1]); err != nil {
		t.Fatal(err)
	}
}
