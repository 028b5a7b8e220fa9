package main

import (
	"context"
	"errors"
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
new release as usual: told through the state store, it polls the targets'
releases every tick for 10 minutes.

Environment: the Heroku token of --from, as the worker finds an app's:
the variable its token_env names when --from is a configured app, else
HEROKU_API_KEY. It must reach the pipeline and the apps of its next
stage.`, stdout, stderr)
	cfgPath := configFlag(fs)
	state := stateFlag(fs)
	pipelineName := fs.String("pipeline", "", "the pipeline (required)")
	from := fs.String("from", "", "the app to promote from, usually staging (required)")
	probeURL := fs.String("probe", "", "a download URL on the staging app to check first (required, unless --no-probe)")
	noProbe := fs.Bool("no-probe", false, "promote without checking a staging download (not recommended)")
	wait := fs.Duration("wait", 10*time.Minute, "how long to follow the promotion's targets")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *pipelineName == "" || *from == "" {
		return usageErr("--pipeline and --from are required")
	}
	// Heroku's app names are lower case: "Crates-IO-Staging" is
	// crates-io-staging, its token_env too, as the other commands take it.
	*from = strings.ToLower(*from)
	if *probeURL == "" && !*noProbe {
		return usageErr("--probe URL is required: check a staging download before promoting (or --no-probe)")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	token, err := herokuToken(cfg.tokenEnv(*from), os.Getenv)
	if err != nil {
		return &exitError{code: 2, err: err}
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
	pr, err := planPromotion(ctx, client, *pipelineName, *from)
	if err != nil {
		return err
	}
	say := func(ev notify.Event) {
		// The deployment is announced, as crates.io announces its
		// deployments; a chat that is down does not stop the promotion,
		// but the person running it hears so.
		if err := notifiers.Notify(ctx, ev); err != nil {
			fmt.Fprintf(stderr, "relwatch promote: the announcement %s was not delivered: %v\n", ev.Kind, err)
		}
	}
	h := notify.Header{At: time.Now(), App: strings.Join(pr.targetNames, ", "), Description: pr.source()}
	p := notify.Promotion{By: who("")}
	if *noProbe {
		p.Reason = "no staging download probe (--no-probe)"
	} else {
		res := (&probe.Prober{}).Check(ctx, *probeURL)
		if !res.OK {
			p.Reason = "the staging download probe failed: " + res.Error()
			h.Kind = notify.PromotionRefused
			say(notify.Event{Header: h, Fact: p})
			return fmt.Errorf("not promoting %s to %s: the staging download probe failed: %s", pr.source(), h.App, res.Error())
		}
		p.Reason = fmt.Sprintf("the staging download probe passed (%d hops, %d bytes)", len(res.Hops), res.Bytes)
	}
	h.Kind = notify.PromotionStarted
	say(notify.Event{Header: h, Fact: p})
	notePromotion(ctx, cfg, *state, pr.targetNames, pr.source(), stderr)
	id, err := client.Promote(ctx, pr.pipelineID, pr.srcID, pr.targetIDs)
	if err != nil {
		// Heroku answered no: nothing is deployed, and the chat, told
		// "Deploying now", hears so. Without an answer Heroku may have
		// made the promotion; the person running it has the error.
		var refused *heroku.APIError
		if errors.As(err, &refused) {
			p.Reason = fmt.Sprintf("Heroku refused the promotion (%d %s): %s", refused.Status, refused.ID, refused.Message)
			h.Kind, h.At = notify.PromotionRefused, time.Now()
			say(notify.Event{Header: h, Fact: p})
		}
		return err
	}
	fmt.Fprintf(stdout, "promotion %s: %s -> %s\n", id, pr.source(), h.App)
	watched := func(app string) bool { _, err := cfg.app(app); return err == nil }
	return followPromotion(ctx, client, id, pr.targetNames, watched, *wait, stdout)
}

// promotion is a pipeline promotion about to be made: from one app to every
// app of the next stage.
type promotion struct {
	pipelineID     string
	srcName, srcID string
	srcRelease     string // "v117 (Deploy 3f1c2aa)", or "its current release"
	targetIDs      []string
	targetNames    []string
}

func (p promotion) source() string { return p.srcName + " " + p.srcRelease }

// planPromotion finds what promoting from `from` in pipeline means: its
// stage, the apps of the next stage, and the release that would go.
func planPromotion(ctx context.Context, client *heroku.Client, pipeline, from string) (promotion, error) {
	var p promotion
	pipelineID, couplings, err := client.Pipeline(ctx, pipeline)
	if err != nil {
		return p, err
	}
	p.pipelineID = pipelineID
	if p.srcName, p.srcID, err = client.App(ctx, from); err != nil {
		return p, err
	}
	srcStage := ""
	for _, c := range couplings {
		if c.AppID == p.srcID {
			srcStage = c.Stage
		}
	}
	if srcStage == "" {
		return p, fmt.Errorf("%s is not in pipeline %s", p.srcName, pipeline)
	}
	next := map[string]string{"review": "development", "development": "staging", "staging": "production"}[srcStage]
	if next == "" {
		// Production is the last stage: nothing is downstream of it.
		var before []string
		for _, c := range couplings {
			if c.Stage == "staging" {
				name, _, err := client.App(ctx, c.AppID)
				if err != nil {
					return p, err
				}
				before = append(before, "--from "+name)
			}
		}
		hint := ""
		if len(before) > 0 {
			hint = " (promote from its staging app: " + strings.Join(before, ", ") + ")"
		}
		return p, fmt.Errorf("%s is pipeline %s's %s app: no stage comes after it to promote to%s", p.srcName, pipeline, srcStage, hint)
	}
	for _, c := range couplings {
		if c.Stage == next {
			name, _, err := client.App(ctx, c.AppID)
			if err != nil {
				return p, err
			}
			p.targetIDs, p.targetNames = append(p.targetIDs, c.AppID), append(p.targetNames, name)
		}
	}
	if len(p.targetIDs) == 0 {
		return p, fmt.Errorf("pipeline %s has no %s app after %s (%s)", pipeline, next, p.srcName, srcStage)
	}
	rels, _, err := client.ListReleases(ctx, p.srcName, 5, false)
	if err != nil {
		return p, err
	}
	p.srcRelease = "its current release"
	for _, r := range rels {
		if r.Current {
			p.srcRelease = fmt.Sprintf("v%d (%s)", r.Version, r.Description)
		}
	}
	return p, nil
}

// followPromotion waits up to wait for the promotion's targets to finish,
// then says how each ended, and which release relwatch now watches (of the
// apps it watches).
func followPromotion(ctx context.Context, client *heroku.Client, id string, names []string, watched func(app string) bool, wait time.Duration, stdout io.Writer) error {
	deadline := time.Now().Add(wait)
	for {
		targets, err := client.PromotionTargets(ctx, id)
		if err != nil {
			// The promotion is under way whatever Heroku answers here: an
			// error a retry may cure (a 5xx, a 429, no answer) is tried
			// again while the wait lasts, not reported as the end of it.
			if !heroku.Retryable(err) || time.Now().After(deadline) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
			continue
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
				if i < len(names) {
					name, _, _ = client.App(ctx, t.AppID)
				}
				line := fmt.Sprintf("  %s: %s", name, t.Status)
				if t.ReleaseID != "" {
					if r, err := client.Release(ctx, name, t.ReleaseID); err == nil {
						line += fmt.Sprintf(" as v%d (%s)", r.Version, r.Description)
						if watched(name) {
							line += "; relwatch watches it"
						} else {
							line += "; relwatch does not watch it (not in the configuration)"
						}
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
			return fmt.Errorf("promotion %s: %d target(s) still pending after %s", id, pending, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// notePromotion tells the worker, through the state store, that the
// configured apps among targets are being promoted to: it polls their
// releases every tick for a while. Without the store the worker still
// finds the releases (push, or its idle polls): a warning, not a failure.
func notePromotion(ctx context.Context, cfg *conf, dsn string, targets []string, what string, stderr io.Writer) {
	configured := map[string]bool{}
	for _, a := range cfg.Apps {
		configured[a.Name] = true
	}
	var apps []string
	for _, t := range targets {
		if configured[t] {
			apps = append(apps, t)
		}
	}
	if len(apps) == 0 {
		return
	}
	// A store that does not answer must not hold the promotion up: the
	// note only makes the worker find the release sooner.
	ctx, cancel := context.WithTimeoutCause(ctx, storeWait, errStoreWait)
	defer cancel()
	db, err := openSharedState(ctx, dsn)
	if err != nil {
		fmt.Fprintf(stderr, "relwatch promote: warning: cannot tell the worker to poll %s fast: %v\n", strings.Join(apps, ", "), err)
		return
	}
	defer db.Close()
	for _, app := range apps {
		if _, err := db.NotePromotion(ctx, app, who(""), what); err != nil {
			fmt.Fprintf(stderr, "relwatch promote: warning: cannot tell the worker to poll %s fast: %v\n", app, err)
		}
	}
}
