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

// TestAReleaseLiveThroughItsSuccessorsPhaseWasJudgeable: a release stops
// being live when the next one goes live, not when it is made. v41 was
// made 30 s before v42, whose release phase then ran 112 s: v41 was live
// 142 s, long enough to be judged, so it is v42's rollback target, and an
// anomalous v41's time live is left out of a later baseline until v42 went
// live.
func TestAReleaseLiveThroughItsSuccessorsPhaseWasJudgeable(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	releases := []heroku.Release{
		{Version: 40, Status: heroku.StatusSucceeded, CreatedAt: t0.Add(-24 * time.Hour), UpdatedAt: t0.Add(-24 * time.Hour)},
		{Version: 41, Status: heroku.StatusSucceeded, CreatedAt: t0, UpdatedAt: t0},
		{Version: 42, Status: heroku.StatusSucceeded, CreatedAt: t0.Add(30 * time.Second), UpdatedAt: t0.Add(142 * time.Second)},
	}
	if got := replacedAt(releases, releases[1], t0.Add(time.Hour)); !got.Equal(releases[2].LiveAt()) {
		t.Errorf("v41 replaced at %s, want when v42 went live (%s)", got, releases[2].LiveAt())
	}
	w := New(Config{Logger: slog.New(slog.DiscardHandler)})
	a := &appState{cfg: App{Policy: DefaultPolicy()}, releases: releases, watch: &Watch{Origin: origin{Release: releases[2]}}}
	target, passed, ok := heroku.RollbackTarget(releases, 42, w.unfit(context.Background(), a, w.log))
	if !ok || target.Version != 41 {
		t.Errorf("rollback target of v42 = v%d (ok %v, passed %+v), want v41: live 142 s, judgeable", target.Version, ok, passed)
	}
	a.history = map[int]verdictOf{41: {Anomalous: true}}
	v43 := heroku.Release{Version: 43, Status: heroku.StatusSucceeded, CreatedAt: t0.Add(time.Hour)}
	found := false
	for _, iv := range w.exclusions(a, v43, t0.Add(-time.Hour)) {
		if iv.From.Equal(t0) && iv.To.Equal(releases[2].LiveAt()) {
			found = true
		}
	}
	if !found {
		t.Errorf("exclusions of v43 %+v: want anomalous v41 left out from %s until v42 went live at %s", w.exclusions(a, v43, t0.Add(-time.Hour)), t0, releases[2].LiveAt())
	}
}

// TestAReleaseAPersonRolledBackIsLeftOutOfLaterBaselines: v41, slower
// than v40 though never an incident to relwatch, was rolled back by hand
// (v42, "Rollback to v40"); v43's baseline leaves out v41's time live as it
// would an anomalous release's, so that its slowness is never v43's normal.
func TestAReleaseAPersonRolledBackIsLeftOutOfLaterBaselines(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rel := func(v int, at time.Duration, desc string) heroku.Release {
		return heroku.Release{Version: v, Status: heroku.StatusSucceeded, Description: desc, CreatedAt: t0.Add(at), UpdatedAt: t0.Add(at)}
	}
	releases := []heroku.Release{
		rel(40, -24*time.Hour, "Deploy 1a2b3c4"),
		rel(41, 0, "Deploy 5d6e7f8"),
		rel(42, 20*time.Minute, "Rollback to v40"),
		rel(43, 30*time.Minute, "Deploy 9a0b1c2"),
	}
	w := New(Config{Logger: slog.New(slog.DiscardHandler)})
	a := &appState{cfg: App{Policy: DefaultPolicy()}, releases: releases, history: map[int]verdictOf{41: {}}}
	ivs := w.exclusions(a, releases[3], t0.Add(-time.Hour))
	found := false
	for _, iv := range ivs {
		if iv.From.Equal(t0) && iv.To.Equal(releases[2].LiveAt()) {
			found = true
		}
		if iv.To.Sub(iv.From) > a.cfg.RestartGrace && !iv.From.Equal(t0) {
			t.Errorf("exclusion %+v: only v41's time live is left out beyond the restart blips", iv)
		}
	}
	if !found {
		t.Errorf("exclusions of v43 %+v: want v41, rolled back by hand, left out from %s until the rollback went live at %s", ivs, t0, releases[2].LiveAt())
	}
}
