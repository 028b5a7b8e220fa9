package watcher

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/relwatch/relwatch/store"
)

// A store outage: the worker keeps acting on the apps it holds while their
// leases last (no other worker can take them before), keeps what it could
// not write, and writes it, in order, when the store answers again. Past
// the leases' end it stops acting and says so. Heroku stays the arbiter of
// exactly once: a rollback is made only while the bad release is current.

// outage is the store not answering, as the watcher saw it.
type outage struct {
	since   time.Time // the first tick it did not answer (zero: it answers)
	stopped bool      // the leases ended during it: not acting
}

// storeDown is the leases not renewed at now (err says why). It reports
// whether this worker may still act on the apps it held: until a tick
// before their leases end.
func (w *Watcher) storeDown(now time.Time, err error) bool {
	first := w.outage.since.IsZero()
	if first {
		w.outage.since = now
	}
	until := w.cfg.Leases.HeldUntil().Add(-w.cfg.Tick)
	if !w.outage.stopped && now.Before(until) {
		if first {
			w.log.Warn("the store does not answer: acting on the apps this worker holds until their leases end; what cannot be written is written when it answers",
				"err", err, "apps", len(w.lastHeld), "until", until)
		}
		return true
	}
	if !w.outage.stopped {
		w.outage.stopped = true
		w.log.Error("the store does not answer and this worker's leases have ended: not acting on any app until it answers (another worker may hold them)",
			"err", err, "down_since", w.outage.since)
		for _, a := range w.lastHeld {
			w.forget(a, false) // read back from the store with the lease
		}
		w.lastHeld = nil
	}
	return false
}

// storeBack is the leases renewed: what the outage kept back is written.
func (w *Watcher) storeBack(ctx context.Context) {
	if !w.outage.since.IsZero() {
		w.log.Info("the store answers again: writing what could not be written", "down_since", w.outage.since)
		w.outage = outage{}
	}
	if err := w.guard.Flush(ctx); err != nil {
		w.log.Error("cannot write the rollback journal kept during the outage; will try again", "err", err)
	}
	if err := w.later.flush(ctx); err != nil {
		w.log.Error("cannot write the watches kept during the outage; will try again", "err", err)
	}
}

// saidBefore is the overrides read last, without their requests (carried
// out already).
func (w *Watcher) saidBefore() map[string]store.OverrideRecord {
	out := make(map[string]store.OverrideRecord, len(w.said))
	for app, o := range w.said {
		o.Requests = nil
		out[app] = o
	}
	return out
}

// maxLater bounds the writes kept during an outage.
const maxLater = 10000

// later is the store writes that failed, to make in order when it answers.
type later struct {
	mu     sync.Mutex
	writes []func(context.Context) error
}

// do writes now, or after the writes kept before it (a newer watch saved
// before an older one would be overwritten); what fails is kept. what
// says what failed.
func (l *later) do(ctx context.Context, what string, write func(context.Context) error, log *slog.Logger) {
	l.mu.Lock()
	waiting := len(l.writes) > 0
	l.mu.Unlock()
	if !waiting {
		err := write(ctx)
		if err == nil {
			return
		}
		log.Error("cannot "+what+"; will when the store answers", "err", err)
	}
	l.add(write, log)
}

// add keeps write for later.
func (l *later) add(write func(context.Context) error, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.writes) >= maxLater {
		log.Error("too many writes kept for the store; dropping the oldest")
		l.writes = l.writes[1:]
	}
	l.writes = append(l.writes, write)
}

// flush makes the kept writes in order, until one fails.
func (l *later) flush(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.writes) > 0 {
		if err := l.writes[0](ctx); err != nil {
			return err
		}
		l.writes = l.writes[1:]
	}
	return nil
}
