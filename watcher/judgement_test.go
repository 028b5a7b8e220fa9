package watcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

func (r *rig) event(kind notify.Kind, release int) *notify.Event {
	for _, e := range r.rec.Events() {
		if e.Kind == kind && e.Release == release {
			return &e
		}
	}
	return nil
}

// factOf is e's facts as F (the zero F when e, or its facts, are not).
func factOf[F notify.Fact](e *notify.Event) F {
	var f F
	if e != nil {
		f, _ = e.Fact.(F)
	}
	return f
}

func (r *rig) slugOf(version int) string {
	for _, rel := range r.fake.Releases("crates-io") {
		if rel.Version == version {
			return rel.SlugID
		}
	}
	return ""
}

// A release judged anomalous while rollback was paused stays live; the
// next release is as bad. Going back means going back past the anomalous
// one, to the last good release.
func TestNeverRollsBackIntoAnAnomalousRelease(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, sqliteState(t))
	r := newRig(t, 1830, 5*time.Second)
	withState(r, db)
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration"}); err != nil {
		t.Fatal(err)
	}
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad"}, 1800)
	r.run(t, 1790, 1940)
	if r.event(notify.Anomaly, 42) == nil || len(r.rollbacks()) != 0 {
		t.Fatalf("events %v: want v42 announced anomalous, not rolled back while paused", r.kinds())
	}
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy attempted fix"}, 2000)
	r.run(t, 1941, 2005)
	if _, err := db.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 2006, 2200)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v: want one, to v41 past the anomalous v42", rbs)
	}
	// v43's baseline leaves out the time v42 was live: it is judged against
	// the good traffic before v42.
	e := r.event(notify.Anomaly, 43)
	if e == nil || len(e.Seen().Findings) == 0 || e.Seen().Findings[0].Signal != "error_share" || e.Seen().Findings[0].Baseline > 0.01 {
		t.Fatalf("anomaly of v43: %+v; events %v: want judged against the error share before v42", e, r.kinds())
	}
}

// When every release to go back to is unfit, relwatch says so and how to
// roll back by hand, and rolls nothing back.
func TestNoFitTargetAlertsWithTheOverride(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, sqliteState(t))
	r := newRig(t, 1830, 5*time.Second)
	withState(r, db)
	// v41's build was rolled back from another app release before.
	if err := db.Quarantine(ctx, "crates-io", r.slugOf(41), 39, "error share 30%"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana"}); err != nil {
		t.Fatal(err)
	}
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad"}, 1800)
	r.run(t, 1790, 1940)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy attempted fix"}, 2000)
	r.run(t, 1941, 2005)
	if _, err := db.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 2006, 2200)
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back %+v into an unfit release", rbs)
	}
	e := r.event(notify.RollbackSkipped, 43)
	if e == nil || !strings.Contains(e.Seen().Reason, "v42: it was judged anomalous") || !strings.Contains(e.Seen().Reason, "v41: its build was rolled back from v39") {
		t.Fatalf("rollback.skipped for v43: %+v", e)
	}
	if m := notify.Render(*e, notify.RenderOptions{WorkerApp: "relwatch-worker"}); !strings.Contains(m.Override, "relwatch rollback crates-io --to v42") {
		t.Fatalf("override %q", m.Override)
	}
}

// The predecessor went live before the data begins; the next release comes
// five minutes into the data. Its baseline is the data there is: the
// predecessor's healthy watch time.
func TestChainedHistoryJudgesOnTheDataThereIs(t *testing.T) {
	r := newRig(t, 330, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy a"}, -600)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy b"}, 300)
	r.run(t, 0, 600)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v42" {
		t.Fatalf("rollbacks %+v, events %v: want v43 rolled back to v42", rbs, r.kinds())
	}
	e := r.event(notify.Anomaly, 43)
	if e == nil || strings.Contains(e.Seen().Reason, "guardrail") || len(e.Seen().Findings) == 0 || e.Seen().Findings[0].BaselineSeconds < 250 {
		t.Fatalf("anomaly of v43 %+v: want judged against v42's five minutes", e)
	}
}

// A watch that never had enough to judge on ends inconclusive, however well
// its seconds were covered.
func TestInconclusiveThroughoutIsNotHealthy(t *testing.T) {
	r := newRig(t, 0, 5*time.Second)
	for i := range r.pts {
		r.pts[i] = metrics.Point{OK: true}
		if i%30 == 0 {
			r.pts[i].Requests = 1
		}
	}
	r.w = rebuild(r, r.rec) // the source holds the points it was given
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy tiny"}, 1800)
	r.run(t, 1790, 2500)
	if r.event(notify.WatchHealthy, 42) != nil || r.event(notify.WatchInconclusive, 42) == nil {
		t.Fatalf("events %v: want watch.inconclusive, never healthy", r.kinds())
	}
}

// A config change on a build already failing: the fault began under the
// deploy, so the rollback passes over the deploy and every release of its
// build; and the config release does not restart the error grace.
func TestConfigChangeOnAFailingBuildGoesBackPastTheBuild(t *testing.T) {
	r := newRig(t, 1805, 5*time.Second)
	build := herokusim.NamedSlug("crates-io", "build-42")
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad", SlugID: build}, 1800)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Set RUST_LOG config vars", SlugID: build}, 1840)
	r.run(t, 1790, 1960)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v: want one, to v41, past v42's build", rbs)
	}
	// The error grace runs from the build's restart (v42, 30 s here), not
	// from the config release's: v43 alone would be judged from 1870 s on.
	if at := int(rbs[0].CreatedAt.Sub(t0) / time.Second); at > 1870 {
		t.Errorf("rolled back at %d s: the config release restarted the error grace", at)
	}
	e := r.event(notify.Anomaly, 43)
	if f := factOf[notify.Anomalous](e); e == nil || f.Origin != 42 || f.OriginConfig || !strings.Contains(e.Text(), "It began under v42, before v43 went live") {
		t.Fatalf("anomaly of v43: %+v; events %v: want the fault placed under v42", e, r.kinds())
	}
}

// A config change that itself breaks a build that ran healthy: the config
// is the fault, and the build's previous release is the target.
func TestConfigChangeThatBreaksGoesBackToTheSameBuild(t *testing.T) {
	r := newRig(t, 1805, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Set DATABASE_POOL config vars", SlugID: r.slugOf(41)}, 1800)
	r.run(t, 1790, 1960)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v: want one, to v41 (the same build, its config before)", rbs)
	}
	e := r.event(notify.Anomaly, 42)
	if f := factOf[notify.Anomalous](e); e == nil || f.Origin != 42 || !f.OriginConfig || !strings.Contains(e.Text(), "config change") {
		t.Fatalf("anomaly of v42: %+v: want the config change named as the fault", e)
	}
}

// A slow fault under a deploy, judged only after a config change replaced
// it: the fault began under the deploy, so neither it nor its build is
// gone back to, though it was live long enough to have been judged.
func TestSlowFaultJudgedAfterAConfigChangeIsPlacedUnderTheDeploy(t *testing.T) {
	r := newRig(t, 0, 5*time.Second)
	for i := 1805; i < len(r.pts); i++ {
		share := min(0.02, 0.02*float64(i-1805)/400)
		r.pts[i].Errors = int64(share * float64(r.pts[i].Requests))
	}
	r.w = rebuild(r, r.rec)
	build := herokusim.NamedSlug("crates-io", "build-42")
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy slow burn", SlugID: build}, 1800)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Set RUST_LOG config vars", SlugID: build}, 1930)
	r.run(t, 1790, 2600)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v; events %v: want one, to v41, before the fault began", rbs, r.kinds())
	}
	if e := r.event(notify.Anomaly, 43); e == nil || factOf[notify.Anomalous](e).Origin != 42 {
		t.Fatalf("anomaly of v43: %+v; events %v: want the fault placed under v42", e, r.kinds())
	}
}
