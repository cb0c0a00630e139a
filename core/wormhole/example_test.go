//go:build !js

package wormhole_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmhole/wasmhole/core/transit"
	"github.com/wasmhole/wasmhole/core/wormhole"
)

// Sending a file and receiving it into memory. The two clients here share
// a process and a relay started for the example; in real use each runs on
// its own machine, and the zero Client uses the public servers.
func Example() {
	relay, err := startRelay()
	if err != nil {
		log.Fatal(err)
	}
	defer relay.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relays, _ := transit.ParseRelays(relay.Transit)

	// The sender offers a file and gets the code to pass on.
	sender := &wormhole.Client{MailboxURL: relay.MailboxURL, Relays: relays}
	data := []byte("hello from the sender\n")
	tr, err := sender.SendFile(ctx, "hello.txt", int64(len(data)), bytes.NewReader(data), wormhole.SendOptions{})
	if err != nil {
		log.Fatal(err)
	}

	// The receiver types the code, looks at the offer and accepts it.
	receiver := &wormhole.Client{MailboxURL: relay.MailboxURL, Relays: relays}
	offer, err := receiver.Receive(ctx, tr.Code())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(offer.Kind, offer.Name, offer.Size)
	var got bytes.Buffer
	if err := offer.Accept(ctx, &got, wormhole.AcceptOptions{}); err != nil {
		log.Fatal(err)
	}
	fmt.Print(got.String())

	// Wait returns nil once the receiver acknowledged the file's SHA-256.
	if err := tr.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sender: done")
	// Output:
	// file hello.txt 22
	// hello from the sender
	// sender: done
}

// Receiving straight into a directory, like `wormhole receive
// --accept-file`: the file appears under its name only once complete.
func ExampleClient_ReceiveToDir() {
	relay, err := startRelay()
	if err != nil {
		log.Fatal(err)
	}
	defer relay.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "wasmhole-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	src := strings.NewReader("a file sent by code\n")
	tr, err := relay.client().SendFile(ctx, "notes.txt", src.Size(), src, wormhole.SendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_, path, err := relay.client().ReceiveToDir(ctx, tr.Code(), dir, wormhole.AcceptOptions{
		Progress: func(got, total int64) {
			if got == total {
				fmt.Println("received", got, "bytes")
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tr.Wait(); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Printf("%s: %s", filepath.Base(path), b)
	// Output:
	// received 20 bytes
	// notes.txt: a file sent by code
}

// Sending text, which travels through the mailbox only.
func ExampleClient_SendText() {
	relay, err := startRelay()
	if err != nil {
		log.Fatal(err)
	}
	defer relay.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tr, err := relay.client().SendText(ctx, "the wifi password is hunter2", wormhole.SendOptions{})
	if err != nil {
		log.Fatal(err)
	}
	offer, err := relay.client().Receive(ctx, tr.Code())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(offer.Kind, offer.Text, tr.Wait())
	// Output: text the wifi password is hunter2 <nil>
}
