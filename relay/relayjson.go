package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wasmhole/wasmhole/relay/clientip"
)

// GET /relay.json tells the page served by this relay where the relay
// really is, so that the page need not guess from its own origin (a guess
// that used to advertise port 4001 for a TCP transit on another port):
//
//	{"mailbox": "ws://HOST/v1", "transit": "ws://HOST/transit", "transitTCP": "tcp:HOST:PORT"}
//
// The keys are those of the site's config.json; the page uses config.json
// and its query parameters first. HOST is the request's Host, so the answer
// holds for whatever name the page was loaded by; the scheme is wss:// when
// the request came over TLS or a trusted proxy says X-Forwarded-Proto:
// https. transitTCP is --advertise-transit-tcp if set, else the
// --transit-upstream address in bridge mode (the page then offers the
// upstream's TCP address and our WebSocket in one relay hint), else the
// request's host name with the real --transit-tcp port, else "".

// advertised is the part of /relay.json fixed at start.
type advertised struct {
	transitTCP     string // complete "tcp:HOST:PORT", or ""
	transitTCPPort string // port of our own TCP listener, host from the request
	ip             clientip.Resolver
}

// advertisement works out what /relay.json can know before any request.
func advertisement(c *Config, tcpLn net.Listener) advertised {
	a := advertised{ip: c.clientIP()}
	switch {
	case c.AdvertiseTransitTCP != "":
		a.transitTCP = c.AdvertiseTransitTCP
	case c.TransitUpstream != "":
		a.transitTCP = c.TransitUpstream
	case tcpLn != nil:
		if ta, ok := tcpLn.Addr().(*net.TCPAddr); ok {
			a.transitTCPPort = strconv.Itoa(ta.Port)
		}
	}
	return a
}

// relayConfig is the answer of /relay.json.
type relayConfig struct {
	Mailbox    string `json:"mailbox"`
	Transit    string `json:"transit"`
	TransitTCP string `json:"transitTCP"`
}

func (a advertised) config(req *http.Request) (relayConfig, bool) {
	host := req.Host
	name, ok := hostName(host)
	if !ok {
		return relayConfig{}, false
	}
	scheme := "ws://"
	if a.ip.Secure(req) {
		scheme = "wss://"
	}
	rc := relayConfig{Mailbox: scheme + host + "/v1", Transit: scheme + host + "/transit", TransitTCP: a.transitTCP}
	if rc.TransitTCP == "" && a.transitTCPPort != "" {
		rc.TransitTCP = "tcp:" + net.JoinHostPort(name, a.transitTCPPort)
	}
	return rc, true
}

// hostName checks a Host header (name or address, optional port) and
// returns the host without port and brackets.
func hostName(host string) (string, bool) {
	name := host
	if h, port, err := net.SplitHostPort(host); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || strings.HasPrefix(port, "0") {
			return "", false
		}
		name = h
	} else if inner, ok := strings.CutPrefix(host, "["); ok {
		if name, ok = strings.CutSuffix(inner, "]"); !ok {
			return "", false
		}
	}
	if strings.Contains(name, ":") {
		// Only a bracketed IPv6 literal may hold colons.
		ip, err := netip.ParseAddr(name)
		return name, err == nil && ip.Is6() && ip.Zone() == "" && strings.HasPrefix(host, "[")
	}
	if name == "" || len(name) > 253 {
		return "", false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return "", false
		}
	}
	return name, true
}

func (a advertised) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	securityHeaders(h)
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rc, ok := a.config(req)
	if !ok {
		http.Error(w, "bad Host header", http.StatusBadRequest)
		return
	}
	h.Set("Content-Type", "application/json")
	// The answer depends on Host and X-Forwarded-Proto.
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Host, X-Forwarded-Proto")
	b, _ := json.Marshal(rc)
	w.Write(append(b, '\n'))
}

// upstreamAddr turns --transit-upstream's "tcp:HOST:PORT" into a dial
// address ("" stays "": no bridge).
func upstreamAddr(hint string) string {
	addr, _ := parseTCPHint(hint) // validated already
	return addr
}
