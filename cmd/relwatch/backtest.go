package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/relwatch/relwatch/backtest"
	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/scenario"
)

// maxSinceDays is the longest --since in days a time.Duration holds
// (about 292 years): more reaches back as far, before any release.
const maxSinceDays = int(math.MaxInt64 / int64(24*time.Hour))

// parseSince reads "14d", "36h" or "90m". A number of days beyond what a
// duration holds is as far back as one reaches: all the history, never a
// duration wrapped round to a negative one (a window in the future, where
// no release is).
func parseSince(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(d, "-") {
			n, err = maxSinceDays, nil
		}
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(min(n, maxSinceDays)) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration like 14d or 36h", s)
	}
	return d, nil
}

// historyApp loads the config, finds app and reads its past: the release
// history from Heroku, and the metrics source (one that keeps history).
// more says the app has releases older than the history read
// (backtest.HistoryMax).
func historyApp(ctx context.Context, cfgPath, app string) (history []heroku.Release, more bool, ra config.ResolvedApp, src metrics.Source, err error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, false, ra, nil, err
	}
	if ra, err = cfg.app(app); err != nil {
		return nil, false, ra, nil, err
	}
	if ra.Metrics.Source == "routerlog" {
		return nil, false, ra, nil, usageErr("app %s reads router logs, which keep no history: backtests need a source with history (prometheus)", app)
	}
	token, err := herokuToken(ra.TokenEnv, os.Getenv) // HEROKU_API_KEY unless the app names another
	if err != nil {
		return nil, false, ra, nil, &exitError{code: 2, err: err}
	}
	client := heroku.New(cfg.APIURL, token, heroku.WithTimeout(cfg.HTTPTimeout))
	wr := &wiring{}
	src, err = buildSource(ra, client, wr, slog.New(slog.DiscardHandler), time.Now())
	if err != nil {
		return nil, false, ra, nil, &exitError{code: 2, err: err}
	}
	history, more, err = backtest.History(ctx, client, app)
	return history, more, ra, src, err
}

// guardedOf is what the worker guards of ra (watch.go's watcher.App):
// a backtest and an export record and judge the same.
func guardedOf(ra config.ResolvedApp) backtest.Guarded {
	g := backtest.Guarded{Routes: ra.Routes, Control: ra.ControlRoute}
	if len(g.Routes) == 0 && ra.Route != "" {
		g.Routes = []string{ra.Route}
	}
	if ra.AllRoutes {
		g.AllRoutes = ra.MaxRoutes
	}
	return g
}

func cmdBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backtest", "APP [--since 14d] [--config FILE] [--format text|json]", `
What would relwatch have done on your last releases? Reads APP's release
history from the Heroku Platform API (HEROKU_API_KEY, or the variable the
app's token_env names) and the metrics around each release from the app's
configured source (it must keep history: Prometheus, or a series file),
then runs the same watcher over each release on a virtual clock and prints
what it would have done, and why. Changes nothing on Heroku.`, stdout, stderr)
	cfgPath := configFlag(fs)
	appF := appFlag(fs)
	fs.Lookup("app").Usage = "the app (as the Heroku CLI takes it; default $HEROKU_APP)"
	since := fs.String("since", "14d", "how far back: 14d, 36h, 90m")
	format := fs.String("format", "text", "output format: text or json")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *appF)
	if err != nil {
		return err
	}
	if err := textOrJSON(*format); err != nil {
		return err
	}
	window, err := parseSince(*since)
	if err != nil {
		return usageErr("--since: %v", err)
	}
	history, more, ra, src, err := historyApp(ctx, *cfgPath, app)
	if err != nil {
		return err
	}
	st := scenario.DefaultSettings()
	st.Policy = policyOf(ra.Policy)
	enc := json.NewEncoder(stdout)
	from := time.Now().Add(-window)
	cands := backtest.Candidates(history, from)
	// A window reaching past the oldest release read is cut there: say so,
	// and where, never pass over the older releases in silence. Text is
	// for people, on stdout; beside JSON, on stderr.
	var cut string
	if oldest := len(history) - 1; more && oldest >= 0 && history[oldest].CreatedAt.After(from) {
		o := history[oldest]
		cut = fmt.Sprintf("%s: --since %s is cut at v%d (%s UTC, %s ago): relwatch reads an app's newest %d releases, and those older are not judged",
			app, *since, o.Version, o.CreatedAt.UTC().Format("2006-01-02 15:04"), ageDays(time.Since(o.CreatedAt)), backtest.HistoryMax)
		if *format == "json" {
			fmt.Fprintln(stderr, "relwatch backtest: "+cut)
		} else {
			fmt.Fprintln(stdout, cut)
		}
	}
	if len(cands) == 0 && *format == "text" {
		if cut != "" {
			fmt.Fprintf(stdout, "%s: no release went live since v%d\n", app, history[len(history)-1].Version)
		} else {
			fmt.Fprintf(stdout, "%s: no release went live in the last %s\n", app, *since)
		}
	}
	failed, now := 0, time.Now()
	for _, target := range cands {
		var out backtest.Outcome
		var err error
		if ends := backtest.WatchEnds(target, st.Policy); ends.After(now) {
			// Its watch is under way: judging it now would count the
			// minutes still to come as minutes without data.
			out = backtest.Outcome{Version: target.Version, Description: target.Description, CreatedAt: target.CreatedAt, Verdict: "inconclusive",
				Reason: fmt.Sprintf("not judged: its watch runs until %s UTC (%s from now), and the past holds only its first %s (relwatch status shows the worker's watch)",
					ends.UTC().Format("15:04:05"), ends.Sub(now).Round(time.Second), max(now.Sub(target.LiveAt()), 0).Round(time.Second))}
		} else {
			var sc *scenario.Scenario
			var epoch time.Time
			sc, epoch, err = backtest.Scenario(ctx, history, target, src, app, guardedOf(ra), policyOf(ra.Policy))
			if err == nil {
				out, err = backtest.Run(ctx, sc, epoch, target, st)
			}
		}
		if err != nil {
			failed++
			out = backtest.Outcome{Version: target.Version, Description: target.Description, CreatedAt: target.CreatedAt, Verdict: "error", Reason: err.Error()}
		}
		if *format == "json" {
			if err := enc.Encode(out); err != nil {
				return err
			}
			continue
		}
		line := fmt.Sprintf("v%-5d %s  %-32s %s", out.Version, out.CreatedAt.UTC().Format("2006-01-02 15:04 MST"), out.Description, out.Verdict)
		if out.Verdict == "rollback" {
			line += fmt.Sprintf(" to v%d, %s after it went live", out.RollbackTo, out.AfterLive.Round(time.Second))
		}
		fmt.Fprintln(stdout, line)
		fmt.Fprintf(stdout, "        %s\n", out.Reason)
	}
	if failed > 0 && failed == len(cands) {
		// Nothing was judged: a script must not read this as "relwatch
		// would have done nothing".
		return fmt.Errorf("none of the %d release(s) could be judged (the reasons are above)", failed)
	}
	return nil
}

// ageDays says a long age in days, a short one as a duration: "333d",
// "36h0m0s".
func ageDays(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.Round(time.Second).String()
}

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "APP --release N [--out DIR] [--force] [--config FILE]", `
Writes one real release as a scenario folder (scenario.toml and series.csv,
the format of scenarios/ in the repository): the release history from the Heroku
Platform API and each guarded route's traffic from the baseline before the
release to the end of its watch. Add an [expect] table and it is a test:
relwatch replay --check DIR.`, stdout, stderr)
	cfgPath := configFlag(fs)
	appF := appFlag(fs)
	fs.Lookup("app").Usage = "the app (as the Heroku CLI takes it; default $HEROKU_APP)"
	release := fs.Int("release", 0, "the release version (required)")
	outDir := fs.String("out", "", "folder to write (default APP-vN)")
	force := fs.Bool("force", false, "replace a scenario the folder holds already (its [expect] too)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *appF)
	if err != nil {
		return err
	}
	if *release <= 0 {
		return usageErr("--release is required: the release version, like --release 42")
	}
	dir := *outDir
	if dir == "" {
		dir = fmt.Sprintf("%s-v%d", app, *release)
	}
	// An exported folder becomes a test once a person adds its [expect]:
	// exporting again must not wipe that out unasked.
	if _, err := os.Stat(filepath.Join(dir, "scenario.toml")); err == nil && !*force {
		return usageErr("%s holds a scenario already (an [expect] added to it would be lost): --out another folder, or --force to replace it", dir)
	}
	history, _, ra, src, err := historyApp(ctx, *cfgPath, app)
	if err != nil {
		return err
	}
	var target *heroku.Release
	for i := range history {
		if history[i].Version == *release {
			target = &history[i]
		}
	}
	if target == nil {
		return fmt.Errorf("%s has no v%d among its newest %d releases", app, *release, len(history))
	}
	// A scenario holds a release's whole watch: of one still in its
	// release phase, or whose watch is under way, the past holds a part,
	// and its replay would read the rest as minutes without data.
	if target.Status == heroku.StatusPending {
		return fmt.Errorf("%s v%d is still in its release phase (pending): export it once it has gone live and its watch has ended", app, *release)
	}
	if ends := backtest.WatchEnds(*target, policyOf(ra.Policy)); ends.After(time.Now()) {
		return fmt.Errorf("%s v%d is still under watch, until %s UTC: export it after then (the recording would miss the rest of its watch)", app, *release, ends.UTC().Format("15:04:05"))
	}
	sc, epoch, err := backtest.Scenario(ctx, history, *target, src, app, guardedOf(ra), policyOf(ra.Policy))
	if err != nil {
		return err
	}
	if err := scenario.Write(dir, sc); err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(stdout, "wrote %s: %d s from %s, %d releases\n", abs, sc.DurationS, epoch.UTC().Format(time.RFC3339), len(sc.Releases))
	return nil
}
