package mailbox

import (
	"fmt"
	"strings"
	"testing"
)

// boundAs binds connection c as side, from client address client.
func (h *harness) boundAs(c ConnID, side, client string) {
	h.t.Helper()
	h.do(Connected{Conn: c, Now: h.now, Client: client})
	h.expect(h.recv(c, `{"type":"bind","appid":"`+appID+`","side":"`+side+`"}`), fmt.Sprintf("%d>ack", c))
}

// empty is what an add with an empty body, phase "p" and no id costs for
// side "a": 1 + 1 + the overhead.
const empty = 2 + MessageOverhead

func TestMessageCostCountsEverything(t *testing.T) {
	h := newHarness(t, Config{MaxMailboxBytes: 2100})
	h.bound(1, "a")
	h.recv(1, `{"type":"open","mailbox":"m"}`)
	// A big id is charged like a big body: 1500 + 2 quotes + 1 + 1 + 256.
	id := `"` + strings.Repeat("i", 1500) + `"`
	got := h.recv(1, `{"type":"add","phase":"p","body":"","id":`+id+`}`)
	h.expect(got, "1>ack", "1>message:a:p:")
	if b := h.m.Stats().Bytes; b != 1502+empty {
		t.Fatalf("charged %d, want %d", b, 1502+empty)
	}
	h.expect(h.recv(1, `{"type":"add","phase":"p","body":"","id":`+id+`}`), "1>ack",
		"1>error:mailbox full: its messages may total at most 2100 bytes (body, phase, id and side, plus 256 per message)")
	// The connection stays usable.
	h.expect(h.recv(1, `{"type":"add","phase":"p","body":""}`), "1>ack", "1>message:a:p:")
}

func TestMessageCountCap(t *testing.T) {
	h := newHarness(t, Config{MaxMailboxMessages: 3})
	h.bound(1, "a")
	h.recv(1, `{"type":"open","mailbox":"m"}`)
	for range 3 {
		h.expect(h.recv(1, `{"type":"add","phase":"p","body":""}`), "1>ack", "1>message:a:p:")
	}
	h.expect(h.recv(1, `{"type":"add","phase":"p","body":""}`), "1>ack", "1>error:mailbox full: it may hold at most 3 messages")
	h.expect(h.recv(1, `{"type":"close","mood":"happy"}`), "1>ack", "1>closed")
	if st := h.m.Stats(); st.Messages != 0 || st.Bytes != 0 {
		t.Fatalf("after close: %+v", st)
	}
}

func TestClientAndTotalBudgets(t *testing.T) {
	overClient := "1>error:over budget: messages added from your address and still stored may total at most 1000 bytes; close finished mailboxes or retry later"
	h := newHarness(t, Config{MaxClientBytes: 1000, MaxTotalBytes: 2000})
	// Connections 1 and 2 share an address, each in its own mailbox.
	h.boundAs(1, "a", "192.0.2.1")
	h.boundAs(2, "a", "192.0.2.1")
	h.boundAs(3, "a", "198.51.100.7")
	h.boundAs(4, "a", "") // exempt from the per-client budget
	for c, mb := range map[ConnID]string{1: "m1", 2: "m2", 3: "m3", 4: "m4"} {
		h.recv(c, `{"type":"open","mailbox":"`+mb+`"}`)
	}
	add := func(c ConnID) []sent { return h.recv(c, `{"type":"add","phase":"p","body":""}`) }
	for range 2 {
		h.expect(add(1), "1>ack", "1>message:a:p:")
	}
	h.expect(add(2), "2>ack", "2>message:a:p:")
	// 3 × 258 = 774; a fourth passes 1000.
	h.expect(add(2), "2>ack", strings.Replace(overClient, "1>", "2>", 1))
	h.expect(add(3), "3>ack", "3>message:a:p:")
	for range 3 {
		h.expect(add(4), "4>ack", "4>message:a:p:")
	}
	// 7 × 258 = 1806; an eighth passes 2000.
	h.expect(add(4), "4>ack", "4>error:server full: it stores as many messages as it may; retry later")
	// Closing m1 deletes it and refunds its bytes to the address and the server.
	h.expect(h.recv(1, `{"type":"close"}`), "1>ack", "1>closed")
	h.expect(add(2), "2>ack", "2>message:a:p:")
	if st := h.m.Stats(); st.Bytes != 6*empty || h.m.clientBytes["192.0.2.1"] != 2*empty {
		t.Fatalf("bytes %d, client %d", st.Bytes, h.m.clientBytes["192.0.2.1"])
	}
	if h.m.Stats().Errors["client_over_budget"] != 1 || h.m.Stats().Errors["server_full"] != 1 {
		t.Fatalf("errors %v", h.m.Stats().Errors)
	}
	// A restart charges the stored messages to the server, not to anyone.
	h.restart(Config{})
	if st := h.m.Stats(); st.Bytes != 6*empty || len(h.m.clientBytes) != 0 {
		t.Fatalf("after restart: bytes %d, clients %v", st.Bytes, h.m.clientBytes)
	}
}

func TestListenersPerSide(t *testing.T) {
	h := newHarness(t, Config{MaxListenersPerSide: 2})
	for c := ConnID(1); c <= 4; c++ {
		h.bound(c, "a")
	}
	h.bound(9, "b")
	h.expect(h.recv(1, `{"type":"open","mailbox":"m"}`), "1>ack")
	h.expect(h.recv(1, `{"type":"add","phase":"p","body":"x"}`), "1>ack", "1>message:a:p:x")
	h.expect(h.recv(2, `{"type":"open","mailbox":"m"}`), "2>ack", "2>message:a:p:x")
	h.expect(h.recv(3, `{"type":"open","mailbox":"m"}`), "3>ack",
		`3>error:too many connections have this mailbox open as side "a" (limit 2): close one and retry`)
	// The other side is counted on its own.
	h.expect(h.recv(9, `{"type":"open","mailbox":"m"}`), "9>ack", "9>message:a:p:x")
	// Once a listener is gone the refused connection may open after all.
	h.drop(1)
	h.expect(h.recv(3, `{"type":"open","mailbox":"m"}`), "3>ack", "3>message:a:p:x")
}

func TestStreamReplaysSameFrames(t *testing.T) {
	var frames [2][]string
	for i, stream := range []bool{false, true} {
		h := newHarness(t, Config{StreamReplays: stream})
		h.bound(1, "a")
		h.bound(2, "a")
		h.recv(1, `{"type":"open","mailbox":"m"}`)
		for _, b := range []string{"1", "2", "3"} {
			h.recv(1, `{"type":"add","phase":"p","body":"`+b+`","id":"x`+b+`"}`)
		}
		for _, s := range h.recv(2, `{"type":"open","mailbox":"m"}`) {
			frames[i] = append(frames[i], string(s.raw)+fmt.Sprint("@", s.after))
		}
		// A message added after the replay was taken is not in it.
		h.recv(1, `{"type":"add","phase":"p","body":"4"}`)
	}
	if fmt.Sprint(frames[0]) != fmt.Sprint(frames[1]) || len(frames[0]) != 4 {
		t.Fatalf("sends %q\nreplay %q", frames[0], frames[1])
	}
}
