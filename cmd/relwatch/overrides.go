package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// stateFlag adds --state to fs.
func stateFlag(fs *flag.FlagSet) *string {
	return fs.String("state", "", "the state store: a PostgreSQL URL or an SQLite file (default $RELWATCH_STATE, then $DATABASE_URL, then relwatch.db)")
}

func openState(ctx context.Context, flagValue string) (*store.DB, error) {
	return store.Open(ctx, store.DSN(flagValue, os.Getenv("RELWATCH_STATE"), os.Getenv("DATABASE_URL")))
}

// whoFlag adds --by to fs.
func whoFlag(fs *flag.FlagSet) *string {
	return fs.String("by", "", "who does this (default $USER, else the dyno)")
}

func who(by string) string {
	switch {
	case by != "":
		return by
	case os.Getenv("USER") != "":
		return os.Getenv("USER")
	case os.Getenv("DYNO") != "":
		return "heroku run (" + os.Getenv("DYNO") + ")"
	}
	return "someone"
}

// stdin is where rollback asks for confirmation; tests replace it.
var stdin io.Reader = os.Stdin

// isTerminal says whether r is a terminal a person types into (not a
// pipe, a file, or /dev/null, which is a character device too).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// oneApp returns the one APP argument, which must be a configured app: a
// typo must not pause nothing, silently.
func oneApp(fs *flag.FlagSet, cfgPath string) (string, error) {
	if fs.NArg() != 1 {
		return "", usageErr("want exactly one APP")
	}
	return configuredApp(cfgPath, fs.Arg(0))
}

// configuredApp returns name when the configuration has it; otherwise a
// usage error that lists the configured apps.
func configuredApp(cfgPath, name string) (string, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return "", err
	}
	if _, err := cfg.app(name); err != nil {
		return "", err
	}
	return name, nil
}

func cmdPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pause", "APP [--for 30m] [--reason TEXT] [--by NAME] [--config FILE]", `
Pauses automatic rollback of APP until resumed or until --for has passed.
The app is still watched, and anomalies are still announced ("would roll
back v42: paused by ... until ..."). The running worker picks it up within
one tick and announces it. APP must be one the configuration watches. Works
as: heroku run -a <worker-app> relwatch pause APP`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	forD := fs.Duration("for", 0, "how long (default: until resumed)")
	reason := fs.String("reason", "", "why, for the announcement")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *cfgPath)
	if err != nil {
		return err
	}
	if *forD < 0 {
		return usageErr("--for: %s is negative", *forD)
	}
	db, err := openState(ctx, *state)
	if err != nil {
		return err
	}
	defer db.Close()
	p := store.Pause{App: app, By: who(*by), Reason: *reason}
	if *forD > 0 {
		p.Until = time.Now().Add(*forD)
	}
	if err := db.SetPause(ctx, p); err != nil {
		return err
	}
	until := "until resumed"
	if !p.Until.IsZero() {
		until = "until " + p.Until.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "%s: automatic rollback paused by %s %s\n", app, p.By, until)
	return nil
}

func cmdResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("resume", "APP [--by NAME] [--config FILE]", `Resumes automatic rollback of APP (one the configuration watches).`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *cfgPath)
	if err != nil {
		return err
	}
	db, err := openState(ctx, *state)
	if err != nil {
		return err
	}
	defer db.Close()
	existed, err := db.Resume(ctx, app, who(*by))
	if err != nil {
		return err
	}
	if !existed {
		fmt.Fprintf(stdout, "%s was not paused\n", app)
		return nil
	}
	fmt.Fprintf(stdout, "%s: automatic rollback resumed\n", app)
	return nil
}

func cmdApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("approve", "APP vN [--reason TEXT] [--by NAME] [--config FILE]", `
Says release vN of APP is good: its watch ends healthy at the worker's next
tick, and relwatch will not roll it back. APP must be one the configuration
watches.`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	reason := fs.String("reason", "", "why, for the announcement")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErr("want APP and a release, like: relwatch approve crates-io v42")
	}
	v, err := strconv.Atoi(strings.TrimPrefix(fs.Arg(1), "v"))
	if err != nil || v <= 0 {
		return usageErr("%q is not a release like v42", fs.Arg(1))
	}
	app, err := configuredApp(*cfgPath, fs.Arg(0))
	if err != nil {
		return err
	}
	db, err := openState(ctx, *state)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Approve(ctx, app, v, who(*by), *reason); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s v%d approved\n", app, v)
	return nil
}

func cmdRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", "APP [--to vN] [--reason TEXT] [--yes] [--by NAME] [--config FILE]", `
A person's rollback of APP, through the same guarded path and journal as an
automatic one: to the newest earlier release that succeeded (or --to), only
if the release is still the current one. The worker carries it out within
one tick and announces it. APP must be one the configuration watches. Asks
for confirmation on a terminal; without one (a script, heroku run
--no-tty), --yes is required.`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	to := fs.String("to", "", "the release to roll back to, like v41 (default: the newest earlier one that succeeded)")
	reason := fs.String("reason", "", "why, for the announcement")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *cfgPath)
	if err != nil {
		return err
	}
	target := 0
	if *to != "" {
		if target, err = strconv.Atoi(strings.TrimPrefix(*to, "v")); err != nil || target <= 0 {
			return usageErr("--to: %q is not a release like v41", *to)
		}
	}
	if !*yes {
		if !isTerminal(stdin) {
			return usageErr("refusing to roll %s back without confirmation: stdin is not a terminal, so nobody can answer; add --yes", app)
		}
		where := "the newest earlier release that succeeded"
		if target != 0 {
			where = fmt.Sprintf("v%d", target)
		}
		fmt.Fprintf(stdout, "Roll %s back to %s? [y/N] ", app, where)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return &exitError{code: 1, err: fmt.Errorf("not confirmed: nothing done")}
		}
	}
	db, err := openState(ctx, *state)
	if err != nil {
		return err
	}
	defer db.Close()
	id, err := db.RequestRollback(ctx, app, target, who(*by), *reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rollback of %s requested (request %d); the worker carries it out within one tick and announces it: relwatch status %s\n", app, id, app)
	return nil
}

// appStatus is one app in relwatch status.
type appStatus struct {
	App       string               `json:"app"`
	Watch     *store.WatchRecord   `json:"watch,omitempty"`
	TimeLeft  string               `json:"time_left,omitempty"`
	Pause     *store.Pause         `json:"pause,omitempty"`
	Decisions []store.Decision     `json:"decisions"`
	Rollbacks []store.JournalEntry `json:"rollbacks"`
	Pending   []store.Request      `json:"pending_requests"`
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "[APP] [--format text|json]", `
Shows each app relwatch knows: the release under watch and the time left,
its signals now against the baseline, pauses, the last decisions and
rollbacks.`, stdout, stderr)
	state := stateFlag(fs)
	format := fs.String("format", "text", "output format: text or json")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageErr("--format: %q is not text or json", *format)
	}
	db, err := openState(ctx, *state)
	if err != nil {
		return err
	}
	defer db.Close()
	apps := fs.Args()
	if len(apps) == 0 {
		if apps, err = db.Apps(ctx); err != nil {
			return err
		}
	}
	var out []appStatus
	now := time.Now()
	for _, app := range apps {
		st := appStatus{App: app}
		if w, ok, err := db.LatestWatch(ctx, app); err != nil {
			return err
		} else if ok {
			st.Watch = &w
			if w.State == watcher.StateWatching && now.Before(w.Until) {
				st.TimeLeft = w.Until.Sub(now).Round(time.Second).String()
			}
		}
		if p, ok, err := db.PauseOf(ctx, app); err != nil {
			return err
		} else if ok {
			st.Pause = &p
		}
		if st.Decisions, err = db.Decisions(ctx, app, 5); err != nil {
			return err
		}
		if st.Rollbacks, err = db.Journal(ctx, app, false, 5); err != nil {
			return err
		}
		if st.Pending, err = db.PendingRequests(ctx, app); err != nil {
			return err
		}
		out = append(out, st)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "no app in the state yet")
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	for _, st := range out {
		line := st.App + "\t"
		if w := st.Watch; w != nil {
			line += fmt.Sprintf("v%d (%s)\t%s", w.Release.Version, w.Release.Description, w.State)
			if st.TimeLeft != "" {
				line += ", " + st.TimeLeft + " left"
			}
		} else {
			line += "-\tnot watched yet"
		}
		if p := st.Pause; p != nil {
			until := "until resumed"
			if !p.Until.IsZero() {
				until = "until " + p.Until.UTC().Format("15:04 MST")
			}
			line += fmt.Sprintf("\tPAUSED by %s %s %s", p.By, until, p.Reason)
		}
		fmt.Fprintln(tw, line)
		if w := st.Watch; w != nil {
			for _, f := range w.Findings {
				if f.Trigger || f.Status == "anomalous" {
					fmt.Fprintf(tw, "\t  %s\t%s\n", f.Signal, f.Status)
				}
			}
		}
		for _, d := range st.Decisions {
			fmt.Fprintf(tw, "\t  %s v%d %s\t%s\n", d.At.UTC().Format("01-02 15:04:05"), d.Release, d.Action, d.Reason)
		}
		for _, e := range st.Rollbacks {
			outcome := e.Outcome
			if outcome == "" {
				outcome = "in progress"
			}
			fmt.Fprintf(tw, "\t  rollback %s v%d -> v%d by %s\t%s %s\n", e.Started.UTC().Format("01-02 15:04:05"), e.Bad, e.Target, e.By, outcome, e.Error)
		}
		for _, r := range st.Pending {
			fmt.Fprintf(tw, "\t  pending %s by %s\t%s\n", r.Kind, r.By, r.Reason)
		}
	}
	return tw.Flush()
}
