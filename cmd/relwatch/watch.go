package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/replay"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/console"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/scenario"
	"github.com/relwatch/relwatch/watcher"
)

// shutdownGrace is how long an in-flight tick may go on after SIGTERM:
// Heroku waits 30 s before SIGKILL, we promise to be gone within 10 s.
const shutdownGrace = 8 * time.Second

func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("watch", "[--config FILE]", `
The worker (Procfile: worker: relwatch watch --config config.toml). Polls
each configured app's releases, watches every release that goes live
against the traffic before it, and rolls a clearly bad one back through the
Heroku Platform API, announcing every step.

Environment: HEROKU_API_KEY (required) is the Platform API token; it is
never printed. On SIGTERM the worker finishes its tick and exits within
10 s. It exits 1 when Heroku refuses the token.`, stdout, stderr)
	cfgPath := fs.String("config", "config.toml", "configuration file")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	token := os.Getenv("HEROKU_API_KEY")
	if token == "" {
		return usageErr("HEROKU_API_KEY is not set: relwatch needs a Platform API token (heroku authorizations:create)")
	}
	w, err := buildWatcher(cfg, token, stdout, logger, time.Now())
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	logger.Info("relwatch watching", "apps", len(cfg.Apps), "tick", cfg.Tick, "poll_interval", cfg.PollInterval)
	return runLoop(ctx, w, cfg.Tick, logger)
}

// runLoop calls Tick on the wall clock until ctx ends. A tick under way
// when ctx ends may finish, for up to shutdownGrace.
func runLoop(ctx context.Context, w *watcher.Watcher, tick time.Duration, logger *slog.Logger) error {
	tickCtx, cancelTicks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTicks()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(shutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancelTicks()
		case <-tickCtx.Done():
		}
	}()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		if err := w.Tick(tickCtx, time.Now()); err != nil {
			if errors.Is(err, watcher.ErrFatal) {
				return err
			}
			logger.Error("tick failed", "err", err)
		}
		select {
		case <-ctx.Done():
			logger.Info("relwatch stopping", "cause", context.Cause(ctx))
			return nil
		case <-ticker.C:
		}
	}
}

// buildWatcher wires the watcher from cfg. start anchors series sources
// that have no start of their own.
func buildWatcher(cfg *config.Config, token string, stdout io.Writer, logger *slog.Logger, start time.Time) (*watcher.Watcher, error) {
	client := heroku.New(cfg.APIURL, token, heroku.WithTimeout(cfg.HTTPTimeout))
	var apps []watcher.App
	for i, a := range cfg.Apps {
		src, err := buildSource(a.Metrics, start)
		if err != nil {
			return nil, fmt.Errorf("apps[%d].metrics: %w", i, err)
		}
		apps = append(apps, watcher.App{
			Name: a.Name, Route: a.Route, Policy: a.Policy, Source: src,
		})
	}
	var notifiers notify.Multi
	for _, n := range cfg.Notifiers {
		switch n.Type {
		case "console":
			notifiers = append(notifiers, console.New(stdout))
		default:
			return nil, fmt.Errorf("unknown notifier %q", n.Type)
		}
	}
	return watcher.New(watcher.Config{
		Apps:         apps,
		Heroku:       client,
		Roller:       &rollback.Roller{Heroku: client, Timeout: cfg.RollbackTimeout, Logger: logger},
		Notifier:     notifiers,
		Logger:       logger,
		PollInterval: cfg.PollInterval,
	}), nil
}

func buildSource(m config.Metrics, start time.Time) (metrics.Source, error) {
	switch m.Source {
	case "series":
		f, err := os.Open(m.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		series, err := scenario.ParseSeries(f, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		if m.Start != "" {
			if start, err = time.Parse(time.RFC3339, m.Start); err != nil {
				return nil, err
			}
		}
		return replay.New(replay.Recording{Start: start.Truncate(time.Second), Routes: series}, time.Now), nil
	}
	return nil, fmt.Errorf("unknown metrics source %q", m.Source)
}
