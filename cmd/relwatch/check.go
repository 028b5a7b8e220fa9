package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics/routerlog"
	slacknotify "github.com/relwatch/relwatch/notify/slack"
	"github.com/relwatch/relwatch/store"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "[--config FILE] [--state DSN]", `
Checks that `+"`relwatch watch`"+` would start and work as configured, without
starting it: the configuration (every problem at once, each with its key),
then everything the worker would open — each series file, Prometheus
address and query, chat credential (without posting; for Slack, also
that the bot is in its channel; for Zulip, how long the organization lets
the bot edit a message), the state store —
and each app and its newest releases on the Heroku Platform API, changing
nothing there; for a router-log app, how many of its recent requests each
guarded route matched (a warning when one matched none). Ends with one verdict. Exits 0 when the worker would start,
1 when something it needs fails, 2 when the configuration is bad.

Environment: HEROKU_API_KEY (or the variable an app's token_env names) is
required, as for watch: without it the worker would not start, so check
exits 2. It still checks everything else, and names each app whose Heroku
checks it skipped.`, stdout, stderr)
	cfgPath := configFlag(fs)
	state := stateFlag(fs)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.requireApps(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config %s: %d app(s), %d notifier(s)\n", cfg.from, len(cfg.Apps), len(cfg.Notifiers))
	for _, a := range cfg.Apps {
		mode := "auto-rollback"
		if !a.AutoRollback {
			mode = "alert only"
		}
		fmt.Fprintf(stdout, "  %s: route %q from %s, watch %s against %s, restart grace %s (errors), %s (traffic), %s\n",
			a.Name, a.Route, a.Metrics.Source, a.WatchFor, a.Baseline, a.RestartGrace, a.SettleGrace, mode)
		if a.AutoRollback {
			fmt.Fprintf(stdout, "    a release already live when the worker starts: %s\n", joinedMode(a.Metrics.Source))
		}
		if a.Metrics.Source == "routerlog" {
			fmt.Fprintf(stdout, "    guarded routes: %s\n", guardedText(a))
		}
		if a.TokenEnv != config.DefaultTokenEnv {
			fmt.Fprintf(stdout, "    Heroku token: $%s (token_env), with its own rate-limit budget\n", a.TokenEnv)
		}
	}
	failed, badConfig := 0, 0
	warned := 0 // what lets the worker start but may leave the app unguarded
	fail := func(format string, args ...any) {
		fmt.Fprintf(stdout, "  FAIL "+format+"\n", args...)
		failed++
	}
	// A problem of the configuration (the file, the environment, --state)
	// exits 2, as `watch` does for it; one of what it reaches, 1.
	failConfig := func(format string, args ...any) {
		fail(format, args...)
		badConfig++
	}
	wr, err := plan(cfg, os.Getenv, slog.New(slog.DiscardHandler), time.Now())
	for _, e := range unjoin(err) {
		failConfig("%v", e)
	}
	describeDiscovery(stdout, wr)
	dsn := stateDSN(*state)
	if err := dynoLocal(dsn); err != nil {
		failConfig("state: %v", err)
	}
	switch db, err := openReadState(ctx, *state); {
	case exitCode(err) == 2:
		failConfig("%v", err)
	case err != nil:
		fail("%v", err)
	case db == nil:
		fmt.Fprintf(stdout, "  state %s: not there yet; watch creates it\n", store.Redact(dsn))
	default:
		db.Close()
		fmt.Fprintf(stdout, "  state %s: ok\n", store.Redact(dsn))
	}
	for _, a := range cfg.Apps {
		src, ok := wr.prometheus[a.Name]
		if !ok {
			continue
		}
		// Every route's queries: each is judged on its own series, and
		// one whose labels match nothing is watched as no data.
		routes := a.Routes
		if len(routes) == 0 {
			routes = []string{a.Route}
		}
		passed := true
		var notes []string
		for _, route := range routes {
			rnotes, err := src.Check(ctx, route, time.Now())
			switch {
			case err != nil && len(routes) == 1:
				fail("%s: metrics: %v", a.Name, err)
			case err != nil:
				fail("%s: metrics, route %q: %v", a.Name, route, err)
			}
			passed = passed && err == nil
			for _, n := range rnotes {
				if len(routes) > 1 {
					n = fmt.Sprintf("route %q: %s", route, n)
				}
				notes = append(notes, n)
			}
		}
		switch {
		case !passed:
			continue
		case len(routes) == 1:
			fmt.Fprintf(stdout, "  %s: Prometheus ok, the requests query has data\n", a.Name)
		default:
			fmt.Fprintf(stdout, "  %s: Prometheus ok, the requests query of each route has data\n", a.Name)
		}
		for _, n := range notes {
			fmt.Fprintf(stdout, "    note: %s\n", n)
		}
	}
	indexes := make([]int, 0, len(wr.chats))
	for i := range wr.chats {
		indexes = append(indexes, i)
	}
	sort.Ints(indexes)
	for _, i := range indexes {
		n := cfg.Notifiers[i]
		who, err := wr.chats[i].Check(ctx)
		if err != nil {
			fail("notifiers[%d] (%s): %v", i, n.Type, err)
			continue
		}
		fmt.Fprintf(stdout, "  notifiers[%d] (%s): credentials ok, posting as %s\n", i, n.Type, who)
		if el, ok := wr.chats[i].(editLimiter); ok {
			checkEditLimit(ctx, stdout, el, cfg.Apps)
		}
	}
	for _, i := range wr.commands {
		// plan checked that both tokens are there.
		bot, _ := credential("SLACK_BOT_TOKEN", os.Getenv)
		app, _ := credential("SLACK_APP_TOKEN", os.Getenv)
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := slacknotify.CheckAppToken(octx, bot, app, cfg.Notifiers[i].APIURL)
		cancel()
		if err != nil {
			fail("notifiers[%d].commands: SLACK_APP_TOKEN: %v", i, err)
			continue
		}
		fmt.Fprintf(stdout, "  notifiers[%d].commands: SLACK_APP_TOKEN ok, Socket Mode opens\n", i)
	}
	for _, a := range cfg.Apps {
		g := wr.groupOf[a.Name]
		if g.client == nil {
			// Its token is not set, a problem said above: say what that
			// leaves unchecked.
			fmt.Fprintf(stdout, "  %s: Heroku skipped (the app, its releases): no token in $%s\n", a.Name, g.env)
			continue
		}
		client := g.client
		if _, _, err := client.App(ctx, a.Name); err != nil {
			if hasStatus(err, http.StatusUnauthorized) {
				// Which token, where several are (token_env).
				fail("%s: Heroku refused the token in $%s (401): it is revoked, mistyped or expired; make one: heroku authorizations:create -d relwatch (%v)", a.Name, g.env, err)
				continue
			}
			fail("%s: %v", a.Name, err)
			continue
		}
		releases, _, err := client.ListReleases(ctx, a.Name, 5, false)
		if err != nil {
			fail("%s: %v", a.Name, err)
			continue
		}
		cur := "no release"
		for _, r := range releases {
			if r.Current {
				cur = fmt.Sprintf("v%d (%s)", r.Version, r.Description)
			}
		}
		fmt.Fprintf(stdout, "  %s: Heroku ok, current release %s\n", a.Name, cur)
		// Staging's name where production's was meant: relwatch would
		// guard staging, and production not at all. What Heroku does not
		// tell is no problem of the configuration: nothing said.
		if pipeline, stage, production, err := client.AppStage(ctx, a.Name); err == nil && pipeline != "" && stage != "production" {
			note := fmt.Sprintf("%s is the %s stage of pipeline %s: relwatch watches and rolls back its releases", a.Name, stage, pipeline)
			switch len(production) {
			case 0:
			case 1:
				note += ", not those of the pipeline's production app " + production[0] + " (configure it too, if it is the one to guard)"
			default:
				note += ", not those of the pipeline's production apps " + strings.Join(production, ", ") + " (configure them too, if they are the ones to guard)"
			}
			fmt.Fprintf(stdout, "    note: %s\n", note)
		}
		if a.Metrics.Source == "routerlog" && a.Metrics.Via == "drain" {
			var creds routerlog.DrainCredentials
			if d := wr.drains[a.Name]; d != nil {
				creds = d.DrainCredentials
			}
			if err := checkDrain(ctx, stdout, client, a.Name, creds); err != nil {
				fail("%s: %v", a.Name, err)
			}
		}
		if wr.webhooks != nil {
			if err := checkWebhook(ctx, stdout, client, a.Name); err != nil {
				fail("%s: %v", a.Name, err)
			}
		}
		if a.Metrics.Source == "routerlog" {
			quiet, err := showRouterTraffic(ctx, stdout, a, client)
			switch {
			case err != nil && (a.AllRoutes || a.Metrics.Via != "drain"):
				fail("%s: %v", a.Name, err)
			case err != nil:
				// A drain needs no log session: the worker does not
				// read one, so check only could not look.
				fmt.Fprintf(stdout, "    note: could not see whether the routes match the app's traffic: %v\n", err)
			}
			warned += quiet
		}
	}
	for _, g := range wr.tokens {
		if g.client == nil {
			continue
		}
		if remaining, ok := g.client.RateLimitRemaining(); ok {
			fmt.Fprintf(stdout, "  Heroku rate-limit budget of $%s: %d requests left\n", g.env, remaining)
		}
	}
	if name, origin := cfg.workerApp(); name != "" {
		fmt.Fprintf(stdout, "  announcements quote `heroku run -a %s` (from %s)\n", name, origin)
	} else {
		fmt.Fprintln(stdout, "  note: announcements will quote `heroku run -a <worker-app>`: neither worker_app nor $HEROKU_APP_NAME is set."+
			"\n        Set worker_app in the config, or run `heroku labs:enable runtime-dyno-metadata -a <the app relwatch runs in>`"+
			"\n        (Heroku sets HEROKU_APP_NAME from the next release on).")
	}
	if badConfig > 0 {
		return &exitError{code: 2, err: fmt.Errorf("%d problem(s) above, %d of the configuration: `relwatch watch` would not start, or not work, as configured", failed, badConfig)}
	}
	if failed > 0 {
		return fmt.Errorf("%d problem(s) above: `relwatch watch` would not start, or not work, as configured", failed)
	}
	if warned > 0 {
		fmt.Fprintf(stdout, "ok: `relwatch watch` starts with this configuration; %s above: read it before you rely on it\n", plural(warned, "warning"))
		return nil
	}
	fmt.Fprintln(stdout, "ok: `relwatch watch` starts with this configuration")
	return nil
}

// unjoin lists the errors errors.Join put together (err itself otherwise).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// joinedMode says how a release live before the worker started is watched
// with source: it may act only against a baseline from before it, which a
// router log (it starts empty) never has.
func joinedMode(source string) string {
	if source == "routerlog" {
		return "alert only (the router log starts empty: nothing from before it to compare with)"
	}
	return "may roll back, judged against the " + source + " history from before it"
}

// recentLines is how many of an app's last router lines check reads to
// show its templates: all a log session sends (logplex keeps 1,500).
const recentLines = 1500

// guardedText names the routes a router-log app guards, as check says it.
func guardedText(a config.ResolvedApp) string {
	routes := a.Routes
	if len(routes) == 0 {
		routes = []string{a.Route}
	}
	text := strings.Join(routes, ", ")
	if a.AllRoutes {
		text += fmt.Sprintf("; and every other route as templates, up to %d routes in all, the rest as %q", a.MaxRoutes, routerlog.Control)
	} else {
		text += fmt.Sprintf("; the rest as %q", routerlog.Control)
	}
	return text
}

// showRouterTraffic reads the app's last router lines (a log session
// that ends, as routerlog.ReadRecent does) into an aggregator built as
// watch builds it, and says how many requests each named route matched;
// with all_routes, the templates it would guard, busiest first, with their
// requests, and how many requests fell to the control route. A named route
// that matched none of the requests read (a typo, ":crate" for "{crate}")
// would be watched as no traffic, every release ending "no data": it is a
// warning (a quiet route may see none in the last lines, and the worker
// starts all the same), with the busiest paths seen instead. It returns
// the count of warnings.
func showRouterTraffic(ctx context.Context, stdout io.Writer, a config.ResolvedApp, starter routerlog.RecentStarter) (int, error) {
	opts, err := routerOptions(a)
	if err != nil {
		return 0, err
	}
	if !a.AllRoutes {
		// Templates only to name what the traffic is, when a route
		// matches none of it.
		opts.Templates = config.DefaultMaxRoutes
	}
	agg := routerlog.New(opts)
	n, err := routerlog.ReadRecent(ctx, agg, starter, a.Name, recentLines, nil)
	if err != nil {
		return 0, fmt.Errorf("read the recent router lines: %w", err)
	}
	routes, other := agg.Busiest(time.Unix(0, 0), time.Now().Add(time.Hour))
	total := other
	named := map[string]int64{}
	var templates, seen []string
	for _, r := range routes {
		total += r.Requests
		if !r.Template {
			named[r.Route] = r.Requests
			continue
		}
		templates = append(templates, fmt.Sprintf("%s (%d)", r.Route, r.Requests))
	}
	switch {
	case total == 0 && n == 0:
		fmt.Fprintln(stdout, "    note: the app's log holds no recent line: check cannot tell whether the routes match its traffic")
	case total == 0:
		fmt.Fprintf(stdout, "    note: the last %d lines of the app's log hold no router request: check cannot tell whether the routes match its traffic\n", n)
	}
	warned := 0
	for _, r := range opts.Routes {
		switch c := named[r.String()]; {
		case total == 0:
		case c == 0:
			seen = templates[:min(len(templates), 5)]
			if len(seen) == 0 && other > 0 {
				seen = []string{fmt.Sprintf("%q (%d)", routerlog.Control, other)}
			}
			fmt.Fprintf(stdout, "    warning: %s matched none of the %d requests in the last %d router lines: is it the route as the router logs it (a method, a path, {name} for a segment that varies)? The busiest: %s\n",
				r, total, n, strings.Join(seen, ", "))
			warned++
		default:
			fmt.Fprintf(stdout, "    %s: %d of the %d requests in the last %d router lines\n", r, c, total, n)
		}
	}
	if !a.AllRoutes {
		return warned, nil
	}
	// The watcher guards the named routes, then the busiest templates.
	templates = templates[:min(len(templates), max(0, a.MaxRoutes-len(opts.Routes)))]
	fmt.Fprintf(stdout, "    from the last %d router lines, the templates it would guard (requests): ", n)
	if len(templates) == 0 {
		fmt.Fprint(stdout, "none")
	}
	fmt.Fprintf(stdout, "%s; %d requests to %q\n", strings.Join(templates, ", "), other, routerlog.Control)
	return warned, nil
}

// plural is n things, the noun in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// checkWebhook says whether one of app's webhook subscriptions sends its
// release events to relwatch's /webhooks/APP, and how to add one if not.
// Only the URL's scheme, host and path are said.
func checkWebhook(ctx context.Context, stdout io.Writer, client *heroku.Client, app string) error {
	subs, err := client.AppWebhooks(ctx, app)
	if err != nil {
		return err
	}
	path := "/webhooks/" + app
	for _, h := range subs {
		u, err := url.Parse(h.URL)
		if err != nil || u.Path != path || !slices.Contains(h.Include, "api:release") {
			continue
		}
		// Like a drain's, the URL may hold credentials of what stands in
		// front of relwatch (userinfo, a token in its query).
		shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		fmt.Fprintf(stdout, "  %s: webhook ok, api:release to %s (level %s)\n", app, shown.String(), h.Level)
		return nil
	}
	return fmt.Errorf("no webhook subscription sends api:release to %s (%d subscription(s)): webhooks push none of its releases; add one: heroku webhooks:add -a %s -i api:release -l notify -u https://<this app>%s -s \"$%s\"",
		path, len(subs), app, path, routerlog.EnvWebhookSecret)
}

// checkDrain says whether one of app's log drains sends its lines to
// relwatch's /drain/APP over https with the credentials the worker asks
// for (creds: the URL's user and password, the drain's token), and how to
// add one if not. A drain URL and its token are credentials: only the
// URL's scheme, host and path are said, and the variable that differs.
func checkDrain(ctx context.Context, stdout io.Writer, client *heroku.Client, app string, creds routerlog.DrainCredentials) error {
	drains, err := client.AppLogDrains(ctx, app)
	if err != nil {
		return err
	}
	path := "/drain/" + app
	var clear *url.URL
	var refused error
	for _, d := range drains {
		u, err := url.Parse(d.URL)
		if err != nil || u.Path != path {
			continue
		}
		shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		if u.Scheme != "https" {
			clear = &shown
			continue
		}
		if err := drainRefused(shown, app, u.User, d.Token, creds); err != nil {
			refused = err
			continue
		}
		fmt.Fprintf(stdout, "  %s: drain ok, router lines to %s\n", app, shown.String())
		return nil
	}
	if refused != nil {
		return refused
	}
	if clear != nil {
		return fmt.Errorf("the log drain to %s is not https: its credentials and the router lines cross the internet in clear; add it again as https://USER:PASSWORD@%s%s (heroku drains:add -a %s), and remove this one", clear, clear.Host, path, app)
	}
	return fmt.Errorf("no log drain of %s sends to %s (%d drain(s)): its router lines never reach relwatch; add one: heroku drains:add -a %s https://USER:PASSWORD@<this app>%s",
		app, path, len(drains), app, path)
}

// drainRefused says why the worker would refuse every batch of the drain
// to shown, whose URL holds user and whose token is token, as
// routerlog.Drain checks them against creds (nil: it would take them).
// Which variable differs is said, never a value.
func drainRefused(shown url.URL, app string, user *url.Userinfo, token string, creds routerlog.DrainCredentials) error {
	if creds.User != "" {
		var u, p string
		if user != nil {
			u = user.Username()
			p, _ = user.Password()
		}
		if u != creds.User || p != creds.Password {
			return fmt.Errorf("the log drain to %s has another user or password than %s and %s: the worker would refuse every batch it sends (401, which Logplex drops); set them to the drain URL's, or add the drain again as https://$%s:$%s@%s%s (heroku drains:add -a %s)",
				shown.String(), routerlog.EnvDrainUser, routerlog.EnvDrainPassword, routerlog.EnvDrainUser, routerlog.EnvDrainPassword, shown.Host, shown.Path, app)
		}
	}
	if creds.Token != "" && token != creds.Token {
		return fmt.Errorf("the log drain to %s has another token than %s (heroku drains -a %s shows it): the worker would refuse every batch it sends (401, which Logplex drops); set it to this drain's token",
			shown.String(), drainTokenEnv(app), app)
	}
	return nil
}

// drainTokenEnv names the variable the worker read app's drain token
// from: app's own, else the shared one.
func drainTokenEnv(app string) string {
	if strings.TrimSpace(os.Getenv(routerlog.EnvDrainTokenOf(app))) != "" {
		return routerlog.EnvDrainTokenOf(app)
	}
	return routerlog.EnvDrainToken
}

// editLimiter is a chat whose organization may limit how long the bot
// can edit a message (Zulip).
type editLimiter interface {
	EditLimit(ctx context.Context) (limit time.Duration, editing bool, err error)
}

// checkEditLimit notes when the chat will not let the bot mark a story's
// outcome on its opening message: editing is off, or its time limit is
// shorter than the longest watch.
func checkEditLimit(ctx context.Context, stdout io.Writer, el editLimiter, apps []config.ResolvedApp) {
	var longest time.Duration
	for _, a := range apps {
		longest = max(longest, a.WatchFor)
	}
	const where = "the outcome is in the thread all the same; Organization settings, Message editing"
	switch limit, editing, err := el.EditLimit(ctx); {
	case err != nil:
		fmt.Fprintf(stdout, "    cannot read how long the organization lets a message be edited: %v\n", err)
	case !editing:
		fmt.Fprintf(stdout, "    note: the organization lets no message be edited: opening messages keep their first status (%s)\n", where)
	case limit > 0 && limit < longest:
		fmt.Fprintf(stdout, "    note: the organization lets a message be edited for %s and a watch lasts up to %s: an opening whose outcome comes later keeps its older status (%s: a time limit above %s, or any time)\n", limit, longest, where, longest)
	}
}

// hasStatus reports whether Heroku answered err with status.
func hasStatus(err error, status int) bool {
	var ae *heroku.APIError
	return errors.As(err, &ae) && ae.Status == status
}
