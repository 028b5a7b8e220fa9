package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics/prometheus"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "[--config FILE]", `
Validates the configuration: every problem at once, each with its key. When
HEROKU_API_KEY is set, also reads each app and its newest releases from the
Heroku Platform API, changing nothing. Exits 0 when all is well, 1 when
Heroku refuses or lacks an app, 2 when the configuration is bad.`, stdout, stderr)
	cfgPath := fs.String("config", "config.toml", "configuration file")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	fmt.Fprintf(stdout, "config %s: ok (%d app(s))\n", *cfgPath, len(cfg.Apps))
	for _, a := range cfg.Apps {
		mode := "auto-rollback"
		if !a.AutoRollback {
			mode = "alert only"
		}
		fmt.Fprintf(stdout, "  %s: route %q from %s, watch %s against %s, restart grace %s (errors), %s (traffic), %s\n",
			a.Name, a.Route, a.Metrics.Source, a.WatchFor, a.Baseline, a.RestartGrace, a.SettleGrace, mode)
	}
	failed := 0
	for _, a := range cfg.Apps {
		if a.Metrics.Source != "prometheus" {
			continue
		}
		src, err := buildSource(a, nil, &wiring{}, nil, time.Now())
		if err == nil {
			err = src.(*prometheus.Source).Check(ctx, a.Route, time.Now())
		}
		if err != nil {
			fmt.Fprintf(stdout, "  %s: FAIL metrics: %v\n", a.Name, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "  %s: Prometheus ok, the requests query has data\n", a.Name)
	}
	for i, n := range cfg.Notifiers {
		if n.Type == "console" {
			continue
		}
		chat, err := chatFor(n)
		var who string
		if err == nil {
			who, err = chat.(checker).Check(ctx)
		}
		if err != nil {
			fmt.Fprintf(stdout, "  notifiers[%d] (%s): FAIL %v\n", i, n.Type, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "  notifiers[%d] (%s): credentials ok, posting as %s\n", i, n.Type, who)
	}
	token := os.Getenv("HEROKU_API_KEY")
	if token == "" {
		fmt.Fprintln(stdout, "HEROKU_API_KEY is not set: Heroku access not checked")
		if failed > 0 {
			return fmt.Errorf("%d check(s) failed", failed)
		}
		return nil
	}
	client := heroku.New(cfg.APIURL, token, heroku.WithTimeout(cfg.HTTPTimeout))
	for _, a := range cfg.Apps {
		if _, _, err := client.App(ctx, a.Name); err != nil {
			fmt.Fprintf(stdout, "  %s: FAIL %v\n", a.Name, err)
			failed++
			continue
		}
		releases, _, err := client.ListReleases(ctx, a.Name, 5, false)
		if err != nil {
			fmt.Fprintf(stdout, "  %s: FAIL %v\n", a.Name, err)
			failed++
			continue
		}
		cur := "no release"
		for _, r := range releases {
			if r.Current {
				cur = fmt.Sprintf("v%d (%s)", r.Version, r.Description)
			}
		}
		fmt.Fprintf(stdout, "  %s: Heroku ok, current release %s\n", a.Name, cur)
	}
	if remaining, ok := client.RateLimitRemaining(); ok {
		fmt.Fprintf(stdout, "Heroku rate-limit budget: %d requests left\n", remaining)
	}
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	return nil
}
