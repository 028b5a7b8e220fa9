package notify_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/control"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/console"
	"github.com/relwatch/relwatch/store"
)

var (
	at0  = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rise = analysis.Finding{Signal: analysis.RateRise, Status: analysis.Anomalous, Mode: analysis.Relative,
		Baseline: 200, Current: 800, Z: 90, ZThreshold: 4, From: at0, To: at0.Add(time.Minute)}
	repeats = analysis.Finding{Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true, Mode: analysis.Relative,
		Baseline: 0.15, Current: 0.787, CurrentSample: 48000, BaselineSample: 2e6, Z: 185, ZThreshold: 4, From: at0, To: at0.Add(time.Minute)}
	errorShare = analysis.Finding{Signal: analysis.ErrorShare, Status: analysis.Healthy, Trigger: true, Mode: analysis.Relative,
		Baseline: 0.0005, Current: 0.0004, From: at0, To: at0.Add(time.Minute)}
)

// The signals that decided come first, whatever the order of the
// findings; a rate rise (never a reason to roll back on its own) only
// after them, marked as context, and never in the rollback's own texts.
func TestDecidingSignalsFirstRateRiseAsContext(t *testing.T) {
	v := analysis.Verdict{Status: analysis.Anomalous, Mode: analysis.Relative, Findings: []analysis.Finding{rise, errorShare, repeats}}
	reason := notify.Reason(v)
	if !strings.HasPrefix(reason, "repeat share 78.7%") || !strings.Contains(reason, "; context: request rate rose to 800.0/s") {
		t.Errorf("reason %q", reason)
	}
	if s := notify.Summary(v); s != "repeat share 78.7% (was 15.0%)" {
		t.Errorf("summary %q", s)
	}
	seen := notify.Seen{Reason: reason, Summary: notify.Summary(v), Findings: v.Findings}
	anomaly := notify.Event{Header: notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42}, Fact: notify.Anomalous{Seen: seen, Auto: true, Target: 41}}
	for _, e := range []notify.Event{anomaly,
		{Header: notify.Header{Kind: notify.RollbackStarted, App: "crates-io", Release: 42}, Fact: notify.RollbackStep{Seen: seen, Auto: true, Target: 41, Rollback: 43}},
		{Header: notify.Header{Kind: notify.RollbackSucceeded, App: "crates-io", Release: 42}, Fact: notify.RollbackStep{Seen: seen, Auto: true, Target: 41, Rollback: 43}},
	} {
		kind := e.Kind
		if text := e.Text(); strings.Contains(text, "request rate") || !strings.Contains(text, "repeat share 78.7%") {
			t.Errorf("%s: %q", kind, text)
		}
	}
	ev := notify.Render(anomaly, notify.RenderOptions{}).Evidence
	if len(ev) != 2 || !strings.HasPrefix(ev[0], "repeat share: 78.7% now") || !strings.HasPrefix(ev[1], "context: request rate: 800.0/s now") {
		t.Errorf("anomaly evidence %q", ev)
	}

	// A healthy release during an organic surge: the rise is context there too.
	healthy := analysis.Verdict{Status: analysis.Healthy, Mode: analysis.Relative, Findings: []analysis.Finding{rise, errorShare}}
	if r := notify.Reason(healthy); r != "all signals within their baseline (error share 0.040%, was 0.050%); context: request rate rose to 800.0/s over the last 1m vs 200.0/s before the release (x4.00); z=90.0, threshold 4.0" {
		t.Errorf("healthy reason %q", r)
	}
	e := notify.Event{Header: notify.Header{Kind: notify.WatchHealthy, App: "crates-io", Release: 42}, Fact: notify.WatchEnd{Seen: notify.Seen{Findings: healthy.Findings}}}
	ev = notify.Render(e, notify.RenderOptions{}).Evidence
	if len(ev) != 2 || !strings.HasPrefix(ev[0], "error share") || !strings.HasPrefix(ev[1], "context: request rate") {
		t.Errorf("healthy evidence %q", ev)
	}
}

// The console lays events out as their chat thread: a release's first
// announcement opens its thread (as in chat), so a reply is never printed
// before, or without, its opening line.
func TestConsoleNeverPrintsAReplyWithoutItsOpening(t *testing.T) {
	var out bytes.Buffer
	c := console.New(&out)
	ctx := context.Background()
	for _, e := range []notify.Event{
		{Header: notify.Header{Kind: notify.Paused, App: "crates-io", Release: 41, At: at0}, Fact: notify.Request{By: "ana"}},
		{Header: notify.Header{Kind: notify.Resumed, App: "crates-io", Release: 41, At: at0}, Fact: notify.Request{By: "ana"}},
		{Header: notify.Header{Kind: notify.WatchStarted, App: "crates-io", Release: 42, At: at0}},
		{Header: notify.Header{Kind: notify.Paused, App: "crates-io", Release: 42, At: at0}, Fact: notify.Request{By: "ana"}},
	} {
		if err := c.Notify(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var heads []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, "12:00:00") {
			heads = append(heads, strings.Fields(l[len("12:00:00"):])[0])
		}
	}
	want := []string{"[override.paused]", "└─", "[watch.started]", "└─"}
	if strings.Join(heads, " ") != strings.Join(want, " ") {
		t.Fatalf("lines start %q, want %q:\n%s", heads, want, out.String())
	}
}

// TestWatchStartSaysTheBaselineUsed: the opening message states the
// baseline as used (its span, the incident left out), and says when the
// only history is itself an incident, the guardrail judging too; the
// inconclusive line says why.
func TestWatchStartSaysTheBaselineUsed(t *testing.T) {
	f := notify.WatchStart{Route: "download", WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute,
		Against: notify.Against{From: at0.Add(-45 * time.Minute), To: at0, Data: 29 * time.Minute, LeftOut: 16 * time.Minute}}
	e := notify.Event{Header: notify.Header{Kind: notify.WatchStarted, App: "crates-io", Release: 42, Description: "Deploy 4e47375"}, Fact: f}
	if text := e.Text(); !strings.Contains(text, "against 29m of traffic from 11:15 to 12:00 UTC, leaving out 16m of incident") || strings.Contains(text, "itself an incident") {
		t.Errorf("opening %q", text)
	}
	f.Against.LeftOut, f.Against.Incident, f.Against.Guardrail = 0, 0.201, 0.05
	e.Fact = f
	if text := e.Text(); !strings.Contains(text, "itself an incident (20.1% errors, past the 5.0% guardrail)") {
		t.Errorf("opening %q does not say the baseline is an incident", text)
	}
	gap := analysis.Finding{Signal: analysis.ErrorShare, Status: analysis.Inconclusive, Gap: analysis.GapIncidentBaseline, Have: 0.201, Need: 0.05, Current: 0.198}
	if g := notify.Gap(gap); !strings.Contains(g, "20.1% errors, past the 5.0% guardrail") || !strings.Contains(g, "(19.8%)") {
		t.Errorf("gap %q", g)
	}
}

// A slower release is said as a person would: the quantile, in ms or s,
// against before.
func TestLatencySaidInTime(t *testing.T) {
	slow := analysis.Finding{Signal: analysis.LatencyP95, Status: analysis.Anomalous, Trigger: true, Mode: analysis.Relative,
		Baseline: 0.31, Current: 2.4, CurrentSample: 18000, BaselineSample: 540000, Z: 12.3, ZThreshold: 4, MinRatio: 1.5, MinIncrease: 0.05,
		Burst: 0.42, From: at0, To: at0.Add(time.Minute)}
	v := analysis.Verdict{Status: analysis.Anomalous, Mode: analysis.Relative, Findings: []analysis.Finding{errorShare, slow}}
	if s := notify.Summary(v); s != "p95 latency 2.4 s (was 310 ms)" {
		t.Errorf("summary %q", s)
	}
	if r := notify.Reason(v); !strings.HasPrefix(r, "p95 latency 2.4 s over the last 1m vs 310 ms before the release (x7.74; 18,000 responses vs 540,000)") {
		t.Errorf("reason %q", r)
	}
	if sig, now, before, verdict := notify.Values(slow); sig != "p95 latency" || now != "2.4 s" || before != "310 ms" || verdict != "anomalous" {
		t.Errorf("values %q %q %q %q", sig, now, before, verdict)
	}
	for sec, want := range map[float64]string{0.0042: "4.2 ms", 0.0999: "100 ms", 0.9994: "999 ms", 0.9996: "1.0 s", 31.2: "31 s"} {
		if got := notify.Latency(sec); got != want {
			t.Errorf("Latency(%g) = %q, want %q", sec, got, want)
		}
	}
}

// A baseline with its seconds but too few requests in them says so in
// requests, and latency's in timed responses: never as seconds.
func TestThinBaselineSaidInItsUnits(t *testing.T) {
	for _, tc := range []struct {
		f          analysis.Finding
		long, tiny string
	}{
		{analysis.Finding{Signal: analysis.RateCollapse, Gap: analysis.GapThinBaseline, Have: 150, Need: 200},
			"no usable baseline: 150 requests before the release, need 200", "not judged: no baseline (150 of 200 requests)"},
		{analysis.Finding{Signal: analysis.LatencyP95, Gap: analysis.GapThinBaseline, Have: 480, Need: 1000},
			"no usable baseline: 480 timed responses before the release, need 1000", "not judged: no baseline (480 of 1000 responses)"},
		{analysis.Finding{Signal: analysis.RateCollapse, Gap: analysis.GapNoBaseline, Have: 100, Need: 120},
			"no usable baseline: 100 s with traffic before the release, need 2m", "not judged: no baseline (100 of 120 s)"},
	} {
		if got := notify.Gap(tc.f); got != tc.long {
			t.Errorf("%s %s: %q, want %q", tc.f.Signal, tc.f.Gap, got, tc.long)
		}
		tc.f.Status = analysis.Inconclusive
		if _, _, _, verdict := notify.Values(tc.f); verdict != tc.tiny {
			t.Errorf("%s %s: verdict %q, want %q", tc.f.Signal, tc.f.Gap, verdict, tc.tiny)
		}
	}
	// A healthy verdict on the guardrails alone ends with what the
	// baseline lacks.
	v := analysis.Verdict{Status: analysis.Healthy, Mode: analysis.Absolute, Findings: []analysis.Finding{
		{Signal: analysis.ErrorShare, Status: analysis.Healthy, Mode: analysis.Absolute, Trigger: true, Baseline: 0.05},
		{Signal: analysis.RateCollapse, Status: analysis.Inconclusive, Mode: analysis.Absolute, Gap: analysis.GapThinBaseline, Have: 150, Need: 200}}}
	if r := notify.Reason(v); !strings.Contains(r, "no usable baseline: 150 requests before the release, need 200") {
		t.Errorf("reason %q does not say the baseline is thin", r)
	}
}

// TestEveryClauseOfTheTexts: each optional clause of the announcements,
// there and not there, as whole sentences written from the wording rules
// (a replaced watch, a quarantined slug, attempts and rounds, a person's
// why, a pause's end, a moot approval, a baseline with nothing left out).
func TestEveryClauseOfTheTexts(t *testing.T) {
	h := func(k notify.Kind) notify.Header {
		return notify.Header{Kind: k, App: "crates-io", Release: 42, Description: "Deploy 4e47375"}
	}
	start := notify.WatchStart{Route: "download", WatchFor: 20 * time.Minute, Baseline: 30 * time.Minute, Auto: true}
	replaced, off, measured := start, start, start
	replaced.Replaces, replaced.Quarantined = 41, 39
	off.Auto = false
	measured.Against = notify.Against{From: at0.Add(-45 * time.Minute), To: at0, Data: 29 * time.Minute}
	failed := notify.RollbackStep{By: store.Automatic, Auto: true, Target: 41, Err: "503 unavailable"}
	first, last, asked := failed, failed, failed
	first.Round, first.Rounds = 1, 3
	last.Round, last.Rounds, last.Attempts = 3, 3, 2
	asked.By, asked.Auto, asked.Attempts = "ana", false, 3
	why := notify.RollbackStep{By: "ana", Target: 41, Seen: notify.Seen{Reason: "users report 500s"}}
	until := time.Date(2026, 11, 1, 15, 0, 0, 0, time.UTC)
	at := func(hd notify.Header, t time.Time) notify.Header { hd.At = t; return hd }
	for _, tc := range []struct {
		e    notify.Event
		want string
	}{
		{notify.Event{Header: h(notify.WatchStarted), Fact: replaced},
			"🚨 QUARANTINED SLUG: this is the build that was rolled back from v39. crates-io v42 is live (Deploy 4e47375) — watching download for 20m against the 30m before (replaces the watch on v41). No benefit of the doubt: judged on half the usual evidence."},
		{notify.Event{Header: h(notify.WatchStarted), Fact: off},
			"crates-io v42 is live (Deploy 4e47375) — watching download for 20m against the 30m before; alert only, automatic rollback is off."},
		{notify.Event{Header: h(notify.WatchStarted), Fact: measured},
			"crates-io v42 is live (Deploy 4e47375) — watching download for 20m against 29m of traffic from 11:15 to 12:00 UTC."},
		{notify.Event{Header: h(notify.RollbackFailed), Fact: first},
			"❌ Rollback of crates-io from v42 to v41 failed: 503 unavailable. relwatch tries again at the next evidence while v42 is live and bad (round 1 of 3 failed); to roll back by hand now: `heroku rollback v41 -a crates-io`."},
		{notify.Event{Header: h(notify.RollbackFailed), Fact: last},
			"❌ Rollback of crates-io from v42 to v41 failed after 2 attempt(s): 503 unavailable. That was the last of 3 rounds. Roll back by hand: `heroku rollback v41 -a crates-io`."},
		{notify.Event{Header: h(notify.RollbackFailed), Fact: asked},
			"❌ Rollback of crates-io from v42 to v41, asked by ana, failed after 3 attempt(s): 503 unavailable. Roll back by hand: `heroku rollback v41 -a crates-io`."},
		{notify.Event{Header: h(notify.RollbackStarted), Fact: why},
			"⏪ Rolling crates-io back from v42 to v41, as ana asked: users report 500s."},
		{notify.Event{Header: h(notify.RollbackStarted), Fact: notify.RollbackStep{By: "ana", Target: 41}},
			"⏪ Rolling crates-io back from v42 to v41, as ana asked."},
		{notify.Event{Header: at(h(notify.Paused), at0), Fact: notify.Request{By: "ana", Until: until, Reason: "deploy freeze"}},
			"⏸ ana paused automatic rollback of crates-io until 15:00 UTC: deploy freeze. Anomalies are still announced."},
		// Ending a day or more on, the time of day alone would read as today's.
		{notify.Event{Header: at(h(notify.Paused), at0), Fact: notify.Request{By: "ana", Until: until.Add(48 * time.Hour)}},
			"⏸ ana paused automatic rollback of crates-io until 15:00 UTC on Nov 3. Anomalies are still announced."},
		{notify.Event{Header: h(notify.Paused), Fact: notify.Request{By: "ana"}},
			"⏸ ana paused automatic rollback of crates-io until resumed. Anomalies are still announced."},
		{notify.Event{Header: h(notify.Approved), Fact: notify.Request{By: "ana", Reason: "looks fine"}},
			"👍 ana approved crates-io v42 (looks fine)."},
		{notify.Event{Header: h(notify.Approved), Fact: notify.Request{By: "ana", Moot: true}},
			"👍 ana approved crates-io v42, but its watch is over: nothing changes."},
		{notify.Event{Header: h(notify.Approved), Fact: notify.Request{By: "ana", Unseen: true}},
			"👍 ana approved crates-io v42, but relwatch has not seen v42: if it is made after this approval, the approval is not taken, and its watch goes on."},
	} {
		if got := tc.e.Text(); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.e.Kind, got, tc.want)
		}
	}
}

// A person's approval is answered before the worker has looked at the
// release: the answer must not promise what the worker may not do (end a
// watch of a release made after the approval).
func TestApprovalAnswerPromisesOnlyWhatTheWorkerDoes(t *testing.T) {
	got := notify.OverrideText(control.Outcome{Command: control.Command{Verb: control.Approve, App: "crates-io", Release: 43}, By: "ana"})
	want := "👍 ana approved crates-io v43: if v43 is the release under watch, its watch ends healthy (an approval given before v43 was made is not taken). relwatch carries it out within one tick and announces it."
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// A person's rollback refused for its target (rollback --to v42 with v42
// live: a typo) is a refused command: the release's opening keeps its
// status and its buttons (the watch goes on), and the override offered is
// not the refused target again. A failure of relwatch's own rollback ends
// the story as before.
func TestARefusedTargetDoesNotEndTheStory(t *testing.T) {
	h := notify.Header{Kind: notify.RollbackFailed, App: "crates-io", Release: 42, At: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	typo := notify.Render(notify.Event{Header: h, Fact: notify.RollbackStep{By: "ben", Target: 42, NoTarget: true, Err: "v42 is not older than v42"}}, notify.RenderOptions{WorkerApp: "relwatch-w"})
	if typo.Ended || typo.Status != "" || strings.Contains(typo.Override, "--to v42") || !strings.Contains(typo.Override, "relwatch rollback crates-io") {
		t.Errorf("a person's refused target: ended %v, status %q, override %q", typo.Ended, typo.Status, typo.Override)
	}
	auto := notify.Render(notify.Event{Header: h, Fact: notify.RollbackStep{Auto: true, Target: 41, Err: "503 unavailable"}}, notify.RenderOptions{WorkerApp: "relwatch-w"})
	if !auto.Ended || auto.Status != "❌ rollback failed" || !strings.Contains(auto.Override, "--to v41") {
		t.Errorf("relwatch's own failed rollback: ended %v, status %q, override %q", auto.Ended, auto.Status, auto.Override)
	}
}

// An anomaly under a pause with no fit release to go back to (the one
// before was judged bad, or its build quarantined) said "Would roll back
// to v0", and a skipped rollback with no target offered
// "relwatch rollback APP --to v0", which the command refuses: no
// announcement names a release v0.
func TestNoTargetIsNeverVZero(t *testing.T) {
	h := notify.Header{App: "crates-io", Release: 42, Description: "Deploy 4e47375", At: at0}
	paused := h
	paused.Kind = notify.Anomaly
	e := notify.Event{Header: paused, Fact: notify.Anomalous{Seen: notify.Seen{Summary: "error share 20.0% (was 0.050%)"}, Auto: true, PausedBy: "ana"}}
	want := "⚠️ crates-io v42 looks bad: error share 20.0% (was 0.050%). No earlier release is fit to go back to automatically, and automatic rollback is paused by ana until resumed."
	if got := e.Text(); got != want {
		t.Errorf("paused anomaly without a target:\n got %q\nwant %q", got, want)
	}
	skipped := h
	skipped.Kind = notify.RollbackSkipped
	m := notify.Render(notify.Event{Header: skipped, Fact: notify.RollbackStep{By: store.Automatic, Auto: true, Seen: notify.Seen{Reason: "no release to go back to automatically"}}}, notify.RenderOptions{WorkerApp: "relwatch-w"})
	if m.Override != "heroku run -a relwatch-w relwatch rollback crates-io" {
		t.Errorf("skipped without a target: override %q", m.Override)
	}
	for _, s := range []string{e.Text(), m.Headline, m.Override} {
		if strings.Contains(s, "v0") {
			t.Errorf("names a release v0: %q", s)
		}
	}
}

// An anomaly relwatch does not act on because a person paused automatic
// rollback offered "relwatch pause APP" as its override: the app is
// paused already, and that command would replace the person's pause (a
// pause until 15:00 becoming one until resumed). It offers the rollback
// the pause holds back.
func TestAPausedAnomalyOffersTheRollback(t *testing.T) {
	h := notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42, Description: "Deploy 4e47375", At: at0}
	seen := notify.Seen{Summary: "error share 20.0% (was 0.050%)"}
	paused := notify.Render(notify.Event{Header: h, Fact: notify.Anomalous{Seen: seen, Auto: true, Target: 41, PausedBy: "ana", Until: at0.Add(time.Hour)}}, notify.RenderOptions{WorkerApp: "relwatch-w"})
	if want := "heroku run -a relwatch-w relwatch rollback crates-io --to v41"; paused.Override != want {
		t.Errorf("paused anomaly: override %q, want %q", paused.Override, want)
	}
	acting := notify.Render(notify.Event{Header: h, Fact: notify.Anomalous{Seen: seen, Auto: true, Target: 41}}, notify.RenderOptions{WorkerApp: "relwatch-w"})
	if want := "heroku run -a relwatch-w relwatch pause crates-io"; acting.Override != want {
		t.Errorf("anomaly relwatch acts on: override %q, want %q", acting.Override, want)
	}
}

// Where an app guards several routes, a verdict not yet judged says
// which route each signal not judged is of: another route's error share
// not blamed on the release ("on this route alone") must not read as the
// leading route's.
func TestNotJudgedReasonNamesTheRoute(t *testing.T) {
	lead := analysis.Verdict{Status: analysis.Inconclusive, Mode: analysis.Relative, Findings: []analysis.Finding{
		{Signal: analysis.ErrorShare, Status: analysis.Inconclusive, Trigger: true, Mode: analysis.Relative, Gap: analysis.GapFewRequests, Have: 12, Need: 50},
	}}
	other := analysis.Verdict{Status: analysis.Inconclusive, Mode: analysis.Relative, Findings: []analysis.Finding{
		{Signal: analysis.ErrorShare, Status: analysis.Inconclusive, Trigger: true, Mode: analysis.Relative, Gap: analysis.GapBeforeRelease, Have: 0.2},
	}}
	v := analysis.Combine(lead.Routed("POST /login"), []analysis.Verdict{other.Routed("GET /api/v1/crates")})
	want := "error share on POST /login not judged: 12 requests in the window, need 50; " +
		"error share on GET /api/v1/crates not judged: errors had already risen (20.0%) in the minute before the release was made, on this route alone: a dependency of the route, not the release; a rollback would not end it"
	if r := notify.Reason(v); r != want {
		t.Errorf("reason\n%q\nwant\n%q", r, want)
	}
	// One route: no route named, as before.
	if r := notify.Reason(lead); r != "error share not judged: 12 requests in the window, need 50" {
		t.Errorf("one route's reason %q", r)
	}
}

// Where an app guards several routes, the sparklines under a verdict's
// evidence (lines of several routes, each named) say whose traffic they
// draw: the route that decided, not the app's, nor the leading route's.
func TestTrendSaysItsRoute(t *testing.T) {
	trend := &notify.Trend{Bucket: 30 * time.Second, Rate: []float64{10, 10, 10}, ErrorShare: []float64{0, 0, 0.8}, Release: 2}
	fired := analysis.Finding{Signal: analysis.ErrorShare, Route: "POST /login", Status: analysis.Anomalous, Trigger: true, Mode: analysis.Relative,
		Baseline: 0.001, Current: 0.8, From: at0, To: at0.Add(time.Minute)}
	lead := analysis.Finding{Signal: analysis.ErrorShare, Route: "GET /download", Status: analysis.Healthy, Trigger: true, Mode: analysis.Relative}
	e := notify.Event{Header: notify.Header{Kind: notify.Anomaly, App: "crates-io", Release: 42},
		Fact: notify.Anomalous{Seen: notify.Seen{Findings: []analysis.Finding{lead, fired}, Trend: trend, Route: "POST /login"}}}
	if m := notify.Render(e, notify.RenderOptions{}); !strings.HasPrefix(m.Trend, "POST /login: rate ") {
		t.Errorf("trend %q: want it to name POST /login", m.Trend)
	}
	// One route: the findings name none, nor does the trend.
	fired.Route, lead.Route = "", ""
	e.Fact = notify.Anomalous{Seen: notify.Seen{Findings: []analysis.Finding{lead, fired}, Trend: trend, Route: "download"}}
	if m := notify.Render(e, notify.RenderOptions{}); !strings.HasPrefix(m.Trend, "rate ") {
		t.Errorf("one route's trend %q", m.Trend)
	}
}
