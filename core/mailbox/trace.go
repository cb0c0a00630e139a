package mailbox

import (
	"encoding/json"
	"time"
)

// TraceEntry records one WebSocket message of the session. Times are the
// Now of the event during which the message was handed to the driver or
// arrived; server times are the server's float epoch seconds (0 = none).
type TraceEntry struct {
	Dir   string // "send" or "recv"
	Type  string // message type ("malformed" for undecodable input)
	ID    string // command id / the id an ack or message carries
	Phase string // add and message only
	Side  string // message only
	Conn  int    // 1 for the first connection, 2 after a reconnect, ...
	Size  int    // bytes on the wire
	At    time.Time
	// Sends only: when the ack for this id arrived, the ack's server_tx,
	// and for adds the server_rx of our echo.
	Acked time.Time
	// ServerTx is the message's server_tx (recv) or the ack's (send).
	ServerTx float64
	// ServerRx is server_rx of a message, or of the echo of an add.
	ServerRx float64
}

// MarshalJSON writes times as float epoch seconds like the server does, and
// leaves out what is unknown.
func (e TraceEntry) MarshalJSON() ([]byte, error) {
	type wire struct {
		Dir      string   `json:"dir"`
		Type     string   `json:"type"`
		ID       string   `json:"id,omitempty"`
		Phase    *string  `json:"phase,omitempty"`
		Side     string   `json:"side,omitempty"`
		Conn     int      `json:"conn"`
		Size     int      `json:"size"`
		At       float64  `json:"at"`
		Acked    *float64 `json:"acked,omitempty"`
		ServerTx *float64 `json:"server_tx,omitempty"`
		ServerRx *float64 `json:"server_rx,omitempty"`
	}
	w := wire{Dir: e.Dir, Type: e.Type, ID: e.ID, Side: e.Side, Conn: e.Conn, Size: e.Size, At: epoch(e.At)}
	if e.Type == "add" || e.Type == "message" {
		w.Phase = &e.Phase
	}
	if !e.Acked.IsZero() {
		a := epoch(e.Acked)
		w.Acked = &a
	}
	if e.ServerTx != 0 {
		w.ServerTx = &e.ServerTx
	}
	if e.ServerRx != 0 {
		w.ServerRx = &e.ServerRx
	}
	return json.Marshal(w)
}

func epoch(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

type trace struct {
	side    string // ours, to recognise our echoes
	max     int
	entries []TraceEntry
	dropped int
	sends   map[string]int // id → index of the latest send with that id
}

func (t *trace) add(e TraceEntry) int {
	if len(t.entries) >= t.max {
		t.dropped++
		return -1
	}
	t.entries = append(t.entries, e)
	return len(t.entries) - 1
}

func (t *trace) send(now time.Time, conn int, typ, id, phase string, size int) {
	i := t.add(TraceEntry{Dir: "send", Type: typ, ID: id, Phase: phase, Conn: conn, Size: size, At: now})
	if i >= 0 {
		if t.sends == nil {
			t.sends = map[string]int{}
		}
		t.sends[id] = i
	}
}

func (t *trace) recv(now time.Time, conn int, typ string, msg *ServerMessage, size int) {
	e := TraceEntry{Dir: "recv", Type: typ, Conn: conn, Size: size, At: now}
	if msg != nil {
		e.ID, e.Phase, e.Side, e.ServerTx, e.ServerRx = msg.ID, msg.Phase, msg.Side, msg.ServerTx, msg.ServerRx
		// Our echo tells when the server stored the add.
		if msg.Type == "message" && msg.ID != "" && msg.Side == t.side {
			if i, ok := t.sends[msg.ID]; ok && t.entries[i].Type == "add" && t.entries[i].Phase == msg.Phase {
				t.entries[i].ServerRx = msg.ServerRx
			}
		}
	}
	t.add(e)
}

func (t *trace) ack(id string, now time.Time, serverTx float64) {
	if i, ok := t.sends[id]; ok && t.entries[i].Acked.IsZero() {
		t.entries[i].Acked = now
		t.entries[i].ServerTx = serverTx
	}
}

// Trace returns a copy of the timing trace so far.
func (m *Machine) Trace() []TraceEntry {
	return append([]TraceEntry(nil), m.tr.entries...)
}

// TraceJSON returns the trace as a JSON object:
// {"side": ..., "dropped": n, "messages": [entries...]}.
func (m *Machine) TraceJSON() []byte {
	doc := struct {
		Side     string       `json:"side"`
		Dropped  int          `json:"dropped"`
		Messages []TraceEntry `json:"messages"`
	}{m.side, m.tr.dropped, m.tr.entries}
	if doc.Messages == nil {
		doc.Messages = []TraceEntry{}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic("mailbox: encoding the trace: " + err.Error()) // plain values: cannot fail
	}
	return b
}
