package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/admin"
	"github.com/wasmhole/wasmhole/relay/store"
)

// mailboxClient is a bare mailbox protocol client for tests.
type mailboxClient struct {
	c *websocket.Conn
}

func dialMailbox(t testing.TB, url string) *mailboxClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &mailboxClient{c: c}
}

func (m *mailboxClient) send(t testing.TB, msg map[string]any) {
	t.Helper()
	if err := m.c.Write(context.Background(), websocket.MessageText, mustJSON(t, msg)); err != nil {
		t.Fatal(err)
	}
}

// await reads messages until one of type typ arrives.
func (m *mailboxClient) await(t testing.TB, typ string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := m.c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v", typ, err)
		}
		var msg map[string]any
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		if msg["type"] == typ {
			return msg
		}
	}
}

func adminCall(t testing.TB, sock string, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"admin", "--admin-socket", sock, "--timeout", "10s"}, args...), envMap(nil), &out, &errb)
	return out.String() + errb.String(), code
}

func httpGet(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestServeEndpointsAndAdmin runs the real command with a site, a config
// file and the admin socket, and exercises every endpoint and method.
func TestServeEndpointsAndAdmin(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"site/index.html": "<p>wasmhole</p>", "site/wasmhole.wasm": "\x00asm"})
	conf := filepath.Join(dir, "relay.conf")
	os.WriteFile(conf, []byte("motd = from config\n"), 0o644)
	sock := filepath.Join(dir, "admin.sock")
	r := startRelay(t, dir, freeAddr(t), freeAddr(t), "--db", filepath.Join(dir, "db.sqlite"),
		"--site", filepath.Join(dir, "site"), "--admin-socket", sock, "--config", conf)

	resp, body := httpGet(t, "http://"+r.HTTP+"/")
	if body != "<p>wasmhole</p>" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "'wasm-unsafe-eval'") {
		t.Fatalf("site: %q %v", body, resp.Header)
	}
	if resp, _ := httpGet(t, "http://"+r.HTTP+"/wasmhole.wasm"); resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("wasm type %q", resp.Header.Get("Content-Type"))
	}
	if _, body := httpGet(t, "http://"+r.HTTP+"/healthz"); body != "ok\n" {
		t.Fatalf("healthz %q", body)
	}
	_, metrics := httpGet(t, "http://"+r.HTTP+"/metrics")
	for _, m := range []string{"wasmhole_transit_connections_total", "wasmhole_transit_bytes_relayed_total", "wasmhole_transit_errors_total",
		"wasmhole_transit_pairs_total", "wasmhole_mailbox_connections", "wasmhole_mailbox_nameplates", "wasmhole_mailbox_mailboxes",
		"process_resident_memory_bytes", "go_goroutines"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v %v", fi, err)
	}

	// The motd from the config file reaches clients; set_motd changes it.
	mb := dialMailbox(t, r.MailboxURL())
	if w := mb.await(t, "welcome"); w["welcome"].(map[string]any)["motd"] != "from config" {
		t.Fatalf("welcome %v", w)
	}
	if out, code := adminCall(t, sock, "set_motd", "motd=maintenance at six"); code != 0 || !strings.Contains(out, "maintenance at six") {
		t.Fatalf("set_motd: %d %s", code, out)
	}
	mb2 := dialMailbox(t, r.MailboxURL())
	if w := mb2.await(t, "welcome"); w["welcome"].(map[string]any)["motd"] != "maintenance at six" {
		t.Fatalf("welcome after set_motd %v", w)
	}

	// A mailbox to list and close.
	mb2.send(t, map[string]any{"type": "bind", "appid": "test/app", "side": "aaaaaaaaaa"})
	mb2.send(t, map[string]any{"type": "allocate"})
	np := mb2.await(t, "allocated")["nameplate"].(string)
	mb2.send(t, map[string]any{"type": "claim", "nameplate": np})
	mbox := mb2.await(t, "claimed")["mailbox"].(string)
	out, code := adminCall(t, sock, "list_mailboxes")
	if code != 0 || !strings.Contains(out, mbox) {
		t.Fatalf("list_mailboxes: %d %s", code, out)
	}
	if out, code := adminCall(t, sock, "close_mailbox", mbox); code != 0 || !strings.Contains(out, `"closed"`) {
		t.Fatalf("close_mailbox: %d %s", code, out)
	}
	if out, code := adminCall(t, sock, "close_mailbox", "id=nosuchbox"); code != 1 || !strings.Contains(out, "404") {
		t.Fatalf("close_mailbox unknown: %d %s", code, out)
	}
	if out, code := adminCall(t, sock, "no_such_method"); code != 1 || !strings.Contains(out, "-32601") {
		t.Fatalf("unknown method: %d %s", code, out)
	}
	out, code = adminCall(t, sock, "stats")
	var st struct {
		MOTD    string `json:"motd"`
		Mailbox struct {
			Connections int `json:"connections"`
		} `json:"mailbox"`
		Transit struct {
			TotalPairs int `json:"total_pairs"`
		} `json:"transit"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.MOTD != "maintenance at six" || st.Mailbox.Connections != 2 {
		t.Fatalf("stats: %d %s", code, out)
	}

	// reload_config: runtime settings apply, the rest is reported.
	os.WriteFile(conf, []byte("motd = reloaded\ntransit-idle-timeout = 1m\nexpiry = 1h\n"), 0o644)
	out, code = adminCall(t, sock, "reload_config")
	var rr reloadResult
	if code != 0 || json.Unmarshal([]byte(out), &rr) != nil ||
		strings.Join(rr.Applied, ",") != "motd,transit-idle-timeout" || strings.Join(rr.RestartRequired, ",") != "expiry" {
		t.Fatalf("reload_config: %d %s", code, out)
	}
	mb3 := dialMailbox(t, r.MailboxURL())
	if w := mb3.await(t, "welcome"); w["welcome"].(map[string]any)["motd"] != "reloaded" {
		t.Fatalf("welcome after reload %v", w)
	}
	// A broken file is refused and the running configuration kept.
	os.WriteFile(conf, []byte("expiry = never\n"), 0o644)
	if out, code := adminCall(t, sock, "reload_config"); code != 1 || !strings.Contains(out, "running configuration kept") {
		t.Fatalf("bad reload: %d %s", code, out)
	}
	// SIGHUP reloads too.
	os.WriteFile(conf, []byte("motd = from sighup\n"), 0o644)
	r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, func() bool {
		out, _ := adminCall(t, sock, "stats")
		return strings.Contains(out, "from sighup")
	})

	// shutdown: answered, then a clean exit that removes the socket.
	if out, code := adminCall(t, sock, "shutdown"); code != 0 || !strings.Contains(out, "shutting_down") {
		t.Fatalf("shutdown: %d %s", code, out)
	}
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not exit after admin shutdown")
	}
	if r.err != nil {
		t.Fatalf("exit: %v", r.err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("admin socket left behind: %v", err)
	}
}

// TestSIGTERMGraceful: on SIGTERM the relay stops accepting, commits the
// mailbox state, closes WebSockets with 1001 going away and exits 0; a
// restart on the same database still knows the allocated nameplate.
func TestSIGTERMGraceful(t *testing.T) {
	dir := t.TempDir()
	httpAddr, tcpAddr := freeAddr(t), freeAddr(t)
	args := []string{"--db", filepath.Join(dir, "db.sqlite"), "--admin-socket", ""}
	r := startRelay(t, dir, httpAddr, tcpAddr, args...)

	mb := dialMailbox(t, r.MailboxURL())
	mb.send(t, map[string]any{"type": "bind", "appid": "test/app", "side": "bbbbbbbbbb"})
	mb.send(t, map[string]any{"type": "allocate"})
	np := mb.await(t, "allocated")["nameplate"].(string)
	ws := dialTransitWS(t, "ws://"+httpAddr+"/transit")
	ws.send(t, []byte("please relay "+strings.Repeat("c", 64)+" for side cccccccccccccccc\n"))
	tc := dialRaw(t, tcpAddr)
	fmt.Fprintf(tc, "please relay %s\n", strings.Repeat("d", 64))
	waitFor(t, 5*time.Second, func() bool { return r.metrics(t)["wasmhole_transit_waiting"] == 2 })

	mbErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for {
			if _, _, err := mb.c.Read(ctx); err != nil {
				mbErr <- err
				return
			}
		}
	}()
	wsErr := make(chan error, 1)
	go func() { _, _, err := ws.c.Read(context.Background()); wsErr <- err }()

	if err := r.Stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, r.out.String())
	}
	if err := <-mbErr; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("mailbox client: want 1001, got %v", err)
	}
	if err := <-wsErr; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("transit client: want 1001, got %v", err)
	}
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := tc.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("tcp transit client: %d %v", n, err)
	}
	for _, want := range []string{"shutting down", "relay stopped"} {
		if !strings.Contains(r.out.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}

	r2 := startRelay(t, dir, httpAddr, tcpAddr, args...)
	mb2 := dialMailbox(t, r2.MailboxURL())
	mb2.await(t, "welcome")
	mb2.send(t, map[string]any{"type": "bind", "appid": "test/app", "side": "eeeeeeeeee"})
	mb2.send(t, map[string]any{"type": "list"})
	list := mb2.await(t, "nameplates")
	if !strings.Contains(string(mustJSON(t, list)), `"id":"`+np+`"`) {
		t.Fatalf("nameplate %s lost across a graceful restart: %v", np, list)
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	busy := freeAddr(t)
	r := startRelay(t, dir, busy, "", "--db", ":memory:", "--admin-socket", filepath.Join(dir, "a.sock"))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"http port taken", []string{"serve", "--http", busy, "--transit-tcp", "", "--db", ":memory:", "--admin-socket", ""}, "listen --http"},
		{"admin socket in use", []string{"serve", "--http", freeAddr(t), "--transit-tcp", "", "--db", ":memory:", "--admin-socket", filepath.Join(dir, "a.sock")}, "in use"},
		{"bad site", []string{"serve", "--http", freeAddr(t), "--db", ":memory:", "--admin-socket", "", "--site", filepath.Join(dir, "nope")}, "site"},
		{"bad flag", []string{"serve", "--bogus"}, "not defined"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(tt.args, envMap(nil), &out, &out)
			if code == 0 || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("exit %d, output:\n%s", code, out.String())
			}
		})
	}
	_ = r
}

func TestGroupStopsTogether(t *testing.T) {
	g := newGroup(context.Background())
	stopped := make(chan string, 3)
	for _, name := range []string{"a", "b"} {
		g.Go(name, func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- name
			return nil
		})
	}
	boom := errors.New("boom")
	g.Go("failing", func(context.Context) error { return boom })
	err := g.Wait()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "failing: boom") {
		t.Fatalf("cause %v", err)
	}
	if len(stopped) != 2 {
		t.Fatalf("%d tasks stopped", len(stopped))
	}
	// A task that returns nil early is a failure too.
	g = newGroup(context.Background())
	g.Go("quitter", func(context.Context) error { return nil })
	g.Go("waiter", func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err := g.Wait(); err == nil || !strings.Contains(err.Error(), "quitter: stopped unexpectedly") {
		t.Fatalf("cause %v", err)
	}
	// A requested stop is not an error.
	g = newGroup(context.Background())
	g.Go("waiter", func(ctx context.Context) error { <-ctx.Done(); return nil })
	g.Stop(errStop)
	if err := g.Wait(); !errors.Is(err, errStop) {
		t.Fatalf("cause %v", err)
	}
}

// TestHashcashFlag: --hashcash-bits reaches the welcome; off by default.
func TestHashcashFlag(t *testing.T) {
	for _, bits := range []string{"0", "6"} {
		r := startRelay(t, "", freeAddr(t), freeAddr(t), "--db", ":memory:", "--admin-socket", "", "--hashcash-bits", bits)
		mb := dialMailbox(t, r.MailboxURL())
		w := mb.await(t, "welcome")["welcome"].(map[string]any)
		mb.c.CloseNow()
		_, asked := w["permission-required"]
		if asked != (bits != "0") {
			t.Fatalf("--hashcash-bits %s: welcome %v", bits, w)
		}
		r.Stop(t)
	}
}

// TestListManyMailboxes: `relay admin list_mailboxes` lists 9,000
// mailboxes, an answer of well over admin.MaxLine, through pages.
func TestListManyMailboxes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "relay.sqlite")
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	const n = 9000
	now := time.Now().UnixMicro()
	ops := make([]store.Op, 0, n)
	for i := range n {
		ops = append(ops, store.PutMailbox{Mailbox: store.Mailbox{
			AppID: "lothar.com/wormhole/text-or-file-xfer", ID: fmt.Sprintf("mbox%06d", i),
			Created: now, Updated: now,
			Sides: []store.MailboxSide{{Side: fmt.Sprintf("%016x", i), Opened: true, Added: now}},
		}})
	}
	if err := st.Apply(ops); err != nil {
		t.Fatal(err)
	}
	st.Close()
	sock := filepath.Join(dir, "a.sock")
	startRelay(t, dir, freeAddr(t), "", "--db", db, "--admin-socket", sock)
	out, code := adminCall(t, sock, "list_mailboxes")
	if code != 0 {
		t.Fatalf("list_mailboxes: exit %d: %s", code, tail(out, 500))
	}
	var got struct {
		Mailboxes []struct {
			ID    string   `json:"id"`
			Sides []string `json:"sides"`
		} `json:"mailboxes"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, tail(out, 500))
	}
	if len(got.Mailboxes) != n {
		t.Fatalf("listed %d mailboxes, want %d", len(got.Mailboxes), n)
	}
	for i, m := range got.Mailboxes {
		if want := fmt.Sprintf("mbox%06d", i); m.ID != want || len(m.Sides) != 1 {
			t.Fatalf("mailbox %d is %+v, want %s with one side", i, m, want)
		}
	}
	t.Logf("listed %d mailboxes, %d bytes of output (admin.MaxLine is %d)", n, len(out), admin.MaxLine)
	// The raw method pages too.
	out, code = adminCall(t, sock, "list_mailboxes", `{"limit": 2, "after": {"appid": "lothar.com/wormhole/text-or-file-xfer", "id": "mbox008997"}}`)
	if code != 0 || !strings.Contains(out, "mbox008998") || !strings.Contains(out, "mbox008999") || strings.Contains(out, `"next"`) || !strings.Contains(out, `"total": 9000`) {
		t.Fatalf("last page: %d %s", code, out)
	}
	if out, code := adminCall(t, sock, "list_mailboxes", `{"limit": 0}`); code != 1 || !strings.Contains(out, "-32602") {
		t.Fatalf("limit 0: %d %s", code, out)
	}
}

// TestAdminSocketIsTheDatabase: `--db x --admin-socket x` must refuse to
// start and leave the database alone, also when x is spelled two ways.
func TestAdminSocketIsTheDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "relay.sqlite")
	r := startRelay(t, dir, freeAddr(t), "", "--db", db, "--admin-socket", "")
	mb := dialMailbox(t, r.MailboxURL())
	mb.send(t, map[string]any{"type": "bind", "appid": "a", "side": "s1"})
	mb.send(t, map[string]any{"type": "allocate"})
	np := mb.await(t, "allocated")["nameplate"].(string)
	if err := r.Stop(t); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// The last one (a hard link) passes the name check and meets
	// admin.Listen's refusal to replace anything but a socket.
	link := filepath.Join(dir, "link.sqlite")
	if err := os.Link(db, link); err != nil {
		t.Fatal(err)
	}
	for _, sock := range []string{db, filepath.Join(dir, ".", "relay.sqlite"), "relay.sqlite", link} {
		var out bytes.Buffer
		cmd := exec.Command(os.Args[0], "serve", "--http", freeAddr(t), "--transit-tcp", "", "--db", "relay.sqlite", "--admin-socket", sock)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, relayEnv(envRunMain+"=1"), &out, &out
		if err := cmd.Run(); err == nil || !(strings.Contains(out.String(), "same file") || strings.Contains(out.String(), "not a socket")) {
			t.Fatalf("--admin-socket %s: %v, output %s", sock, err, out.String())
		}
	}
	after, err := os.ReadFile(db)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the database changed or vanished: %v", err)
	}
	// Still usable: the nameplate is there after a restart.
	r = startRelay(t, dir, freeAddr(t), "", "--db", db, "--admin-socket", "")
	mb = dialMailbox(t, r.MailboxURL())
	mb.send(t, map[string]any{"type": "bind", "appid": "a", "side": "s2"})
	mb.send(t, map[string]any{"type": "list"})
	if list := mb.await(t, "nameplates"); !strings.Contains(string(mustJSON(t, list)), `"id":"`+np+`"`) {
		t.Fatalf("nameplate %s lost: %v", np, list)
	}
}
