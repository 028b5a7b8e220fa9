package watcher_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/console"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// The announcements say what happened (issue 11, "Texts that tell the
// truth"): each test here runs the real watcher with the real store on
// the simulated Heroku, and reads what it said.

// statefulRig is a rig whose watcher has a store on the rig's clock.
func statefulRig(t *testing.T, badFromS int) (*rig, *store.DB) {
	t.Helper()
	r := newRig(t, badFromS, 5*time.Second)
	db, err := store.Open(context.Background(), sqliteState(t), store.WithClock(func() time.Time { return r.now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	withState(r, db)
	return r, db
}

// last returns the last event of kind, and whether there was one.
func last(r *rig, kind notify.Kind) (notify.Event, bool) {
	var out notify.Event
	found := false
	for _, e := range r.rec.Events() {
		if e.Kind == kind {
			out, found = e, true
		}
	}
	return out, found
}

// An approval 10 s into a watch ends it at once: the healthy end says who
// ended it and after how long, not "looks healthy after" the whole watch.
func TestApprovalSaysWhoEndedTheWatchAndWhen(t *testing.T) {
	r, db := statefulRig(t, 0)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 1809)
	if err := db.Approve(context.Background(), "crates-io", 42, "ana", ""); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1810, 1810)
	healthy, ok := last(r, notify.WatchHealthy)
	if !ok {
		t.Fatalf("events %v: the approval did not end the watch", r.kinds())
	}
	text := healthy.Text()
	if !strings.Contains(text, "approved by ana after 10s of its 10m watch") || strings.Contains(text, "looks healthy after") {
		t.Fatalf("healthy end after an approval 10 s in: %q", text)
	}
}

// A pause for 30 min, resumed before the worker's next tick, is announced
// as it was asked (until when), not as a pause "until resumed".
func TestPauseResumedBeforeTheTickIsAnnouncedAsAsked(t *testing.T) {
	r, db := statefulRig(t, 0)
	ctx := context.Background()
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 1805)
	until := r.now.Add(30 * time.Minute)
	if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", Until: until}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Resume(ctx, "crates-io", "ana"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1806, 1806)
	paused, ok := last(r, notify.Paused)
	if !ok {
		t.Fatalf("events %v: the pause was not announced", r.kinds())
	}
	if want := notify.Until(until, paused.At); !strings.Contains(paused.Text(), want) || strings.Contains(paused.Text(), "until resumed") {
		t.Fatalf("pause announced as %q, want %q", paused.Text(), want)
	}
	if k := r.kinds(); k[len(k)-1] != string(notify.Resumed) {
		t.Fatalf("events %v: the resume must follow the pause", k)
	}
}

// A person's rollback says who asked and why, in words: never "v42 had
// requested by someone: ...".
func TestPersonsRollbackSaysWhoAskedAndWhy(t *testing.T) {
	r, db := statefulRig(t, 0)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 1810)
	if _, err := db.RequestRollback(context.Background(), "crates-io", 0, "ana", "downloads broken"); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1811, 1811)
	started, ok1 := last(r, notify.RollbackStarted)
	done, ok2 := last(r, notify.RollbackSucceeded)
	if !ok1 || !ok2 {
		t.Fatalf("events %v", r.kinds())
	}
	if s := started.Text(); !strings.Contains(s, "from v42 to v41, as ana asked: downloads broken") {
		t.Errorf("rollback.started: %q", s)
	}
	if s := done.Text(); !strings.Contains(s, "v42 rolled back as ana asked: downloads broken") || strings.Contains(s, "had") {
		t.Errorf("rollback.succeeded: %q", s)
	}
}

// An approval and a rollback queued together, in either order: the
// rollback happened, so the watch ends rolled back, never healthy, and the
// approval says it changed nothing when it came after.
func TestApprovalAndRollbackQueuedTogether(t *testing.T) {
	for _, approveFirst := range []bool{true, false} {
		name := "rollback, then approve"
		if approveFirst {
			name = "approve, then rollback"
		}
		t.Run(name, func(t *testing.T) {
			r, db := statefulRig(t, 0)
			ctx := context.Background()
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
			r.run(t, 1795, 1810)
			approve := func() {
				if err := db.Approve(ctx, "crates-io", 42, "ana", ""); err != nil {
					t.Fatal(err)
				}
			}
			if approveFirst {
				approve()
			}
			if _, err := db.RequestRollback(ctx, "crates-io", 0, "ben", "downloads broken"); err != nil {
				t.Fatal(err)
			}
			if !approveFirst {
				approve()
			}
			r.run(t, 1811, 1830)
			if _, ok := last(r, notify.WatchHealthy); ok {
				t.Fatalf("events %v: a rolled-back release announced healthy", r.kinds())
			}
			if _, ok := last(r, notify.RollbackSucceeded); !ok {
				t.Fatalf("events %v: no rollback", r.kinds())
			}
			approved, _ := last(r, notify.Approved)
			if moot := strings.Contains(approved.Text(), "nothing changes"); moot == approveFirst {
				t.Errorf("approval: %q", approved.Text())
			}
			w, ok, err := db.LatestWatch(ctx, "crates-io")
			if err != nil || !ok || w.Release.Version != 42 || w.State != watcher.StateRolledBack {
				t.Fatalf("stored watch v%d %q (%v): want v42 rolled_back", w.Release.Version, w.State, err)
			}
		})
	}
}

// What people said about a release is announced in its thread after the
// thread's opening, even when it was said before the worker first saw the
// release: a console never shows a reply before its opening message.
func TestRequestsAreAnnouncedAfterTheOpening(t *testing.T) {
	r, db := statefulRig(t, 0)
	var out bytes.Buffer
	con := console.New(&out)
	r.w = rebuild(r, notify.Multi{r.rec, con}, func(c *watcher.Config) {
		c.History, c.Journal, c.Overrides, c.Quarantine = db, db, db, db
	})
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1790, 1799) // v42 not created yet
	if err := db.SetPause(context.Background(), store.Pause{App: "crates-io", By: "ana", Reason: "migration"}); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1800, 1800) // the poll that first sees v42, and the pause
	want := []string{string(notify.WatchStarted), string(notify.Paused)}
	if got := r.kinds(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[0], "[watch.started] crates-io v42") {
		t.Fatalf("the console's first line is not v42's opening:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "└─ [override.paused]") {
		t.Fatalf("the pause is not a reply in v42's thread:\n%s", out.String())
	}
}

// A retry storm doubles the request rate and lifts the repeat share: the
// repeat share decides, and the rate rise (which never rolls back on its
// own) is said after it, as context; the rollback's own texts quote only
// what decided.
func TestRateRiseIsContextNeverTheReason(t *testing.T) {
	r := newRig(t, 0, 5*time.Second)
	for i := 1830; i < len(r.pts); i++ {
		r.pts[i].Requests, r.pts[i].Repeats = 400, 140 // x2 the rate, repeats 10% -> 35%
	}
	db, err := store.Open(context.Background(), sqliteState(t), store.WithClock(func() time.Time { return r.now }))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	withState(r, db)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 1960)
	anomaly, ok := last(r, notify.Anomaly)
	if !ok {
		t.Fatalf("events %v: no anomaly", r.kinds())
	}
	reason := anomaly.Seen().Reason
	repeat, rise := strings.Index(reason, "repeat share"), strings.Index(reason, "context: request rate rose")
	if repeat != 0 || rise < 0 {
		t.Fatalf("reason %q: want the repeat share first, the rate rise after it as context", reason)
	}
	ev := notify.Render(anomaly, notify.RenderOptions{}).Evidence
	if len(ev) < 2 || !strings.HasPrefix(ev[0], "repeat share") || !strings.HasPrefix(ev[len(ev)-1], "context: request rate") {
		t.Fatalf("evidence lines %q: want the repeat share first, the rate rise last as context", ev)
	}
	for _, kind := range []notify.Kind{notify.Anomaly, notify.RollbackStarted, notify.RollbackSucceeded} {
		e, ok := last(r, kind)
		if !ok {
			t.Fatalf("events %v: no %s", r.kinds(), kind)
		}
		if text := e.Text(); !strings.Contains(text, "repeat share 35.0% (was 10.0%)") || strings.Contains(text, "request rate") {
			t.Errorf("%s: %q: want the repeat share alone", kind, text)
		}
	}
	j, err := db.Journal(context.Background(), "crates-io", false, 5)
	if err != nil || len(j) != 1 || strings.Contains(j[0].Reason, "request rate") || !strings.Contains(j[0].Reason, "repeat share") {
		t.Fatalf("journal %+v %v: the rollback's reason must be what decided", j, err)
	}
	decisions, err := db.Decisions(context.Background(), "crates-io", 5)
	if err != nil || len(decisions) == 0 {
		t.Fatalf("decisions %v %v", decisions, err)
	}
	for _, d := range decisions {
		if d.Action == string(watcher.RollBack) && !strings.HasPrefix(d.Reason, "repeat share") {
			t.Errorf("decision %q: the deciding signal must come first", d.Reason)
		}
	}
}

// `relwatch status` reads a watch under way from the store: each signal's
// verdict there is the watcher's at every tick (stored again at once when
// one changes), and its values at most a minute old.
func TestStoredWatchFollowsTheVerdict(t *testing.T) {
	r, db := statefulRig(t, 0)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 1800)
	changes := 0
	var last string
	for s := 1801; s <= 2100; s++ {
		r.run(t, s, s)
		ws := r.w.Watches()
		if len(ws) != 1 {
			t.Fatalf("at %ds: %d watches", s, len(ws))
		}
		var mem, stored string
		for _, f := range ws[0].Last.Verdict.Findings {
			mem += string(f.Signal) + ":" + string(f.Status) + " "
		}
		rec, _, err := db.LatestWatch(context.Background(), "crates-io")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rec.Findings {
			stored += string(f.Signal) + ":" + string(f.Status) + " "
		}
		if mem != stored {
			t.Fatalf("at %ds the store says %q, the watcher %q", s, stored, mem)
		}
		if age := r.now.Sub(rec.Updated); age > time.Minute {
			t.Fatalf("at %ds the stored watch is %s old", s, age)
		}
		if mem != last {
			changes++
			last = mem
		}
	}
	if changes < 2 {
		t.Fatalf("the verdict changed %d times: the test saw no change to follow", changes)
	}
}

// A restarted worker says again how the last watch ended, as it ended: an
// approval's end is restated as the approval, not as a full healthy watch.
func TestRestatedApprovalIsTheApproval(t *testing.T) {
	r, db := statefulRig(t, 0)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1795, 1809)
	if err := db.Approve(context.Background(), "crates-io", 42, "ana", ""); err != nil {
		t.Fatal(err)
	}
	r.run(t, 1810, 1810)
	r.rec = &notify.Recorder{}
	withState(r, db) // a new worker on the same state
	r.run(t, 1815, 1815)
	healthy, ok := last(r, notify.WatchHealthy)
	if !ok || !healthy.Restated {
		t.Fatalf("events %v: the restarted worker did not restate the watch's end", r.kinds())
	}
	if text := healthy.Text(); !strings.Contains(text, "approved by ana after 10s") {
		t.Fatalf("restated end %q: want the approval", text)
	}
	if w, _, _ := db.LatestWatch(context.Background(), "crates-io"); w.ApprovedBy != "ana" {
		t.Fatalf("stored watch approved_by %q", w.ApprovedBy)
	}
}

// TestAnApprovalOfAReleaseNotMadeYetIsNotTaken: "approve crates-io v43"
// typed while v42 was under watch (a typo) was kept, and ended the watch
// of v43 healthy at once when v43 was made, broken, minutes later: it was
// never rolled back. An approval given before its release was made is
// not taken (but one given in the 2 minutes before, the clocks may differ),
// and its announcement says so when it is given.
func TestAnApprovalOfAReleaseNotMadeYetIsNotTaken(t *testing.T) {
	for _, tc := range []struct {
		name       string
		approveAtS int // 0: no approval
		taken      bool
	}{
		{"no approval", 0, false},
		{"approved 10 min before v43 was made", 1811, false},
		{"approved 30 s before v43 was made", 2370, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, db := statefulRig(t, 2400)
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy v42"}, 1800)
			r.run(t, 1795, 1810)
			approve := tc.approveAtS
			if approve == 0 {
				approve = 1811
			}
			r.run(t, 1811, approve-1)
			if tc.approveAtS != 0 {
				if err := db.Approve(context.Background(), "crates-io", 43, "@ana", ""); err != nil {
					t.Fatal(err)
				}
			}
			r.run(t, approve, 2399)
			if tc.approveAtS != 0 {
				said, ok := last(r, notify.Approved)
				if want := "👍 @ana approved crates-io v43, but relwatch has not seen v43: if it is made after this approval, the approval is not taken, and its watch goes on."; !ok || said.Text() != want {
					t.Errorf("the approval of v43 before v43 was made was announced %q; want %q", said.Text(), want)
				}
			}
			r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy v43 (broken)"}, 2400)
			r.run(t, 2400, 3000)
			healthy, _ := last(r, notify.WatchHealthy)
			switch {
			case tc.taken && (len(r.rollbacks()) != 0 || healthy.Release != 43 || !strings.Contains(healthy.Text(), "approved by @ana")):
				t.Errorf("the approval was not taken: rollbacks %v, events %v", r.rollbacks(), r.kinds())
			case !tc.taken && len(r.rollbacks()) == 0:
				t.Errorf("the broken v43 was never rolled back; events %v", r.kinds())
			}
		})
	}
}
