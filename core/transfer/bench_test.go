package transfer

import (
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
)

// genReader yields left bytes cycling through a pseudo-random block, so
// the benchmark measures the zip writer, not a disk.
type genReader struct {
	block []byte
	left  int64
	off   int
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], g.block[g.off:])
		n += c
		g.off = (g.off + c) % len(g.block)
	}
	g.left -= int64(n)
	return n, nil
}

// benchPlan is 256 MiB in 8 files of 32 MiB plus 1000 small files.
func benchPlan(b *testing.B) *ZipPlan {
	block := pattern(1<<20, 42)
	var entries []Entry
	for i := range 8 {
		const size = 32 << 20
		entries = append(entries, Entry{Name: fmt.Sprintf("big/%d.bin", i), Size: size, Mode: 0o644, Modified: testTime,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(&genReader{block: block, left: size}), nil }})
	}
	for i := range 1000 {
		entries = append(entries, memEntry(fmt.Sprintf("small/%04d.txt", i), block[i:i+1000]))
	}
	plan, err := NewZipPlan(entries)
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

func BenchmarkZipPlanWriteTo(b *testing.B) {
	plan := benchPlan(b)
	b.SetBytes(plan.Size())
	b.ReportAllocs()
	for b.Loop() {
		if n, err := plan.WriteTo(io.Discard); err != nil || n != plan.Size() {
			b.Fatal(n, err)
		}
	}
}

// With the SHA-256 the sender computes for the final ack.
func BenchmarkZipPlanWriteToSHA256(b *testing.B) {
	plan := benchPlan(b)
	b.SetBytes(plan.Size())
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.New()
		if n, err := plan.WriteTo(io.MultiWriter(io.Discard, h)); err != nil || n != plan.Size() {
			b.Fatal(n, err)
		}
	}
}
