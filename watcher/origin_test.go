package watcher

import (
	"context"
	"github.com/relwatch/relwatch/analysis"
	"log/slog"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
)

// What the fault's origin rules out as a rollback target: every release
// live since it began, and every release of the build it began under,
// unless it began with a config change on a build healthy before.
func TestUnfitSinceTheFaultBegan(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rel := func(v int, slug string, ago time.Duration) heroku.Release {
		return heroku.Release{Version: v, Status: heroku.StatusSucceeded, SlugID: slug, CreatedAt: t0.Add(-ago)}
	}
	releases := []heroku.Release{
		rel(39, "build-b", 72*time.Hour), // the same build, promoted before
		rel(40, "build-a", 48*time.Hour),
		rel(41, "build-a", 24*time.Hour), // a config change on build a
		rel(42, "build-b", time.Hour),    // build b again: the fault began here
		rel(43, "build-b", 50*time.Minute),
	}
	for _, tc := range []struct {
		name   string
		origin origin
		unfit  map[int]bool
	}{
		{"fault under a deploy", origin{Release: releases[3]}, map[int]bool{39: true, 40: false, 41: false, 42: true, 43: true}},
		{"fault with a config change", origin{Release: releases[2], Config: true}, map[int]bool{39: false, 40: false, 41: true, 42: true}},
		{"no origin known", origin{}, map[int]bool{39: false, 40: false, 41: false, 42: false}},
	} {
		w := New(Config{Logger: slog.New(slog.DiscardHandler)})
		a := &appState{releases: releases, watch: &Watch{Origin: tc.origin}}
		unfit := w.unfit(context.Background(), a, w.log)
		for _, r := range releases {
			want, ok := tc.unfit[r.Version]
			if !ok {
				continue
			}
			if got := unfit(r) != ""; got != want {
				t.Errorf("%s: v%d unfit = %v (%q), want %v", tc.name, r.Version, got, unfit(r), want)
			}
		}
	}
}

// TestAgainstSaysAnIncidentBaseline: a baseline past the error guardrail
// is said to be an incident; one under it is not.
func TestAgainstSaysAnIncidentBaseline(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		errors   int64
		incident float64
	}{{2010, 0.201}, {40, 0}} {
		wt := &Watch{Baseline: &analysis.Baseline{From: at.Add(-30 * time.Minute), To: at, Seconds: 1800, Requests: 10000, Errors: tc.errors}}
		if got := wt.against(0.05); got.Incident != tc.incident || (tc.incident > 0) != (got.Guardrail == 0.05) {
			t.Errorf("%d errors of 10,000: against %+v, want incident %.3f", tc.errors, got, tc.incident)
		}
	}
}
