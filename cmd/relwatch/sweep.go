package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/relwatch/relwatch/scenario/sweep"
	"github.com/relwatch/relwatch/scenario/synth"
)

func cmdSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sweep", "[--seeds N [--first S] | --seed S] [--shape NAME,...] [--format text|json] [--out DIR] [--list] [--uncorrected]", `
Measures the judgement: replays seeded draws of each synthesized traffic
shape (healthy ones and bad ones, see --list) through the real watcher on a
virtual clock, with a fake Heroku, and reports per shape the false
rollbacks, the misses and the delay of rollbacks after the bad traffic
began (p50, p95, max; a bad release never rolled back counts as never),
against the shape's targets. The worst run of each shape is named by its
seed.

With --out, writes the scenario folders instead of replaying them: DIR
itself for one shape, DIR/SHAPE-seedS for several; relwatch replay runs
them.

Exit status: 0 every target met, 1 a target missed, 2 bad usage.`, stdout, stderr)
	seeds := fs.Int("seeds", 50, "replay N seeds of each shape, from --first")
	first := fs.Uint64("first", 1, "the first seed of --seeds (a fresh range checks the judgement on draws it was not tuned on)")
	seed := fs.Uint64("seed", 0, "replay (or write) only this seed")
	shapeList := fs.String("shape", "", "comma-separated shapes (default: all; see --list)")
	format := fs.String("format", "text", "output format: text or json")
	out := fs.String("out", "", "write the scenarios to this folder instead of replaying them (needs --seed)")
	list := fs.Bool("list", false, "describe the shapes, their parameters and targets, and exit")
	parallel := fs.Int("parallel", 0, "replays at once (default: GOMAXPROCS)")
	uncorrected := fs.Bool("uncorrected", false, "measurement only: test every route at the one-route z, as if the app guarded one (what the correction for several routes buys; never how relwatch judges)")
	cfgPath := fs.String("config", "", "take the watch settings and thresholds from this config.toml's first app (default: the built-in defaults)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := textOrJSON(*format); err != nil {
		return err
	}
	shapes, err := selectShapes(*shapeList)
	if err != nil {
		return err
	}
	if *list {
		if *format == "json" {
			return sweep.ShapesJSON(stdout, shapes)
		}
		return sweep.Shapes(stdout, shapes)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	seedSet := set["seed"]
	if seedSet && (set["seeds"] || set["first"]) {
		return usageErr("--seed S replays one seed: it takes no --seeds or --first")
	}
	if *out != "" {
		if !seedSet {
			return usageErr("--out needs --seed S (which draw to write)")
		}
		if *format == "json" {
			return usageErr("--out writes scenario folders and says so in text: it takes no --format json")
		}
		return writeInstances(*out, shapes, *seed, stdout)
	}
	if *seeds < 1 {
		return usageErr("--seeds: %d is not a positive number", *seeds)
	}
	if *parallel < 0 {
		return usageErr("--parallel: %d is negative", *parallel)
	}
	st, err := settingsFrom(*cfgPath)
	if err != nil {
		return err
	}
	if *first < 1 {
		return usageErr("--first: %d is not a positive number", *first)
	}
	seedList := sweep.SeedRange(*first, *seeds)
	if seedSet {
		seedList = []uint64{*seed}
	}
	rep, err := sweep.Run(ctx, sweep.Options{Shapes: shapes, Seeds: seedList, Settings: st, Parallel: *parallel, Uncorrected: *uncorrected})
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if !rep.Met() {
		missed := 0
		for _, s := range rep.Shapes {
			if !s.Met() {
				missed++
			}
		}
		return &exitError{code: 1, err: fmt.Errorf("%d of %d shapes missed their targets", missed, len(rep.Shapes))}
	}
	return nil
}

// selectShapes resolves a comma-separated list of shape names; empty is
// all of them.
func selectShapes(list string) ([]synth.Shape, error) {
	if list == "" {
		return synth.Shapes(), nil
	}
	var out []synth.Shape
	for _, name := range strings.Split(list, ",") {
		s, ok := synth.Lookup(strings.TrimSpace(name))
		if !ok {
			return nil, usageErr("--shape: no shape %q (known: %s)", name, strings.Join(synth.Names(), ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// writeInstances writes seed's instance of each shape as a scenario folder.
func writeInstances(dir string, shapes []synth.Shape, seed uint64, stdout io.Writer) error {
	for _, s := range shapes {
		in := synth.Generate(s, seed)
		target := dir
		if len(shapes) > 1 {
			target = filepath.Join(dir, in.Scenario.Name)
		}
		if err := in.Write(target); err != nil {
			return fmt.Errorf("write %s: %w", target, err)
		}
		fmt.Fprintf(stdout, "wrote %s (%s, seed %d, expect %s v%d)\n", target, s.Name, seed, in.Scenario.Expect.Verdict, in.Scenario.Expect.Release)
	}
	return nil
}
