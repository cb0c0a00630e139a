package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"
)

// TestDiskFullFailsClosed fills the relay's disk for real: RLIMIT_FSIZE
// on the relay process makes every write that would grow a file past the
// limit fail with EFBIG, as a full disk does with ENOSPC. Two messages are
// stored first, then ten more are added while the database cannot grow.
// The relay must show nobody the ten, report unhealthy, refuse changes,
// and once the disk has room again serve exactly the two, before and
// after a SIGKILL restart.
func TestDiskFullFailsClosed(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	p := startRelay(t, dir, httpAddr, "")
	pid := p.cmd.Process.Pid

	a := dialFlood(t, p.MailboxURL(), "a", true)
	a.send(t, `{"type":"open","mailbox":"mb"}`)
	for i := range 2 {
		a.send(t, fmt.Sprintf(`{"type":"add","phase":"%d","body":"stored"}`, i))
	}
	a.waitFor(t, "message", 2, 20*time.Second)

	// The disk is full: no file of the relay may grow any more.
	var largest int64
	for _, name := range []string{"relay.sqlite", "relay.sqlite-wal", "relay.sqlite-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	setFsize(t, pid, uint64(largest))
	body := strings.Repeat("x", 200<<10) // every add must grow the WAL
	for i := 2; i < 12; i++ {
		if a.ws.Write(context.Background(), websocket.MessageText,
			fmt.Appendf(nil, `{"type":"add","phase":"%d","body":"%s"}`, i, body)) != nil {
			break // already cut
		}
	}
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the adder was not disconnected")
	}
	if n := a.count("message"); n != 2 {
		t.Fatalf("the adder was shown %d messages; 2 are stored", n)
	}
	code, text := healthz(t, httpAddr)
	if code != http.StatusServiceUnavailable || !strings.Contains(text, "mailbox store failing") {
		t.Fatalf("healthz %d %q while the disk is full", code, text)
	}
	if v := p.metric(t, "wasmhole_mailbox_store_healthy"); v != 0 {
		t.Fatalf("store_healthy %v while the disk is full", v)
	}
	told := refusedWith(t, p.MailboxURL())
	t.Logf("disk full: healthz %d %q; a new client is told %q", code, strings.TrimSpace(text), told)

	// Room again: the relay recovers on its own.
	setFsize(t, pid, unix.RLIM_INFINITY)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := healthz(t, httpAddr); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("relay did not recover after the disk had room again")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := replayPhases(t, p.MailboxURL()); got != "[0 1]" {
		t.Fatalf("after recovery the mailbox replays phases %s, want [0 1]", got)
	}
	p.Kill()
	p2 := startRelay(t, dir, httpAddr, "")
	if got := replayPhases(t, p2.MailboxURL()); got != "[0 1]" {
		t.Fatalf("after a SIGKILL restart the mailbox replays phases %s, want [0 1]", got)
	}
}

func setFsize(t *testing.T, pid int, limit uint64) {
	t.Helper()
	lim := unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Skipf("cannot set RLIMIT_FSIZE of the relay: %v", err)
	}
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// refusedWith dials url and returns the error of its welcome.
func refusedWith(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Welcome struct{ Error string }
	}
	json.Unmarshal(data, &m)
	if m.Welcome.Error == "" {
		t.Fatalf("not refused: %s", data)
	}
	return m.Welcome.Error
}

// replayPhases opens mailbox "mb" as side "a" and returns the phases
// replayed.
func replayPhases(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	for _, s := range []string{
		`{"type":"bind","appid":"flood","side":"a"}`,
		`{"type":"open","mailbox":"mb"}`,
		`{"type":"ping","ping":1}`,
	} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	var phases []string
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Type, Phase, Error string }
		json.Unmarshal(data, &m)
		switch m.Type {
		case "message":
			phases = append(phases, m.Phase)
		case "error":
			t.Fatalf("error: %s", m.Error)
		case "pong":
			return fmt.Sprint(phases)
		}
	}
}
