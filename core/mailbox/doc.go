// Package mailbox is the client side of the magic-wormhole mailbox
// (rendezvous) server protocol as a pure state machine: no sockets, no
// goroutines, no clock. A driver feeds it events and performs the actions
// it returns (see Machine.Handle).
//
// # The protocol in brief
//
// A client opens a WebSocket to the server (ws://…/v1) and exchanges one
// JSON object per TEXT message, each with a "type" (docs/protocol.md §1). The
// server greets with "welcome" (maybe a message of the day, or an "error"
// that refuses us). The client "bind"s its appid and side (a random id of
// this client) right away, without waiting for the welcome, like the
// reference client. To rendezvous, one side "allocate"s a free nameplate
// (a short number that becomes the start of the wormhole code) and both
// sides "claim" it; the server answers "claimed" with the id of a mailbox
// and the client "open"s it. The mailbox is a list of messages: "add"
// stores one (phase + hex body) and the server broadcasts it as "message"
// to every connection that opened the mailbox, including the sender's
// own. Once the peer has spoken the nameplate is "release"d so it can be
// reused, and at the end each side "close"s the mailbox with a mood
// (happy, lonely, scary, errory); the server deletes it once both did.
// Every command carries a random 2-byte hex "id" that the server copies
// into its "ack".
//
// # What the machine does for the layer above
//
//   - queues adds until the mailbox is open and re-sends them until their
//     echo (a message with our own side) shows the server stored them;
//   - drops our echoes and every repeated peer phase, so the layer above
//     sees each peer phase once (the server replays the whole mailbox on
//     every open);
//   - releases the nameplate on the first peer message;
//   - closes in order (release, close with mood, wait for "closed",
//     Hangup) and always ends with Closed;
//   - reconnects after a disconnection with jittered exponential backoff
//     (1 s ×1.5 up to 60 s) and resumes exactly like the reference client
//     (§1.7): bind with the same side, claim again if "claimed" never came,
//     release again if "released" never came, open the mailbox again,
//     re-send every add whose echo is missing, close again when closing;
//   - records a timing trace of every message (sent, acked, server_tx,
//     server_rx) for diagnostics (Machine.TraceJSON).
//
// Server errors are fatal: Failed carries ErrCrowded, ErrUnwelcome or
// ErrServer (wrapped with the server's text and the offending command),
// then the machine closes with mood "errory".
package mailbox
