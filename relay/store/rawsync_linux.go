package store

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// slowSync is the flush time beyond which syncWAL stops bypassing the
// scheduler: a disk that slow would hold a whole P for it.
var slowSync = 20 * time.Millisecond

// syncWAL flushes the WAL file (fdatasync: the data and its size, which is
// all a WAL needs). A blocking system call normally lets the Go runtime
// hand this thread's P to another thread and take one back afterwards;
// for a flush of a few hundred microseconds that costs more than the flush
// (measured: ~50 µs of CPU per mailbox session, 10% of the session rate).
// So while flushes are quick and there is another P to run everything
// else, it flushes without telling the scheduler, and falls back to the
// ordinary call for good after one slow flush.
func (s *SQLite) syncWAL() error {
	if s.slowDisk || runtime.GOMAXPROCS(0) < 2 {
		return s.wal.Sync()
	}
	t0 := time.Now()
	_, _, e := syscall.RawSyscall(syscall.SYS_FDATASYNC, s.wal.Fd(), 0, 0)
	if time.Since(t0) > slowSync {
		s.slowDisk = true
	}
	if e != 0 {
		return &os.PathError{Op: "fdatasync", Path: s.wal.Name(), Err: e}
	}
	return nil
}
