package host

import (
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/wasmhole/wasmhole/relay/iplimit"
	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/store"
)

const appID = "lothar.com/wormhole/text-or-file-xfer"

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// failingStore is a Memory store whose Apply fails on demand.
type failingStore struct {
	*store.Memory
	fail bool
}

func (f *failingStore) Apply(ops []store.Op) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.Memory.Apply(ops)
}

func newMailbox(t *testing.T, st store.Store, seed byte) (*Mailbox, []Cmd) {
	t.Helper()
	h, cmds, err := NewMailbox(MailboxConfig{Machine: mailbox.Config{Rand: mrand.NewChaCha8([32]byte{seed})}}, st, t0)
	if err != nil {
		t.Fatal(err)
	}
	return h, cmds
}

// msgs decodes the TEXT frames sent to conn.
func msgs(t *testing.T, cmds []Cmd, conn uint64) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, c := range cmds {
		if c.Kind != KindSend || c.Conn != conn {
			continue
		}
		if !c.Text {
			t.Fatalf("mailbox frame sent as binary: %s", c.Data)
		}
		var m map[string]any
		if err := json.Unmarshal(c.Data, &m); err != nil {
			t.Fatalf("bad frame %q: %v", c.Data, err)
		}
		out = append(out, m)
	}
	return out
}

func find(t *testing.T, ms []map[string]any, typ string) map[string]any {
	t.Helper()
	for _, m := range ms {
		if m["type"] == typ {
			return m
		}
	}
	t.Fatalf("no %q in %v", typ, ms)
	return nil
}

func frame(h *Mailbox, conn uint64, at time.Time, m map[string]any) []Cmd {
	b, _ := json.Marshal(m)
	return h.Frame(conn, b, at)
}

func TestMailboxStartArmsAlarm(t *testing.T) {
	_, cmds := newMailbox(t, store.NewMemory(), 1)
	if len(cmds) != 1 || cmds[0].Kind != KindAlarm || cmds[0].After != mailbox.DefaultPruneInterval {
		t.Fatalf("start: %+v", cmds)
	}
}

// TestMailboxSurvivesRestart is the eviction story: one instance allocates
// and stores a message, a new instance built on the same storage lets the
// other side claim the same mailbox and replays the message.
func TestMailboxSurvivesRestart(t *testing.T) {
	st := store.NewMemory()
	h, _ := newMailbox(t, st, 1)
	now := t0.Add(time.Second)
	if w := find(t, msgs(t, h.Open(1, "", now), 1), "welcome"); w == nil {
		t.Fatal("no welcome")
	}
	frame(h, 1, now, map[string]any{"type": "bind", "appid": appID, "side": "aaaa", "id": "0001"})
	alloc := find(t, msgs(t, frame(h, 1, now, map[string]any{"type": "allocate", "id": "0002"}), 1), "allocated")
	np := alloc["nameplate"].(string)
	claimed := find(t, msgs(t, frame(h, 1, now, map[string]any{"type": "claim", "nameplate": np, "id": "0003"}), 1), "claimed")
	mb := claimed["mailbox"].(string)
	frame(h, 1, now, map[string]any{"type": "open", "mailbox": mb, "id": "0004"})
	echo := find(t, msgs(t, frame(h, 1, now, map[string]any{"type": "add", "phase": "pake", "body": "00ff", "id": "0005"}), 1), "message")
	if echo["id"] != "0005" || echo["body"] != "00ff" {
		t.Fatalf("echo %v", echo)
	}

	// A new Durable Object instance: the old one's memory is gone.
	h2, _ := newMailbox(t, st, 2)
	later := now.Add(time.Minute)
	h2.Open(7, "", later)
	frame(h2, 7, later, map[string]any{"type": "bind", "appid": appID, "side": "bbbb"})
	got := find(t, msgs(t, frame(h2, 7, later, map[string]any{"type": "claim", "nameplate": np}), 7), "claimed")
	if got["mailbox"] != mb {
		t.Fatalf("after restart nameplate %s -> mailbox %v, want %s", np, got["mailbox"], mb)
	}
	replay := msgs(t, frame(h2, 7, later, map[string]any{"type": "open", "mailbox": mb}), 7)
	m := find(t, replay, "message")
	if m["side"] != "aaaa" || m["phase"] != "pake" || m["body"] != "00ff" {
		t.Fatalf("replayed %v", m)
	}
	// And the first side can come back too (re-bind, re-claim).
	h2.Open(8, "", later)
	frame(h2, 8, later, map[string]any{"type": "bind", "appid": appID, "side": "aaaa"})
	again := find(t, msgs(t, frame(h2, 8, later, map[string]any{"type": "claim", "nameplate": np}), 8), "claimed")
	if again["mailbox"] != mb {
		t.Fatalf("re-claim after restart: %v", again)
	}
}

func TestMailboxTooLargeFrame(t *testing.T) {
	h, _, err := NewMailbox(MailboxConfig{MaxFrame: 100}, store.NewMemory(), t0)
	if err != nil {
		t.Fatal(err)
	}
	h.Open(1, "", t0)
	cmds := h.Frame(1, []byte(`{"type":"ping","ping":1,"pad":"`+strings.Repeat("x", 200)+`"}`), t0)
	e := find(t, msgs(t, cmds, 1), "error")
	if !strings.Contains(e["error"].(string), "too large") {
		t.Fatalf("error %v", e)
	}
	// Exactly at the limit is fine.
	ok := []byte(`{"type":"ping","ping":1}`)
	ok = append(ok[:len(ok)-1], []byte(`,"p":"`+strings.Repeat("y", 100-len(ok)-7)+`"}`)...)
	if len(ok) != 100 {
		t.Fatalf("test frame is %d bytes", len(ok))
	}
	find(t, msgs(t, h.Frame(1, ok, t0), 1), "pong")
}

func TestMailboxBinaryFramesAccepted(t *testing.T) {
	// Frames arrive as bytes whatever their WebSocket type; replies are
	// always TEXT (checked by msgs).
	h, _ := newMailbox(t, store.NewMemory(), 1)
	h.Open(1, "", t0)
	find(t, msgs(t, h.Frame(1, []byte(`{"type":"ping","ping":5}`), t0), 1), "pong")
}

func TestMailboxStoreFailureResets(t *testing.T) {
	st := &failingStore{Memory: store.NewMemory()}
	h, _ := newMailbox(t, st, 1)
	h.Open(1, "", t0)
	frame(h, 1, t0, map[string]any{"type": "bind", "appid": appID, "side": "aaaa"})
	st.fail = true
	cmds := frame(h, 1, t0, map[string]any{"type": "allocate"})
	if len(cmds) != 1 || cmds[0].Kind != KindReset || !strings.Contains(cmds[0].Reason, "disk full") {
		t.Fatalf("failed write: %+v", cmds)
	}
	// Nothing of that event may reach the client, and the host stays
	// broken until the object restarts.
	st.fail = false
	for _, cmds := range [][]Cmd{h.Open(2, "", t0), h.Gone(1, t0), h.Alarm(t0)} {
		if len(cmds) != 1 || cmds[0].Kind != KindReset {
			t.Fatalf("after failure: %+v", cmds)
		}
	}
}

func TestMailboxAlarm(t *testing.T) {
	st := store.NewMemory()
	h, _ := newMailbox(t, st, 1)
	// Idle: the alarm is cancelled, so the object may stay evicted.
	cmds := h.Alarm(t0.Add(5 * time.Minute))
	if len(cmds) != 1 || cmds[0].Kind != KindCancelAlarm {
		t.Fatalf("idle alarm: %+v", cmds)
	}
	// A stored mailbox keeps the alarm going until it expires.
	h.Open(1, "", t0)
	frame(h, 1, t0, map[string]any{"type": "bind", "appid": appID, "side": "aaaa"})
	frame(h, 1, t0, map[string]any{"type": "allocate"})
	h.Gone(1, t0)
	cmds = h.Alarm(t0.Add(5 * time.Minute))
	if len(cmds) != 1 || cmds[0].Kind != KindAlarm {
		t.Fatalf("alarm with a stored mailbox: %+v", cmds)
	}
	// After the expiry the pruner deletes it (in storage too) and the
	// alarm stops.
	cmds = h.Alarm(t0.Add(12 * time.Minute))
	if len(cmds) != 1 || cmds[0].Kind != KindCancelAlarm {
		t.Fatalf("alarm after expiry: %+v", cmds)
	}
	snap, _ := st.Load()
	if len(snap.Mailboxes)+len(snap.Nameplates)+len(snap.Messages) != 0 {
		t.Fatalf("expired state still stored: %+v", snap)
	}
}

func TestMailboxLoadFailure(t *testing.T) {
	st := store.NewMemory()
	st.Close()
	if _, _, err := NewMailbox(MailboxConfig{}, st, t0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("NewMailbox on a closed store: %v", err)
	}
}

func TestMailboxCloseConn(t *testing.T) {
	// Hashcash required: a command before the stamp is refused and the
	// connection closed, which must come out as a close command.
	h, _, err := NewMailbox(MailboxConfig{Machine: mailbox.Config{HashcashBits: 8}}, store.NewMemory(), t0)
	if err != nil {
		t.Fatal(err)
	}
	h.Open(1, "", t0)
	cmds := frame(h, 1, t0, map[string]any{"type": "bind", "appid": appID, "side": "aaaa"})
	last := cmds[len(cmds)-1]
	if last.Kind != KindClose || last.Conn != 1 || last.Code == 0 {
		t.Fatalf("refused bind: %+v", cmds)
	}
}

// FuzzMailboxFrames feeds arbitrary frames from two connections through a
// host on a Memory store, restarting it from the store now and then, and
// checks that every reply is a JSON TEXT frame and the host never needs a
// reset.
func FuzzMailboxFrames(f *testing.F) {
	f.Add([]byte(`{"type":"bind","appid":"a","side":"s"}`), []byte(`{"type":"allocate"}`), uint8(3))
	f.Add([]byte(`{"type":"claim","nameplate":"4"}`), []byte(`{"type":"open","mailbox":"x"}`), uint8(0))
	f.Add([]byte(`{"type":"add","phase":"pake","body":"00"}`), []byte("\xff\xfe"), uint8(1))
	f.Add([]byte(`[1,2]`), []byte(`{"type":"close","mood":"happy"}`), uint8(2))
	f.Fuzz(func(t *testing.T, a, b []byte, restart uint8) {
		st := store.NewMemory()
		h, _ := newMailbox(t, st, 1)
		now := t0
		bind := []byte(`{"type":"bind","appid":"a","side":"s1"}`)
		for i, fr := range [][]byte{bind, a, b, a, b} {
			conn := uint64(1 + i%2)
			if i == 0 || i == 1 {
				h.Open(conn, "", now)
			}
			if int(restart)%5 == i {
				h2, _, err := NewMailbox(MailboxConfig{Machine: mailbox.Config{Rand: mrand.NewChaCha8([32]byte{9})}}, st, now)
				if err != nil {
					t.Fatal(err)
				}
				h = h2
				h.Open(1, "", now)
				h.Open(2, "", now)
			}
			for _, c := range h.Frame(conn, fr, now) {
				switch c.Kind {
				case KindSend:
					if !c.Text || !json.Valid(c.Data) {
						t.Fatalf("reply %q (text %v)", c.Data, c.Text)
					}
				case KindReset:
					t.Fatalf("reset: %s", c.Reason)
				}
			}
			now = now.Add(time.Second)
		}
	})
}

func TestMailboxPerAddressLimits(t *testing.T) {
	h, _, err := NewMailbox(MailboxConfig{Limits: iplimit.Config{MaxConns: 2, ExemptLoopback: true}}, store.NewMemory(), t0)
	if err != nil {
		t.Fatal(err)
	}
	const ip = "198.51.100.7"
	for conn := uint64(1); conn <= 2; conn++ {
		find(t, msgs(t, h.Open(conn, ip, t0), conn), "welcome")
	}
	cmds := h.Open(3, ip, t0)
	w := find(t, msgs(t, cmds, 3), "welcome")
	if e, _ := w["welcome"].(map[string]any)["error"].(string); !strings.Contains(e, "too many connections") {
		t.Fatalf("refusal welcome %v", w)
	}
	if last := cmds[len(cmds)-1]; last.Kind != KindClose || last.Code != mailbox.ClosePolicyViolation {
		t.Fatalf("refusal: %+v", cmds)
	}
	// A refused connection's frames and end do not disturb anything.
	h.Frame(3, []byte(`{"type":"ping","ping":1}`), t0)
	h.Gone(3, t0)
	// Other addresses, loopback and unknown addresses are not affected.
	for i, other := range []string{"198.51.100.8", "127.0.0.1", "::1", ""} {
		find(t, msgs(t, h.Open(uint64(10+i), other, t0), uint64(10+i)), "welcome")
	}
	// A slot frees up when a connection ends.
	h.Gone(1, t0)
	find(t, msgs(t, h.Open(4, ip, t0), 4), "welcome")
	// 2 and 4 from ip, four others; 1 left, 3 was never admitted.
	if s := h.Stats(); s.Connections != 6 {
		t.Fatalf("connections %d, want 6", s.Connections)
	}
}
