package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/peers"
)

// The interop tests run the stock CLIs against `relay serve` as their
// mailbox server (--relay-url) and transit relay, with the relay path
// forced, and check every byte by sha256. They run inside the private
// network namespace (peers.Main), where transit.magic-wormhole.io, which
// wormhole-william dials unconditionally, is 127.0.0.1 and port 4001 is ours.

const (
	pythonCLI  = "wormhole"
	williamCLI = "wormhole-william"
	// upstreamCLI names today's upstream Python CLI (peers.UpstreamCLI),
	// which takes the same flags as Debian's 0.12.
	upstreamCLI = "upstream-wormhole"
	fileSize    = 1 << 20
	cliTimeout  = 120 * time.Second
)

// program is the command to run for a CLI name; it skips the test (fails
// it in CI) if that CLI is missing.
func program(t *testing.T, name string) string {
	t.Helper()
	if name == upstreamCLI {
		return peers.UpstreamCLI(t)
	}
	peers.Need(t, name)
	return name
}

// isPython reports whether a CLI takes the Python CLI's flags.
func isPython(name string) bool { return name == pythonCLI || name == upstreamCLI }

// payload is what one case sends.
type payload int

const (
	textPayload payload = iota
	filePayload
	dirPayload
)

func (p payload) String() string { return [...]string{"text", "file", "dir"}[p] }

// cliArgs builds a CLI invocation using relay r, with the relay path
// forced where the CLI has a switch for it (Python --no-listen).
func cliArgs(prog string, r *relayProc, sub string, args ...string) []string {
	if isPython(prog) {
		pre := []string{"--relay-url", r.MailboxURL(), "--transit-helper", "tcp:" + r.TCP, sub, "--hide-progress", "--no-listen"}
		return append(pre, args...)
	}
	return append([]string{sub, "--relay-url", r.MailboxURL(), "--hide-progress"}, args...)
}

// withoutDirectAddr removes the namespace's non-loopback address for the
// rest of the test: a wormhole-william sender then has no direct hint to
// offer (it skips 127/8), so its transfers must go through the relay.
func withoutDirectAddr(t *testing.T) {
	t.Helper()
	peers.RequireNetns(t)
	out, err := exec.Command("ip", "addr", "del", peers.DirectAddr+"/32", "dev", "lo").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr del: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "addr", "add", peers.DirectAddr+"/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Errorf("ip addr add: %v: %s", err, out)
		}
	})
}

// transfer runs one sender→receiver case and verifies the result.
func transfer(t *testing.T, r *relayProc, from, to string, what payload) {
	t.Helper()
	fromProg, toProg := program(t, from), program(t, to)
	src, dst := t.TempDir(), t.TempDir()
	text := fmt.Sprintf("hello %s to %s through the wasmhole relay", from, to)
	var sendArgs []string
	var wantSum string
	var wantTree map[string]string
	var size int64
	switch what {
	case textPayload:
		sendArgs = []string{"--text", text}
	case filePayload:
		wantSum = peers.WriteRandomFile(t, filepath.Join(src, "payload.bin"), fileSize)
		sendArgs = []string{"payload.bin"}
		size = fileSize
	case dirPayload:
		wantTree = peers.MakeTree(t, filepath.Join(src, "tree"))
		sendArgs = []string{"tree"}
		size = 1234 + 70000 + 333 + 4096 + 77 // the tree's file bytes
	}
	before := r.metrics(t)

	var send, recv *peers.CLI
	for attempt := 1; ; attempt++ {
		send = peers.Start(t, src, nil, "", fromProg, cliArgs(from, r, "send", sendArgs...)...)
		code := send.Code(t, 60*time.Second)
		if isPython(to) {
			recv = peers.Start(t, dst, nil, "", toProg, cliArgs(to, r, "receive", "--accept-file", code)...)
		} else {
			// wormhole-william always asks "ok? (y/N)" for files.
			recv = peers.Start(t, dst, nil, "y\n", toProg, cliArgs(to, r, "receive", code)...)
		}
		rerr, serr := waitErr(recv, cliTimeout), waitErr(send, cliTimeout)
		if rerr == nil && serr == nil {
			break
		}
		out := recv.Output() + send.Output()
		if attempt < 3 && (from == williamCLI || to == williamCLI) && peers.WrongKeyOutput(out) {
			// wormhole-william's SPAKE2 bug (see peers.WrongKeyOutput).
			if ents, _ := os.ReadDir(dst); len(ents) > 0 {
				t.Fatalf("a wrong-key session left files behind: %v\n%s", ents, out)
			}
			t.Logf("attempt %d hit wormhole-william's SPAKE2 encoding bug; retrying", attempt)
			continue
		}
		t.Fatalf("receiver: %v; sender: %v\nreceiver:\n%s\nsender:\n%s", rerr, serr, recv.Output(), send.Output())
	}

	switch what {
	case textPayload:
		if !strings.Contains(recv.Output(), text) {
			t.Fatalf("text not received:\n%s", recv.Output())
		}
		return
	case filePayload:
		if got := peers.FileSHA256(t, filepath.Join(dst, "payload.bin")); got != wantSum {
			t.Fatalf("sha256 %s, want %s", got, wantSum)
		}
	case dirPayload:
		// Debian's 0.12 and wormhole-william zip only files; today's
		// upstream CLI keeps empty folders too.
		if from != upstreamCLI {
			wantTree = withoutEmptyDirs(wantTree)
		}
		if got := peers.TreeManifest(t, filepath.Join(dst, "tree")); !reflect.DeepEqual(got, wantTree) {
			t.Fatalf("tree differs:\n got %v\nwant %v", got, wantTree)
		}
	}
	// The bytes went through our relay, not directly.
	after := r.metrics(t)
	const pairs = `wasmhole_transit_pairs_total{transports="tcp-tcp"}`
	const relayed = "wasmhole_transit_bytes_relayed_total"
	if after[pairs] <= before[pairs] {
		t.Fatalf("no transit pair formed on the relay (pairs %v → %v)", before[pairs], after[pairs])
	}
	if d := after[relayed] - before[relayed]; d < float64(size) {
		t.Fatalf("relay carried %v bytes, want at least %d", d, size)
	}
}

// TestStockCLIs is the acceptance matrix: Debian's Python 0.12 CLI,
// wormhole-william and today's upstream Python CLI (whose folder zips are
// deflated). wormhole-william → Python runs text only: over a relay that
// pair fails ~30% of the time because of a race in wormhole-william 1.0.6
// (see the reference peers' README).
func TestStockCLIs(t *testing.T) {
	peers.RequireNetns(t)
	r := startRelay(t, "", "127.0.0.1:4000", "127.0.0.1:4001", "--db", ":memory:", "--admin-socket", "")
	cases := []struct {
		from, to string
		what     []payload
	}{
		{pythonCLI, pythonCLI, []payload{textPayload, filePayload, dirPayload}},
		{pythonCLI, williamCLI, []payload{textPayload, filePayload, dirPayload}},
		{williamCLI, williamCLI, []payload{textPayload, filePayload, dirPayload}},
		{williamCLI, pythonCLI, []payload{textPayload}},
		{upstreamCLI, upstreamCLI, []payload{textPayload, filePayload, dirPayload}},
		{upstreamCLI, pythonCLI, []payload{filePayload, dirPayload}},
		{pythonCLI, upstreamCLI, []payload{filePayload, dirPayload}},
		// Not a folder: wormhole-william turns the empty folder that
		// today's CLI puts in its zip into an empty file.
		{upstreamCLI, williamCLI, []payload{filePayload}},
	}
	for _, c := range cases {
		for _, what := range c.what {
			t.Run(fmt.Sprintf("%s-to-%s/%s", c.from, c.to, what), func(t *testing.T) {
				if c.from == williamCLI && what != textPayload {
					withoutDirectAddr(t)
				}
				transfer(t, r, c.from, c.to, what)
			})
		}
	}
	if t.Failed() {
		return
	}
	// Every connection was accounted for and nothing is left open (the
	// CLIs have exited; give the relay a moment to see their sockets close).
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := r.metrics(t)
		active, waiting := m["wasmhole_transit_pairs_active"], m["wasmhole_transit_waiting"]
		if active == 0 && waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after all transfers: %v pairs active, %v connections waiting", active, waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestartBetweenAllocateAndClaim kills the relay with SIGKILL after the
// sender allocated its nameplate and restarts it on the same database
// before the receiver claims it; the Python transfer must still complete,
// with either --db-sync (both promise to survive kill -9).
func TestRestartBetweenAllocateAndClaim(t *testing.T) {
	for _, mode := range []string{"full", "normal"} {
		t.Run(mode, func(t *testing.T) { testRestart(t, mode) })
	}
}

func testRestart(t *testing.T, syncMode string) {
	peers.Need(t, pythonCLI)
	dir := t.TempDir()
	httpAddr, tcpAddr := freeAddr(t), freeAddr(t)
	args := []string{"--db", filepath.Join(dir, "relay.sqlite"), "--db-sync", syncMode, "--admin-socket", filepath.Join(dir, "admin.sock")}
	r := startRelay(t, dir, httpAddr, tcpAddr, args...)

	src, dst := t.TempDir(), t.TempDir()
	want := peers.WriteRandomFile(t, filepath.Join(src, "payload.bin"), fileSize)
	send := peers.Start(t, src, nil, "", pythonCLI, cliArgs(pythonCLI, r, "send", "payload.bin")...)
	code := send.Code(t, 60*time.Second) // printed once the nameplate is allocated
	// Wait until the allocation is committed (the sender's pake is stored
	// too), so the test does not race the server's write.
	waitFor(t, 10*time.Second, func() bool { return r.metrics(t)["wasmhole_mailbox_nameplates"] >= 1 })

	r.Kill()
	if !strings.Contains(r.out.String(), "relay serving") {
		t.Fatal("relay output looks wrong")
	}
	r2 := startRelay(t, dir, httpAddr, tcpAddr, args...)
	if got := r2.metrics(t)["wasmhole_mailbox_nameplates"]; got < 1 {
		t.Fatalf("nameplate lost in the restart (nameplates = %v)", got)
	}
	recv := peers.Start(t, dst, nil, "", pythonCLI, cliArgs(pythonCLI, r2, "receive", "--accept-file", code)...)
	waitCLI(t, recv, cliTimeout, "receiver")
	waitCLI(t, send, cliTimeout, "sender")
	if got := peers.FileSHA256(t, filepath.Join(dst, "payload.bin")); got != want {
		t.Fatalf("sha256 %s, want %s", got, want)
	}
	if got := r2.metric(t, `wasmhole_transit_pairs_total{transports="tcp-tcp"}`); got != 1 {
		t.Fatalf("pairs on the restarted relay: %v", got)
	}
}

// withoutEmptyDirs drops directories that contain nothing from a manifest.
func withoutEmptyDirs(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != "dir" {
			out[k] = v
			continue
		}
		for other := range m {
			if strings.HasPrefix(other, k+"/") {
				out[k] = v
				break
			}
		}
	}
	return out
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebSocketMeetsStockCLI pairs a WebSocket transit client (core/wormhole
// with only a ws:// relay) with a stock Python CLI's TCP relay connection.
// Bytes flow both ways: the file one way, the transfer ack the other.
func TestWebSocketMeetsStockCLI(t *testing.T) {
	peers.Need(t, pythonCLI)
	r := startRelay(t, "", freeAddr(t), freeAddr(t), "--db", ":memory:", "--admin-socket", "")
	client := &wormhole.Client{
		MailboxURL: r.MailboxURL(),
		// Priority above the Python relay hint's 0: the WebSocket is dialled
		// at once, the peer's TCP hint only a relay delay later.
		Relays:    []transit.RelayHint{{WebSocket: []transit.WebSocketHint{{URL: "ws://" + r.HTTP + "/transit", Priority: 1}}}},
		RelayOnly: true,
	}
	const pair = `wasmhole_transit_pairs_total{transports="tcp-websocket"}`

	t.Run("python-sends", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		want := peers.WriteRandomFile(t, filepath.Join(src, "payload.bin"), fileSize)
		before := r.metric(t, pair)
		send := peers.Start(t, src, nil, "", pythonCLI, cliArgs(pythonCLI, r, "send", "payload.bin")...)
		code := send.Code(t, 60*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		_, path, err := client.ReceiveToDir(ctx, code, dst, wormhole.AcceptOptions{})
		if err != nil {
			t.Fatalf("receive: %v\nsender:\n%s", err, send.Output())
		}
		waitCLI(t, send, cliTimeout, "sender")
		if got := peers.FileSHA256(t, path); got != want {
			t.Fatalf("sha256 %s, want %s", got, want)
		}
		if got := r.metric(t, pair); got != before+1 {
			t.Fatalf("tcp-websocket pairs %v → %v", before, got)
		}
	})
	t.Run("python-receives", func(t *testing.T) {
		dst := t.TempDir()
		data := bytes.Repeat([]byte("wasmhole websocket transit "), fileSize/27)
		sum := sha256.Sum256(data)
		before := r.metric(t, pair)
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		codes := make(chan string, 1)
		tr, err := client.SendFile(ctx, "payload.bin", int64(len(data)), bytes.NewReader(data), wormhole.SendOptions{OnCode: func(c string) { codes <- c }})
		if err != nil {
			t.Fatal(err)
		}
		recv := peers.Start(t, dst, nil, "", pythonCLI, cliArgs(pythonCLI, r, "receive", "--accept-file", <-codes)...)
		waitCLI(t, recv, cliTimeout, "receiver")
		if err := tr.Wait(); err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := peers.FileSHA256(t, filepath.Join(dst, "payload.bin")); got != hex.EncodeToString(sum[:]) {
			t.Fatal("file corrupted")
		}
		if got := r.metric(t, pair); got != before+1 {
			t.Fatalf("tcp-websocket pairs %v → %v", before, got)
		}
	})
}

// TestWebSocketMeetsTCPRaw: a raw WebSocket transit client and a raw TCP
// client pair through the relay process by token and exchange bytes both
// ways (the transitnet tests cover the same in-process in more detail).
func TestWebSocketMeetsTCPRaw(t *testing.T) {
	r := startRelay(t, "", freeAddr(t), freeAddr(t), "--db", ":memory:", "--admin-socket", "")
	token := strings.Repeat("5a", 32)
	tc := dialRaw(t, r.TCP)
	fmt.Fprintf(tc, "please relay %s for side %s\n", token, "aaaaaaaaaaaaaaaa")
	ws := dialTransitWS(t, "ws://"+r.HTTP+"/transit")
	ws.send(t, []byte(fmt.Sprintf("please relay %s for side %s\n", token, "bbbbbbbbbbbbbbbb")))
	if got := readN(t, tc, 3); got != "ok\n" {
		t.Fatalf("tcp got %q", got)
	}
	if got := ws.readN(t, 3); got != "ok\n" {
		t.Fatalf("ws got %q", got)
	}
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	go tc.Write(big)
	if got := ws.readN(t, len(big)); got != string(big) {
		t.Fatal("tcp→ws corrupted")
	}
	ws.send(t, []byte("hel"))
	ws.send(t, []byte("lo from ws"))
	if got := readN(t, tc, len("hello from ws")); got != "hello from ws" {
		t.Fatalf("ws→tcp: %q", got)
	}
	ws.close()
	if n, _ := io.Copy(io.Discard, tc); n != 0 {
		t.Fatalf("%d stray bytes", n)
	}
	tc.Close() // like a real client once it sees the end
	waitFor(t, 5*time.Second, func() bool { return r.metrics(t)["wasmhole_transit_pairs_active"] == 0 })
	if got := r.metric(t, `wasmhole_transit_pairs_total{transports="tcp-websocket"}`); got != 1 {
		t.Fatalf("pairs %v", got)
	}
}
