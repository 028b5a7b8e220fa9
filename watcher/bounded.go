package watcher

import (
	"context"
	"time"

	"github.com/relwatch/relwatch/store"
)

// within runs f with ctx bounded by d.
func within(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

// bound runs f with ctx bounded by d, for a call with a result.
func bound[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

// boundStores wraps each store of cfg (those set) so that every call is
// bounded by d.
func boundStores(cfg *Config) {
	d := cfg.StoreTimeout
	wrap(&cfg.History, func(s HistoryStore) HistoryStore { return boundedHistory{s, d} })
	wrap(&cfg.Overrides, func(s OverrideStore) OverrideStore { return boundedOverrides{s, d} })
	wrap(&cfg.Quarantine, func(s QuarantineStore) QuarantineStore { return boundedQuarantine{s, d} })
	wrap(&cfg.Leases, func(s Leases) Leases { return boundedLeases{s, d} })
	wrap(&cfg.Budget, func(s SharedBudget) SharedBudget { return boundedBudget{s, d} })
	wrap(&cfg.Handoff, func(s Handoff) Handoff { return boundedHandoff{s, d} })
}

// wrap replaces the store *s, when one is set, with f's wrapping of it.
func wrap[S comparable](s *S, f func(S) S) {
	var none S
	if *s != none {
		*s = f(*s)
	}
}

type boundedHistory struct {
	s HistoryStore
	d time.Duration
}

func (b boundedHistory) SaveWatch(ctx context.Context, w store.WatchRecord) error {
	return within(ctx, b.d, func(ctx context.Context) error { return b.s.SaveWatch(ctx, w) })
}

func (b boundedHistory) Watches(ctx context.Context, app string, limit int) ([]store.WatchRecord, error) {
	return bound(ctx, b.d, func(ctx context.Context) ([]store.WatchRecord, error) { return b.s.Watches(ctx, app, limit) })
}

func (b boundedHistory) RecordDecision(ctx context.Context, d store.DecisionRecord) error {
	return within(ctx, b.d, func(ctx context.Context) error { return b.s.RecordDecision(ctx, d) })
}

type boundedOverrides struct {
	s OverrideStore
	d time.Duration
}

func (b boundedOverrides) Overrides(ctx context.Context, watched map[string]int) (map[string]store.OverrideRecord, error) {
	return bound(ctx, b.d, func(ctx context.Context) (map[string]store.OverrideRecord, error) { return b.s.Overrides(ctx, watched) })
}

func (b boundedOverrides) FinishRequest(ctx context.Context, id int64, outcome string) error {
	return within(ctx, b.d, func(ctx context.Context) error { return b.s.FinishRequest(ctx, id, outcome) })
}

type boundedQuarantine struct {
	s QuarantineStore
	d time.Duration
}

func (b boundedQuarantine) Quarantine(ctx context.Context, app, slug string, release int, reason string) error {
	return within(ctx, b.d, func(ctx context.Context) error { return b.s.Quarantine(ctx, app, slug, release, reason) })
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
	return bound(ctx, b.d, func(ctx context.Context) (map[string]bool, error) { return b.s.Hold(ctx, apps) })
}

func (b boundedLeases) HeldUntil() time.Time { return b.s.HeldUntil() }

type boundedBudget struct {
	s SharedBudget
	d time.Duration
}

func (b boundedBudget) ClaimPolls(ctx context.Context, c store.PollClaim) (store.PollGrant, error) {
	return bound(ctx, b.d, func(ctx context.Context) (store.PollGrant, error) { return b.s.ClaimPolls(ctx, c) })
}

type boundedHandoff struct {
	s Handoff
	d time.Duration
}

func (b boundedHandoff) HandNudge(ctx context.Context, app string) error {
	return within(ctx, b.d, func(ctx context.Context) error { return b.s.HandNudge(ctx, app) })
}

func (b boundedHandoff) NudgesSince(ctx context.Context, since time.Time) ([]store.Nudge, error) {
	return bound(ctx, b.d, func(ctx context.Context) ([]store.Nudge, error) { return b.s.NudgesSince(ctx, since) })
}
