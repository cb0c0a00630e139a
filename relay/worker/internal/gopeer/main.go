//go:build !js

// Command gopeer is a test peer for the Worker's acceptance tests
// (relay/worker/test): our Go client (core/wormhole) sending or receiving
// one file through a given mailbox URL and one WebSocket transit relay, so
// a test can push a transfer through the Worker's bridged /transit path.
//
//	gopeer send    -mailbox ws://127.0.0.1:P/v1 -transit ws://127.0.0.1:P/transit FILE
//	gopeer receive -mailbox ws://127.0.0.1:P/v1 -transit ws://127.0.0.1:P/transit -o OUT CODE
//
// send prints "Wormhole code is: CODE" on stdout like the CLIs. The
// WebSocket relay is offered with priority 1, above the peer's TCP relay
// hints (priority 0), so it is dialled first and the TCP tier only 2 s
// later: the bridged path wins whenever it works. Logs go to stderr, so it
// is a native command (the browser build's core does not log).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	mailbox := fs.String("mailbox", "", "mailbox server URL (ws://.../v1)")
	wsRelay := fs.String("transit", "", "WebSocket transit relay URL (ws://.../transit)")
	out := fs.String("o", "", "receive: write the file here")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	fs.Parse(os.Args[2:])
	if *mailbox == "" || *wsRelay == "" || fs.NArg() != 1 {
		usage()
	}
	c := &wormhole.Client{
		MailboxURL: *mailbox,
		Relays:     []transit.RelayHint{{WebSocket: []transit.WebSocketHint{{URL: *wsRelay, Priority: 1}}}},
		RelayOnly:  true,
		Logger: funcr.New(func(prefix, args string) {
			fmt.Fprintln(os.Stderr, prefix, args)
		}, funcr.Options{Verbosity: 1}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "send":
		err = send(ctx, c, fs.Arg(0))
	case "receive":
		if *out == "" {
			usage()
		}
		err = receive(ctx, c, fs.Arg(0), *out)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gopeer send|receive -mailbox URL -transit URL [-o OUT] FILE|CODE")
	os.Exit(2)
}

func send(ctx context.Context, c *wormhole.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	t, err := c.SendFile(ctx, fi.Name(), fi.Size(), f, wormhole.SendOptions{
		OnCode: func(code string) { fmt.Printf("Wormhole code is: %s\n", code) },
	})
	if err != nil {
		return err
	}
	if err := t.Wait(); err != nil {
		return err
	}
	fmt.Println("file sent")
	return nil
}

func receive(ctx context.Context, c *wormhole.Client, code, out string) error {
	o, err := c.Receive(ctx, code)
	if err != nil {
		return err
	}
	if o.Kind != wormhole.File {
		return fmt.Errorf("offer is %v, want a file", o.Kind)
	}
	if err := o.AcceptToPath(ctx, out, wormhole.AcceptOptions{}); err != nil {
		return err
	}
	fmt.Printf("received %s (%d bytes)\n", o.Name, o.Size)
	return nil
}
