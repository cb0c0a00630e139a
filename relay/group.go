package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// group runs tasks that stop together: when one returns (with an error,
// or at all before the others were told to stop), the shared context is
// cancelled with that cause and Wait returns it once all have returned.
type group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancelCause(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// Go starts a task named name.
func (g *group) Go(name string, f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := f(g.ctx)
		if err == nil && g.ctx.Err() == nil {
			err = errors.New("stopped unexpectedly")
		}
		if err != nil && !errors.Is(err, errStop) {
			err = fmt.Errorf("%s: %w", name, err)
		}
		if err != nil {
			g.cancel(err) // the first cause wins
		}
	}()
}

// Stop cancels every task with cause.
func (g *group) Stop(cause error) { g.cancel(cause) }

// Wait waits for every task and returns the cause of the stop.
func (g *group) Wait() error {
	g.wg.Wait()
	return context.Cause(g.ctx)
}
