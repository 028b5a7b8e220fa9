package main

import (
	"context"
	"sync"
	"time"
)

// shutdownBudget is all the time the worker takes after SIGTERM, shared by
// every step of the way out: the tick in flight, the chat queues, the log
// drain's connections, the leases given back. Heroku sends SIGKILL 30 s
// after SIGTERM; the README promises 10 s.
const shutdownBudget = 8 * time.Second

// What each step leaves for the steps after it: the tick stops 3 s before
// the budget ends (a rollback it cuts short is journaled as interrupted,
// and the next worker finishes it), the chats and the drain's connections
// 1 s before, and the leases take the rest.
const (
	tickReserve  = 3 * time.Second
	chatsReserve = time.Second
)

// shutdown is the budget of one worker's way out. It starts when the
// worker is told to stop (or, when it stops on its own, at the first
// step that asks).
type shutdown struct {
	mu sync.Mutex
	at time.Time
}

// begin starts the budget now, unless it has started.
func (s *shutdown) begin() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() {
		s.at = time.Now()
	}
	return s.at
}

// deadline is when a step that leaves reserve for the others must end.
func (s *shutdown) deadline(reserve time.Duration) time.Time {
	return s.begin().Add(shutdownBudget - reserve)
}

// step returns a context for a step of the way out (not ended by the stop
// itself) that ends reserve before the budget does.
func (s *shutdown) step(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithoutCancel(ctx), s.deadline(reserve))
}

// watch starts the budget when ctx ends.
func (s *shutdown) watch(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.begin()
	}()
}
