package transit

// The transit message as encoding/json read it and wrote its strings
// before internal/jsonx replaced it (the browser build leaves
// encoding/json out), verbatim: the tests hold the new code to it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// refParseMessage is ParseMessage as it was with encoding/json.
func refParseMessage(raw []byte) (*Message, error) {
	if len(raw) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrBadMessage, len(raw), MaxMessageSize)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if top == nil { // JSON null
		return nil, fmt.Errorf("%w: null", ErrBadMessage)
	}
	m := &Message{}
	for _, obj := range refObjects(top["abilities-v1"]) {
		if t, ok := refStr(obj["type"]); ok && !contains(m.Abilities, t) {
			m.Abilities = append(m.Abilities, t)
		}
	}
	var relays []RelayHint
	for _, obj := range refObjects(top["hints-v1"]) {
		t, _ := refStr(obj["type"])
		switch t {
		case TypeDirectTCP:
			if h, ok := refParseTCP(obj); ok {
				m.Hints.Direct = append(m.Hints.Direct, h)
			}
		case TypeRelay:
			r := RelayHint{}
			r.Name, _ = refStr(obj["name"])
			for _, inner := range refObjects(obj["hints"]) {
				refAddEndpoint(&r, inner)
			}
			relays = append(relays, r)
		}
	}
	m.Hints = Hints{Direct: m.Hints.Direct, Relays: relays}.normalize()
	return m, nil
}

// addEndpoint adds one inner hint of a relay-v1 hint to r, if usable.
func refAddEndpoint(r *RelayHint, obj map[string]json.RawMessage) {
	t, _ := refStr(obj["type"])
	switch t {
	case TypeDirectTCP:
		if h, ok := refParseTCP(obj); ok {
			r.TCP = append(r.TCP, h)
		}
	case TypeWebSocket, TypeWebSocketV1:
		u, _ := refStr(obj["url"])
		if u, ok := wsURL(u); ok {
			r.WebSocket = append(r.WebSocket, WebSocketHint{URL: u, Priority: refPriority(obj["priority"])})
		}
	case TypeDirectWS, TypeDirectWSS:
		if h, ok := refParseTCP(obj); ok {
			scheme := "ws"
			if t == TypeDirectWSS {
				scheme = "wss"
			}
			if u, ok := directWSURL(scheme, h); ok {
				r.WebSocket = append(r.WebSocket, WebSocketHint{URL: u, Priority: h.Priority})
			}
		}
	}
}

// parseTCP reads the hostname/port/priority shape shared by direct-tcp-v1
// and the old direct-ws hints. Python wants a string hostname and an
// integer port; we also take an integral float port.
func refParseTCP(obj map[string]json.RawMessage) (DirectHint, bool) {
	host, ok := refStr(obj["hostname"])
	if !ok || host == "" || len(host) > 255 || strings.ContainsAny(host, "/ \t\r\n") {
		return DirectHint{}, false
	}
	// An IPv6 literal may come bracketed; dialling wants it bare.
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	p, ok := refNumber(obj["port"])
	if !ok || p != math.Trunc(p) || p < 1 || p > 65535 {
		return DirectHint{}, false
	}
	return DirectHint{Hostname: host, Port: int(p), Priority: refPriority(obj["priority"])}, true
}

// objects returns the JSON objects in a JSON array, skipping other
// elements; anything that is not an array (including null) yields none.
func refObjects(raw json.RawMessage) []map[string]json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []map[string]json.RawMessage
	for _, el := range list {
		var obj map[string]json.RawMessage
		if json.Unmarshal(el, &obj) == nil && obj != nil {
			out = append(out, obj)
		}
	}
	return out
}

func refStr(raw json.RawMessage) (string, bool) {
	var s *string
	if json.Unmarshal(raw, &s) != nil || s == nil {
		return "", false
	}
	return *s, true
}

func refNumber(raw json.RawMessage) (float64, bool) {
	var f *float64
	if json.Unmarshal(raw, &f) != nil || f == nil {
		return 0, false
	}
	return *f, true
}

// priority is a hint's priority; missing or not a number means 0, as in
// Python.
func refPriority(raw json.RawMessage) float64 {
	p, _ := refNumber(raw)
	return p
}

// refMarshal is Message.MarshalJSON as it was with encoding/json.
func refMarshal(m Message) ([]byte, error) {
	abilities := m.Abilities
	if len(abilities) == 0 {
		abilities = DefaultAbilities
	}
	var b bytes.Buffer
	b.WriteString(`{"abilities-v1":[`)
	for i, a := range abilities {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":`)
		refWriteString(&b, a)
		b.WriteByte('}')
	}
	b.WriteString(`],"hints-v1":[`)
	n := 0
	sep := func() {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
	}
	for _, d := range m.Hints.Direct {
		sep()
		refWriteTCP(&b, d)
	}
	for _, r := range m.Hints.Relays {
		sep()
		b.WriteString(`{"type":"relay-v1",`)
		if r.Name != "" {
			b.WriteString(`"name":`)
			refWriteString(&b, r.Name)
			b.WriteByte(',')
		}
		b.WriteString(`"hints":[`)
		for i, d := range r.TCP {
			if i > 0 {
				b.WriteByte(',')
			}
			refWriteTCP(&b, d)
		}
		for i, w := range r.WebSocket {
			if i > 0 || len(r.TCP) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"type":"websocket","url":`)
			refWriteString(&b, w.URL)
			b.WriteString(`},{"type":"websocket-v1","priority":`)
			b.WriteString(pyFloat(w.Priority))
			b.WriteString(`,"url":`)
			refWriteString(&b, w.URL)
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes(), nil
}

func refWriteTCP(b *bytes.Buffer, d DirectHint) {
	b.WriteString(`{"type":"direct-tcp-v1","priority":`)
	b.WriteString(pyFloat(d.Priority))
	b.WriteString(`,"hostname":`)
	refWriteString(b, d.Hostname)
	b.WriteString(`,"port":`)
	b.WriteString(strconv.Itoa(d.Port))
	b.WriteByte('}')
}

func refWriteString(b *bytes.Buffer, s string) {
	// json.Marshal of a string cannot fail; it also escapes <, >, & which
	// every JSON parser reads back unchanged.
	enc, _ := json.Marshal(s)
	b.Write(enc)
}
