package watcher_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/notify/zulip"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/watcher"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type rig struct {
	now  time.Time
	fake *herokusim.Server
	rec  *notify.Recorder
	w    *watcher.Watcher
	pts  []metrics.Point
	poll time.Duration
}

// newRig serves a steady 200 req/s download route whose error share jumps
// to 20% from badFromS on (0: never), with a fake Heroku on the same
// virtual clock, and a watcher polling every poll.
func newRig(t *testing.T, badFromS int, poll time.Duration, opts ...herokusim.Option) *rig {
	t.Helper()
	r := &rig{now: t0}
	clock := func() time.Time { return r.now }
	r.fake = herokusim.New("tok", append([]herokusim.Option{herokusim.WithClock(clock)}, opts...)...)
	t.Cleanup(r.fake.Close)
	r.pts = make([]metrics.Point, 4000)
	for i := range r.pts {
		p := metrics.Point{OK: true, Requests: 200, Errors: int64(i % 10 / 9), Repeats: 20}
		if badFromS > 0 && i >= badFromS {
			p.Errors = 40
		}
		r.pts[i] = p
	}
	r.poll = poll
	r.rec = &notify.Recorder{}
	r.w = rebuild(r, r.rec)
	r.fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy good", CreatedAt: t0.Add(-time.Hour)})
	return r
}

func (r *rig) release(spec herokusim.ReleaseSpec, atS int) {
	spec.CreatedAt = t0.Add(time.Duration(atS) * time.Second)
	r.fake.AddRelease("crates-io", spec)
}

func (r *rig) run(t *testing.T, fromS, toS int) {
	t.Helper()
	if err := r.runErr(fromS, toS); err != nil {
		t.Fatal(err)
	}
}

// runErr ticks from fromS to toS, for a goroutine other than the test's
// (which must not call t.Fatal).
func (r *rig) runErr(fromS, toS int) error {
	for s := fromS; s <= toS; s++ {
		r.now = t0.Add(time.Duration(s) * time.Second)
		if err := r.w.Tick(context.Background(), r.now); err != nil {
			return fmt.Errorf("tick at %ds: %w", s, err)
		}
	}
	return nil
}

func (r *rig) kinds() []string {
	var out []string
	for _, e := range r.rec.Events() {
		out = append(out, string(e.Kind))
	}
	return out
}

func (r *rig) rollbacks() []herokusim.Release {
	var out []herokusim.Release
	for _, rel := range r.fake.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			out = append(out, rel)
		}
	}
	return out
}

func TestWatcherRollsBackBadRelease(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1700, 2000)
	rbs := r.rollbacks()
	if len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v", rbs)
	}
	if at := rbs[0].CreatedAt.Sub(t0); at > 1900*time.Second {
		t.Fatalf("rolled back at %s, more than 70 s after the errors began", at)
	}
	want := []string{"watch.started", "anomaly", "rollback.started", "rollback.succeeded"}
	if got := r.kinds(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestWatcherHumanDeployCancelsRollback(t *testing.T) {
	// Polls are a minute apart: the watcher decides before it sees the
	// person's deploy, and the rollback's own fresh look must stop it.
	r := newRig(t, 1830, time.Minute)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy hotfix"}, 1840)
	r.run(t, 1801, 1865) // polls at 1801 and 1861; the verdict comes at 1845
	if rbs := r.rollbacks(); len(rbs) != 0 {
		t.Fatalf("rolled back %+v over a person's deploy", rbs)
	}
	var skipped *notify.Event
	for _, e := range r.rec.Events() {
		if e.Kind == notify.RollbackSkipped {
			skipped = &e
		}
	}
	if skipped == nil || !strings.Contains(skipped.Text(), "v43 (Deploy hotfix") {
		t.Fatalf("events %v: want rollback.skipped naming v43", r.kinds())
	}
}

func TestWatcherNeverWatchesOrTargetsFailedRelease(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Deploy broken", Status: "failed", PendingFor: 20 * time.Second}, 1700)
	r.release(herokusim.ReleaseSpec{Version: 43, Description: "Deploy bad"}, 1800)
	r.run(t, 1650, 2000)
	for _, e := range r.rec.Events() {
		if e.Release == 42 {
			t.Fatalf("event about the failed v42: %s", e.Text())
		}
	}
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		t.Fatalf("rollbacks %+v; want one, to v41 past the failed v42", rbs)
	}
}

func TestWatcherAnnouncesRollbackAfterItsReleasePhase(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second, herokusim.WithRollbackReleasePhase(40*time.Second))
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1790, 2000)
	var started, succeeded time.Time
	for _, e := range r.rec.Events() {
		switch e.Kind {
		case notify.RollbackStarted:
			started = e.At
		case notify.RollbackSucceeded:
			succeeded = e.At
		}
	}
	if started.IsZero() || succeeded.Sub(started) < 40*time.Second {
		t.Fatalf("rollback.started at %s, succeeded at %s: want success only after the 40 s release phase", started, succeeded)
	}
	if n := len(r.rollbacks()); n != 1 {
		t.Fatalf("%d rollbacks", n)
	}
}

func TestWatcherHealthyReleaseEndsHealthy(t *testing.T) {
	r := newRig(t, 0, 5*time.Second)
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	r.run(t, 1790, 2500)
	want := []string{"watch.started", "watch.healthy"}
	if got := r.kinds(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestWatcherSlowsPollingWhenBudgetRunsLow(t *testing.T) {
	count := func(opt herokusim.Option) int {
		r := newRig(t, 0, time.Second, opt)
		r.run(t, 100, 220)
		return len(r.fake.Requests())
	}
	plenty := count(herokusim.WithRateLimit(4500, 75))
	low := count(herokusim.WithRateLimit(50, 0))
	empty := count(herokusim.WithRateLimit(0, 0))
	if plenty < 100 || low > plenty/4 || empty > 4 {
		t.Fatalf("requests over 120 s at a 1 s poll: %d with a full budget, %d with 50 left, %d after 429s; want far fewer when low, and a pause after a 429", plenty, low, empty)
	}
}

func TestWatcherStopsOnUnauthorized(t *testing.T) {
	r := newRig(t, 0, time.Second)
	w := watcher.New(watcher.Config{
		Apps:   []watcher.App{{Name: "crates-io", Route: "download", Policy: watcher.DefaultPolicy()}},
		Heroku: heroku.New(r.fake.URL(), "wrong-token"),
	})
	err := w.Tick(context.Background(), t0)
	if err == nil || !strings.Contains(err.Error(), "401 unauthorized") || !strings.Contains(err.Error(), "HEROKU_API_KEY") || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("Tick = %v; want a fatal 401 that says what to check and hides the token", err)
	}
}

// probeLog is a recorded run of probe checks: passing until brokenFrom.
type probeLog struct{ brokenFrom time.Time }

func (p probeLog) Results(from, to time.Time) []analysis.ProbeResult {
	var out []analysis.ProbeResult
	for t := from.Truncate(10 * time.Second); t.Before(to); t = t.Add(10 * time.Second) {
		if t.Before(from) {
			continue
		}
		r := analysis.ProbeResult{At: t, OK: t.Before(p.brokenFrom)}
		if !r.OK {
			r.Err = "redirect to https://static.crates.iocrates/x: host static.crates.iocrates does not resolve"
		}
		out = append(out, r)
	}
	return out
}

func TestWatcherRollsBackOnTheProbeAlone(t *testing.T) {
	r := newRig(t, 0, 5*time.Second) // traffic stays healthy
	r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
	w := watcher.New(watcher.Config{
		Apps: []watcher.App{{Name: "crates-io", Route: "download", Policy: watcher.DefaultPolicy(),
			Source: emptySource{}, Probe: probeLog{brokenFrom: t0.Add(1800 * time.Second)}}},
		Heroku: heroku.New(r.fake.URL(), "tok"), Roller: &rollback.Roller{Heroku: heroku.New(r.fake.URL(), "tok")}, Notifier: r.rec,
	})
	r.w = w
	r.run(t, 1795, 1900)
	rbs := r.rollbacks()
	if len(rbs) != 1 {
		t.Fatalf("rollbacks %+v; events %v", rbs, r.kinds())
	}
	if at := rbs[0].CreatedAt.Sub(t0); at > 1870*time.Second {
		t.Fatalf("rolled back at %s: the probe should decide soon after the settle grace", at)
	}
	for _, e := range r.rec.Events() {
		if e.Kind == notify.RollbackStarted && !strings.Contains(e.Text(), "download probe failing 3 times in a row") {
			t.Fatalf("rollback text %q does not say the probe fired", e.Text())
		}
	}
}

// emptySource has no data at all: only the probe can speak.
type emptySource struct{}

func (emptySource) Counts(_ context.Context, _ string, from, to time.Time) (metrics.Series, error) {
	return metrics.Series{Start: from, Points: make([]metrics.Point, int(to.Sub(from)/time.Second))}, nil
}

// TestChatNeverDelaysRollback runs the same bad release twice: with no chat,
// and with Slack hanging and Zulip answering 500. The rollback must come at
// the same (virtual) second, while Slack is still hanging.
func TestChatNeverDelaysRollback(t *testing.T) {
	rollbackAt := func(chat notify.Notifier) time.Time {
		r := newRig(t, 1830, 5*time.Second)
		r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1800)
		if chat != nil {
			r.w = rebuild(r, notify.Multi{r.rec, chat})
		}
		done := make(chan error, 1)
		go func() { done <- r.runErr(1790, 1900) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the watch loop is stuck behind a chat")
		}
		rbs := r.rollbacks()
		if len(rbs) != 1 {
			t.Fatalf("rollbacks %+v", rbs)
		}
		return rbs[0].CreatedAt
	}
	quiet := rollbackAt(nil)

	sl := notifytest.NewSlack()
	defer sl.Stop()
	release := make(chan struct{})
	defer close(release) // runs before sl.Stop, which waits for the hung call
	sl.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		select { // hang until the test ends
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	zu := notifytest.NewZulip("bot@z", "key", "deploys")
	defer zu.Close()
	zu.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, `{"result":"error","msg":"boom","code":"BAD_GATEWAY"}`, http.StatusInternalServerError)
		return true
	})
	fast := func() retry.Backoff { return retry.NewConstant(20 * time.Millisecond) }
	slackThreads := notify.NewThreads(context.Background(), slack.New(slack.Config{Token: "xoxb", Channel: "C1", APIURL: sl.GetAPIURL()}),
		notify.ThreadOptions{CallTimeout: 30 * time.Second, GiveUp: time.Minute, Backoff: fast})
	zulipThreads := notify.NewThreads(context.Background(), zulip.New(zulip.Config{Site: zu.URL, Email: "bot@z", APIKey: "key", Stream: "deploys"}),
		notify.ThreadOptions{GiveUp: time.Minute, Backoff: fast})
	noisy := rollbackAt(notify.Multi{slackThreads, zulipThreads})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		slackThreads.Close(ctx)
		zulipThreads.Close(ctx)
	}()
	if !noisy.Equal(quiet) {
		t.Fatalf("rolled back at %s with chats failing, %s without", noisy, quiet)
	}
	if len(sl.Calls()) != 0 {
		t.Fatal("Slack answered: the test did not hang it")
	}
}

// rigThresholds are the defaults with the verdict on the rig's timeline:
// a 15 s quick window, the verdict at 1845 (errors from 1830, after the 30
// s restart grace). The rig's tests are about what follows a verdict;
// how soon one comes is the sweep's to measure.
func rigThresholds() analysis.Thresholds {
	th := analysis.DefaultThresholds()
	th.QuickWindow = 0
	return th
}

// rebuild makes the rig's watcher again (a new worker) with notifier n.
func rebuild(r *rig, n notify.Notifier, opts ...func(*watcher.Config)) *watcher.Watcher {
	client := heroku.New(r.fake.URL(), "tok")
	clock := func() time.Time { return r.now }
	cfg := watcher.Config{
		Apps: []watcher.App{{
			Name: "crates-io", Route: "download", Policy: watcher.Policy{
				WatchFor: 10 * time.Minute, Baseline: 20 * time.Minute,
				RestartGrace: 30 * time.Second, SettleGrace: 30 * time.Second, AutoRollback: true,
				Thresholds: rigThresholds(),
			},
			Source: series.New(series.Recording{Start: t0, Routes: map[string][]metrics.Point{"download": r.pts}}, clock),
		}},
		Heroku:       client,
		Roller:       &rollback.Roller{Heroku: client, Backoff: func() retry.Backoff { return retry.NewConstant(time.Millisecond) }},
		Notifier:     n,
		PollInterval: r.poll,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return watcher.New(cfg)
}

// A release live before the worker started (a first start) is watched
// alert only when the source has nothing from before it to compare with
// (a router log starts empty): guardrails alone are no ground for a first
// act; the announcements say why. With the traffic from before it (a
// source that keeps history), the watch may act, and says so (issue 17).
func TestJoinedReleaseActsOnlyWithABaseline(t *testing.T) {
	for _, history := range []bool{false, true} {
		t.Run(fmt.Sprintf("history %v", history), func(t *testing.T) {
			r := newRig(t, 1830, 5*time.Second)
			if !history {
				for i := range 1790 {
					r.pts[i] = metrics.Point{} // no data before the worker started
				}
				r.w = rebuild(r, r.rec) // the source reads the points when made
			}
			r.release(herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118"}, 1700)
			r.run(t, 1790, 2000)
			var opening, anomaly string
			for _, e := range r.rec.Events() {
				switch e.Kind {
				case notify.WatchStarted:
					opening = e.Text()
				case notify.Anomaly:
					anomaly = e.Text()
				}
			}
			if anomaly == "" {
				t.Fatalf("no anomaly: %v", r.kinds())
			}
			if history {
				if len(r.rollbacks()) != 1 || !strings.Contains(opening, "relwatch started after it went live, and may act") {
					t.Fatalf("with a baseline: %d rollbacks, opening %q", len(r.rollbacks()), opening)
				}
				return
			}
			if n := len(r.rollbacks()); n != 0 {
				t.Fatalf("rolled back %d times on guardrails alone, joined after going live", n)
			}
			why := "relwatch started after v42 went live and has no traffic from before it to compare with"
			if !strings.Contains(opening, "alert only: "+why) || !strings.Contains(anomaly, "Alert only ("+why+"): to roll back, `heroku rollback v41 -a crates-io`") {
				t.Fatalf("opening %q\nanomaly %q", opening, anomaly)
			}
		})
	}
}

// Ten deploys whose release phase failed (a migration that kept failing),
// then one that succeeded and breaks the app. The last good release, v41,
// is the 12th newest: a poll reads the 10 newest, the rollback path reads
// 50 ("enough to find a target behind a run of failed releases"). The bad
// release must be rolled back to v41.
func TestATargetBehindARunOfFailedReleasesIsFound(t *testing.T) {
	r := newRig(t, 1830, 5*time.Second)
	for i := range 10 {
		r.release(herokusim.ReleaseSpec{Version: 42 + i, Description: fmt.Sprintf("Deploy broken%d", i), Status: "failed", PendingFor: 5 * time.Second}, 1600+10*i)
	}
	r.release(herokusim.ReleaseSpec{Version: 52, Description: "Deploy bad"}, 1800)
	r.run(t, 1790, 2000)
	if rbs := r.rollbacks(); len(rbs) != 1 || rbs[0].Description != "Rollback to v41" {
		var reasons []string
		for _, e := range r.rec.Events() {
			reasons = append(reasons, e.Text())
		}
		t.Fatalf("rollbacks %+v; want one, to v41 past the failed v42..v51; events %v\n%s", rbs, r.kinds(), strings.Join(reasons, "\n"))
	}
}
