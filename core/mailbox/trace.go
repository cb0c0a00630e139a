package mailbox

import (
	"time"

	"github.com/wasmhole/wasmhole/internal/jsonx"
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
// leaves out what is unknown: {"dir", "type", "id", "phase" (add and
// message only), "side", "conn", "size", "at", "acked", "server_tx",
// "server_rx"}. It never fails.
func (e TraceEntry) MarshalJSON() ([]byte, error) {
	return jsonx.AppendObject(nil, e.members), nil
}

func (e TraceEntry) members(o *jsonx.Obj) {
	o.String("dir", e.Dir)
	o.String("type", e.Type)
	o.StringOmitEmpty("id", e.ID)
	if e.Type == "add" || e.Type == "message" {
		o.String("phase", e.Phase)
	}
	o.StringOmitEmpty("side", e.Side)
	o.Int("conn", int64(e.Conn))
	o.Int("size", int64(e.Size))
	o.Float("at", epoch(e.At))
	if !e.Acked.IsZero() {
		o.Float("acked", epoch(e.Acked))
	}
	if e.ServerTx != 0 {
		o.Float("server_tx", e.ServerTx)
	}
	if e.ServerRx != 0 {
		o.Float("server_rx", e.ServerRx)
	}
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
	return jsonx.AppendObject(nil, func(o *jsonx.Obj) {
		o.String("side", m.side)
		o.Int("dropped", int64(m.tr.dropped))
		o.Array("messages", func(a *jsonx.Arr) {
			for _, e := range m.tr.entries {
				a.Object(e.members)
			}
		})
	})
}
