//go:build linux

package wormhole

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDataPhase is the CPU cost of our two ends of a transfer without
// mailbox or relay: file -> sendData -> loopback TCP -> receiveData ->
// file, sha256 on both sides. MB/s is per end-to-end byte.
func BenchmarkDataPhase(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	io.CopyN(f, rand.Reader, size)
	f.Close()
	key := make([]byte, 32)
	b.SetBytes(size)
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, z := tcpPair(b)
		in, _ := os.Open(src)
		out, _ := os.Create(filepath.Join(dir, "dst"))
		ctx := context.Background()
		errc := make(chan error, 1)
		go func() { errc <- receiveData(ctx, z, key, size, out, nil, nil) }()
		write := func(w io.Writer) (int64, error) { return io.Copy(w, in) }
		if err := sendData(ctx, a, key, size, write, nil); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		in.Close()
		out.Close()
		a.Close()
		z.Close()
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(cpu.Seconds()/(float64(size)*float64(b.N)/1e9), "cpu-s/GB")
}
