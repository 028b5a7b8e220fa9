package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/metrics/probe"
	"github.com/relwatch/relwatch/metrics/prometheus"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/metrics/series"
	slacknotify "github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/telemetry"
	"github.com/relwatch/relwatch/watcher"
)

func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlags("watch", "[--config FILE]", `
The worker (Procfile: worker: relwatch watch). Polls each configured app's
releases, watches every release that goes live against the traffic before
it, and rolls a clearly bad one back through the Heroku Platform API,
announcing every step.

Environment: HEROKU_API_KEY is the Platform API token, required unless
every app names another variable with token_env (apps of several
accounts, each token with its own rate-limit budget). No token is ever
printed.
RELWATCH_CONFIG may hold the configuration (or its path). On SIGTERM the
worker finishes its tick and exits within 10 s. It exits 1 when Heroku
refuses every token (with several, a refused one stops its apps alone).

It logs logfmt to stdout, as Heroku's log tools read it (no time= on a
dyno: Heroku stamps each line), the announcements of a console notifier
among them; the error it stops on too, as a level=FATAL line. Its own
numbers (announcements, Heroku requests, rollbacks, verdicts, signals) are
log lines too, Heroku log metrics (count#, measure#, sample#relwatch.*).
With $PORT set it listens there: log drains at /drain/{app}, Heroku's app
webhooks at /webhooks/{app} when RELWATCH_WEBHOOK_SECRET is set, and
Prometheus /metrics, to a bearer of RELWATCH_METRICS_TOKEN when that is set
(on a dyno, only then).`, stdout, stderr)
	cfgPath := configFlag(fs)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	state := stateFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	logger, err := newLogger(stdout, *logLevel)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fatal(ctx, logger, err)
		}
	}()
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.requireApps(); err != nil {
		return err
	}
	holder := holderName()
	logger = logger.With("worker", holder)
	wr, err := plan(cfg, os.Getenv, logger, time.Now())
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if err := dynoLocal(stateDSN(*state)); err != nil {
		// A lone worker can run so; what people say with `heroku run`
		// never reaches it, and a restart forgets everything.
		logger.Warn("state is not shared", "err", err)
	}
	db, err := openState(ctx, *state)
	if err != nil {
		return err
	}
	defer db.Close()
	wr.start(ctx, stdout, logger, db, holder)
	// One budget after SIGTERM for the whole way out (shutdownBudget).
	var stop shutdown
	stop.watch(ctx)
	defer func() {
		// Give the apps back at once: another worker takes them over
		// without waiting for the leases to expire.
		release, cancel := stop.step(ctx, 0)
		defer cancel()
		if err := db.ReleaseLeases(release, holder); err != nil {
			logger.Warn("cannot give the leases back; they expire on their own", "err", err)
		}
		logger.Info("relwatch stopped", "after_stop_was_asked", time.Since(stop.begin()).Round(time.Millisecond))
	}()
	bgCtx, stopBackground := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopBackground()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Until(stop.deadline(chatsReserve / 2))):
			logger.Warn("background work (log tails, probes, drains) still stopping; leaving it")
		}
	}()
	for _, run := range wr.background {
		wg.Go(func() { run(bgCtx) })
	}
	defer func() { wr.telemetry.Flush(time.Now()) }() // the last numbers, on the way out
	if wr.port != "" {
		srv, err := serveDrains(bgCtx, wr.port, wr.drains, wr.webhooks, metricsHandler(wr.telemetry, logger), logger)
		if err != nil {
			return err
		}
		wr.telemetry.Drains(srv.Stats)
		wg.Go(func() {
			<-bgCtx.Done()
			// Batches under way may finish within the budget; then every
			// connection is closed, however slow its client.
			shut, cancel := stop.step(bgCtx, chatsReserve)
			defer cancel()
			_ = srv.Shutdown(shut)
		})
	}
	defer func() {
		// Announcements still queued get what the budget leaves; what is
		// not delivered stays in the outbox for the next worker.
		drain, cancel := stop.step(ctx, chatsReserve)
		defer cancel()
		wr.closeChats(drain)
	}()
	if name, _ := cfg.workerApp(); name == "" {
		logger.Warn("announcements will say `heroku run -a <worker-app>`: set worker_app in the config, or run `heroku labs:enable runtime-dyno-metadata` on this app so that HEROKU_APP_NAME is set")
	}
	logger.Info("relwatch watching", "apps", len(cfg.Apps), "tick", cfg.Tick, "poll_interval", cfg.PollInterval)
	return runLoop(ctx, &wr.crew, cfg.Tick, &stop, wr.telemetry, logger)
}

// holderName names this worker in leases, heartbeats and announcement
// claims: the dyno on Heroku (else the host), the process id, and a random
// part new at each start. The name alone is not enough: Heroku documents
// that during a deploy or restart two running dynos can have the same
// $DYNO, and in their containers the same process id, so two workers
// named alike would both hold every app and both deliver the same
// announcement. A worker restarted after a crash is thus another worker:
// it takes the apps over when the dead one's leases end (lease_ttl), and
// its undelivered announcements when their claims are stale; a worker
// stopped by SIGTERM gives both back on its way out.
func holderName() string {
	name := os.Getenv("DYNO")
	if name == "" {
		name, _ = os.Hostname()
	}
	return fmt.Sprintf("%s/%d/%s", name, os.Getpid(), rand.Text()[:6])
}

// serveDrains listens on port ($PORT: Heroku's web dyno) for log drains at
// /drain/{app}, Heroku's app webhooks at /webhooks/{app} (wh nil: none),
// and serves metrics (nil: none) at /metrics beside them: one listener,
// under the drain server's limits.
func serveDrains(ctx context.Context, port string, drains map[string]*routerlog.Drain, wh *routerlog.Webhooks, metrics http.Handler, logger *slog.Logger) (*routerlog.DrainServer, error) {
	srv, err := routerlog.NewDrainServer(drains, routerlog.DrainLimits{}, logger)
	if err != nil {
		return nil, err
	}
	if wh != nil {
		if err := srv.ServeWebhooks(*wh); err != nil {
			return nil, err
		}
	}
	if metrics != nil {
		srv.Handle("/metrics", metrics)
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return nil, fmt.Errorf("listen on $PORT (%s): %w", port, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("drain server stopped", "err", err)
		}
	}()
	logger.Info("listening on $PORT", "port", port, "drains", len(drains), "webhooks", wh != nil, "metrics", metrics != nil)
	return srv, nil
}

// runLoop calls Tick on the wall clock until ctx ends. A tick under way
// when ctx ends may finish while stop's budget leaves tickReserve for the
// rest of the way out; then it is cut short.
func runLoop(ctx context.Context, w *crew, tick time.Duration, stop *shutdown, tel *telemetry.Telemetry, logger *slog.Logger) error {
	tickCtx, cancelTicks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTicks()
	go func() {
		<-ctx.Done()
		t := time.NewTimer(time.Until(stop.deadline(tickReserve)))
		defer t.Stop()
		select {
		case <-t.C:
			logger.Warn("the tick under way is cut short: the shutdown budget is spent", "budget", shutdownBudget)
			cancelTicks()
		case <-tickCtx.Done():
		}
	}()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	// An app's tick a Tick left under way (watcher.Config.TickWait) ends
	// before the worker does, within the same budget as a tick.
	defer w.Settle(tickCtx)
	for {
		now := time.Now()
		err := w.Tick(tickCtx, now)
		tel.AfterTick(now, w.Watches())
		if err != nil {
			if errors.Is(err, watcher.ErrFatal) {
				return err
			}
			logger.Error("tick failed", "err", err)
		}
		if ctx.Err() != nil { // stopping wins over a tick that is due
			logger.Info("relwatch stopping", "cause", context.Cause(ctx))
			return nil
		}
		select {
		case <-ctx.Done():
			logger.Info("relwatch stopping", "cause", context.Cause(ctx))
			return nil
		case <-ticker.C:
		}
	}
}

// wiring is everything `watch` runs, built from the configuration: every
// file opened, every URL template parsed, every credential read. `check`
// builds the same (plan) and runs none of it; `watch` starts it.
type wiring struct {
	cfg *conf
	// tokens are the Heroku tokens the apps name (token_env), in the order
	// the configuration first names them; groupOf, app -> its token's.
	tokens     []*tokenGroup
	groupOf    map[string]*tokenGroup
	apps       []watcher.App                 // the watched apps, with their sources and probes
	background []func(ctx context.Context)   // log tails, probes, slash commands
	drains     map[string]*routerlog.Drain   // app -> drain endpoint
	drained    int                           // how many apps have drains (each has a token of its own)
	port       string                        // where the drains and /metrics listen ($PORT; "": nowhere)
	chats      map[int]chat                  // notifier index -> slack or zulip chat
	commands   []int                         // notifiers with slash commands
	prometheus map[string]*prometheus.Source // app -> its Prometheus source, for check
	telemetry  *telemetry.Telemetry          // relwatch's own numbers
	webhooks   *routerlog.Webhooks           // Heroku app webhooks on $PORT (nil: $RELWATCH_WEBHOOK_SECRET unset)
	nudge      *nudger                       // release events (API log lines, webhooks) to the watcher
	pushedBy   map[string][]string           // app -> what tells the watcher of its releases, for check
	// pushHealthy: app -> whether its push source works now (a log
	// session's: connected); absent where the source cannot say.
	pushHealthy map[string]func() bool

	// Set by start.
	crew       crew
	closeChats func(ctx context.Context) // drains the chat queues
}

// tokenGroup is the apps reached with one Heroku token, and the watcher
// that polls and rolls them back with it, within its budget: a token is
// an account's, and Heroku's rate limit is the account's.
type tokenGroup struct {
	env    string         // the environment variable that holds the token
	client *heroku.Client // nil: the variable is not set
	// digest names the token in the budget the workers on it share (the
	// store), never the token itself.
	digest string
	apps   []watcher.App
}

// group is the token group of the variable env, made at its first app
// (the error: the variable is not set, said then only).
func (wr *wiring) group(env string, getenv func(string) string) (*tokenGroup, error) {
	for _, g := range wr.tokens {
		if g.env == env {
			return g, nil
		}
	}
	g := &tokenGroup{env: env}
	wr.tokens = append(wr.tokens, g)
	token, err := herokuToken(env, getenv)
	if err != nil {
		return g, err
	}
	g.client = heroku.New(wr.cfg.APIURL, token, heroku.WithTimeout(wr.cfg.HTTPTimeout), heroku.WithObserver(wr.telemetry.Token(env)))
	g.digest = tokenDigest(token)
	return g, nil
}

// herokuToken is the Platform API token in the variable env (an app's
// TokenEnv); an error naming the variable, never a value, when it is not
// set.
func herokuToken(env string, getenv func(string) string) (string, error) {
	token, err := credential(env, getenv)
	if err != nil {
		return "", err
	}
	switch {
	case token == "" && getenv(env) != "":
		return "", fmt.Errorf("%s is set but holds only whitespace: relwatch needs a Platform API token (heroku authorizations:create -d relwatch)", env)
	case token == "":
		return "", fmt.Errorf("%s is not set: relwatch needs a Platform API token (heroku authorizations:create -d relwatch)", env)
	}
	return token, nil
}

// credential is the token in the variable env, without the whitespace
// around it (a trailing newline from $(...) or a file is common); "" when
// it is not set. A token that still holds a space or a control character
// is refused, naming the variable and never the value: no token has one,
// and an HTTP header cannot carry it, so every request would fail as
// though the network did, and be retried forever.
func credential(env string, getenv func(string) string) (string, error) {
	token := strings.TrimSpace(getenv(env))
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s holds a space or a control character inside the token: set it to the token alone", env)
	}
	return token, nil
}

// plan builds the wiring from cfg without starting anything: every problem
// at once, each named by its key. start anchors series sources that have no
// start of their own.
func plan(cfg *conf, getenv func(string) string, logger *slog.Logger, start time.Time) (*wiring, error) {
	wr := &wiring{cfg: cfg, groupOf: map[string]*tokenGroup{}, drains: map[string]*routerlog.Drain{}, prometheus: map[string]*prometheus.Source{},
		telemetry: telemetry.New(telemetry.Options{Logger: logger, Source: dynoName()}), port: os.Getenv("PORT"),
		nudge: &nudger{logger: logger}, pushedBy: map[string][]string{}, pushHealthy: map[string]func() bool{}}
	var errs []error
	for _, a := range cfg.Apps {
		if a.Metrics.Source == "routerlog" && a.Metrics.Via == "drain" {
			wr.drained++
		}
		g, err := wr.group(a.TokenEnv, getenv)
		if err != nil {
			errs = append(errs, err)
		}
		wr.groupOf[a.Name] = g
	}
	for i, a := range cfg.Apps {
		src, err := buildSource(a, wr.groupOf[a.Name].client, wr, logger, start)
		if err != nil {
			errs = append(errs, fmt.Errorf("apps[%d].metrics: %w", i, err))
			continue
		}
		app := watcher.App{Name: a.Name, Route: a.Route, Routes: a.Routes, Control: a.ControlRoute, Policy: policyOf(a.Policy), Source: src}
		if a.AllRoutes {
			app.AllRoutes = a.MaxRoutes
		}
		if a.Probe != nil {
			runner := &probe.Runner{Prober: &probe.Prober{Timeout: a.Probe.Timeout}, URL: a.Probe.URL, Interval: a.Probe.Interval}
			wr.background = append(wr.background, runner.Run)
			app.Probe = probeLog{runner}
		}
		wr.apps = append(wr.apps, app)
	}
	if len(wr.drains) > 0 {
		if wr.port == "" {
			errs = append(errs, errors.New(`metrics via "drain": needs $PORT: run relwatch as a web process (Procfile: web: relwatch watch)`))
		}
	}
	if err := wr.planWebhooks(logger); err != nil {
		errs = append(errs, err)
	}
	for i, a := range wr.apps {
		wr.apps[i].Push = len(wr.pushedBy[a.Name]) > 0
		wr.apps[i].PushHealthy = wr.pushHealthy[a.Name]
		g := wr.groupOf[a.Name]
		g.apps = append(g.apps, wr.apps[i])
	}
	chats, err := buildChats(cfg.Config)
	if err != nil {
		errs = append(errs, err)
	}
	wr.chats = chats
	for i, n := range cfg.Notifiers {
		if n.Type != "slack" || !n.Commands {
			continue
		}
		switch token, err := credential("SLACK_APP_TOKEN", os.Getenv); {
		case err != nil:
			errs = append(errs, fmt.Errorf("notifiers[%d].commands: %w", i, err))
			continue
		case token == "":
			errs = append(errs, fmt.Errorf("notifiers[%d].commands: need SLACK_APP_TOKEN (an app-level token with connections:write)", i))
			continue
		}
		wr.commands = append(wr.commands, i)
	}
	return wr, errors.Join(errs...)
}

// start builds the notifiers and the watcher of a planned wiring, with its
// state and leases in db, and adds the slash command servers to the
// background work. Nothing runs yet.
func (wr *wiring) start(ctx context.Context, stdout io.Writer, logger *slog.Logger, db *store.DB, holder string) {
	notifiers, closeChats := buildNotifiers(ctx, wr.cfg, wr.chats, stdout, logger, db, holder, wr.telemetry)
	notifiers = append(notifiers, wr.telemetry) // counts the rollbacks and verdicts announced
	wr.closeChats = closeChats
	if keep := wr.cfg.Retention; keep > 0 {
		wr.background = append(wr.background, func(ctx context.Context) { db.Retain(ctx, keep, logger) })
	}
	byApp := map[string]*watcher.Watcher{}
	for _, g := range wr.tokens {
		if len(g.apps) == 0 {
			continue
		}
		log := logger
		if len(wr.tokens) > 1 {
			log = logger.With("token", g.env)
		}
		w := watcher.New(watcher.Config{
			Apps:         g.apps,
			Heroku:       g.client,
			Roller:       &rollback.Roller{Heroku: g.client, Timeout: wr.cfg.RollbackTimeout, Logger: log},
			Notifier:     notifiers,
			Logger:       log,
			PollInterval: wr.cfg.PollInterval,
			IdleInterval: wr.cfg.IdlePollInterval,
			Tick:         wr.cfg.Tick,
			// An app's slow tick (a rollback against a slow Heroku) goes
			// on while the other apps are ticked on time.
			TickWait: wr.cfg.Tick,
			History:  db, Journal: db, Overrides: db, Quarantine: db,
			Leases: store.NewLeases(db, holder, wr.cfg.LeaseTTL, log),
			Budget: db, TokenDigest: g.digest, TokenEnv: g.env, Handoff: db,
		})
		wr.crew.logger = logger
		wr.crew.add(w, g.env, g.apps)
		for _, a := range g.apps {
			byApp[a.Name] = w
		}
	}
	wr.nudge.to(byApp)
	for _, i := range wr.commands {
		n := wr.cfg.Notifiers[i]
		// plan checked both tokens.
		botToken, _ := credential("SLACK_BOT_TOKEN", os.Getenv)
		appToken, _ := credential("SLACK_APP_TOKEN", os.Getenv)
		cmds := &slacknotify.Commands{Client: slacknotify.NewSocketClient(botToken, appToken, n.APIURL),
			Control: controlPlane(wr.cfg, db, n.AllowedUsers), Announce: notifiers, Logger: logger.With("notifier", i)}
		wr.background = append(wr.background, func(ctx context.Context) {
			if err := cmds.Run(ctx); err != nil {
				logger.Error("slash commands stopped", "err", err)
			}
		})
	}
}

func buildSource(a config.ResolvedApp, client *heroku.Client, wr *wiring, logger *slog.Logger, start time.Time) (metrics.Source, error) {
	m := a.Metrics
	switch m.Source {
	case "series":
		f, err := os.Open(m.Path)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		defer f.Close()
		routes, err := series.Parse(f, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		// A route the file has no row of would be watched as no data.
		named := a.Routes
		if len(named) == 0 {
			named = []string{a.Route}
		}
		for _, r := range named {
			if _, ok := routes[r]; !ok {
				return nil, fmt.Errorf("route %q: the series has no row of it (its routes: %s)", r, strings.Join(slices.Sorted(maps.Keys(routes)), ", "))
			}
		}
		if m.Start != "" {
			if start, err = time.Parse(time.RFC3339, m.Start); err != nil {
				return nil, err
			}
		}
		return series.Serve(start.Truncate(time.Second), routes, time.Now), nil
	case "prometheus":
		addr := m.URL
		if addr == "" {
			addr = os.Getenv("PROMETHEUS_URL")
		}
		if addr == "" {
			return nil, errors.New("url: not set, and PROMETHEUS_URL is empty")
		}
		var o prometheus.Options // zero: the source's defaults
		if m.Step != nil {
			o.Step = m.Step.Duration
		}
		if m.Window != nil {
			o.Window = m.Window.Duration
		}
		if m.Timeout != nil {
			o.Timeout = m.Timeout.Duration
		}
		src, err := prometheus.New(addr, a.Name, prometheus.Queries{Requests: m.RequestsQuery, Errors: m.ErrorsQuery, Repeats: m.RepeatsQuery, Latency: m.LatencyQuery}, o)
		if err != nil {
			return nil, err
		}
		// Render each template once: a {{.Typo}} fails here, not at the
		// first release.
		for kind, key := range []string{"requests_query", "errors_query", "repeats_query", "latency_query"} {
			if (kind == 2 && m.RepeatsQuery == "") || (kind == 3 && m.LatencyQuery == "") {
				continue
			}
			if _, err := src.Query(kind, a.Route); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
		if wr.prometheus != nil {
			wr.prometheus[a.Name] = src
		}
		return src, nil
	case "routerlog":
		opts, err := routerOptions(a)
		if err != nil {
			return nil, err
		}
		agg := routerlog.New(opts)
		if wr.telemetry != nil {
			wr.telemetry.RouterLog(a.Name, agg.Stats)
		}
		switch m.Via {
		case "session":
			wr.background = append(wr.background, func(ctx context.Context) {
				_ = routerlog.Tail(ctx, agg, client, a.Name, nil, time.Now, logger)
			})
			// Said whether or not there is a client: check without a token
			// still tells how the worker will find the releases.
			wr.pushedBy[a.Name] = append(wr.pushedBy[a.Name], "API events from a log session (source app, dyno api)")
			if client != nil {
				// The API's events come from a second session: the router's
				// is filtered to its lines (routerlog.EventTail says why).
				tail := &routerlog.EventTail{Starter: client, App: a.Name, OnEvent: wr.nudge.event(a.Name), Logger: logger}
				wr.background = append(wr.background, func(ctx context.Context) { _ = tail.Run(ctx) })
				wr.pushHealthy[a.Name] = tail.Connected
			}
		case "drain":
			creds, err := routerlog.DrainCredentialsFromEnv(os.Getenv, a.Name, wr.drained)
			if err != nil {
				return nil, err
			}
			wr.drains[a.Name] = &routerlog.Drain{Agg: agg, DrainCredentials: creds, Logger: logger, OnAPIEvent: wr.nudge.event(a.Name)}
			wr.pushedBy[a.Name] = append(wr.pushedBy[a.Name], "API events from the drain")
		}
		return agg, nil
	}
	return nil, fmt.Errorf("unknown metrics source %q", m.Source)
}

// routerOptions is what an app's router-log aggregator counts: every
// guarded route, in order, and with all_routes the templates of the
// others, up to max_routes; over the retain of its metrics.
func routerOptions(a config.ResolvedApp) (routerlog.Options, error) {
	o := routerlog.Options{Baseline: a.Baseline, WatchFor: a.WatchFor, Now: time.Now}
	if a.Metrics.Retain != nil {
		o.Retain = a.Metrics.Retain.Duration
	}
	routes := a.Routes
	if len(routes) == 0 && a.Route != "" {
		routes = []string{a.Route}
	}
	var errs []error
	for _, p := range routes {
		r, err := routerlog.ParseRoute(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.Routes = append(o.Routes, r)
	}
	if a.AllRoutes {
		o.Templates = a.MaxRoutes
	}
	return o, errors.Join(errs...)
}

// probeLog is a probe runner's results as the watcher reads them: the
// watcher imports no source (issue 18).
type probeLog struct{ runner *probe.Runner }

// A check that never reached the app's host (probe.Result.Unreached:
// the worker's DNS or network) is no evidence about a release: it is
// left out, as a second without data is, never read as a failed
// download.
func (p probeLog) Results(from, to time.Time) []analysis.ProbeResult {
	rs := p.runner.Results(from, to)
	out := make([]analysis.ProbeResult, 0, len(rs))
	for _, r := range rs {
		if r.Unreached {
			continue
		}
		out = append(out, analysis.ProbeResult{At: r.At, OK: r.OK, Err: r.Error()})
	}
	return out
}

// crew is a worker's watchers, one for each Heroku token its apps name:
// each polls and rolls back its apps with its token, within that token's
// budget. They tick one after the other.
type crew struct {
	members []*crewMember
	logger  *slog.Logger
}

// crewMember is one token's watcher.
type crewMember struct {
	w    *watcher.Watcher
	env  string   // the variable that holds the token
	apps []string // its apps, for the log
	// refused is when Heroku last refused the token (401), and err what
	// it said; zero: the token is accepted.
	refused time.Time
	err     error
}

// tokenRetry is how long after Heroku refused a token (401) its watcher
// ticks again: a person rotating the token sets the variable, which
// restarts the dyno; until then, one try now and then, not every tick.
const tokenRetry = 10 * time.Minute

// add makes w the watcher of the token in env, for apps.
func (c *crew) add(w *watcher.Watcher, env string, apps []watcher.App) {
	m := &crewMember{w: w, env: env}
	for _, a := range apps {
		m.apps = append(m.apps, a.Name)
	}
	c.members = append(c.members, m)
}

// Tick ticks every watcher. A token Heroku refuses (401: revoked, or
// rotated) stops its own watcher only, named by the token's variable in
// an error line with its apps, while the other tokens' apps are watched
// as before; it is tried again every tokenRetry. When every token is
// refused, the worker stops, as it does with one token: no app is
// watched, and a person must act.
func (c *crew) Tick(ctx context.Context, now time.Time) error {
	var errs, refused []error
	working := 0
	for _, m := range c.members {
		if !m.refused.IsZero() && now.Sub(m.refused) < tokenRetry {
			refused = append(refused, m.err)
			continue
		}
		err := m.w.Tick(ctx, now)
		if errors.Is(err, watcher.ErrFatal) {
			if m.refused.IsZero() && len(c.members) > 1 {
				m.w.AnnounceRefused(ctx, err, now)
				if c.logger != nil {
					c.logger.Error("Heroku refuses a token: its apps are not watched until it accepts it (the other tokens' apps are); asking again every "+tokenRetry.String(),
						"token", m.env, "apps", strings.Join(m.apps, ","), "err", err)
				}
			}
			m.refused, m.err = now, err
			refused = append(refused, err)
			continue
		}
		if !m.refused.IsZero() {
			if c.logger != nil {
				c.logger.Info("Heroku accepts the token again: its apps are watched", "token", m.env, "apps", strings.Join(m.apps, ","))
			}
			m.refused, m.err = time.Time{}, nil
		}
		working++
		if err != nil {
			errs = append(errs, err)
		}
	}
	if working == 0 && len(refused) > 0 {
		return errors.Join(refused...)
	}
	return errors.Join(errs...)
}

// Settle waits until every watcher's app ticks under way end, or ctx does.
func (c *crew) Settle(ctx context.Context) {
	for _, m := range c.members {
		if err := m.w.Settle(ctx); err != nil && c.logger != nil {
			c.logger.Warn("an app's tick under way is cut short: the shutdown budget is spent", "token", m.env, "err", err)
		}
	}
}

// Watches is every watcher's open watches.
func (c *crew) Watches() []watcher.Watch {
	var out []watcher.Watch
	for _, m := range c.members {
		out = append(out, m.w.Watches()...)
	}
	return out
}

// tokenDigest names a Heroku token where the workers that share it keep
// its rate-limit budget: the first 16 hex digits of its SHA-256. A token
// is random; the digest cannot give it back.
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
