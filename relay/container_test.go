package main

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// TestContainerImage builds relay/Containerfile with podman, takes the
// binary out of the image and checks that it starts and answers /healthz.
//
// Nothing here can run a container (crun fails on this host's hybrid
// cgroups), and no registry but the Go module proxy is reachable, so:
//   - the build stage's Go image is made locally with `podman import` from
//     the host's GOROOT (built once, then reused by tag);
//   - modules come from the host's module cache mounted read-only, with
//     GOPROXY=off; the host's build cache is mounted to save compile time;
//   - RUN steps use --isolation=chroot, which needs no OCI runtime;
//   - the binary is checked outside the image (podman create + cp).
//
// Where a normal engine and registry exist, `podman build -f
// relay/Containerfile .` alone does the same build.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a container image (about 90 s cold)")
	}
	peers.Need(t, "podman", "tar")
	gobin := filepath.Join(goroot(t), "bin", "go")
	var env struct{ GOROOT, GOVERSION, GOMODCACHE, GOCACHE string }
	out, err := exec.Command(gobin, "env", "-json", "GOROOT", "GOVERSION", "GOMODCACHE", "GOCACHE").Output()
	if err != nil || json.Unmarshal(out, &env) != nil {
		t.Fatalf("go env: %v %s", err, out)
	}
	repo := peers.RepoRoot()

	toolchain := "localhost/wasmhole/go-toolchain:" + env.GOVERSION
	if exec.Command("podman", "image", "exists", toolchain).Run() != nil {
		// A Go toolchain image without a registry: GOROOT as /usr/local/go
		// plus an empty /tmp. The go command and the compiler are static.
		empty := t.TempDir()
		os.Mkdir(filepath.Join(empty, "tmp"), 0o1777)
		script := fmt.Sprintf(`tar -C %q -cf - tmp -C %q --transform 's,^\.,usr/local/go,' . | podman import --change 'ENV PATH=/usr/local/go/bin:/usr/bin:/bin' - %s`,
			empty, env.GOROOT, toolchain)
		if out, err := exec.Command("bash", "-o", "pipefail", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("import toolchain image: %v\n%s", err, out)
		}
	}

	tag := fmt.Sprintf("localhost/wasmhole/relay:test-%d", os.Getpid())
	start := time.Now()
	build := exec.Command("podman", "build", "--isolation=chroot",
		"--build-arg", "GO_IMAGE="+toolchain, "--build-arg", "GOPROXY=off",
		"-v", env.GOMODCACHE+":/go/pkg/mod:ro", "-v", env.GOCACHE+":/tmp/go-build",
		"-f", filepath.Join(repo, "relay", "Containerfile"), "-t", tag, repo)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v\n%s", err, tail(string(out), 6000))
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", tag).Run() })
	t.Logf("podman build took %v", time.Since(start).Round(time.Second))

	out, err = exec.Command("podman", "image", "inspect", "--format", "{{json .Config}}", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		User       string
		Entrypoint []string
		WorkingDir string
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || strings.Join(cfg.Entrypoint, " ") != "/relay serve" || cfg.WorkingDir != "/data" {
		t.Fatalf("image config %+v", cfg)
	}
	// FROM scratch: the relay binary and the data directory, nothing else.
	out, err = exec.Command("podman", "image", "inspect", "--format", "{{len .RootFS.Layers}}", tag).Output()
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Fatalf("want 2 layers (binary, /data): %s %v", out, err)
	}

	cid, err := exec.Command("podman", "create", tag).Output()
	if err != nil {
		t.Fatalf("podman create: %v", err)
	}
	id := strings.TrimSpace(string(cid))
	defer exec.Command("podman", "rm", "-f", id).Run()
	bin := filepath.Join(t.TempDir(), "relay")
	if out, err := exec.Command("podman", "cp", id+":/relay", bin).CombinedOutput(); err != nil {
		t.Fatalf("podman cp: %v %s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary is dynamically linked")
		}
	}
	f.Close()

	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--http", addr, "--transit-tcp", freeAddr(t), "--db", ":memory:", "--admin-socket", "")
	cmd.Env = relayEnv()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{HTTP: addr, cmd: cmd, out: logs, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	p.waitHealthy(t)
	if _, body := httpGet(t, "http://"+addr+"/healthz"); body != "ok\n" {
		t.Fatalf("healthz %q", body)
	}
	if err := p.Stop(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
}

// goroot finds the toolchain that built this test.
func goroot(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		if out, err := exec.Command(p, "env", "GOROOT").Output(); err == nil {
			return strings.TrimSpace(string(out))
		}
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go"
	}
	t.Skip("no go command to build the image with")
	return ""
}
