// Package mailboxws serves the magic-wormhole mailbox protocol (relay/mailbox)
// over WebSockets with github.com/coder/websocket, persisting through
// relay/store.
//
// # Use
//
//	st, err := store.OpenSQLite("/var/lib/wasmhole/mailbox.sqlite") // or store.NewMemory()
//	srv, err := mailboxws.New(mailboxws.Options{
//		Store: st, Logger: logger, Registerer: prometheus.DefaultRegisterer,
//		MOTD: "welcome",
//	})
//	mux.Handle("/v1", srv)          // ws://HOST/v1
//	go srv.Run(ctx)                 // prune timer, keepalive pings
//	...
//	srv.Shutdown(ctx)               // then httpServer.Shutdown, then st.Close()
//
// Admin hooks for the relay binary's API: Stats, SetMOTD/MOTD,
// ListMailboxes, CloseMailbox(ctx, id) (returns once the deletion is
// committed; ErrNoMailbox if there is none) and Shutdown. New starts the
// store writer and GOMAXPROCS decode workers; Shutdown stops them.
//
// # How a frame flows
//
// Each connection has one goroutine, reading. A frame (TEXT or BINARY; the
// server always sends TEXT, docs/protocol.md §1.1) is decoded outside the lock,
// then fed to the single mailbox.Machine under the server mutex. The
// machine's actions are appended to a pending list: store ops and outgoing
// frames in order. One writer goroutine (the flusher) takes everything
// pending, commits all the ops in one store transaction, and only then
// hands the frames to their connections. While it commits, new events
// queue up and go into the next transaction: group commit, so durability
// costs one flush per batch rather than per command, and no client ever
// sees an ack or echo for something a restart could forget.
//
// With a store that can split the commit from the disk flush
// (store.Pipelined: SQLite in its default FULL mode), a second goroutine,
// the syncer, flushes each committed batch and delivers its frames; the
// events that arrive during a flush go into the next batch, so one commit
// and one flush serve all of them (about one of each per session with 8
// clients, one per six sessions with 64).
//
// A frame does not always wait for a batch. The machine tells, per frame,
// how many ops it depends on (mailbox.Send.After): none for a welcome, an
// ack or a pong; for a claim or open that changed nothing, only the ops
// that stored its nameplate, mailbox and messages. When an event stores
// nothing, those ops are durable and no earlier frame for the connection
// is still waiting, its frames skip the writer and go out at once, written
// by the connection's own goroutine. Under load that is the difference
// between a claim answered now and a claim answered after the flush of
// everybody else's changes. Frames of a command the client has already
// followed with another (open, then add) wait anyway, so they share the
// next write instead of taking one of their own.
//
// # Memory per idle connection
//
// Frames for a connection go to a queue that is allocated only while it is
// non-empty, drained by a goroutine that exists only while there is
// something to write; several queued frames leave in one write (corkWriter).
// net/http's 4 KiB read and write buffers are swapped for 256- and 128-byte
// ones at hijack, ServeHTTP returns right after the upgrade so its goroutine
// and stack go away, and JSON decoding and the machine run on shared
// workers. Between frames the reader waits in a one-byte Peek, a shallow
// stack, and after a burst of frames it hands that wait to a fresh
// goroutine, since the runtime never shrinks a grown 4 KiB stack back to
// 2 KiB. Closes (operator, shutdown, idle, slow client) are performed by
// the reader goroutine itself, woken by a read deadline, so no goroutine
// is started per close.
//
// Measured with 5,000 idle bound connections to `relay serve` held 10 s
// (BenchmarkIdleConns in relay/): RSS grows 7.9–9.6 KiB per connection with
// the relay's --gc-percent auto (7.4 KiB at 15,000); docs/perf.md has the
// history. A relay meant to hold 100,000 connections in 1 GiB should set
// GOMEMLIMIT.
//
// # Limits
//
//   - MaxMessageSize (default 1 MiB): a larger frame is discarded and
//     answered with an error message; beyond 8× the connection is closed
//     with 1009.
//   - Per client address (the TCP peer, or a trusted proxy's header, see
//     relay/clientip): at most
//     PerIPConns connections and a PerIPRate/PerIPBurst token bucket for
//     new ones. Refused clients get a welcome whose "error" says why (the
//     Python CLI prints it), then close 1008. A loopback peer is exempt
//     unless LimitLoopback; an address from a header never is.
//   - IdleTimeout (default 10 min): a connection silent that long is
//     closed; the server pings connections silent for half of it, and
//     any frame, ping or pong counts, so only dead peers are cut.
//   - Storage (see relay/mailbox.Config): a message costs its body,
//     phase, id and side plus 256 bytes; MaxMailboxBytes and
//     MaxMailboxMessages cap a mailbox, MaxClientBytes what one address
//     (IPv6 per /64, the per-address key of every limit here) has stored,
//     MaxTotalBytes everything. An add over a cap gets an error message
//     and the connection stays usable. MaxListenersPerSide caps the
//     connections that have one side of a mailbox open.
//   - Clients that do not read: replays are encoded one frame at a time
//     as they are written (mailbox.Replay), a connection with more than
//     256 KiB of replies waiting is not read until they are written, and
//     one whose queue exceeds 2×MaxMailboxBytes+8×MaxMessageSize is
//     closed (1008).
//
// # Failing closed
//
// A failed commit or sync leaves the machine holding changes the store
// lost. The server then drops every unsent reply and unwritten change,
// closes every connection (1011), refuses new ones with a welcome error,
// and reports it (Healthy, wasmhole_mailbox_store_healthy); it probes the
// store twice a second and, once a write succeeds, rebuilds the machine
// from the store and serves again. No client is shown a message that is
// not stored.
//
// # Restart and resume
//
// New loads the store into the machine. Clients of a restarted server
// reconnect (the Python CLI retries with backoff), bind with their side,
// re-claim (idempotent), re-open (stored messages are replayed) and
// continue; see relay/mailbox.
package mailboxws
