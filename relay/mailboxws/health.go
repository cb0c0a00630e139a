package mailboxws

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/mailbox"
	"github.com/wasmhole/wasmhole/relay/store"
)

// Failing closed.
//
// The machine changes its state as soon as it handles an event and the
// store catches up in batches. When a batch cannot be written (disk full,
// I/O error) the machine holds changes the store does not, and must never
// show them: a client that re-opened its mailbox would be replayed
// messages a restart then loses. So on the first failed commit or sync
// the server
//
//   - drops every reply not yet sent and every change not yet written,
//   - closes every connection (1011, "server storage failure"),
//   - refuses new connections with a welcome error,
//   - reports unhealthy (Healthy, wasmhole_mailbox_store_healthy),
//
// and probes the store every storeProbeEvery. Once a probe write
// succeeds it rebuilds the machine from what the store holds, exactly what
// a restart would see, and serves again. Clients reconnect and resume as
// after a restart.

// storeProbeEvery is how often a failing store is probed.
const storeProbeEvery = 500 * time.Millisecond

// probeApp is the app id of the probe's nameplate, which is written and
// deleted in one batch.
const probeApp = "wasmhole.invalid/store-probe"

// refuseStoreFailing is the welcome error of a connection refused while
// the store fails.
const refuseStoreFailing = "server storage failure: the server accepts no changes until its disk recovers; retry later"

// Healthy returns nil while the store takes writes, and an error wrapping
// ErrStoreFailing and the store's error while the server fails closed.
func (s *Server) Healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailing, s.failing)
	}
	return nil
}

// failClosed enters the failing state (see above) for err.
func (s *Server) failClosed(err error) {
	s.mu.Lock()
	first := s.failing == nil
	s.failing = err
	// Changes made on top of what failed are not written either; their
	// frames stay queued so that held counts settle, and are dropped by
	// deliver.
	s.pendOps = nil
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.enqueue(delivery{c: c, close: &mailbox.CloseConn{
			Code: int(websocket.StatusInternalError), Reason: "server storage failure"}}, false)
	}
	if first {
		go s.recoverStore()
	}
}

// recoverStore probes the store until a write succeeds, then rebuilds the
// machine from the store.
func (s *Server) recoverStore() {
	t := time.NewTicker(storeProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		err := s.probeStore()
		if err == nil {
			err = s.rebuild()
		}
		if err == nil {
			s.log.Info("store takes writes again; serving")
			return
		}
		s.log.V(1).Info("store still failing", "err", err.Error())
	}
}

// probeStore writes and deletes a nameplate in one batch, and syncs it.
func (s *Server) probeStore() error {
	np := store.Nameplate{AppID: probeApp, Name: "0", MailboxID: "probe"}
	ops := []store.Op{store.PutNameplate{Nameplate: np}, store.DeleteNameplate{AppID: probeApp, Name: "0"}}
	// Not s.commit: the flusher is the only caller of a Pipelined
	// store's Commit, and a failing server has nothing to commit, so
	// Apply (commit and sync) cannot overlap it.
	return s.store.Apply(ops)
}

// rebuild replaces the machine with one restored from the store and leaves
// the failing state.
func (s *Server) rebuild() error {
	// Let batches taken before the failure finish, so that none lands
	// after the swap.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := s.flush(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("wait for the store writer: %w", err)
	}
	snap, err := s.store.Load()
	if err != nil {
		return fmt.Errorf("load store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.mcfg
	cfg.MOTD = s.m.MOTD() // as changed by SetMOTD
	m := mailbox.New(cfg)
	if err := m.Restore(snap); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// Connections from before are closing; the new machine does not know
	// them and ignores their events.
	s.m = m
	s.opsBase = s.opsQueued
	s.failing = nil
	if s.started {
		s.handleLocked(mailbox.Start{Now: s.now()}, nil)
	}
	return nil
}
