// Package transit is the transport-free core of the wasmhole transit relay:
// it parses the relay handshake line and pairs connections by token.
//
// # What a transit relay does
//
// Two magic-wormhole clients that cannot reach each other directly both
// connect to the relay and send one line (docs/protocol.md §4.4):
//
//	please relay <token> for side <side>\n
//
// The token (64 word characters; clients send hex of a key derived from the
// wormhole key) is the same for both peers, the side (16 characters) differs.
// A legacy form without "for side ..." pairs with anything holding the same
// token. When the second matching line arrives the relay answers "ok\n" to
// both and from then on copies bytes blindly in both directions; the
// clients run their own encrypted transit handshake over that pipe. A line
// that does not parse is answered "bad handshake\n"; a client that sends
// bytes before its "ok\n" is answered "impatient\n"; both are then closed.
// When a pair forms, every other connection still waiting with the same
// token is closed ("redundant"): clients may dial the relay more than once.
//
// Over TCP the line ends at the first newline (at most [MaxLineLength]
// bytes, see [SplitLine]); over WebSocket the first binary message is the
// line, optionally ending in a newline, and nothing else. TCP and WebSocket
// clients pair with each other: the relay only sees tokens.
//
// # Machine
//
// [Machine] follows the repository's machine convention: the driver feeds
// [Event] values (each carrying the current time) to [Machine.Handle] and
// performs the returned [Action] values in order. The machine never blocks,
// never starts goroutines and never reads the clock, so the same code runs
// behind real sockets (relay/transitnet) and inside a Cloudflare Durable
// Object (GOOS=js). Bytes after pairing never pass through the machine: the
// driver relays them and reports the end of each connection with
// [Disconnected], which yields a [Usage] record carrying the reference
// relay's moods (happy, jilted, lonely, redundant, impatient, errory).
package transit
