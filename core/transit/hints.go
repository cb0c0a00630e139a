package transit

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/wasmhole/wasmhole/internal/errs"
	"github.com/wasmhole/wasmhole/internal/jsonx"
)

// Hint and ability type strings on the wire.
const (
	TypeDirectTCP = "direct-tcp-v1"
	TypeRelay     = "relay-v1"
	TypeTorTCP    = "tor-tcp-v1"
	// Inner relay hint types for WebSocket endpoints. TypeWebSocket is what
	// magic-wormhole.rs (and Winden) read and write, TypeWebSocketV1 is the
	// spelling of the protocol spec, TypeDirectWS/TypeDirectWSS the 2021
	// LeastAuthority fork of wormhole-william (hostname+port, no URL).
	TypeWebSocket   = "websocket"
	TypeWebSocketV1 = "websocket-v1"
	TypeDirectWS    = "direct-ws-v1"
	TypeDirectWSS   = "direct-wss-v1"
)

// Limits on what a peer's transit message may make us do. Python has none,
// but every hint becomes a connection attempt, so a hostile peer could
// otherwise make us dial thousands of addresses.
const (
	MaxMessageSize   = 1 << 20
	MaxDirectHints   = 64
	MaxRelays        = 16
	MaxRelayEndpoint = 16
)

// DefaultAbilities are the abilities Python always advertises, and what
// MarshalJSON sends when Message.Abilities is empty.
var DefaultAbilities = []string{TypeDirectTCP, TypeRelay}

var (
	// ErrBadMessage is returned (wrapped) by ParseMessage when the transit
	// message is not a JSON object at all. Everything inside it is parsed
	// leniently: a hint we cannot use is dropped, not an error.
	ErrBadMessage = errors.New("transit: malformed transit message")
	// ErrBadRelay is returned (wrapped) by ParseRelay for a relay string it
	// does not understand.
	ErrBadRelay = errors.New("transit: bad relay address")
)

// DirectHint is a TCP endpoint: a peer's direct hint or one way to reach a
// relay. Hostname is an IP address or a DNS name (IPv6 without brackets).
type DirectHint struct {
	Hostname string
	Port     int
	Priority float64
}

// Addr is the hint as a net.Dial address: HOST:PORT, or [HOST]:PORT for
// an IPv6 address, as net.JoinHostPort writes it (written here because
// that was all this package needed of package net).
func (h DirectHint) Addr() string {
	port := strconv.Itoa(h.Port)
	if strings.IndexByte(h.Hostname, ':') >= 0 {
		return "[" + h.Hostname + "]:" + port
	}
	return h.Hostname + ":" + port
}

// WebSocketHint is a relay reachable over WebSocket (ws:// or wss:// URL).
type WebSocketHint struct {
	URL      string
	Priority float64
}

// RelayHint is one transit relay with every way to reach it.
type RelayHint struct {
	Name      string
	TCP       []DirectHint
	WebSocket []WebSocketHint
}

// Hints are the connection hints of one side.
type Hints struct {
	Direct []DirectHint
	Relays []RelayHint
}

// Message is the value of the "transit" key of the file-transfer protocol:
// what each side tells the other about how it can be reached.
type Message struct {
	Abilities []string
	Hints     Hints
}

// ParseMessage reads a peer's transit message, i.e. the value of its
// "transit" key. It accepts what every known implementation sends:
// "hints-v1" null or missing, direct hints with "hints": null, relay hints
// with "hostname": "" and "port": 0 or "name": null, missing, integer or
// float priorities, duplicates (dropped, keeping the highest priority),
// unknown hint types (ignored) and the three WebSocket spellings. Hints we
// could never dial (no hostname, port out of range, bad URL, Tor) are
// dropped. Only input that is not a JSON object is an error.
func ParseMessage(raw []byte) (*Message, error) {
	if len(raw) > MaxMessageSize {
		return nil, errs.With(ErrBadMessage, strconv.Itoa(len(raw))+" bytes (limit "+strconv.Itoa(MaxMessageSize)+")")
	}
	top, err := jsonx.Parse(raw)
	switch {
	case err != nil:
		return nil, errs.With(ErrBadMessage, err.Error())
	case top.IsNull():
		return nil, errs.With(ErrBadMessage, "null")
	case top.Kind() != jsonx.Object:
		return nil, errs.With(ErrBadMessage, "not a JSON object")
	}
	m := &Message{}
	for _, obj := range objects(top.Get("abilities-v1")) {
		if t, ok := obj.Get("type").Str(); ok && !contains(m.Abilities, t) {
			m.Abilities = append(m.Abilities, t)
		}
	}
	var relays []RelayHint
	for _, obj := range objects(top.Get("hints-v1")) {
		t, _ := obj.Get("type").Str()
		switch t {
		case TypeDirectTCP:
			if h, ok := parseTCP(obj); ok {
				m.Hints.Direct = append(m.Hints.Direct, h)
			}
		case TypeRelay:
			r := RelayHint{}
			r.Name, _ = obj.Get("name").Str()
			for _, inner := range objects(obj.Get("hints")) {
				addEndpoint(&r, inner)
			}
			relays = append(relays, r)
		}
	}
	m.Hints = Hints{Direct: m.Hints.Direct, Relays: relays}.normalize()
	return m, nil
}

// addEndpoint adds one inner hint of a relay-v1 hint to r, if usable.
func addEndpoint(r *RelayHint, obj jsonx.Value) {
	t, _ := obj.Get("type").Str()
	switch t {
	case TypeDirectTCP:
		if h, ok := parseTCP(obj); ok {
			r.TCP = append(r.TCP, h)
		}
	case TypeWebSocket, TypeWebSocketV1:
		u, _ := obj.Get("url").Str()
		if u, ok := wsURL(u); ok {
			r.WebSocket = append(r.WebSocket, WebSocketHint{URL: u, Priority: priority(obj)})
		}
	case TypeDirectWS, TypeDirectWSS:
		if h, ok := parseTCP(obj); ok {
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
func parseTCP(obj jsonx.Value) (DirectHint, bool) {
	host, ok := obj.Get("hostname").Str()
	if !ok || host == "" || len(host) > 255 || strings.ContainsAny(host, "/ \t\r\n") {
		return DirectHint{}, false
	}
	// An IPv6 literal may come bracketed; dialling wants it bare.
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	p, ok := obj.Get("port").Float()
	if !ok || p != math.Trunc(p) || p < 1 || p > 65535 {
		return DirectHint{}, false
	}
	return DirectHint{Hostname: host, Port: int(p), Priority: priority(obj)}, true
}

// objects returns the JSON objects in a JSON array, skipping other
// elements; anything that is not an array (including null and a missing
// value) yields none.
func objects(v jsonx.Value) []jsonx.Value {
	var out []jsonx.Value
	for _, el := range v.Items() {
		if el.Kind() == jsonx.Object {
			out = append(out, el)
		}
	}
	return out
}

// priority is a hint's priority; missing or not a number means 0, as in
// Python.
func priority(obj jsonx.Value) float64 {
	p, _ := obj.Get("priority").Float()
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// normalize drops duplicate endpoints (keeping the first, with the highest
// priority seen), relays left without endpoints, and anything beyond the
// limits. An endpoint that already appeared in an earlier relay is a
// duplicate too: Python merges relays into one set as well.
func (h Hints) normalize() Hints {
	var out Hints
	direct := map[string]int{}
	for _, d := range h.Direct {
		k := strings.ToLower(d.Addr())
		if i, ok := direct[k]; ok {
			out.Direct[i].Priority = max(out.Direct[i].Priority, d.Priority)
			continue
		}
		if len(out.Direct) == MaxDirectHints {
			continue
		}
		direct[k] = len(out.Direct)
		out.Direct = append(out.Direct, d)
	}
	seen := map[string]bool{}
	for _, r := range h.Relays {
		nr := RelayHint{Name: r.Name}
		tcp := map[string]int{}
		for _, d := range r.TCP {
			k := "tcp:" + strings.ToLower(d.Addr())
			if i, ok := tcp[k]; ok {
				nr.TCP[i].Priority = max(nr.TCP[i].Priority, d.Priority)
				continue
			}
			if seen[k] || len(nr.TCP)+len(nr.WebSocket) == MaxRelayEndpoint {
				continue
			}
			tcp[k] = len(nr.TCP)
			nr.TCP = append(nr.TCP, d)
		}
		ws := map[string]int{}
		for _, w := range r.WebSocket {
			k := "ws:" + w.URL
			if i, ok := ws[k]; ok {
				nr.WebSocket[i].Priority = max(nr.WebSocket[i].Priority, w.Priority)
				continue
			}
			if seen[k] || len(nr.TCP)+len(nr.WebSocket) == MaxRelayEndpoint {
				continue
			}
			ws[k] = len(nr.WebSocket)
			nr.WebSocket = append(nr.WebSocket, w)
		}
		if len(nr.TCP)+len(nr.WebSocket) == 0 || len(out.Relays) == MaxRelays {
			continue
		}
		for k := range tcp {
			seen[k] = true
		}
		for k := range ws {
			seen[k] = true
		}
		out.Relays = append(out.Relays, nr)
	}
	return out
}

// MarshalJSON writes the message the way Python does: both abilities (or
// m.Abilities), then "hints-v1" with one direct-tcp-v1 hint per direct
// hint and one relay-v1 hint per relay. Priorities are written as floats
// ("0.0"). A relay's WebSocket endpoints go inside its relay-v1 hint twice:
// {"type":"websocket","url":...} for magic-wormhole.rs/Winden and the
// spec's {"type":"websocket-v1",...}; every parser drops inner types it
// does not know, so Python and wormhole-william only see the TCP ones.
func (m Message) MarshalJSON() ([]byte, error) {
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
		writeString(&b, a)
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
		writeTCP(&b, d)
	}
	for _, r := range m.Hints.Relays {
		sep()
		b.WriteString(`{"type":"relay-v1",`)
		if r.Name != "" {
			b.WriteString(`"name":`)
			writeString(&b, r.Name)
			b.WriteByte(',')
		}
		b.WriteString(`"hints":[`)
		for i, d := range r.TCP {
			if i > 0 {
				b.WriteByte(',')
			}
			writeTCP(&b, d)
		}
		for i, w := range r.WebSocket {
			if i > 0 || len(r.TCP) > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"type":"websocket","url":`)
			writeString(&b, w.URL)
			b.WriteString(`},{"type":"websocket-v1","priority":`)
			b.WriteString(pyFloat(w.Priority))
			b.WriteString(`,"url":`)
			writeString(&b, w.URL)
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes(), nil
}

func writeTCP(b *bytes.Buffer, d DirectHint) {
	b.WriteString(`{"type":"direct-tcp-v1","priority":`)
	b.WriteString(pyFloat(d.Priority))
	b.WriteString(`,"hostname":`)
	writeString(b, d.Hostname)
	b.WriteString(`,"port":`)
	b.WriteString(strconv.Itoa(d.Port))
	b.WriteByte('}')
}

// writeString writes s as encoding/json would: it escapes <, > and &
// too, which every JSON parser reads back unchanged.
func writeString(b *bytes.Buffer, s string) { b.Write(jsonx.AppendString(b.AvailableBuffer(), s)) }

// pyFloat formats a priority like Python's repr(float): integral values
// keep a ".0". JSON has no NaN or infinity, so those become 0.0.
func pyFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0.0"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// ParseRelay reads one relay given on a command line: one or more
// comma-separated endpoints, each "tcp:HOST:PORT" (optionally followed by
// ":priority=FLOAT", Python's --transit-helper syntax; IPv6 as [ADDR]) or a
// "ws://" / "wss://" URL.
func ParseRelay(s string) (RelayHint, error) {
	var r RelayHint
	for _, ep := range strings.Split(s, ",") {
		ep = strings.TrimSpace(ep)
		switch {
		case strings.HasPrefix(ep, "tcp:"):
			d, err := parseTCPArg(ep[len("tcp:"):])
			if err != nil {
				return RelayHint{}, badRelay(ep, err.Error())
			}
			r.TCP = append(r.TCP, d)
		case strings.HasPrefix(ep, "ws://"), strings.HasPrefix(ep, "wss://"):
			u, ok := wsURL(ep)
			if !ok {
				return RelayHint{}, badRelay(ep, "not a ws:// or wss:// URL with a host")
			}
			r.WebSocket = append(r.WebSocket, WebSocketHint{URL: u})
		default:
			return RelayHint{}, badRelay(ep, "want tcp:HOST:PORT, ws://URL or wss://URL")
		}
	}
	return r, nil
}

// badRelay reads `transit: bad relay address "ep": why`.
func badRelay(ep, why string) error {
	return errs.Suffix(ErrBadRelay, " "+strconv.Quote(ep)+": "+why)
}

// ParseRelays reads several relays separated by ";" or white space, each
// as ParseRelay takes it. An empty string means no relays.
func ParseRelays(s string) ([]RelayHint, error) {
	var out []RelayHint
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' || r == '\n' }) {
		r, err := ParseRelay(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// parseTCPArg parses HOST:PORT[:key=value...] with HOST possibly [IPv6].
func parseTCPArg(s string) (DirectHint, error) {
	var host, rest string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return DirectHint{}, errors.New("missing ]")
		}
		host, rest = s[1:end], s[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return DirectHint{}, errors.New("missing port")
		}
		rest = rest[1:]
	} else {
		var ok bool
		host, rest, ok = strings.Cut(s, ":")
		if !ok {
			return DirectHint{}, errors.New("missing port")
		}
	}
	if host == "" {
		return DirectHint{}, errors.New("missing host")
	}
	parts := strings.Split(rest, ":")
	port, err := strconv.Atoi(parts[0])
	if err != nil || port < 1 || port > 65535 {
		return DirectHint{}, errors.New("bad port " + strconv.Quote(parts[0]))
	}
	d := DirectHint{Hostname: host, Port: port}
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if k != "priority" {
			return DirectHint{}, errors.New("unknown option " + strconv.Quote(kv))
		}
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
			return DirectHint{}, errors.New("bad priority " + strconv.Quote(v))
		}
		d.Priority = p
	}
	return d, nil
}
