package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/webhook"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/watcher"
)

// nudger hands the release events the background work reads (API event
// lines from log sessions and drains, webhooks) to the watcher, which is
// built after them.
type nudger struct {
	w      atomic.Pointer[map[string]*watcher.Watcher] // app -> the watcher of its token
	logger *slog.Logger
}

// to sends each app's releases to its watcher, from now on.
func (n *nudger) to(byApp map[string]*watcher.Watcher) { n.w.Store(&byApp) }

// app nudges the watcher about app: poll it at the next tick.
func (n *nudger) app(app, why string) {
	n.logger.Debug("release event: polling at the next tick", "app", app, "from", why)
	if byApp := n.w.Load(); byApp != nil {
		if w := (*byApp)[app]; w != nil {
			w.Nudge(app)
		}
	}
}

// event is an EventTail's or a drain's OnAPIEvent for app.
func (n *nudger) event(app string) func(routerlog.APIEvent) {
	return func(ev routerlog.APIEvent) { n.app(app, "log: "+ev.Kind.String()) }
}

// planWebhooks serves Heroku's app webhooks when RELWATCH_WEBHOOK_SECRET is
// set: at /webhooks/{app} on $PORT, for every configured app.
func (wr *wiring) planWebhooks(logger *slog.Logger) error {
	secret := strings.TrimSpace(os.Getenv(routerlog.EnvWebhookSecret)) // as the tokens are
	if secret == "" {
		return nil
	}
	apps := map[string]bool{}
	for _, a := range wr.cfg.Apps {
		apps[a.Name] = true
	}
	wh := &routerlog.Webhooks{Secret: secret, Apps: apps, Logger: logger,
		OnRelease: func(app string, ev webhook.Event) { wr.nudge.app(app, "webhook: release "+ev.Action) }}
	var errs []error
	if err := wh.Check(); err != nil {
		errs = append(errs, err)
	}
	if wr.port == "" {
		errs = append(errs, fmt.Errorf("%s is set: webhooks need $PORT: run relwatch as a web process (Procfile: web: relwatch watch)", routerlog.EnvWebhookSecret))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	wr.webhooks = wh
	for app := range apps {
		wr.pushedBy[app] = append(wr.pushedBy[app], "webhooks at /webhooks/"+app)
	}
	return nil
}

// describeDiscovery says, for check, how the worker learns of each app's
// releases and what its polls cost of the token's rate-limit budget.
func describeDiscovery(w io.Writer, wr *wiring) {
	c := wr.cfg
	if wr.webhooks != nil {
		fmt.Fprintf(w, "  webhooks: POST /webhooks/{app} on $PORT, signed with $%s (heroku webhooks:add -a APP -i api:release -l notify -u https://<this app>/webhooks/APP -s \"$%s\")\n",
			routerlog.EnvWebhookSecret, routerlog.EnvWebhookSecret)
	}
	perHour := map[*tokenGroup]float64{}
	for _, a := range wr.apps {
		idle := c.IdlePollInterval
		how := "no push: a release is found by polling, within " + idle.String() +
			" (a log session or drain, or webhooks with $" + routerlog.EnvWebhookSecret + ", find it within seconds)"
		every := idle
		if a.Push {
			idle *= 2
			every = idle
			how = "pushed by " + strings.Join(wr.pushedBy[a.Name], " and ") + "; idle polls are the safety net"
			if a.PushHealthy != nil {
				// The session says when it is connected: the safety net
				// is the idle polls then, the idle interval when it is not.
				every = max(idle, watcher.DefaultSafetyNet)
				how += fmt.Sprintf(", every %s while the log session is connected (every %s when it is not, or after it missed a release)", every, idle)
			}
		}
		g := wr.groupOf[a.Name]
		perHour[g] += float64(time.Hour) / float64(every)
		for _, p := range wr.pushedBy[a.Name] {
			if strings.Contains(p, "log session") {
				perHour[g]++ // the session's own request, about once an hour
			}
		}
		fmt.Fprintf(w, "  %s: releases polled every %s while something goes on, every %s idle; %s\n", a.Name, c.PollInterval, idle, how)
	}
	for _, g := range wr.tokens {
		need, apps := perHour[g], len(g.apps)
		if every := watcher.IdleEvery(c.IdlePollInterval, need, watcher.DefaultReserve); every > c.IdlePollInterval {
			fmt.Fprintf(w, "  note: %d app(s) on $%s idle need about %.0f Heroku requests an hour, more than one token's %d: idle polls will come about every %s instead (rollbacks and watches first; a push source makes them cheaper)\n",
				apps, g.env, need, herokuHourlyBudget, every.Round(time.Second))
		} else {
			fmt.Fprintf(w, "  Heroku requests when idle: about %.0f an hour of $%s's %d\n", need, g.env, herokuHourlyBudget)
		}
	}
}

// herokuHourlyBudget is one token's rate limit: Heroku's refill, 4500
// requests an hour.
const herokuHourlyBudget = heroku.RateLimitRefillPerMinute * 60
