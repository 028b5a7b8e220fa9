package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/relwatch/relwatch/control"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// stateFlag adds --state to fs.
func stateFlag(fs *flag.FlagSet) *string {
	return fs.String("state", "", "the state store: a PostgreSQL URL or an SQLite file (default $RELWATCH_STATE, then $DATABASE_URL, then relwatch.db)")
}

// openState opens the state store; a DSN it cannot be is bad usage (exit
// 2), as a bad flag is.
func openState(ctx context.Context, flagValue string, opts ...store.Option) (*store.DB, error) {
	if err := store.CheckDSN(stateDSN(flagValue)); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return store.Open(ctx, stateDSN(flagValue), opts...)
}

// stateDSN is the state store the flag, RELWATCH_STATE or DATABASE_URL
// name (relwatch.db by default).
func stateDSN(flagValue string) string {
	return store.DSN(flagValue, os.Getenv("RELWATCH_STATE"), os.Getenv("DATABASE_URL"))
}

// openSharedState opens the state store for what the worker must read (a
// pause, an approval, a person's rollback, a promotion): refused on a dyno
// with SQLite, whose file is that dyno's own and never the worker's.
func openSharedState(ctx context.Context, flagValue string) (*store.DB, error) {
	if err := dynoLocal(stateDSN(flagValue)); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return openWithin(ctx, flagValue)
}

// storeWait bounds what a command a person waits on (status, pause, a
// rollback, a promotion's note) asks of the state store: a PostgreSQL
// server that accepts the connection and never answers would otherwise
// hold the terminal until the person gives up.
var storeWait = 10 * time.Second

// errStoreWait is why a person's command gave the state store up.
var errStoreWait = errors.New("the state store did not answer")

// openWithin opens the state store for a person's command, giving up
// after storeWait.
func openWithin(ctx context.Context, flagValue string, opts ...store.Option) (*store.DB, error) {
	octx, cancel := context.WithTimeoutCause(ctx, storeWait, errStoreWait)
	defer cancel()
	db, err := openState(octx, flagValue, opts...)
	var dial *net.OpError
	switch {
	case err != nil && context.Cause(octx) == errStoreWait:
		return nil, fmt.Errorf("%w within %s: is it reachable? (it is --state, else $RELWATCH_STATE, else $DATABASE_URL)", errStoreWait, storeWait)
	case errors.As(err, &dial):
		// Refused, or no route: as a person would go on from it.
		return nil, fmt.Errorf("%w: is the database server up, and is this the one the worker uses? (it is --state, else $RELWATCH_STATE, else $DATABASE_URL)", err)
	}
	return db, err
}

// readWithin bounds a command's use of a store it opened by storeWait, as
// openWithin bounds the opening: a store that opens but does not answer
// (a table another session holds locked) is given up as one that does not
// open. gaveUp turns an error of ctx's calls into openWithin's.
func readWithin(ctx context.Context) (_ context.Context, gaveUp func(error) error, cancel context.CancelFunc) {
	rctx, cancel := context.WithTimeoutCause(ctx, storeWait, errStoreWait)
	return rctx, func(err error) error {
		if err != nil && context.Cause(rctx) == errStoreWait {
			return fmt.Errorf("%w within %s: is it reachable, or is a table locked? (it is --state, else $RELWATCH_STATE, else $DATABASE_URL)", errStoreWait, storeWait)
		}
		return err
	}, cancel
}

// dynoLocal says why SQLite state on a Heroku dyno (DYNO set) is nobody
// else's: each dyno, a one-off `heroku run` too, has its own file system,
// discarded when it restarts. nil off a dyno, or with PostgreSQL.
func dynoLocal(dsn string) error {
	dyno := os.Getenv("DYNO")
	path, sqlite := store.SQLitePath(dsn)
	if dyno == "" || !sqlite {
		return nil
	}
	return fmt.Errorf("on a dyno (%s) the SQLite state %s is this dyno's own file: the worker never reads it, and Heroku discards it at restart; attach Heroku Postgres (heroku addons:create heroku-postgresql -a YOUR-WORKER-APP), whose DATABASE_URL every dyno shares", dyno, path)
}

// openReadState opens the state store to read it, creating nothing: an
// SQLite file that is not there yet, or a database relwatch never wrote,
// is no state (nil, nil).
func openReadState(ctx context.Context, flagValue string) (*store.DB, error) {
	if err := store.CheckDSN(stateDSN(flagValue)); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if path, sqlite := store.SQLitePath(stateDSN(flagValue)); sqlite {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	db, err := openWithin(ctx, flagValue, store.ReadOnly())
	if errors.Is(err, store.ErrNoState) {
		return nil, nil
	}
	return db, err
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

// controlPlane is the control plane over db for the configured apps;
// chatUsers may act from chat (a person at the command line always may).
func controlPlane(cfg *conf, db control.Store, chatUsers []string) *control.Plane {
	p := &control.Plane{Store: db, ChatUsers: chatUsers}
	for _, a := range cfg.Apps {
		p.Apps = append(p.Apps, a.Name)
	}
	return p
}

// configured loads the configuration and checks app is one it watches (a
// typo must not pause nothing, silently): a usage error that lists the
// configured apps otherwise.
func configured(cfgPath, app string) (*conf, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if _, err := cfg.app(app); err != nil {
		return nil, err
	}
	return cfg, nil
}

// override gives c for the person at the command line, through the control
// plane, and says what it did in the words the release's thread will show.
func override(ctx context.Context, cfg *conf, state, by string, c control.Command, stdout io.Writer) error {
	db, err := openSharedState(ctx, state)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := controlPlane(cfg, db, nil).DoWithin(ctx, control.Actor{Name: who(by)}, c, storeWait)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, notify.OverrideText(o))
	return nil
}

// oneApp returns the one APP argument.
// appFlag adds -a/--app to fs, as the Heroku CLI takes an app.
func appFlag(fs *flag.FlagSet) *string {
	app := new(string)
	fs.StringVar(app, "app", "", "the app (as the Heroku CLI takes it; default: the APP argument, then $HEROKU_APP)")
	fs.StringVar(app, "a", "", "short for --app")
	return app
}

// oneApp is the command's app: the APP argument, else -a/--app, else
// $HEROKU_APP, as the Heroku CLI chooses one; two that differ are refused.
// Heroku's app names are lower case: "Crates-IO" is crates-io, as in chat.
func oneApp(fs *flag.FlagSet, flagApp string) (string, error) {
	args := fs.Args()
	flagApp = strings.ToLower(flagApp)
	switch {
	case len(args) > 1:
		return "", usageErr("want one APP, got %d arguments (%s)", len(args), strings.Join(args, " "))
	case len(args) == 1 && flagApp != "" && flagApp != strings.ToLower(args[0]):
		return "", usageErr("APP %s and --app %s differ: say one", args[0], flagApp)
	case len(args) == 1:
		return strings.ToLower(args[0]), nil
	case flagApp != "":
		return flagApp, nil
	case os.Getenv("HEROKU_APP") != "":
		return strings.ToLower(os.Getenv("HEROKU_APP")), nil
	}
	return "", usageErr("which app? name it: relwatch %s APP, -a APP, or $HEROKU_APP", fs.Name())
}

func cmdPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pause", "APP [--for 30m] [--reason TEXT] [--by NAME] [--config FILE]", `
Pauses automatic rollback of APP until resumed or until --for has passed.
The app is still watched, and anomalies are still announced ("would roll
back v42: paused by ... until ..."). The running worker picks it up within
one tick and announces it. APP must be one the configuration watches. Works
as: heroku run -a <worker-app> relwatch pause APP`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	var forD pauseFor
	fs.Var(&forD, "for", "how long: a `duration` like 30m, 2h or 1d (default: until resumed)")
	reason := fs.String("reason", "", "why, for the announcement")
	appF := appFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *appF)
	if err != nil {
		return err
	}
	if forD < 0 {
		return usageErr("--for: %s is negative", time.Duration(forD))
	}
	if forD == 0 && flagGiven(fs, "for") {
		// Zero is how the store says "until resumed": --for 0m must not
		// pause for ever.
		return usageErr("--for: %s is no time: say how long, like 30m, 2h or 1d, or leave --for out to pause until resumed", time.Duration(forD))
	}
	cfg, err := configured(*cfgPath, app)
	if err != nil {
		return err
	}
	return override(ctx, cfg, *state, *by, control.Command{Verb: control.Pause, App: app, For: time.Duration(forD), Reason: *reason}, stdout)
}

// flagGiven reports whether flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// pauseFor is pause's --for: a length as chat takes it (30m, 2h, 1d,
// 1d12h), with no 7-day bound: the command line is the operator's.
type pauseFor time.Duration

func (p *pauseFor) Set(s string) error {
	d, err := control.ParseLength(s)
	*p = pauseFor(d)
	return err
}

func (p *pauseFor) String() string { return time.Duration(*p).String() }
func (p *pauseFor) Get() any       { return time.Duration(*p) }

func cmdResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("resume", "APP [--by NAME] [--config FILE]", `Resumes automatic rollback of APP (one the configuration watches).`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	appF := appFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *appF)
	if err != nil {
		return err
	}
	cfg, err := configured(*cfgPath, app)
	if err != nil {
		return err
	}
	return override(ctx, cfg, *state, *by, control.Command{Verb: control.Resume, App: app}, stdout)
}

func cmdApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("approve", "APP vN [--reason TEXT] [--by NAME] [--config FILE]", `
Says release vN of APP is good: its watch ends healthy at the worker's next
tick, and relwatch will not roll it back. APP must be one the configuration
watches.`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	reason := fs.String("reason", "", "why, for the announcement")
	appF := appFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 2 {
		return usageErr("want APP and a release, got %q after them; like: relwatch approve crates-io v42 (or -a crates-io v42)", fs.Arg(2))
	}
	if fs.NArg() < 1 {
		return usageErr("want APP and a release, like: relwatch approve crates-io v42 (or -a crates-io v42)")
	}
	v, err := control.ParseRelease(fs.Arg(fs.NArg() - 1))
	if err != nil && fs.NArg() == 1 && *appF == "" && !releaseLike(fs.Arg(0)) {
		// "relwatch approve crates-io": the release is missing, the app is
		// no bad release.
		return usageErr("which release of %s? like: relwatch approve %s v42", fs.Arg(0), fs.Arg(0))
	}
	if err != nil {
		return usageErr("%v", err)
	}
	var app string
	if fs.NArg() == 2 {
		// Heroku's app names are lower case: capitals are the app, as
		// oneApp takes them for every other command.
		app, err = strings.ToLower(fs.Arg(0)), nil
		if *appF != "" && strings.ToLower(*appF) != app {
			return usageErr("APP %s and --app %s differ: say one", fs.Arg(0), *appF)
		}
	} else if app, err = oneApp(flagsWithout(fs), *appF); err != nil {
		return err
	}
	cfg, err := configured(*cfgPath, app)
	if err != nil {
		return err
	}
	return override(ctx, cfg, *state, *by, control.Command{Verb: control.Approve, App: app, Release: v, Reason: *reason}, stdout)
}

func cmdRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rollback", "APP [--to vN] [--reason TEXT] [--yes | --confirm APP] [--by NAME] [--config FILE]", `
A person's rollback of APP, through the same guarded path and journal as an
automatic one: to the newest earlier release that succeeded (or --to), of
the release live when asked: one made after the request (a fix deployed
before the worker got to it) is not rolled back. The worker carries it out within
one tick and announces it. APP must be one the configuration watches. Asks
for confirmation on a terminal; without one (a script, heroku run
--no-tty), --yes or --confirm APP (as the Heroku CLI's) is required.`, stdout, stderr)
	state, by, cfgPath := stateFlag(fs), whoFlag(fs), configFlag(fs)
	to := fs.String("to", "", "the release to roll back to, like v41 (default: the newest earlier one that succeeded)")
	reason := fs.String("reason", "", "why, for the announcement")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	confirm := fs.String("confirm", "", "do not ask for confirmation: the app's name again, as the Heroku CLI takes it")
	appF := appFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	app, err := oneApp(fs, *appF)
	if err != nil {
		return err
	}
	target := 0
	if *to != "" {
		if target, err = control.ParseRelease(*to); err != nil {
			return usageErr("--to: %v", err)
		}
	}
	cfg, err := configured(*cfgPath, app)
	if err != nil {
		return err
	}
	if *confirm != "" && !strings.EqualFold(*confirm, app) { // capitals are the app, as APP's
		return usageErr("--confirm %s does not match %s: nothing done", *confirm, app)
	}
	if !*yes && *confirm == "" {
		if !isTerminal(stdin) {
			return usageErr("refusing to roll %s back without confirmation: stdin is not a terminal, so nobody can answer; add --yes (or --confirm %s)", app, app)
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
	return override(ctx, cfg, *state, *by, control.Command{Verb: control.Rollback, App: app, Release: target, Reason: *reason}, stdout)
}

// releaseLike reports whether word is written as a release is (v42, 42,
// v4x: a digit, after a v or not), rather than as an app's name (vault,
// vapor-api: a name that begins with a v is no release for it).
func releaseLike(word string) bool {
	w := strings.TrimPrefix(strings.ToLower(word), "v")
	return w != "" && w[0] >= '0' && w[0] <= '9'
}

// flagsWithout is fs with its arguments dropped (the release of approve's
// "-a APP vN" is not an app), for oneApp.
func flagsWithout(fs *flag.FlagSet) *flag.FlagSet {
	empty := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	empty.SetOutput(io.Discard)
	_ = empty.Parse(nil)
	return empty
}
