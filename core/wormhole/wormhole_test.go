package wormhole

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
)

// TestMain re-executes the tests inside a private network namespace when
// run as root (internal/peers), so the reference servers and CLIs are ours.
func TestMain(m *testing.M) { peers.Main(m) }

const text = "grüße from wasmhole ✓ 1234"

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newWormhole connects a Wormhole to url and closes it at the end of the
// test if the test did not.
func newWormhole(t *testing.T, ctx context.Context, url string) *Wormhole {
	t.Helper()
	w, err := (&Client{MailboxURL: url}).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Close(cctx, "")
	})
	return w
}

// receiveText plays the text receiver of the file-transfer protocol
// (docs/protocol.md §3): read the offer, answer message_ack ok.
func receiveText(ctx context.Context, w *Wormhole) (string, error) {
	if _, err := w.WaitVerified(ctx); err != nil {
		return "", err
	}
	msg, err := w.Receive(ctx)
	if err != nil {
		return "", err
	}
	var offer struct {
		Offer struct {
			Message *string `json:"message"`
		} `json:"offer"`
	}
	if err := json.Unmarshal(msg, &offer); err != nil || offer.Offer.Message == nil {
		return "", fmt.Errorf("not a text offer: %s", msg)
	}
	if err := w.Send(ctx, []byte(`{"answer": {"message_ack": "ok"}}`)); err != nil {
		return "", err
	}
	return *offer.Offer.Message, w.Close(ctx, "")
}

// sendText plays the text sender: offer, then wait for message_ack ok.
func sendText(ctx context.Context, w *Wormhole, msg string) error {
	offer, err := json.Marshal(map[string]any{"offer": map[string]any{"message": msg}})
	if err != nil {
		return err
	}
	if err := w.Send(ctx, offer); err != nil {
		return err
	}
	reply, err := w.Receive(ctx)
	if err != nil {
		return err
	}
	var answer struct {
		Answer struct {
			MessageAck string `json:"message_ack"`
		} `json:"answer"`
	}
	if err := json.Unmarshal(reply, &answer); err != nil || answer.Answer.MessageAck != "ok" {
		return fmt.Errorf("bad answer: %s", reply)
	}
	return w.Close(ctx, "")
}

// cliArgs puts the relay URL where each CLI wants it.
func cliArgs(cli, url string, args ...string) []string {
	if cli == "wormhole" {
		return append([]string{"--relay-url", url}, args...) // before the subcommand
	}
	return append(args, "--relay-url", url)
}

// TestTextFromCLI: a stock CLI sends text, we receive it.
func TestTextFromCLI(t *testing.T) {
	for _, cli := range []string{"wormhole", "wormhole-william"} {
		t.Run(cli, func(t *testing.T) {
			peers.Need(t, cli)
			srv := peers.StartReference(t, 0, 0)
			ctx := testCtx(t, 60*time.Second)
			send := peers.Start(t, "", nil, "", cli, cliArgs(cli, srv.MailboxURL, "send", "--text", text)...)
			code := send.Code(t, 30*time.Second)

			w := newWormhole(t, ctx, srv.MailboxURL)
			if err := w.SetCode(ctx, code); err != nil {
				t.Fatal(err)
			}
			if w.Code() != code {
				t.Fatalf("Code() = %q", w.Code())
			}
			got, err := receiveText(ctx, w)
			if err != nil {
				t.Fatalf("%v\n%s output:\n%s", err, cli, send.Output())
			}
			if got != text {
				t.Fatalf("received %q, want %q", got, text)
			}
			if err := send.Wait(ctx); err != nil {
				t.Fatalf("%s send: %v\n%s", cli, err, send.Output())
			}
			checkTrace(t, w.Trace())
		})
	}
}

// TestTextToCLI: we allocate a code and send text, a stock CLI receives.
func TestTextToCLI(t *testing.T) {
	for _, cli := range []string{"wormhole", "wormhole-william"} {
		t.Run(cli, func(t *testing.T) {
			peers.Need(t, cli)
			srv := peers.StartReference(t, 0, 0)
			ctx := testCtx(t, 60*time.Second)
			w := newWormhole(t, ctx, srv.MailboxURL)
			code, err := w.AllocateCode(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if parts := strings.Split(code, "-"); len(parts) != 3 {
				t.Fatalf("code %q does not have 2 words", code)
			}
			recv := peers.Start(t, "", nil, "", cli, cliArgs(cli, srv.MailboxURL, "receive", code)...)
			if err := sendText(ctx, w, text); err != nil {
				t.Fatalf("%v\n%s output:\n%s", err, cli, recv.Output())
			}
			if err := recv.Wait(ctx); err != nil {
				t.Fatalf("%s receive: %v\n%s", cli, err, recv.Output())
			}
			if !strings.Contains(recv.Output(), text) {
				t.Fatalf("%s did not print the text:\n%s", cli, recv.Output())
			}
			checkTrace(t, w.Trace())
		})
	}
}

// TestWrongCode: Python sends with 7-aa-bb, we try 7-aa-cc. Both sides
// must see the wrong code; nothing may be delivered.
func TestWrongCode(t *testing.T) {
	peers.Need(t, "wormhole")
	srv := peers.StartReference(t, 0, 0)
	ctx := testCtx(t, 60*time.Second)
	send := peers.Start(t, "", nil, "", "wormhole", "--relay-url", srv.MailboxURL, "send", "--code", "7-aa-bb", "--text", text)
	send.Code(t, 30*time.Second)
	w := newWormhole(t, ctx, srv.MailboxURL)
	if err := w.SetCode(ctx, "7-aa-cc"); err != nil {
		t.Fatal(err)
	}
	_, err := w.WaitVerified(ctx)
	if !errors.Is(err, ErrWrongCode) || !strings.Contains(err.Error(), "wrong code") {
		t.Fatalf("WaitVerified: %v", err)
	}
	if _, err := w.Receive(ctx); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("Receive after wrong code: %v", err)
	}
	if _, err := w.DeriveKey("x", 32); !errors.Is(err, ErrNoKey) {
		t.Fatalf("DeriveKey after wrong code: %v", err)
	}
	if err := w.Close(ctx, ""); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("Close: %v", err)
	}
	perr := send.Wait(ctx)
	out := strings.ToLower(send.Output())
	if perr == nil || !(strings.Contains(out, "wrong") || strings.Contains(out, "scary")) {
		t.Fatalf("python sender: err %v, output:\n%s", perr, send.Output())
	}
	if !bytes.Contains(w.Trace(), []byte(`"dir":"send","type":"close"`)) {
		t.Fatalf("no close in trace: %s", w.Trace())
	}
}

// checkTrace: valid JSON, and the server acknowledged our commands.
func checkTrace(t *testing.T, raw []byte) {
	t.Helper()
	var doc struct {
		Side     string `json:"side"`
		Messages []struct {
			Dir      string   `json:"dir"`
			Type     string   `json:"type"`
			ID       string   `json:"id"`
			At       float64  `json:"at"`
			Acked    *float64 `json:"acked"`
			ServerTx *float64 `json:"server_tx"`
			ServerRx *float64 `json:"server_rx"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("trace is not JSON: %v\n%s", err, raw)
	}
	acked, rx := 0, 0
	types := map[string]bool{}
	for _, m := range doc.Messages {
		types[m.Dir+" "+m.Type] = true
		if m.Dir == "send" && m.Acked != nil && m.ServerTx != nil && *m.Acked >= m.At && len(m.ID) == 4 {
			acked++
		}
		if m.Dir == "send" && m.Type == "add" && m.ServerRx != nil {
			rx++
		}
	}
	for _, want := range []string{"send bind", "recv welcome", "send claim", "recv claimed", "send open", "send add", "recv message", "send release", "send close", "recv closed"} {
		if !types[want] {
			t.Errorf("trace lacks %q: %s", want, raw)
		}
	}
	if acked < 6 || rx < 3 {
		t.Fatalf("trace has %d acked sends and %d adds with server_rx: %s", acked, rx, raw)
	}
}
