package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

var errHelp = errors.New("help shown")

// noArgs refuses arguments left after the flags of a command that takes
// none (a usage error, exit 2), naming the first and, where it may be the
// config file, the flag that takes it.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() == 0 {
		return nil
	}
	msg := fmt.Sprintf("takes no arguments, got %q", fs.Arg(0))
	if fs.Lookup("config") != nil && strings.HasSuffix(fs.Arg(0), ".toml") {
		msg += fmt.Sprintf(" (a config file goes with --config %s)", fs.Arg(0))
	}
	return usageErr("%s; see relwatch %s --help", msg, fs.Name())
}

// newFlags makes a flag set whose --help prints to stdout and whose errors
// are usage errors (exit 2).
func newFlags(name, synopsis, about string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: relwatch %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(about))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nFlags:")
			printFlags(out, fs)
		}
	}
	return fs
}

// printFlags lists fs's flags the way the usage lines and people spell
// them: --name.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	short := map[string]string{} // long name -> its one-letter form
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, "short for --"); ok && len(f.Name) == 1 {
			short[long] = f.Name
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if short[strings.TrimPrefix(f.Usage, "short for --")] == f.Name {
			return // said with its long form
		}
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if s, ok := short[f.Name]; ok {
			line = "  -" + s + ", --" + f.Name
		}
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		switch def := f.DefValue; {
		case def == "" || def == "0" || def == "0s" || def == "false" || def == "map[]":
		case isString(f.Value):
			line += fmt.Sprintf(" (default %q)", def)
		default:
			line += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintln(w, line)
	})
}

func isString(v flag.Value) bool {
	g, ok := v.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(string)
	return ok
}

// expectedForm says what a flag's value looks like, for the error about a
// bad one; empty when the value's own error says it.
func expectedForm(v flag.Value) string {
	g, ok := v.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return "a duration like 30m"
	case int, int64, uint, uint64:
		return "a whole number like 5"
	case float64:
		return "a number like 20"
	case bool:
		return "true or false"
	}
	return ""
}

// checkedValue remembers which flag's value did not parse, so that the
// error can say what that flag takes.
type checkedValue struct {
	flag.Value
	name string
	bad  *error // set on the first value that does not parse
}

func (c *checkedValue) Set(s string) error {
	err := c.Value.Set(s)
	if err != nil && *c.bad == nil {
		if form := expectedForm(c.Value); form != "" {
			*c.bad = fmt.Errorf("--%s takes %s, not %q", c.name, form, s)
		} else {
			*c.bad = fmt.Errorf("--%s: %w", c.name, err)
		}
	}
	return err
}

// IsBoolFlag keeps a boolean flag a flag without a value.
func (c *checkedValue) IsBoolFlag() bool {
	b, ok := c.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parse parses args; --help prints the usage to stdout and ends the command
// with exit 0.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	ordered, help, err := interspersed(fs, args)
	if help {
		fs.SetOutput(stdout)
		fs.Usage()
		return &exitError{code: 0, err: errHelp}
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	// The flag package would print its error, then the whole usage, and we
	// the error again: say it once, in one line, with the expected form.
	fs.SetOutput(io.Discard)
	var bad error
	var wrapped []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		f.Value = &checkedValue{Value: f.Value, name: f.Name, bad: &bad}
		wrapped = append(wrapped, f)
	})
	defer func() {
		for _, f := range wrapped {
			f.Value = f.Value.(*checkedValue).Value
		}
	}()
	if err := fs.Parse(ordered); err != nil {
		if bad != nil {
			err = bad
		}
		return &exitError{code: 2, err: err}
	}
	return nil
}

// interspersed moves flags before the positional arguments, so that
// "relwatch pause crates-io --for 30m" reads as people type it. An unknown
// flag, or one without its value, is an error that says so. help reports
// a -h, -help or --help where a flag goes, even after such an error; as a
// flag's value (--reason -h) it is the value.
func interspersed(fs *flag.FlagSet, args []string) (ordered []string, help bool, err error) {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		if a == "-h" || a == "-help" || a == "--help" {
			help = true
			continue
		}
		if err != nil {
			continue // only a help request is still looked for
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		// Named as typed: "-a needs a value" for a typed -a.
		typed := a[:len(a)-len(strings.TrimLeft(a, "-"))] + name
		f := fs.Lookup(name)
		if f == nil {
			err = fmt.Errorf("unknown flag %s (relwatch %s --help lists them)", typed, fs.Name())
			continue
		}
		if hasValue {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 >= len(args) {
			if form := expectedForm(f.Value); form != "" {
				err = fmt.Errorf("%s needs a value: %s", typed, form)
			} else {
				err = fmt.Errorf("%s needs a value", typed)
			}
			continue
		}
		i++
		flags = append(flags, args[i])
	}
	if err != nil {
		return nil, help, err
	}
	return append(append(flags, "--"), rest...), help, nil
}

// levelFatal is the level of the line a worker writes as it stops on an
// error: FATAL, in logfmt like every other line.
const levelFatal = slog.LevelError + 4

// newLogger returns a logfmt logger at level, as Heroku's log tools read
// it. On a dyno ($DYNO is set) lines carry no time=: Heroku stamps every
// line it collects.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr("--log-level: %q is not debug, info, warn or error", level)
	}
	onDyno := os.Getenv("DYNO") != ""
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return a
		}
		switch {
		case a.Key == slog.TimeKey && onDyno:
			return slog.Attr{}
		case a.Key == slog.LevelKey && a.Value.Any() == levelFatal:
			return slog.String(slog.LevelKey, "FATAL")
		}
		return a
	}})), nil
}

// fatal logs err as the line the worker stops on, and returns it with its
// exit code, marked as said.
func fatal(ctx context.Context, logger *slog.Logger, err error) error {
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	logger.Log(ctx, levelFatal, "relwatch stopped", "err", err.Error(), "exit", code)
	return &exitError{code: code, err: err, logged: true}
}

// textOrJSON refuses a --format that is neither text nor json.
func textOrJSON(format string) error {
	if format != "text" && format != "json" {
		return usageErr("--format: %q is not text or json", format)
	}
	return nil
}
