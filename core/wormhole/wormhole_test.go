package wormhole

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/internal/peers"
	"github.com/wasmhole/wasmhole/internal/relaytest"
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

// TestTwoWormholes: two of ours through our mailbox server, concurrently,
// with messages in both directions and derived keys that agree.
func TestTwoWormholes(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	ctx := testCtx(t, 60*time.Second)
	a := newWormhole(t, ctx, srv.MailboxURL)
	b := newWormhole(t, ctx, srv.MailboxURL)
	code, err := a.AllocateCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AllocateCode(ctx); !errors.Is(err, ErrCodeSet) {
		t.Fatalf("second AllocateCode: %v", err)
	}
	if err := b.SetCode(ctx, "x-"+code); !errors.Is(err, ErrBadCode) {
		t.Fatalf("bad code: %v", err)
	}
	if err := b.SetCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, pair := range [][2]*Wormhole{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := from.Send(ctx, []byte(fmt.Sprintf("%s-%d", from.Side(), i))); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				msg, err := to.Receive(ctx)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("%s-%d", from.Side(), i); string(msg) != want {
					errs <- fmt.Errorf("got %q, want %q", msg, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	va, err := a.WaitVerified(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := b.WaitVerified(ctx)
	if len(va) != 32 || !bytes.Equal(va, vb) {
		t.Fatalf("verifiers %x %x", va, vb)
	}
	ka, err := a.DeriveKey("purpose", 24)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.DeriveKey("purpose", 24)
	if !bytes.Equal(ka, kb) {
		t.Fatal("derived keys differ")
	}
	if string(a.PeerVersions()) != "{}" {
		t.Fatalf("peer versions %s", a.PeerVersions())
	}
	for _, w := range []*Wormhole{a, b} {
		if err := w.Close(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := w.Send(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if _, err := w.Receive(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after Close: %v", err)
		}
	}
}

// TestCrowded: a third side on a nameplate gets ErrCrowded from the
// server.
func TestCrowded(t *testing.T) {
	srv := relaytest.Start(t, relaytest.Options{})
	ctx := testCtx(t, 60*time.Second)
	var ws []*Wormhole
	for i := 0; i < 3; i++ {
		ws = append(ws, newWormhole(t, ctx, srv.MailboxURL))
	}
	for _, w := range ws[:2] {
		if err := w.SetCode(ctx, "12-crowded-room"); err != nil {
			t.Fatal(err)
		}
	}
	err := ws[2].SetCode(ctx, "12-crowded-room")
	if !errors.Is(err, ErrCrowded) {
		t.Fatalf("third side: %v", err)
	}
}

func TestContextAndDial(t *testing.T) {
	t.Run("unreachable server", func(t *testing.T) {
		ctx := testCtx(t, 20*time.Second)
		port := peers.FreePort(t)
		_, err := (&Client{MailboxURL: fmt.Sprintf("ws://127.0.0.1:%d/v1", port)}).New(ctx)
		if err == nil || !strings.Contains(err.Error(), "connecting") {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("receive times out", func(t *testing.T) {
		srv := relaytest.Start(t, relaytest.Options{})
		w := newWormhole(t, testCtx(t, 30*time.Second), srv.MailboxURL)
		if _, err := w.AllocateCode(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := w.Receive(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Receive: %v", err)
		}
		// The session is still usable after a caller gave up, and closes
		// lonely without error.
		if err := w.Close(testCtx(t, 10*time.Second), ""); err != nil {
			t.Fatal(err)
		}
	})
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
