package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics/probe"
	"github.com/relwatch/relwatch/notify"
)

func cmdPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("promote", "--pipeline NAME --from APP --probe URL [--config FILE]", `
The deployment ritual of the crates.io postmortem, made one command: probe
the staging app's download URL first (downloads in the staging smoke test,
automated) and refuse to promote when it fails; announce the upcoming
deployment in chat; create the pipeline promotion to every app downstream of
--from; follow its targets until they finish. The worker then watches each
new release as usual. Needs HEROKU_API_KEY.`, stdout, stderr)
	cfgPath := configFlag(fs)
	pipelineName := fs.String("pipeline", "", "the pipeline (required)")
	from := fs.String("from", "", "the app to promote from, usually staging (required)")
	probeURL := fs.String("probe", "", "a download URL on the staging app to check first (required, unless --no-probe)")
	noProbe := fs.Bool("no-probe", false, "promote without checking a staging download (not recommended)")
	wait := fs.Duration("wait", 10*time.Minute, "how long to follow the promotion's targets")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if *pipelineName == "" || *from == "" {
		return usageErr("--pipeline and --from are required")
	}
	if *probeURL == "" && !*noProbe {
		return usageErr("--probe URL is required: check a staging download before promoting (or --no-probe)")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	token := os.Getenv("HEROKU_API_KEY")
	if token == "" {
		return usageErr("HEROKU_API_KEY is not set")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	chats, err := buildChats(cfg.Config)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	notifiers, closeChats := buildNotifiers(ctx, cfg, chats, stdout, logger, nil, "", nil)
	defer func() {
		drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		closeChats(drain)
	}()
	client := heroku.New(cfg.APIURL, token, heroku.WithTimeout(cfg.HTTPTimeout))
	pipelineID, couplings, err := client.Pipeline(ctx, *pipelineName)
	if err != nil {
		return err
	}
	srcName, srcID, err := client.App(ctx, *from)
	if err != nil {
		return err
	}
	srcStage := ""
	for _, c := range couplings {
		if c.AppID == srcID {
			srcStage = c.Stage
		}
	}
	if srcStage == "" {
		return fmt.Errorf("%s is not in pipeline %s", srcName, *pipelineName)
	}
	next := map[string]string{"review": "development", "development": "staging", "staging": "production"}[srcStage]
	var targetIDs, targetNames []string
	for _, c := range couplings {
		if c.Stage == next {
			name, _, err := client.App(ctx, c.AppID)
			if err != nil {
				return err
			}
			targetIDs, targetNames = append(targetIDs, c.AppID), append(targetNames, name)
		}
	}
	if len(targetIDs) == 0 {
		return fmt.Errorf("pipeline %s has no %s app after %s (%s)", *pipelineName, next, srcName, srcStage)
	}
	rels, _, err := client.ListReleases(ctx, srcName, 5, false)
	if err != nil {
		return err
	}
	srcRelease := "its current release"
	for _, r := range rels {
		if r.Current {
			srcRelease = fmt.Sprintf("v%d (%s)", r.Version, r.Description)
		}
	}
	ev := notify.Event{At: time.Now(), App: strings.Join(targetNames, ", "), Description: fmt.Sprintf("%s %s", srcName, srcRelease), By: who("")}
	if !*noProbe {
		res := (&probe.Prober{}).Check(ctx, *probeURL)
		if !res.OK {
			ev.Kind, ev.Reason = notify.PromotionRefused, "the staging download probe failed: "+res.Error()
			notifiers.Notify(ctx, ev)
			return fmt.Errorf("not promoting %s %s to %s: the staging download probe failed: %s", srcName, srcRelease, strings.Join(targetNames, ", "), res.Error())
		}
		ev.Reason = fmt.Sprintf("the staging download probe passed (%d hops, %d bytes)", len(res.Hops), res.Bytes)
	} else {
		ev.Reason = "no staging download probe (--no-probe)"
	}
	ev.Kind = notify.PromotionStarted
	notifiers.Notify(ctx, ev)
	id, err := client.Promote(ctx, pipelineID, srcID, targetIDs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "promotion %s: %s %s -> %s\n", id, srcName, srcRelease, strings.Join(targetNames, ", "))
	deadline := time.Now().Add(*wait)
	for {
		targets, err := client.PromotionTargets(ctx, id)
		if err != nil {
			return err
		}
		pending, failed := 0, 0
		for _, t := range targets {
			switch t.Status {
			case "pending":
				pending++
			case "failed":
				failed++
			}
		}
		if pending == 0 {
			for i, t := range targets {
				name := t.AppID
				if i < len(targetNames) {
					name, _, _ = client.App(ctx, t.AppID)
				}
				line := fmt.Sprintf("  %s: %s", name, t.Status)
				if t.ReleaseID != "" {
					if r, err := client.Release(ctx, name, t.ReleaseID); err == nil {
						line += fmt.Sprintf(" as v%d (%s); relwatch watches it", r.Version, r.Description)
					}
				}
				if t.Error != "" {
					line += ": " + t.Error
				}
				fmt.Fprintln(stdout, line)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d promotion targets failed", failed, len(targets))
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("promotion %s: %d target(s) still pending after %s", id, pending, *wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
