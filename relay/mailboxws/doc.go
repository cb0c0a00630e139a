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
// the syncer, does the flushing: while it flushes one batch the flusher
// commits the next (at most one, so commits stay as few as flushes), and
// one flush releases the frames of every batch committed before it.
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
// workers so the reader's stack never grows past the 4 KiB that
// coder/websocket's read path needs. Closes (operator, shutdown, idle, slow
// client) are performed by the reader goroutine itself, woken by a read
// deadline, so no goroutine is started per close.
//
// The figures (live bytes per connection, RSS per connection under
// different GC settings) are in docs/perf.md; BenchmarkMbbenchIdleMemory
// measures them. A relay meant to hold 100,000 connections in 1 GiB should
// set GOMEMLIMIT (or GOGC=25–50).
//
// # Limits
//
//   - MaxMessageSize (default 1 MiB): a larger frame is discarded and
//     answered with an error message; beyond 8× the connection is closed
//     with 1009.
//   - Per client address (RealIPHeader or the TCP peer): at most
//     PerIPConns connections and a PerIPRate/PerIPBurst token bucket for
//     new ones. Refused clients get a welcome whose "error" says why (the
//     Python CLI prints it), then close 1008. Loopback is exempt unless
//     LimitLoopback.
//   - IdleTimeout (default 10 min): a connection silent that long is
//     closed; the server pings connections silent for half of it, and
//     any frame, ping or pong counts, so only dead peers are cut.
//   - A client that stops reading while its queue exceeds
//     2×MaxMailboxBytes+8×MaxMessageSize is closed (1008).
//
// # Restart and resume
//
// New loads the store into the machine. Clients of a restarted server
// reconnect (the Python CLI retries with backoff), bind with their side,
// re-claim (idempotent), re-open (stored messages are replayed) and
// continue; see relay/mailbox.
package mailboxws
