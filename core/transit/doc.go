// Package transit is the pure part of magic-wormhole's Transit protocol,
// the encrypted TCP (or relayed) byte pipe that file transfers use. It
// does no IO of its own: no sockets, goroutines or clocks. core/transitnet
// drives it over real connections.
//
// # The pieces, in the order a transfer meets them
//
// Hints. Each side tells the other, inside the file-transfer "transit"
// message, where it can be reached: direct-tcp-v1 hints (its own IP
// addresses and listening port) and relay-v1 hints (transit relays, each
// with TCP and/or WebSocket endpoints). ParseMessage reads whatever Python,
// wormhole-william and magic-wormhole.rs send; Message.MarshalJSON writes
// what Python writes. ParseRelay reads a relay given on a command line.
//
// Keys. Everything comes from the 32-byte transit key T (itself derived
// from the wormhole key) with HKDF-SHA256: the two handshake strings
// (SenderHandshake, ReceiverHandshake), the relay token (RelayLine) and the
// two record keys (RecordKeys), one per direction.
//
// The race. Both sides dial every direct hint of the other at once and
// accept connections, and dial relays a little later (2 s) unless no
// direct hint is usable. On a relay connection a client first sends
// "please relay <token> for side <side>\n" and waits for "ok\n"; then every
// connection is the same: both ends write their handshake and check the
// other's. The sender (leader) takes the first connection whose handshake
// completes, writes "go\n" on it, "nevermind\n" on the others and closes
// them. Race is this logic as a state machine: the driver feeds it Events
// (connected, data, closed, timer) and performs the Actions it returns
// (dial, write, close, set timer) until it says Won or Failed.
//
// Records. After "go\n" the connection carries records in both
// directions: a 4-byte big-endian length, then a 24-byte nonce and a NaCl
// secretbox. The nonce is a per-direction counter from 0, big-endian; the
// receiver insists on the next value. Writer and Reader are this framing as
// an io.Writer and io.Reader with reused buffers; the sender streams the
// file through a Writer and the receiver answers with one record (the
// ack) through Writer.WriteRecord.
package transit
