package main

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/relwatch/relwatch/notify/console"
	"github.com/relwatch/relwatch/scenario"
)

// The crates.io incident, recorded second by second: a copy of
// scenarios/crates-io-2023-07-20, so that `go run ./cmd/relwatch demo` needs no
// file beside the binary.
//
//go:embed demodata/crates-io-2023-07-20
var demoData embed.FS

func loadDemo() (*scenario.Scenario, error) {
	dir, err := os.MkdirTemp("", "relwatch-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sub, err := fs.Sub(demoData, "demodata/crates-io-2023-07-20")
	if err != nil {
		return nil, err
	}
	if err := os.CopyFS(filepath.Join(dir, "crates-io"), sub); err != nil {
		return nil, err
	}
	return scenario.Load(filepath.Join(dir, "crates-io"))
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlags("demo", "[--speed N]", `
Replays the crates.io incident of 2023-07-20: release v42 ("Promote
crates-io-staging v118") breaks every download's redirect; the server still
answers 302 and logs no error; cargo retries three times. relwatch sees the
retry signature and rolls back through a fake Heroku, announcing each step
on the console as it would in chat. Runs in well under a minute.`, stdout, stderr)
	speed := fset.Float64("speed", 20, "virtual seconds per real second")
	if err := parse(fset, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fset); err != nil {
		return err
	}
	if *speed <= 0 {
		return usageErr("--speed: %g must be positive", *speed)
	}
	sc, err := loadDemo()
	if err != nil {
		return fmt.Errorf("load the demo scenario: %w", err)
	}
	fmt.Fprintln(stdout, "relwatch demo: the crates.io incident of 2023-07-20, replayed.")
	fmt.Fprintln(stdout, "At 12:30:00 v42 goes live; from 12:30:30 every download redirect is broken, the server still says 302,")
	fmt.Fprintln(stdout, "and cargo retries each download three times. A person noticed 11 minutes later. Watch relwatch:")
	fmt.Fprintln(stdout)
	clockFmt := func(t time.Time) string { return t.UTC().Format("15:04:05") }
	con := console.New(stdout)
	con.Clock = clockFmt
	con.Render.WorkerApp = "my-relwatch"
	const from, to = 1770, 1900
	tick := scenario.DefaultSettings().Tick
	lastPrinted := -1
	pace := func(ctx context.Context, atS int) {
		if atS/30 != lastPrinted && (atS < 1800 || atS%30 == 0) {
			lastPrinted = atS / 30
			fmt.Fprintf(stdout, "%s  ·\n", clockFmt(scenario.Epoch.Add(time.Duration(atS)*time.Second)))
		}
		select {
		case <-time.After(time.Duration(float64(tick) / *speed)):
		case <-ctx.Done():
		}
	}
	res, err := scenario.Run(ctx, sc, scenario.Options{Settings: scenario.DefaultSettings(), Notifier: con, From: from, To: to, Pace: pace})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nHeroku's releases afterwards (read back through the Platform API):")
	for _, r := range res.Releases {
		{
			fmt.Fprintf(stdout, "  v%-3d %-10s %-34s created %s\n", r.Version, r.Status, r.Description, scenario.Epoch.Add(time.Duration(r.CreatedAtS)*time.Second).Format("2006-01-02 15:04:05"))
		}
	}
	if len(res.Rollbacks) == 1 && sc.Expect != nil {
		rb := res.Rollbacks[0]
		fmt.Fprintf(stdout, "\nRolled back %d s after the downloads broke (the incident's person: 11 min to notice, 13 min to fix).\n", rb.AtS-sc.Expect.BadFromS)
		return nil
	}
	return fmt.Errorf("the demo expected one rollback and saw %d", len(res.Rollbacks))
}
