package watcher

import (
	"context"
	"time"

	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
)

// DefaultStoreTimeout bounds each call the watcher makes to the state
// store. A store that answers too slowly (a table another session holds
// locked, a server that takes connections but runs no queries) is a store
// that does not answer: the tick goes on as in an outage (outage.go), on
// the apps it holds until their leases end, rather than waiting with them
// for as long as the store takes.
const DefaultStoreTimeout = 2 * time.Second

// boundStores wraps each store of cfg (those set) so that every call is
// bounded by d.
func boundStores(cfg *Config) {
	d := cfg.StoreTimeout
	if cfg.History != nil {
		cfg.History = boundedHistory{cfg.History, d}
	}
	if cfg.Journal != nil {
		cfg.Journal = boundedJournal{cfg.Journal, d}
	}
	if cfg.Overrides != nil {
		cfg.Overrides = boundedOverrides{cfg.Overrides, d}
	}
	if cfg.Quarantine != nil {
		cfg.Quarantine = boundedQuarantine{cfg.Quarantine, d}
	}
	if cfg.Leases != nil {
		cfg.Leases = boundedLeases{cfg.Leases, d}
	}
	if cfg.Budget != nil {
		cfg.Budget = boundedBudget{cfg.Budget, d}
	}
	if cfg.Handoff != nil {
		cfg.Handoff = boundedHandoff{cfg.Handoff, d}
	}
}

type boundedHistory struct {
	s HistoryStore
	d time.Duration
}

func (b boundedHistory) SaveWatch(ctx context.Context, w store.WatchRecord) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.SaveWatch(ctx, w)
}

func (b boundedHistory) Watches(ctx context.Context, app string, limit int) ([]store.WatchRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.Watches(ctx, app, limit)
}

func (b boundedHistory) RecordDecision(ctx context.Context, d store.DecisionRecord) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.RecordDecision(ctx, d)
}

type boundedJournal struct {
	s rollback.Journal
	d time.Duration
}

func (b boundedJournal) BeginRollback(ctx context.Context, e store.JournalEntry) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.BeginRollback(ctx, e)
}

func (b boundedJournal) FinishRollback(ctx context.Context, id int64, outcome string, target, created int, errText string) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.FinishRollback(ctx, id, outcome, target, created, errText)
}

func (b boundedJournal) Journal(ctx context.Context, app string, openOnly bool, limit int) ([]store.JournalEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.Journal(ctx, app, openOnly, limit)
}

type boundedOverrides struct {
	s OverrideStore
	d time.Duration
}

func (b boundedOverrides) Overrides(ctx context.Context, watched map[string]int) (map[string]store.OverrideRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.Overrides(ctx, watched)
}

func (b boundedOverrides) FinishRequest(ctx context.Context, id int64, outcome string) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.FinishRequest(ctx, id, outcome)
}

type boundedQuarantine struct {
	s QuarantineStore
	d time.Duration
}

func (b boundedQuarantine) Quarantine(ctx context.Context, app, slug string, release int, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.Quarantine(ctx, app, slug, release, reason)
}

func (b boundedQuarantine) Quarantined(ctx context.Context, app, slug string) (int, string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.Quarantined(ctx, app, slug)
}

type boundedLeases struct {
	s Leases
	d time.Duration
}

func (b boundedLeases) Hold(ctx context.Context, apps []string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.Hold(ctx, apps)
}

func (b boundedLeases) HeldUntil() time.Time { return b.s.HeldUntil() }

type boundedBudget struct {
	s SharedBudget
	d time.Duration
}

func (b boundedBudget) ClaimPolls(ctx context.Context, c store.PollClaim) (store.PollGrant, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.ClaimPolls(ctx, c)
}

type boundedHandoff struct {
	s Handoff
	d time.Duration
}

func (b boundedHandoff) HandNudge(ctx context.Context, app string) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.HandNudge(ctx, app)
}

func (b boundedHandoff) NudgesSince(ctx context.Context, since time.Time) ([]store.Nudge, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.s.NudgesSince(ctx, since)
}
