// Package mailbox is the magic-wormhole mailbox (rendezvous) server as a
// pure state machine: no sockets, no goroutines, no clock. A driver
// (relay/mailboxws for WebSockets, relay/worker/host inside a Cloudflare
// Durable Object) turns network and timer activity into events and
// performs the returned actions:
//
//	m := mailbox.New(mailbox.Config{MOTD: "hi"})
//	m.Restore(snapshot)                        // from relay/store
//	acts := m.Handle(mailbox.Start{Now: now})  // arms the prune timer
//	acts = m.Handle(mailbox.Connected{Conn: 1, Now: now})          // → welcome
//	acts = m.Handle(mailbox.Received{Conn: 1, Now: now, Cmd: mailbox.DecodeCommand(frame)})
//
// Actions are [Send] (one TEXT frame), [Persist] (a relay/store op),
// [CloseConn] and [SetTimer]. The driver must make Persists durable before
// it delivers the Sends that depend on them; that is what lets a client
// trust a reply or an echo across a server restart. The simple driver
// waits for every earlier Persist; each Send also says how many Persists
// it really depends on (Send.After: none for a welcome, an ack or a pong),
// so a driver that tracks durability can release it sooner, keeping only
// the order of frames on each connection.
//
// # The protocol (docs/protocol.md §1)
//
// Every server message is a JSON object with "type" and "server_tx" (float
// seconds). On connect the server sends "welcome" (motd, current_cli_version,
// error, and with hashcash enabled "permission-required"). Each client
// command with a "type" is answered first with {"type":"ack","id":<id>},
// then handled; a failure is {"type":"error","error":...,"orig":<command>}
// with the reference server's exact strings ("must bind first", "crowded",
// "reclaimed", ...). Per connection: "bind" (appid, side) comes first;
// "ping" works before it. Then at most one each of "allocate" (picks a free
// nameplate: 1–9, then 10–99, then 100–999, then random up to 999999, and
// claims it), "claim" (nameplate → mailbox id, 13 lowercase base32
// characters; also opens that mailbox for the side), "release", "open"
// (subscribes and replays the stored messages in server_rx order), "close"
// (with a mood; when every side closed, the mailbox, its messages and its
// nameplate are deleted). "add" stores a message and broadcasts it to every
// connection that opened the mailbox, the sender's own included (clients
// drop their echoes by side). "list" names the app's nameplates.
//
// State is per app id and per side, not per connection, so clients that
// reconnect re-bind with the same side and re-claim, re-open and re-add;
// those commands are idempotent for a side that already holds the claim.
//
// # Where this differs from the reference server
//
//   - A third side that claims a nameplate or opens a mailbox gets "crowded"
//     and is not recorded, so the two legitimate sides keep working (the
//     reference stores it and then refuses them too).
//   - A non-numeric, empty or over-40-character nameplate gets an error
//     message (the reference ≥0.7 drops the connection), as do keys with
//     the wrong JSON type or absurd lengths, and frames that are not JSON
//     objects.
//   - close before release deletes the nameplate with the mailbox (the
//     reference 0.4.1 hits a foreign-key error), and closing a mailbox that
//     does not exist answers "closed" without creating it.
//   - Limits: a mailbox's stored bodies are capped (MaxMailboxBytes), and a
//     frame the driver refused as too large is answered with an error.
//   - Optional hashcash permission (§1.4): "submit-permissions" and
//     "submit-permission" are both accepted; the stamp's resource must be
//     the one offered to this connection, its SHA-1 must start with the
//     required zero bits, and its date is not checked. Anything but ping
//     before a valid stamp gets "permission denied" and the connection is
//     closed.
//
// # Expiry
//
// The prune timer (every PruneInterval, default 5 min) first touches every
// mailbox that has a listener, then deletes mailboxes not touched for
// Expiry (default 11 min); open, claim and add touch a mailbox. A client
// that lost its connection thus has at least Expiry−PruneInterval to come
// back.
package mailbox
