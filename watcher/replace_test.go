package watcher_test

import (
	"context"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// v42 is judged anomalous while rollback is paused; a person deploys an
// attempted fix 70 s later (v43), which is just as broken. v43's baseline
// must leave out the time the anomalous v42 was live (open's own comment:
// "unless it was judged anomalous (then exclusions leave it out)"), so v43
// is judged against the good traffic before v42 and rolled back once the
// pause ends.
func TestAQuickFixAfterAnAnomalyIsJudgedAgainstTheGoodTraffic(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, sqliteState(t))
	r := newRig(t, 1830, 5*time.Second)
	withState(r, db)
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration"}); err != nil {
		t.Fatal(err)
	}
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy bad"}, 1800)
	r.run(t, 1790, 1925)
	if r.event(notify.Anomaly, 42) == nil || len(r.rollbacks()) != 0 {
		t.Fatalf("events %v: want v42 announced anomalous, not rolled back while paused", r.kinds())
	}
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy attempted fix"}, 1930)
	r.run(t, 1926, 1935)
	if _, err := db.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1936, 2600)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v; events %v: want v43 (as broken as v42) rolled back to v41", rbs, r.kinds())
	}
	// v43's errors are judged from 1960 s (30 s restart grace); against the
	// good baseline a 20% error share decides within a quick window.
	if at := int(rbs[0].CreatedAt.Sub(t0) / time.Second); at > 2030 {
		e := r.event(notify.Anomaly, 43)
		t.Fatalf("v43 rolled back at %d s, %d s after its errors were judgeable; judged against baseline error share %.4f (v42's bad minutes left in)",
			at, at-1960, e.Seen().Findings[0].Baseline)
	}
}

// A deploy (v42, a new build) and, 35 s later, a config change on it
// (v43: `heroku config:set` right after the deploy). Each restarts every
// dyno: 25 s of router errors after each one goes live, within the 30 s
// restart grace, and nothing wrong otherwise. Nothing must be rolled back.
func TestAConfigChangeRightAfterADeployIsNotRolledBackForItsRestart(t *testing.T) {
	for _, sameBuild := range []bool{false, true} {
		r := newRig(t, 0, 5*time.Second)
		for _, live := range []int{1800, 1835} {
			for i := live; i < live+25; i++ {
				r.pts[i].Errors = 60 // dynos booting: 30% router errors
			}
		}
		r.w = rebuild(r, r.rec)
		build := herokusim.NamedSlug("crates-io", "build-42")
		r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy good", SlugID: build}, 1800)
		spec := herokusim.ReleaseSpec{Version: 43, Description: "Set FEATURE_X config vars", SlugID: build}
		if !sameBuild {
			spec = herokusim.ReleaseSpec{Version: 43, Description: "Deploy good too"}
		}
		r.release(spec, 1835)
		r.run(t, 1790, 2500)
		if rbs := r.rollbacks(); len(rbs) != 0 {
			e := r.event(notify.Anomaly, 43)
			t.Errorf("v43 on the same build %v: rolled back %+v for its own restart blip: %q", sameBuild, rbs, e.Seen().Reason)
		}
	}
}
