package mailboxws

import (
	"context"
	"errors"
	"time"

	"github.com/wasmhole/wasmhole/relay/mailbox"
)

// Run arms the prune timer and pings quiet connections until ctx is done
// or the server is shut down. Call it once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("mailboxws: Run called twice")
	}
	s.started = true
	s.handleLocked(mailbox.Start{Now: s.now()}, nil)
	s.mu.Unlock()

	prune := time.NewTimer(time.Hour)
	prune.Stop()
	defer prune.Stop()
	sweepEvery := time.Minute
	if s.opts.IdleTimeout > 0 {
		sweepEvery = min(sweepEvery, max(s.opts.IdleTimeout/4, 10*time.Millisecond))
	}
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case d := <-s.timerReq:
			prune.Reset(d)
		case <-prune.C:
			s.event(mailbox.TimerFired{Name: mailbox.PruneTimer, Now: s.now()})
		case <-sweep.C:
			s.sweep()
		}
	}
}

// sweep pings connections that were quiet for half the idle timeout and
// forgets per-IP state nobody uses.
func (s *Server) sweep() {
	now := time.Now()
	var quiet []*wsConn
	s.mu.Lock()
	if s.opts.IdleTimeout > 0 {
		limit := now.Add(-s.opts.IdleTimeout / 2).UnixNano()
		for _, c := range s.conns {
			if c.lastRX.Load() < limit && !c.pinging.Load() {
				quiet = append(quiet, c)
			}
		}
	}
	s.sweepIPsLocked(now)
	s.mu.Unlock()
	for _, c := range quiet {
		c.pinging.Store(true)
		select {
		case s.pings <- struct{}{}:
		case <-s.stop:
			return
		}
		go func() {
			defer func() { <-s.pings; c.pinging.Store(false) }()
			ctx, cancel := context.WithTimeout(context.Background(), min(30*time.Second, s.opts.IdleTimeout/2))
			defer cancel()
			if c.ws.Ping(ctx) == nil {
				c.active()
			}
		}()
	}
}
