package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// statusState leaves in the state at path what a worker leaves there, by
// running the real watcher on a virtual clock ending now, against the
// simulated Heroku: crates-io v42 under watch, healthy so far, paused by
// ana for 30 min; docs-rs v7 rolled back for its errors; typo-app, which
// Heroku does not know. The worker stopped stopped ago (0: it runs).
func statusState(t *testing.T, path string, stopped time.Duration) {
	t.Helper()
	statusStateAt(t, path, time.Now().Truncate(time.Second).Add(-stopped))
}

// statusStateAt is statusState's state, its worker stopped at end.
func statusStateAt(t *testing.T, path string, end time.Time) {
	t.Helper()
	virtual := end.Add(-11 * time.Minute)
	clock := func() time.Time { return virtual }
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fake := herokusim.New("tok", herokusim.WithClock(clock))
	defer fake.Close()
	start := end.Add(-time.Hour)
	traffic := func(badFrom time.Time) *series.Source {
		pts := make([]metrics.Point, 3600)
		for i := range pts {
			pts[i] = metrics.Point{OK: true, Requests: 200, Errors: int64(i % 10 / 9), Repeats: 20}
			if !badFrom.IsZero() && !start.Add(time.Duration(i)*time.Second).Before(badFrom) {
				pts[i].Errors = 40
			}
		}
		return series.New(series.Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts}}, clock)
	}
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Deploy good", CreatedAt: start})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote crates-io-staging v118", CreatedAt: end.Add(-5 * time.Minute)})
	fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 6, Description: "Deploy good", CreatedAt: start})
	fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 7, Description: "Deploy 3f1c2aa", CreatedAt: end.Add(-10 * time.Minute)})
	policy := watcher.DefaultPolicy()
	policy.Baseline = 20 * time.Minute
	client := heroku.New(fake.URL(), "tok")
	w := watcher.New(watcher.Config{
		Apps: []watcher.App{
			{Name: "crates-io", Route: "download", Policy: policy, Source: traffic(time.Time{})},
			{Name: "docs-rs", Route: "download", Policy: policy, Source: traffic(end.Add(-10*time.Minute + 30*time.Second))},
			{Name: "typo-app", Route: "download", Policy: policy, Source: traffic(time.Time{})},
		},
		Heroku: client, Roller: &rollback.Roller{Heroku: client},
		History: db, Journal: db, Overrides: db, Quarantine: db,
	})
	for ; !virtual.After(end); virtual = virtual.Add(5 * time.Second) {
		if virtual.Equal(end.Add(-2 * time.Minute)) {
			if err := db.SetPause(ctx, store.Pause{App: "crates-io", By: "ana", Reason: "migration", Until: virtual.Add(30 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Tick(ctx, virtual); err != nil {
			t.Fatal(err)
		}
	}
	virtual = end
	if _, err := db.RequestRollback(ctx, "crates-io", 41, "ben", "downloads look slow, rolling back to be safe while we look into it"); err != nil {
		t.Fatal(err)
	}
}

// relwatch status reads like a tool: a table with a header, each signal's
// value now and before the release, times with their zone and age, long
// reasons wrapped, the app Heroku does not know without a "v0"; its JSON is
// snake_case throughout, with [] for empty lists and the evidence as an
// object; an empty state says where status looked.
func TestStatusReadsLikeATool(t *testing.T) {
	path := freshState(t)
	ctx := context.Background()

	code, out, errOut := runMain(t, ctx, "status")
	if code != 0 || !strings.Contains(out, "Nothing recorded yet in the state at "+path+" (SQLite)") {
		t.Fatalf("empty state: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runMain(t, ctx, "status", "--format", "json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty state, JSON: exit %d: %q", code, out)
	}

	statusState(t, path, 0)
	code, out, errOut = runMain(t, ctx, "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, errOut)
	}
	t.Logf("relwatch status:\n%s", out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^APP +RELEASE +STATE +LIVE SINCE +AUTOMATIC ROLLBACK$`),
		regexp.MustCompile(`(?m)^crates-io +v42 +watching, 1[45]m\d+s left +\d\d:\d\d:\d\d UTC \(5m ago\) +paused by ana until \d\d:\d\d UTC$`),
		regexp.MustCompile(`(?m)^docs-rs +v7 +rolled back +\d\d:\d\d:\d\d UTC \(10m ago\) +on$`),
		regexp.MustCompile(`(?m)^typo-app +- +not watched yet +- +on$`),
		regexp.MustCompile(`(?m)^ +SIGNAL +NOW +BEFORE THE RELEASE +VERDICT$`),
		regexp.MustCompile(`(?m)^ +error share +0\.\d+% +0\.\d+% +healthy$`),
		regexp.MustCompile(`(?m)^ +repeat share +10\.0% +10\.0% +not judged: settling \(\d+ of 60 s\)$`),
		regexp.MustCompile(`(?m)^ +first attempts +180\.0/s +180\.0/s +healthy$`),
		regexp.MustCompile(`(?m)^ +automatic rollback is paused by ana until \d\d:\d\d UTC \(in 2\dm\): migration$`),
		regexp.MustCompile(`(?m)^ +\d\d:\d\d:\d\d UTC \(\d+m ago\)  v7 rollback$`),
		regexp.MustCompile(`(?m)^ +\d\d:\d\d:\d\d UTC \(\d+m ago\)  app\.unknown$`),
		regexp.MustCompile(`(?m)^ +\d\d:\d\d:\d\d UTC \(\d+m ago\)  v7 -> v6 by relwatch: done \(Heroku release v8\)$`),
		regexp.MustCompile(`(?m)^ +pending rollback by ben, asked \d\d:\d\d:\d\d UTC`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks %s", want)
		}
	}
	if strings.Contains(out, "v0") {
		t.Errorf("a decision about the app itself shows a release v0")
	}
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > statusWidth {
			t.Errorf("a line of %d characters (max %d): %q", n, statusWidth, l)
		}
	}

	code, out, errOut = runMain(t, ctx, "status", "--format", "json")
	if code != 0 {
		t.Fatalf("status --format json: exit %d\n%s", code, errOut)
	}
	var apps []map[string]any
	if err := json.Unmarshal([]byte(out), &apps); err != nil || len(apps) != 3 {
		t.Fatalf("%d apps, %v:\n%s", len(apps), err, out)
	}
	checkJSON(t, "status", apps)
	byApp := map[string]map[string]any{}
	for _, a := range apps {
		byApp[a["app"].(string)] = a
	}
	for _, key := range []string{"decisions", "rollbacks", "pending_requests"} {
		if l, ok := byApp["typo-app"][key].([]any); !ok || (key != "decisions" && len(l) != 0) {
			t.Errorf("typo-app %s: %v, want a list", key, byApp["typo-app"][key])
		}
	}
	unknown := byApp["typo-app"]["decisions"].([]any)[0].(map[string]any)
	if unknown["action"] != "app.unknown" || unknown["release"] != nil {
		t.Errorf("typo-app's decision %v: want app.unknown, release null", unknown)
	}
	if ev, ok := unknown["evidence"].(map[string]any); !ok || len(ev) != 0 {
		t.Errorf("typo-app's decision's evidence %v: want {}", unknown["evidence"])
	}
	var rolledBack map[string]any
	for _, d := range byApp["docs-rs"]["decisions"].([]any) {
		if d := d.(map[string]any); d["action"] == string(watcher.RollBack) {
			rolledBack = d
		}
	}
	ev, ok := rolledBack["evidence"].(map[string]any)
	if !ok {
		t.Fatalf("docs-rs's rollback decision %v: want its evidence as an object", rolledBack)
	}
	errShare, ok := ev[string(analysis.ErrorShare)].(map[string]any)
	if !ok || errShare["status"] != "anomalous" || errShare["current"].(float64) < 0.1 {
		t.Fatalf("docs-rs's rollback decision's evidence %v: want the error share, anomalous", ev)
	}
	if left, ok := byApp["crates-io"]["time_left_s"].(float64); !ok || left < 800 || left > 900 {
		t.Errorf("crates-io time_left_s %v", byApp["crates-io"]["time_left_s"])
	}
	if byApp["docs-rs"]["time_left_s"] != nil || byApp["crates-io"]["pause"].(map[string]any)["until"] == nil {
		t.Errorf("docs-rs time_left_s %v (want null), crates-io pause %v", byApp["docs-rs"]["time_left_s"], byApp["crates-io"]["pause"])
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkJSON fails on a key that is not snake_case, a list that is null
// (every list key is present as a list), and JSON text in a string.
func checkJSON(t *testing.T, at string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: key %q is not snake_case", at, k)
			}
			if x == nil && (strings.HasSuffix(k, "s") && k != "status" && k != "reason" && k != "bad") {
				t.Errorf("%s.%s: null, want a list", at, k)
			}
			checkJSON(t, at+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkJSON(t, at+"[]", x)
		}
	case string:
		if s := strings.TrimSpace(v); s == "null" || strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{") {
			t.Errorf("%s: JSON in a string: %q", at, v)
		}
	}
}

// A pause of two days must not read as ending at today's time of day: the
// answer and status must say which day it ends.
func TestALongPauseSaysItsDay(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	end := time.Now().Add(48 * time.Hour).UTC()
	code, out, errOut := runMain(t, ctx, "pause", "crates-io", "--for", "48h", "--by", "ana")
	if code != 0 {
		t.Fatalf("pause: %d %s", code, errOut)
	}
	day := end.Format("Jan 2")
	if !strings.Contains(out, day) {
		t.Errorf("pause --for 48h answered %q: nothing says it ends on %s, so it reads as ending today", strings.TrimSpace(out), day)
	}
	_, st, _ := runMain(t, ctx, "status")
	for _, line := range strings.Split(st, "\n") {
		if strings.HasPrefix(line, "crates-io ") && !strings.Contains(line, day) {
			t.Errorf("status table row %q: nothing says the pause ends on %s", line, day)
		}
	}
}

// status lists the requests the worker has not carried out yet; a pending
// approval must say which release it approves, a rollback where it goes.
func TestPendingRequestsNameTheirRelease(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	ctx := context.Background()
	for _, args := range [][]string{
		{"approve", "crates-io", "v42", "--by", "ana"},
		{"approve", "crates-io", "v43", "--by", "ana"},
		{"rollback", "crates-io", "--to", "v41", "--yes", "--by", "ana"},
	} {
		if code, _, errOut := runMain(t, ctx, args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
	_, out, _ := runMain(t, ctx, "status")
	for _, want := range []string{"v42", "v43", "v41"} {
		if !strings.Contains(out, want) {
			t.Errorf("status names no %s among the pending requests:\n%s", want, out)
		}
	}
}

// On a one-off dyno (heroku run), SQLite state is that dyno's own file:
// status must not say that the worker writes there, as if it had done
// nothing (the README: SQLite state on a dyno is exit 2 from every command).
func TestStatusOnADynoWithSQLiteIsRefused(t *testing.T) {
	freshState(t)
	configureApps(t, "crates-io")
	t.Setenv("DYNO", "run.1234")
	code, out, errOut := runMain(t, context.Background(), "status")
	if code != 2 || strings.Contains(out, "The worker (relwatch watch) writes there") || !strings.Contains(out+errOut, "is this dyno's own file") {
		t.Errorf("status on a dyno with SQLite: exit %d\n%s%s", code, out, errOut)
	}
}

// The README: every command that takes an app takes it as APP, -a/--app
// APP or $HEROKU_APP, and an APP and an --app that differ are refused.
func TestAppArgumentAgreesEverywhere(t *testing.T) {
	path := freshState(t)
	configureApps(t, "crates-io")
	statusState(t, path, 0)
	ctx := context.Background()
	if code, out, _ := runMain(t, ctx, "status", "crates-io", "-a", "docs-rs"); code != 2 {
		t.Errorf("status crates-io -a docs-rs: exit %d, the -a ignored:\n%s", code, out)
	}
	for _, cmd := range []string{"backtest", "export"} {
		// They refuse an APP argument (TestStrayArgumentsAreRefused), so
		// their --help must not offer one.
		_, help, _ := runMain(t, ctx, cmd, "--help")
		args := []string{cmd, "crates-io"}
		if cmd == "export" {
			args = append(args, "--release", "42")
		}
		_, _, errOut := runMain(t, ctx, args...)
		if strings.Contains(help, "the APP argument") && strings.Contains(errOut, "takes no arguments") {
			t.Errorf("%s --help says -a defaults to the APP argument, but %s APP says: %s", cmd, cmd, strings.TrimSpace(errOut))
		}
	}
}

// A watch stored as under way that no worker has stored for minutes (the
// worker stopped, or lost its store) was shown as live, its time counting
// down: status says no worker may be watching it.
func TestStatusSaysAWatchNobodyStoredLately(t *testing.T) {
	path := freshState(t)
	statusState(t, path, 4*time.Minute)
	code, out, errOut := runMain(t, context.Background(), "status")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^crates-io +v42 +watching, stale 4m(\d+s)? `),
		regexp.MustCompile(`(?m)^  no worker has stored this watch for 4m(\d+s)? \(a worker stores a watch under way once a minute\): is\n +one running, and does it reach this store\?$`),
	} {
		if code != 0 || !want.MatchString(out) {
			t.Errorf("status: exit %d, lacks %s\n%s%s", code, want, out, errOut)
		}
	}
	for _, l := range strings.Split(out, "\n")[1:] { // the first names the temporary store
		if n := len([]rune(l)); n > statusWidth {
			t.Errorf("a line of %d characters (max %d): %q", n, statusWidth, l)
		}
	}
	_, out, _ = runMain(t, context.Background(), "status", "--format", "json")
	var apps []map[string]any
	if err := json.Unmarshal([]byte(out), &apps); err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if a["app"] != "crates-io" {
			continue
		}
		if ago, ok := a["unattended_s"].(float64); !ok || ago < 240 || ago > 300 || a["time_left_s"] != nil {
			t.Errorf("crates-io unattended_s %v, time_left_s %v: want about 240 and null", a["unattended_s"], a["time_left_s"])
		}
	}
}

// Status keeps to its width when what it shows happened the day before,
// minutes before midnight UTC: the age says when, and a date is given only
// to a time a day or more away.
func TestStatusFitsAcrossMidnight(t *testing.T) {
	path := freshState(t)
	stopped := time.Date(2026, 12, 6, 0, 1, 0, 0, time.UTC)
	statusStateAt(t, path, stopped)
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := stopped.Add(4*time.Minute + 15*time.Second)
	var apps []appStatus
	for _, app := range []string{"crates-io", "docs-rs"} {
		st, err := readStatus(ctx, db, app, now)
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, st)
	}
	var out strings.Builder
	if err := printStatus(&out, apps, path, now); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out.String(), "\n")[1:] { // the first names the temporary store
		if n := len([]rune(l)); n > statusWidth {
			t.Errorf("a line of %d characters (max %d): %q", n, statusWidth, l)
		}
	}
	if !regexp.MustCompile(`watching, stale 4m\d+s `).MatchString(out.String()) {
		t.Errorf("crates-io's staleness is not in minutes and seconds:\n%s", out.String())
	}
	if !strings.Contains(out.String(), " 23:56:00 UTC (9m ago) ") {
		t.Errorf("crates-io's live time lacks its age:\n%s", out.String())
	}
	if got := stamp(now.Add(-25*time.Hour), now); got != "2026-12-04 23:05:15 UTC (25h ago)" {
		t.Errorf("a day away: %q, want its date", got)
	}
}
