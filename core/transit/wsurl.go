package transit

import "strings"

// The WebSocket URLs of relay hints are read and written here without
// net/url: in the browser build net/url costs about 20 KB of gzip wasm for
// this one job. What is accepted is a plain subset of URLs, for which the
// result is exactly what url.Parse followed by URL.String gives (the
// tests hold both to that, FuzzWSURL against net/url itself):
//
//	ws[s]://HOST[:PORT][/PATH][?QUERY]
//
// HOST is a name of letters, digits and "-._~", or a bracketed IPv6
// address without a zone; PATH uses the characters a URL path may carry
// unescaped, and %XX escapes; QUERY is anything but control bytes and
// "#". The scheme's case is folded, as url.Parse does. Refused, though
// net/url would take them: user info, a fragment, a zone, raw spaces or
// non-ASCII bytes in the path, and host names outside that set. No relay
// spells its address that way.

// wsURL accepts ws:// and wss:// URLs with a host, in the form above, and
// returns them with the scheme in lower case.
func wsURL(s string) (string, bool) {
	if len(s) > 2048 {
		return "", false
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return "", false
	}
	scheme := strings.ToLower(s[:i])
	if scheme != "ws" && scheme != "wss" {
		return "", false
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if !validAuthority(rest[:end]) || !validPathQuery(rest[end:]) {
		return "", false
	}
	return scheme + s[i:], true
}

// validAuthority: HOST[:PORT], PORT all digits (url.Parse allows it empty).
func validAuthority(a string) bool {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 || !plainIPv6(a[1:end]) {
			return false
		}
		host, port = "", a[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else {
		if c := strings.IndexByte(a, ':'); c >= 0 {
			host, port = a[:c], a[c:]
		}
		if host == "" || !allBytes(host, hostByte) {
			return false
		}
	}
	return port == "" || allBytes(port[1:], func(c byte) bool { return '0' <= c && c <= '9' })
}

// plainIPv6 reports whether s is an IPv6 address without a zone (an
// IPv4-mapped one too): what netip.ParseAddr parses to an address that is
// not IPv4 and has no zone, which FuzzPlainIPv6 checks against netip
// itself. netip, with the package unique it brings, would cost the
// browser build about 6 KB of gzip for this one check.
func plainIPv6(s string) bool {
	groups := 0 // 16-bit groups read
	ellipsis := false
	if strings.HasPrefix(s, "::") {
		ellipsis, s = true, s[2:]
		if s == "" {
			return true
		}
	}
	for groups < 8 {
		n := 0
		for n < len(s) && n < 5 && isHex(s[n]) {
			n++
		}
		if n == 0 || n > 4 {
			return false
		}
		if n < len(s) && s[n] == '.' {
			// A dotted IPv4 address fills the last two groups.
			if !ellipsis && groups != 6 || groups > 6 || !dottedQuad(s) {
				return false
			}
			s, groups = "", groups+2
			break
		}
		groups++
		s = s[n:]
		if s == "" {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis {
				return false
			}
			ellipsis, s = true, s[1:]
			if s == "" {
				break
			}
		}
	}
	// "::" stands for at least one group of zeros.
	return s == "" && (groups < 8) == ellipsis
}

// dottedQuad reports whether s is four decimal octets without leading
// zeros, as netip reads them.
func dottedQuad(s string) bool {
	val, digits, dots := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			if digits == 1 && val == 0 {
				return false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if digits == 0 || i == len(s)-1 || dots == 3 {
				return false
			}
			val, digits, dots = 0, 0, dots+1
		default:
			return false
		}
	}
	return dots == 3
}

// validPathQuery: "" or /PATH, then optionally ?QUERY.
func validPathQuery(pq string) bool {
	path, query, hasQuery := strings.Cut(pq, "?")
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '%':
			if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
				return false
			}
			i += 2
		case !pathByte(c):
			return false
		}
	}
	if hasQuery && !allBytes(query, func(c byte) bool { return c >= 0x20 && c != 0x7f && c != '#' }) {
		return false
	}
	return true
}

// directWSURL is the URL of an old direct-ws hint: ws[s]://HOST:PORT/, or
// false for a host name outside the plain set wsURL takes.
func directWSURL(scheme string, h DirectHint) (string, bool) {
	host := h.Hostname
	if strings.Contains(host, ":") {
		if !plainIPv6(host) {
			return "", false
		}
	} else if host == "" || !allBytes(host, hostByte) {
		return "", false
	}
	return scheme + "://" + h.Addr() + "/", true
}

func hostByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// pathByte: what URL.EscapedPath writes back unescaped (RFC 3986 pchar
// and "/"), so the path comes back byte for byte.
func pathByte(c byte) bool {
	return hostByte(c) || strings.IndexByte("/!$&'()*+,;=:@", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
