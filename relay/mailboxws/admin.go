package mailboxws

import (
	"context"
	"errors"
	"fmt"

	"github.com/coder/websocket"

	"github.com/wasmhole/wasmhole/relay/mailbox"
)

// Stats are the admin API's numbers.
type Stats struct {
	Connections   int               `json:"connections"`
	Nameplates    int               `json:"nameplates"`
	Mailboxes     int               `json:"mailboxes"`
	Messages      int               `json:"messages"`
	Bytes         int64             `json:"bytes"` // what Messages count against the storage caps
	MessagesTotal uint64            `json:"messages_total"`
	Sessions      map[string]uint64 `json:"sessions"`
	Errors        map[string]uint64 `json:"errors"`
}

// Stats returns current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := s.m.Stats()
	s.mu.Unlock()
	return Stats{Connections: st.Connections, Nameplates: st.Nameplates, Mailboxes: st.Mailboxes,
		Messages: st.Messages, Bytes: st.Bytes, MessagesTotal: st.MessagesTotal, Sessions: st.Sessions, Errors: st.Errors}
}

// MailboxInfo describes one mailbox (see relay/mailbox).
type MailboxInfo = mailbox.MailboxInfo

// ListMailboxes lists all mailboxes.
func (s *Server) ListMailboxes() []MailboxInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.ListMailboxes()
}

// SetMOTD changes the motd of later welcomes.
func (s *Server) SetMOTD(motd string) {
	s.mu.Lock()
	s.m.SetMOTD(motd)
	s.mu.Unlock()
}

// MOTD returns the current motd.
func (s *Server) MOTD() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.MOTD()
}

// CloseMailbox deletes mailbox id (in any app) with its nameplate and
// messages; its listeners get an error message saying the operator closed
// it. It returns once the deletion is committed.
func (s *Server) CloseMailbox(ctx context.Context, id string) error {
	s.mu.Lock()
	if !s.m.HasMailbox(id) {
		s.mu.Unlock()
		return fmt.Errorf("close mailbox %q: %w", id, ErrNoMailbox)
	}
	s.handleLocked(mailbox.CloseMailbox{ID: id, Now: s.now()}, nil)
	s.mu.Unlock()
	return s.flush(ctx)
}

// Shutdown stops accepting connections, commits and delivers everything
// queued, closes every connection with 1001 (going away) and waits for
// them to finish, or for ctx. It does not close Options.Store. Pair it
// with http.Server.Shutdown, which does not see hijacked connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		return ErrShutdown
	}
	s.shutting = true
	s.mu.Unlock()

	ferr := s.flush(ctx)
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.enqueue(delivery{c: c, close: &mailbox.CloseConn{Code: int(websocket.StatusGoingAway), Reason: "server shutting down"}}, false)
	}
	done := make(chan struct{})
	go func() { s.readers.Wait(); close(done) }()
	var werr error
	select {
	case <-done:
	case <-ctx.Done():
		werr = ctx.Err()
		for _, c := range conns {
			c.ws.CloseNow()
		}
		<-done
	}
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.flusherDone: // committed what the last events queued
	case <-ctx.Done():
		werr = errors.Join(werr, fmt.Errorf("store writer still busy: %w", ctx.Err()))
	}
	if s.metrics != nil {
		s.metrics.unregister()
	}
	s.log.Info("mailbox server shut down")
	return errors.Join(ferr, werr)
}
