// Command relwatch watches a Heroku app's releases and rolls a bad one back.
//
// Exit codes: 0 success; 1 the command ran and failed (a check that did not
// pass, a replay that missed its expected verdict, a worker that had to
// stop); 2 bad usage or a bad configuration.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/internal/redact"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit code out of a command.
type exitError struct {
	code   int
	err    error
	logged bool // the command has said it already (the worker, in its log)
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit code err carries: 0 for nil, 1 unless it says.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"watch", "run the worker: watch the configured apps and roll back bad releases", cmdWatch},
		{"replay", "run recorded scenarios through the watcher on a virtual clock", cmdReplay},
		{"sweep", "measure the judgement: replay many seeded draws of each traffic shape", cmdSweep},
		{"demo", "replay the crates.io incident of 2023-07-20 with console chat", cmdDemo},
		{"check", "validate the configuration and, with a token, test Heroku access", cmdCheck},
		{"probe", "check a download URL the way cargo fetches it", cmdProbe},
		{"status", "apps, the release under watch, signals, pauses, the last decisions", cmdStatus},
		{"pause", "pause automatic rollback of an app", cmdPause},
		{"resume", "resume automatic rollback of an app", cmdResume},
		{"rollback", "a person's rollback, through the guarded path", cmdRollback},
		{"approve", "say a release is good: end its watch healthy", cmdApprove},
		{"promote", "probe staging, announce, promote down the pipeline", cmdPromote},
		{"backtest", "what relwatch would have done on an app's past releases", cmdBacktest},
		{"export", "write one past release as a scenario folder", cmdExport},
		{"version", "print relwatch's version, its source revision and its Go version", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "relwatch watches a Heroku app's releases and rolls a bad one back.")
	fmt.Fprintln(w, "\nUsage: relwatch COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`relwatch COMMAND --help` describes a command's flags; `relwatch --version` says which relwatch this is.")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 bad usage or configuration.")
}

// secretVars are the environment variables that hold credentials: what
// relwatch writes never shows their values, whatever an outside service
// quoted back.
var secretVars = []string{"HEROKU_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ZULIP_API_KEY",
	"RELWATCH_DRAIN_PASSWORD", "RELWATCH_DRAIN_TOKEN", "RELWATCH_METRICS_TOKEN", "RELWATCH_WEBHOOK_SECRET"}

// secrets are the values of secretVars and of every variable an app's
// token_env may name, and the passwords in the state DSNs the environment
// names.
func secrets() []string {
	var out []string
	// Each as set and as used: a token is sent without the whitespace
	// around it (credential).
	for _, name := range secretVars {
		out = append(out, os.Getenv(name), strings.TrimSpace(os.Getenv(name)))
	}
	// An app's token_env may name any variable ending so
	// (config.SecretSuffixes): every such value is kept out.
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		for _, suf := range config.SecretSuffixes {
			if strings.HasSuffix(name, suf) {
				out = append(out, value, strings.TrimSpace(value))
			}
		}
	}
	// Zulip's key goes out in basic auth: a server (or proxy) that quotes
	// the request's Authorization header back quotes it in base64.
	if email, key := os.Getenv("ZULIP_EMAIL"), os.Getenv("ZULIP_API_KEY"); key != "" {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(email+":"+key)))
	}
	for _, name := range []string{"DATABASE_URL", "RELWATCH_STATE"} {
		if u, err := url.Parse(os.Getenv(name)); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				out = append(out, pw, url.QueryEscape(pw))
			}
		}
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout, stderr = redact.NewWriter(stdout, secrets()...), redact.NewWriter(stderr, secrets()...)
	if len(args) > 2 && args[0] == "help" {
		fmt.Fprintf(stderr, "relwatch help: takes one command, got %q after %s; see relwatch help\n", args[2], args[1])
		return 2
	}
	if len(args) == 2 && args[0] == "help" {
		// relwatch help CMD is CMD --help, as in the Heroku CLI.
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 {
		// Bad usage: said on stderr, as an unknown command is.
		usage(stderr)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil {
			return 0
		}
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && !errors.Is(ee.err, errHelp) && !ee.logged {
				fmt.Fprintf(stderr, "relwatch %s: %v\n", c.name, ee.err)
			}
			return exitCode(err)
		}
		fmt.Fprintf(stderr, "relwatch %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "relwatch: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
