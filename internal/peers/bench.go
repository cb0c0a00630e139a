package peers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Benchmarks must not pass silently: a benchmark that skips prints PASS
// and no figures, which reads like a result. Benchmarks therefore wrap
// their testing.B in NoSkip, and everything in this package that would
// skip a test (a missing peer, a missing tool) fails the benchmark instead.

// NoSkip returns tb with Skip, Skipf and SkipNow turned into failures.
func NoSkip(tb testing.TB) testing.TB { return noSkip{tb} }

type noSkip struct{ testing.TB }

func (n noSkip) Skip(args ...any) {
	n.Helper()
	n.Fatal(append([]any{"benchmark cannot run:"}, args...)...)
}

func (n noSkip) Skipf(format string, args ...any) {
	n.Helper()
	n.Fatalf("benchmark cannot run: "+format, args...)
}

func (n noSkip) SkipNow() {
	n.Helper()
	n.Fatal("benchmark cannot run")
}

// envMbbench names a built mbbench (shared/peers/bench/mbbench), so a
// script can build it once before the benchmarks run.
const envMbbench = "MBBENCH_BIN"

// mbbenchSource is the directory of the mbbench load client.
func mbbenchSource() (string, error) {
	src := filepath.Join(SharedDir(), "peers", "bench", "mbbench")
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		return "", fmt.Errorf("mbbench source not found (%w); set WASMHOLE_SHARED to the directory holding peers/", err)
	}
	return src, nil
}

// copyMbbench copies mbbench's source into dir: the shared directory is
// not ours to write a go.sum into.
func copyMbbench(dir string) error {
	src, err := mbbenchSource()
	if err != nil {
		return err
	}
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if errors.Is(err, os.ErrNotExist) && f == "go.sum" {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// goTool runs the go command in dir. -mod=mod lets it complete go.sum;
// offline (inside the namespace) GOPROXY=off makes a missing module fail
// at once instead of waiting for DNS.
func goTool(dir string, offline bool, args ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH: %w", err)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if offline {
		cmd.Env = append(cmd.Env, "GOPROXY=off")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// DownloadMbbench fetches mbbench's modules (gorilla/websocket) into the
// module cache. Call it before entering the network namespace, which has
// no route to the module proxy (a TestMain does, when BenchRequested).
func DownloadMbbench() error {
	if os.Getenv(envMbbench) != "" {
		return nil
	}
	dir, err := os.MkdirTemp("", "mbbench-mod")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyMbbench(dir); err != nil {
		return err
	}
	if err := goTool(dir, false, "mod", "download"); err != nil {
		return fmt.Errorf("downloading mbbench's modules: %w", err)
	}
	return nil
}

// BuildMbbench returns the mbbench load client: $MBBENCH_BIN, or a fresh
// build in a temporary directory. It fails tb (never skips) when that is
// impossible.
func BuildMbbench(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv(envMbbench); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			tb.Fatalf("%s: %v", envMbbench, err)
		}
		return bin
	}
	dir := tb.TempDir()
	if err := copyMbbench(dir); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, "mbbench")
	if err := goTool(dir, InNetns(), "build", "-o", bin, "."); err != nil {
		hint := ""
		if InNetns() {
			hint = "\n(inside the network namespace modules cannot be downloaded: DownloadMbbench runs before it is entered; " +
				"or build mbbench yourself and set " + envMbbench + ")"
		}
		tb.Fatalf("building mbbench: %v%s", err, hint)
	}
	return bin
}

// BenchRequested reports whether this test binary was asked to run
// benchmarks (-test.bench with a non-empty pattern).
func BenchRequested() bool {
	args := os.Args[1:]
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "test.bench="); ok {
			return v != ""
		}
		if a == "test.bench" {
			return i+1 < len(args) && args[i+1] != ""
		}
	}
	return false
}
