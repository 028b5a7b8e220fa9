package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/internal/atomicfile"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// settingsFrom builds replay settings from a config file's first app, or
// the defaults when path is empty.
func settingsFrom(path string) (scenario.Settings, error) {
	of, err := settingsOf(path)
	if err != nil {
		return scenario.DefaultSettings(), err
	}
	return of(""), nil
}

// settingsOf reads a config file for replay settings: of(app) are the
// settings of the config's app so named, as the worker (and the backtest)
// would watch it, else of its first app; the defaults when path is empty.
func settingsOf(path string) (of func(app string) scenario.Settings, err error) {
	if path == "" {
		return func(string) scenario.Settings { return scenario.DefaultSettings() }, nil
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.requireApps(); err != nil {
		return nil, err
	}
	return func(app string) scenario.Settings {
		a := cfg.Apps[0]
		for _, b := range cfg.Apps {
			if b.Name == app {
				a = b
			}
		}
		st := scenario.DefaultSettings()
		st.Tick, st.PollInterval = cfg.Tick, cfg.PollInterval
		st.Policy = policyOf(a.Policy)
		return st
	}, nil
}

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", "[--check] [--format text|json] [--config FILE] [--chart DIR|FILE.png] DIR...", `
Runs each scenario folder (scenario.toml and series.csv, the format of
scenarios/ in the repository) through the real watcher on a virtual clock,
with a fake Heroku serving the scenario's releases and the recorded series
as metrics.

With --check, compares each outcome with the scenario's [expect] and exits 1
when any differs. With --format json, prints one JSON object a line per
scenario: scenario, app, rollbacks, releases (read back from the fake Heroku
through the API), notifications, wall_ms.

With --chart, writes the picture of each scenario's verdict (the one its
rollback, anomaly or healthy end is announced with) as a PNG: into the
folder given, named after the scenario, or into FILE.png for a single
scenario.`, stdout, stderr)
	check := fs.Bool("check", false, "compare each outcome with the scenario's [expect]; exit 1 on any miss")
	format := fs.String("format", "text", "output format: text or json")
	cfgPath := fs.String("config", "", "take the watch settings and thresholds from this config.toml: of the scenario's app, or of its first app when it has none so named (default: the built-in defaults)")
	logLevel := fs.String("log-level", "error", "log level of the watcher's own log (to stderr): debug, info, warn, error")
	chartTo := fs.String("chart", "", "write each scenario's verdict picture (PNG) into this folder as SCENARIO.png, or into this .png file for one scenario")
	state := fs.String("state", "", "read overrides (pause, approve) from this state store, as the worker would; the replay itself stores nothing")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := textOrJSON(*format); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErr("no scenario folder given (try scenarios/*/, the corpus in the repository)")
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	settings, err := settingsOf(*cfgPath)
	if err != nil {
		return err
	}
	// Read every scenario first: a bad file is a usage error, found before
	// any replay runs. Each is read again when its turn comes, so that one
	// scenario is held at a time, whatever the count.
	dirs := fs.Args()
	for _, dir := range dirs {
		if _, err := loadForReplay(dir, *check); err != nil {
			return err
		}
	}
	if pngFile(*chartTo) && len(dirs) != 1 {
		return usageErr("--chart %s: a .png file takes one scenario, %d given (give a folder instead)", *chartTo, len(dirs))
	}
	var said watcher.OverrideStore
	if *state != "" {
		db, err := openState(ctx, *state)
		if err != nil {
			return err
		}
		defer db.Close()
		said = pausesAndApprovals{db}
	}
	passed, failed := 0, 0
	enc := json.NewEncoder(stdout)
	for _, dir := range dirs {
		sc, err := loadForReplay(dir, *check)
		if err != nil {
			return err
		}
		res, err := scenario.Run(ctx, sc, scenario.Options{Settings: settings(sc.App), Logger: logger, Overrides: said})
		if err != nil {
			return err
		}
		if *chartTo != "" {
			if err := writeChart(*chartTo, sc.Name, res.Events(), stderr); err != nil {
				return err
			}
		}
		var checkErr error
		if *check {
			checkErr = scenario.Check(sc, res)
			if checkErr == nil {
				passed++
			} else {
				failed++
			}
		}
		if *format == "json" {
			if err := enc.Encode(res); err != nil {
				return err
			}
			if checkErr != nil {
				fmt.Fprintf(stderr, "FAIL %s: %s\n", sc.Name, oneLine(checkErr))
			}
			continue
		}
		printText(stdout, sc, res, *check, checkErr)
	}
	if *check {
		if *format == "text" {
			fmt.Fprintf(stdout, "replay: %d passed, %d failed\n", passed, failed)
		}
		if failed > 0 {
			return &exitError{code: 1, err: fmt.Errorf("%d of %d scenarios missed their expected verdict", failed, len(dirs))}
		}
	}
	return nil
}

// loadForReplay reads the scenario folder dir (as given: a trailing "/"
// is dropped) for replay: one that cannot be read, or (with --check) has
// no [expect], is a usage error.
func loadForReplay(dir string, check bool) (*scenario.Scenario, error) {
	sc, err := scenario.Load(strings.TrimRight(dir, "/"))
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if check && sc.Expect == nil {
		return nil, usageErr("%s: --check needs an [expect] table in scenario.toml", dir)
	}
	return sc, nil
}

// pausesAndApprovals lets a replay read what people said (pauses,
// approvals) without taking the live worker's requests.
type pausesAndApprovals struct{ db *store.DB }

func (p pausesAndApprovals) Overrides(ctx context.Context, watched map[string]int) (map[string]store.OverrideRecord, error) {
	m, err := p.db.Overrides(ctx, watched)
	for app, o := range m {
		o.Requests = nil
		m[app] = o
	}
	return m, err
}

func (pausesAndApprovals) FinishRequest(context.Context, int64, string) error { return nil }

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func printText(w io.Writer, sc *scenario.Scenario, res scenario.Result, check bool, checkErr error) {
	status := ""
	if check {
		status = "PASS "
		if checkErr != nil {
			status = "FAIL "
		}
	}
	outcome := "no rollback"
	if len(res.Rollbacks) > 0 {
		var parts []string
		for _, rb := range res.Rollbacks {
			s := fmt.Sprintf("rolled back v%d to v%d at %ds", rb.Release, rb.To, rb.AtS)
			if sc.Expect != nil && sc.Expect.Verdict == "rollback" {
				s += fmt.Sprintf(" (%+ds after the bad traffic began)", rb.AtS-sc.Expect.BadFromS)
			}
			parts = append(parts, s)
		}
		outcome = strings.Join(parts, "; ")
	}
	fmt.Fprintf(w, "%s%-24s %s  [%s]\n", status, sc.Name, outcome, time.Duration(res.WallMS)*time.Millisecond)
	if checkErr != nil {
		fmt.Fprintf(w, "     %s\n", oneLine(checkErr))
	}
	for _, rb := range res.Rollbacks {
		fmt.Fprintf(w, "     why: %s\n", rb.Reason)
	}
	for _, r := range sc.Releases {
		if _, isRollback := (heroku.Release{Description: r.Description}).RollsBackTo(); isRollback && r.AtS >= 0 {
			fmt.Fprintf(w, "     history: v%d %q at %ds, as recorded (not relwatch's)\n", r.Version, r.Description, r.AtS)
		}
	}
}

// pngFile reports whether --chart names a picture file rather than a
// folder: its name ends in .png, in any case (Verdict.PNG is a file, not
// a folder named so).
func pngFile(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".png")
}

// writeChart writes the picture of the verdict among events to path: a
// .png file, or name.png in the folder path (either folder made if
// missing). An error names path as given. A story
// with no verdict to draw is said on stderr, and is not an error.
func writeChart(path, name string, events []notify.Event, stderr io.Writer) error {
	e, ok := chart.Last(events)
	if !ok {
		fmt.Fprintf(stderr, "%s: no verdict with traffic to draw; no picture written\n", name)
		return nil
	}
	png, err := chart.PNG(e)
	if err != nil {
		return err
	}
	given, dir := path, path
	if pngFile(path) {
		dir = filepath.Dir(path)
	} else {
		path = filepath.Join(path, filepath.Base(name)+".png")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", pe.Path, pe.Err) // mkdir's "mkdir X:" said once
		}
		return fmt.Errorf("--chart %s: cannot make its folder: %w", given, err)
	}
	if err := atomicfile.WriteFile(path, png); err != nil {
		return fmt.Errorf("--chart: write the picture of %s: %w", name, err)
	}
	return nil
}
