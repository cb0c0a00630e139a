package store

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"time"
)

// rawSyncMax is the average flush time under which syncWAL bypasses the
// scheduler.
var rawSyncMax = 500 * time.Microsecond

// syncWAL flushes the WAL file f (fdatasync: the data and its size, which
// is all a WAL needs). A blocking system call normally lets the Go runtime
// hand this thread's P to another thread and take one back afterwards;
// for a flush of a few hundred microseconds that costs more than the flush
// (measured: ~50 µs of CPU per mailbox session, 10% of the session rate).
// So while flushes are that quick, no other flush is running and there is
// another P to run everything else, it flushes without telling the
// scheduler. A slower flush would hold a P (half the relay on two cores)
// and hold up every stop-the-world of the collector for its whole length:
// after one, the moving average sends flushes the ordinary way until the
// disk is quick again.
func (s *SQLite) syncWAL(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	n := s.syncing.Add(1)
	defer s.syncing.Add(-1)
	raw := n == 1 && runtime.GOMAXPROCS(0) >= 2 && time.Duration(s.syncAvg.Load()) < rawSyncMax
	var errno error
	t0 := time.Now()
	cerr := rc.Control(func(fd uintptr) {
		for {
			if raw {
				if _, _, e := syscall.RawSyscall(syscall.SYS_FDATASYNC, fd, 0, 0); e != 0 {
					errno = e
				}
			} else {
				errno = syscall.Fdatasync(int(fd))
			}
			if !errors.Is(errno, syscall.EINTR) {
				return
			}
		}
	})
	s.noteSync(time.Since(t0))
	if cerr != nil {
		return cerr
	}
	if errno != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: errno}
	}
	return nil
}

// noteSync folds a flush time into the moving average (weight 1/8).
func (s *SQLite) noteSync(d time.Duration) {
	for {
		old := s.syncAvg.Load()
		if s.syncAvg.CompareAndSwap(old, old+(int64(d)-old)/8) {
			return
		}
	}
}
