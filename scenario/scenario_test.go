package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics/series"
)

// demoDir is the crates.io scenario the repository carries for the demo.
const demoDir = "../cmd/relwatch/demodata/crates-io-2023-07-20"

func TestParseTOMLReportsEveryProblem(t *testing.T) {
	_, err := ParseTOML([]byte(`
name = "x"
duration_s = 0
colour = "red"
[[releases]]
version = 42
description = ""
status = "done"
[[releases]]
version = 42
description = "Deploy a"
status = "succeeded"
[expect]
verdict = "maybe"
release = 7
route = "POST /login"
to = 14
fault_from = 44
`))
	// Each problem at its line, as the configuration's are.
	for _, want := range []string{"line 4: colour: unknown key", "app: required", "watched_route: required", "line 3: duration_s: 0",
		"line 7: releases[0].description: required", `line 8: releases[0].status: "done"`, "line 10: releases[1].version: v42 appears twice",
		`line 14: expect.verdict: "maybe"`, "line 15: expect.release: v7", `line 16: expect.route: "POST /login" is not a watched route`,
		"line 17: expect.to: v14 is not a release before v7", "line 18: expect.fault_from: v44 is not a release up to v7"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

// A misspelt duration_s is unknown, and duration_s missing is said so
// (not "0 is not between 1 and 604800"); a value of the wrong type is said
// at its line in TOML's words; Load says the file on every line.
func TestScenarioErrorsSayWhere(t *testing.T) {
	_, err := ParseTOML([]byte("name = \"x\"\ndurration_s = 60\n"))
	for _, want := range []string{"line 2: durration_s: unknown key", "duration_s: required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	if _, err := ParseTOML([]byte("name = \"x\"\nduration_s = \"long\"\n")); err == nil || err.Error() != "line 2: duration_s: want an integer, got a string" {
		t.Errorf("a string for duration_s: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "scenario.toml"), []byte("name = \"\"\nduration_s = 0\n"), 0o644)
	_, err = Load(dir)
	for _, l := range strings.Split(fmt.Sprint(err), "\n") {
		if !strings.HasPrefix(l, filepath.Join(dir, "scenario.toml")+": ") {
			t.Errorf("a line without its file: %q (of %v)", l, err)
		}
	}
}

// replayChecked runs the scenario in dir with the defaults and checks it
// against its [expect].
func replayChecked(t *testing.T, dir string) (*Scenario, Result) {
	t.Helper()
	sc, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), sc, Options{Settings: DefaultSettings()})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(sc, res); err != nil {
		t.Fatal(err)
	}
	return sc, res
}

func TestRunDemoScenario(t *testing.T) {
	sc, res := replayChecked(t, demoDir)
	last := res.Releases[len(res.Releases)-1]
	if last.Description != "Rollback to v41" || last.Status != "succeeded" {
		t.Fatalf("the fake's last release is %+v, want Rollback to v41", last)
	}
	var kinds []string
	for _, n := range res.Notifications {
		kinds = append(kinds, n.Kind)
	}
	if got := strings.Join(kinds, ","); got != "watch.started,anomaly,rollback.started,rollback.succeeded" {
		t.Fatalf("notifications %s", got)
	}
	// The anomaly names the repeat share that fired, a retry storm's (over
	// half the requests) against the baseline's 15.1%; the rollback's texts
	// name the same values.
	fired := regexp.MustCompile(`repeat share (\d+\.\d)% \(was 15\.1%\)`).FindStringSubmatch(res.Notifications[1].Text)
	if fired == nil {
		t.Fatalf("the anomaly %q does not name the repeat share that fired against 15.1%%", res.Notifications[1].Text)
	}
	if share, _ := strconv.ParseFloat(fired[1], 64); share < 50 {
		t.Errorf("the repeat share that fired is %s%%, want a retry storm's", fired[1])
	}
	for _, n := range res.Notifications[2:] {
		if !strings.Contains(n.Text, "v42") || !strings.Contains(n.Text, "v41") || !strings.Contains(n.Text, fired[0]) {
			t.Errorf("%s text %q should name v42, v41 and the values that fired (%s)", n.Kind, n.Text, fired[0])
		}
	}
	// The check itself must be able to fail: a healthy expectation on the
	// same run is a miss.
	sc.Expect.Verdict = "healthy"
	if Check(sc, res) == nil {
		t.Fatal("Check accepted a rollback for a healthy expectation")
	}
}

// TestSharedScenarios runs the team's corpus when it sits beside the repo.
// TestCorpus replays the project's own corpus (scenarios/ at the top of the
// repository) and checks every verdict; the team's shared corpus too, when
// it sits beside the repository (../shared/scenarios: a developer's
// checkout; CI runs it with replay --check).
func TestCorpus(t *testing.T) {
	own, err := filepath.Glob("../scenarios/*/scenario.toml")
	if err != nil || len(own) < 10 {
		t.Fatalf("the repository's corpus ../scenarios holds %d scenarios (%v): it must be there", len(own), err)
	}
	shared, _ := filepath.Glob("../../shared/scenarios/*/scenario.toml")
	for _, set := range []struct {
		name  string
		files []string
	}{{"scenarios", own}, {"shared", shared}} {
		for _, p := range set.files {
			dir := filepath.Dir(p)
			t.Run(set.name+"/"+filepath.Base(dir), func(t *testing.T) {
				t.Parallel()
				replayChecked(t, dir)
			})
		}
	}
}

func BenchmarkReplayHour(b *testing.B) {
	sc, err := Load(demoDir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), sc, Options{Settings: DefaultSettings()}); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseTOML(f *testing.F) {
	raw, _ := os.ReadFile(filepath.Join(demoDir, "scenario.toml"))
	f.Add(raw)
	f.Add([]byte("name = \"x\"\n[expect]\nverdict = \"healthy\""))
	f.Add([]byte("[[releases]]\nversion = 1\n[[releases]]\nversion = \"2\"\n[[releases]]\nversion = 3\n"))
	f.Add([]byte("name = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = 60\n[[releases]]\nversion = 1\nat_s = -9300000000\ndescription = \"Deploy a\"\nstatus = \"succeeded\"\nsucceeded_after_s = 10000000000\n"))
	f.Add([]byte("name = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = 60\n[[releases]]\nversion = 1\ndescription = \"Deploy a\"\nstatus = \"failed\"\n[expect]\nverdict = \"healthy\"\nrelease = 1\nroute = \"d\"\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sc, err := ParseTOML(in)
		if err != nil {
			return
		}
		if sc.Name == "" || sc.App == "" || sc.DurationS <= 0 || len(sc.Releases) == 0 {
			t.Fatalf("accepted an incomplete scenario %+v", sc)
		}
		for _, r := range sc.Releases {
			// A replay makes time.Durations of them: they must not wrap.
			for _, s := range []int{r.AtS, r.SucceededAfterS} {
				if int(time.Duration(s)*time.Second/time.Second) != s {
					t.Fatalf("accepted v%d with %d s, which wraps as a duration", r.Version, s)
				}
			}
		}
	})
}

// The fix after a retry storm: the rate falls threefold because retries
// stop, first attempts hold. Never a rollback, and the announcement says why.
func TestRecoveryIsAnnouncedAsSuch(t *testing.T) {
	_, res := replayChecked(t, "../scenarios/recovery-after-incident-seed1")
	for _, n := range res.Notifications {
		if n.Kind == "watch.healthy" {
			if !strings.Contains(n.Text, "retries stopped: first attempts unchanged") {
				t.Fatalf("watch.healthy says %q: want it to say the retries stopped", n.Text)
			}
			return
		}
	}
	t.Fatalf("no watch.healthy: %+v", res.Notifications)
}

// A burst of errors on every route that began before the release was made
// is not the release's: no rollback, and the watch's ending says what it
// did not blame on it and why (issue 15).
func TestPlatformBurstIsNotBlamedOnTheRelease(t *testing.T) {
	_, res := replayChecked(t, "../scenarios/platform-error-burst-seed1")
	for _, n := range res.Notifications {
		if n.Kind == "watch.healthy" || n.Kind == "watch.inconclusive" {
			if !strings.Contains(n.Text, "error share was not blamed on the release") || !strings.Contains(n.Text, "on the app's other routes too") {
				t.Fatalf("%s says %q: want it to say the errors began before the release, on every route", n.Kind, n.Text)
			}
			return
		}
	}
	t.Fatalf("no healthy or inconclusive ending: %+v", res.Notifications)
}

// A scenario's app is a Heroku app name, checked by the config's one rule
// when the file is read (before, "crates/io" replayed, then ended
// on the fake Heroku's opaque 404).
func TestAppIsAHerokuAppName(t *testing.T) {
	const valid = `
name = "x"
app = "crates-io"
watched_route = "download"
duration_s = 60
[[releases]]
version = 1
description = "Deploy a"
status = "succeeded"
`
	if _, err := ParseTOML([]byte(valid)); err != nil {
		t.Fatalf("a valid scenario: %v", err)
	}
	for _, app := range []string{"crates/io", "Crates-IO", "crates io", "9crates", "a-name-longer-than-thirty-chars"} {
		raw := strings.Replace(valid, `"crates-io"`, fmt.Sprintf("%q", app), 1)
		_, err := ParseTOML([]byte(raw))
		if want := fmt.Sprintf("app: %q is not a Heroku app name", app); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("app %q: error %v, want %q", app, err, want)
		}
	}
}

// The recording's "other" is the replay's control route only while it is
// not guarded itself: the configuration refuses a control route that is a
// guarded route, and a guarded "other" judged against itself as its own
// control would take its own collapse for lost data. Without it, each
// route's control is the other guarded routes, as the worker's is.
func TestAGuardedOtherIsNoControl(t *testing.T) {
	sc := &Scenario{WatchedRoute: "download", WatchedRoutes: []string{"download", "other"}, Series: map[string]*series.Rows{"download": nil, "other": nil}}
	if c := sc.ControlRoute(); c != "" {
		t.Errorf("watched_routes %q: control %q, want none", sc.WatchedRoutes, c)
	}
	sc = &Scenario{WatchedRoute: "download", Series: map[string]*series.Rows{"download": nil, "other": nil}}
	if c := sc.ControlRoute(); c != "other" {
		t.Errorf("other not guarded: control %q, want other", c)
	}
}

// A value of the wrong type in one of several [[releases]] is said at its
// own line and index: before, the decoder's line was the key's last in the
// file, and the error pointed at a good release (issue: "line 26:
// releases[2].version: want an integer" for version = "41" at line 19).
func TestWrongTypeIsSaidAtItsRelease(t *testing.T) {
	raw := "name = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = 60\n" +
		"[[releases]]\nversion = 1\ndescription = \"Deploy a\"\nstatus = \"succeeded\"\n" +
		"[[releases]]\nversion = \"2\"\ndescription = \"Deploy b\"\nstatus = \"succeeded\"\n" +
		"[[releases]]\nversion = 3\ndescription = \"Deploy c\"\nstatus = \"succeeded\"\n"
	_, err := ParseTOML([]byte(raw))
	if want := "line 10: releases[1].version: want an integer, got a string"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// A release's at_s and succeeded_after_s become time.Durations: past
// about 292 years they wrapped, silently. A release pending for 317 years
// went live at once and was rolled back; one made 295 years before the
// recording was made in the far future instead. Such values are refused,
// at their key.
func TestReleaseOffsetsThatWouldWrapAreRefused(t *testing.T) {
	head := "name = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = 60\n[[releases]]\nversion = 1\ndescription = \"Deploy a\"\nstatus = \"succeeded\"\n"
	for in, want := range map[string]string{
		"at_s = -9300000000\n":              "line 9: releases[0].at_s: -9300000000 is more than 100 years before the recording",
		"succeeded_after_s = 10000000000\n": "line 9: releases[0].succeeded_after_s: 10000000000 is more than 100 years",
	} {
		_, err := ParseTOML([]byte(head + in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	if _, err := ParseTOML([]byte(head + "at_s = -3000000000\nsucceeded_after_s = 3000000000\n")); err != nil {
		t.Errorf("95 years: %v", err)
	}
}

// An [expect] that no replay can meet is refused when the file is read,
// at its key, rather than failing every replay --check with a verdict
// mismatch that does not say why: a failed release never goes live (it
// is neither rolled back nor watched healthy), and a rollback goes back
// only to a release that succeeded.
func TestExpectThatContradictsItselfIsRefused(t *testing.T) {
	head := "name = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = 60\n" +
		"[[releases]]\nversion = 1\ndescription = \"Deploy a\"\nstatus = \"failed\"\n" +
		"[[releases]]\nversion = 2\ndescription = \"Deploy b\"\nstatus = \"succeeded\"\n" +
		"[[releases]]\nversion = 3\ndescription = \"Deploy c\"\nstatus = \"failed\"\n[expect]\n"
	for in, want := range map[string]string{
		"verdict = \"rollback\"\nrelease = 3\nbad_from_s = 10\nmax_delay_s = 30\n":         "line 19: expect.release: v3 failed: a failed release never goes live",
		"verdict = \"healthy\"\nrelease = 3\n":                                             "line 19: expect.release: v3 failed: a failed release never goes live",
		"verdict = \"rollback\"\nrelease = 2\nbad_from_s = 10\nmax_delay_s = 30\nto = 1\n": "line 22: expect.to: v1 failed: a rollback goes back to a release that succeeded",
	} {
		_, err := ParseTOML([]byte(head + in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	if _, err := ParseTOML([]byte(head + "verdict = \"healthy\"\nrelease = 2\nbad_from_s = 0\nmax_delay_s = 0\n")); err != nil {
		t.Errorf("a healthy succeeded release: %v", err)
	}
}

// A healthy [expect] that says when bad traffic begins (or how late its
// rollback may come) contradicts itself: --check of a healthy verdict
// never reads either, so a scenario meant as a rollback would pass
// silently. It is refused at the key's line. The zeros relwatch's own
// writer puts in every healthy scenario (the corpus's) still mean "none".
func TestHealthyExpectWithBadTrafficIsRefused(t *testing.T) {
	head := "name = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = 600\n" +
		"[[releases]]\nversion = 1\ndescription = \"Deploy a\"\nstatus = \"succeeded\"\n" +
		"[[releases]]\nversion = 2\ndescription = \"Deploy b\"\nstatus = \"succeeded\"\n[expect]\nverdict = \"healthy\"\nrelease = 2\n"
	for in, want := range map[string][]string{
		"bad_from_s = 120\n":                   {"line 16: expect.bad_from_s: 120 says when bad traffic begins, but the verdict is healthy"},
		"max_delay_s = 90\n":                   {"line 16: expect.max_delay_s: 90 bounds a rollback's delay, but the verdict is healthy"},
		"bad_from_s = 120\nmax_delay_s = 90\n": {"line 16: expect.bad_from_s", "line 17: expect.max_delay_s"},
		"to = 1\n":                             {"line 16: expect.to: v1 is where a rollback goes back to, but the verdict is healthy"},
		"fault_from = 1\n":                     {"line 16: expect.fault_from: v1 is where bad traffic began, but the verdict is healthy"},
		"route = \"d\"\n":                      {"line 16: expect.route: \"d\" is the route bad traffic is on, but the verdict is healthy"},
	} {
		_, err := ParseTOML([]byte(head + in))
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: err = %v, want %q", in, err, w)
			}
		}
	}
	if _, err := ParseTOML([]byte(head + "bad_from_s = 0\nmax_delay_s = 0\n")); err != nil {
		t.Errorf("the writer's zeros: %v", err)
	}
}

// A value of the wrong type stops the decoder, but the file's unknown keys
// are said with it, at their lines, in one error.
func TestWrongTypeListsTheUnknownKeysToo(t *testing.T) {
	raw := "nmae = \"x\"\nname = \"x\"\napp = \"a\"\nwatched_route = \"d\"\nduration_s = \"60\"\n" +
		"[[releases]]\nversion = 1\ndescription = \"Deploy a\"\nstatus = \"succeeded\"\n"
	_, err := ParseTOML([]byte(raw))
	want := []string{"line 1: nmae: unknown key", "line 5: duration_s: want an integer, got a string"}
	if err == nil || len(strings.Split(err.Error(), "\n")) != len(want) {
		t.Fatalf("err =\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	for i, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i+1, line, want[i])
		}
	}
}
