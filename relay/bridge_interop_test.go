package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
	"github.com/wasmhole/wasmhole/internal/peers"
)

// TestBridgeZeroFlagCLI is the public-infrastructure setup of bridge mode,
// inside the private namespace where relay.magic-wormhole.io and the
// public transit relay names are 127.0.0.1:
//
//   - the REFERENCE TCP transit relay listens on 127.0.0.1:4001, standing
//     in for the public transit relay;
//   - our relay is the mailbox on 127.0.0.1:4000 (the stock CLI's default
//     ws://relay.magic-wormhole.io:4000/v1) with --transit-upstream
//     tcp:transit.magic-wormhole.io:4001 and no TCP transit of its own;
//   - Debian's stock Python CLI 0.12 runs with no flags at all, today's
//     upstream CLI with only --relay-url (its default mailbox is wss://);
//   - our native client takes its relay from /relay.json, as the page does:
//     one relay hint with the upstream's TCP address and our WebSocket URL,
//     and dials the WebSocket, which the bridge carries to the reference
//     relay, where the CLI's TCP connection waits.
//
// The file goes each way and is compared by SHA-256; the reference relay's
// usage log and our bridge's metrics show who carried it.
func TestBridgeZeroFlagCLI(t *testing.T) {
	peers.RequireNetns(t)
	peers.Need(t, pythonCLI)
	ref := peers.StartReference(t, 0, 4001)
	r := startRelay(t, "", "127.0.0.1:4000", "", "--db", ":memory:", "--admin-socket", "",
		"--transit-upstream", "tcp:transit.magic-wormhole.io:4001")

	_, body := httpGet(t, "http://"+r.HTTP+"/relay.json")
	var rc relayConfig
	if err := json.Unmarshal([]byte(body), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.TransitTCP != "tcp:transit.magic-wormhole.io:4001" || rc.Transit != "ws://"+r.HTTP+"/transit" {
		t.Fatalf("/relay.json in bridge mode: %s", body)
	}
	hint, err := transit.ParseRelay(rc.TransitTCP + "," + rc.Transit)
	if err != nil {
		t.Fatal(err)
	}
	// The WebSocket first, the only path a browser has: above the
	// priority 2.0 of Debian's default transit helper, which this native
	// client could dial over TCP too.
	hint.WebSocket[0].Priority = 10
	client := &wormhole.Client{MailboxURL: rc.Mailbox, Relays: []transit.RelayHint{hint}, RelayOnly: true}

	// Debian's 0.12 gets no flag at all; today's upstream CLI only the
	// mailbox, since its default is wss:// on port 443 (no transit flag).
	upstream := filepath.Join(peers.SharedDir(), "peers", "upstream", "wormhole")
	clis := []struct {
		name, prog string
		pre        []string
	}{
		{"debian-0.12", pythonCLI, nil},
		{"upstream", upstream, []string{"--relay-url", "ws://relay.magic-wormhole.io:4000/v1"}},
	}
	for _, cli := range clis {
		t.Run(cli.name, func(t *testing.T) { bridgeTransfers(t, r, ref, client, cli.prog, cli.pre) })
	}
}

// bridgeTransfers sends a file each way between prog (with the global
// flags pre) and client.
func bridgeTransfers(t *testing.T, r *relayProc, ref *peers.Servers, client *wormhole.Client, prog string, pre []string) {
	const bridged = `wasmhole_transit_pairs_total{transports="upstream-websocket"}`
	args := func(a ...string) []string { return append(append([]string{}, pre...), a...) }
	t.Run("cli-sends", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		want := peers.WriteRandomFile(t, filepath.Join(src, "payload.bin"), fileSize)
		before, carried := r.metrics(t)[bridged], ref.RelayedPairs(t)
		send := peers.Start(t, src, nil, "", prog, args("send", "--hide-progress", "payload.bin")...)
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
		checkCarried(t, r, ref, bridged, before, carried)
	})
	t.Run("cli-receives", func(t *testing.T) {
		dst := t.TempDir()
		data := bytes.Repeat([]byte("through the bridge to the reference relay "), fileSize/42)
		sum := sha256.Sum256(data)
		before, carried := r.metrics(t)[bridged], ref.RelayedPairs(t)
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		codes := make(chan string, 1)
		tr, err := client.SendFile(ctx, "payload.bin", int64(len(data)), bytes.NewReader(data), wormhole.SendOptions{OnCode: func(c string) { codes <- c }})
		if err != nil {
			t.Fatal(err)
		}
		recv := peers.Start(t, dst, nil, "", prog, args("receive", "--hide-progress", "--accept-file", <-codes)...)
		waitCLI(t, recv, cliTimeout, "receiver")
		if err := tr.Wait(); err != nil {
			t.Fatalf("send: %v\nreceiver:\n%s", err, recv.Output())
		}
		if got := peers.FileSHA256(t, filepath.Join(dst, "payload.bin")); got != hex.EncodeToString(sum[:]) {
			t.Fatal("file corrupted")
		}
		checkCarried(t, r, ref, bridged, before, carried)
	})
}

// checkCarried: one more bridged pair on our relay and one more happy pair
// with bytes on the reference relay (its usage line comes when both ends
// have closed).
func checkCarried(t *testing.T, r *relayProc, ref *peers.Servers, bridged string, before float64, carried int) {
	t.Helper()
	if got := r.metric(t, bridged); got != before+1 {
		t.Fatalf("bridged pairs %v → %v", before, got)
	}
	waitFor(t, 10*time.Second, func() bool { return ref.RelayedPairs(t) > carried })
	t.Logf("bridged pairs %v, reference relay pairs %d, bytes through the bridge %v",
		r.metric(t, bridged), ref.RelayedPairs(t), r.metric(t, "wasmhole_transit_bytes_relayed_total"))
}
