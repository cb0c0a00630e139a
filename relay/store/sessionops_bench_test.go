//go:build linux

package store

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSQLiteSessionOps: the ops of mailbox sessions as the server
// commits them: each batch holds one step of each of 4 overlapping
// sessions (allocate, add, release, close), so rows live across batches,
// and every 4th batch is flushed (Sync: a no-op in NORMAL mode). One op is
// one session's worth; cpu-µs/op is the process CPU, kernel included.
func BenchmarkSQLiteSessionOps(b *testing.B) {
	for _, mode := range []string{"NORMAL", "FULL"} {
		b.Run(mode, func(b *testing.B) {
			s, err := OpenSQLiteWith(filepath.Join(b.TempDir(), "bench.sqlite"), SQLiteOptions{Synchronous: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			steps := func(i int) [][]Op {
				id := fmt.Sprintf("mb%08d", i)
				np := fmt.Sprint(i%1000 + 1)
				return [][]Op{
					{PutMailbox{Mailbox{AppID: "app", ID: id, ForNameplate: true, Sides: []MailboxSide{{Side: "s", Opened: true}}}},
						PutNameplate{Nameplate{AppID: "app", Name: np, MailboxID: id, Sides: []NameplateSide{{Side: "s", Claimed: true}}}}},
					{AddMessage{Message{AppID: "app", MailboxID: id, Side: "s", Phase: "pake", Body: "0123456789abcdef0123456789abcdef", MsgID: `"m"`}}},
					{DeleteNameplate{AppID: "app", Name: np}},
					{DeleteMailbox{AppID: "app", ID: id}},
				}
			}
			b.ResetTimer()
			c0 := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-µs/op") }()
			for n := range b.N {
				var batch []Op
				for k := range 4 {
					if n-k >= 0 {
						batch = append(batch, steps(n - k)[k]...)
					}
				}
				if err := s.Commit(batch); err != nil {
					b.Fatal(err)
				}
				if n%4 == 3 {
					if err := s.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
