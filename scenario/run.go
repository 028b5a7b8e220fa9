package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/metrics/series"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/watcher"
)

// Epoch is the virtual moment t_s = 0 of every replay: the day of the
// crates.io incident.
var Epoch = time.Date(2023, 7, 20, 12, 0, 0, 0, time.UTC)

// Settings are the watcher settings a replay runs with (config.toml's, or
// the defaults).
type Settings struct {
	Tick         time.Duration
	PollInterval time.Duration
	Policy       watcher.Policy
	// RollbackReleasePhase is how long the fake keeps a rollback pending.
	RollbackReleasePhase time.Duration
}

// DefaultSettings are the watcher's defaults.
func DefaultSettings() Settings {
	return Settings{Tick: 5 * time.Second, PollInterval: 5 * time.Second, Policy: watcher.DefaultPolicy()}
}

// Options are the knobs of Run beyond the watcher settings.
type Options struct {
	Settings Settings
	Logger   *slog.Logger
	// Notifier also receives every event (demo prints them).
	Notifier notify.Notifier
	// From and To bound the virtual time run, in seconds since t_s = 0;
	// zero To means the whole recording.
	From, To int
	// Pace is called after every tick with the virtual second (demo sleeps
	// there).
	Pace func(ctx context.Context, atS int)
	// Overrides, when set, are what people said (relwatch pause, approve)
	// for replay --state.
	Overrides watcher.OverrideStore
	// Epoch is the moment of t_s = 0 (default Epoch).
	Epoch time.Time
}

// RollbackOut is one rollback in the replay's output.
type RollbackOut struct {
	Release int    `json:"release"`
	To      int    `json:"to"`
	AtS     int    `json:"at_s"`
	Reason  string `json:"reason"`
	// Route is the route whose finding decided the rollback, as it was
	// announced.
	Route string `json:"route,omitempty"`
}

// ReleaseOut is one release as the fake Heroku lists it at the end.
type ReleaseOut struct {
	Version     int    `json:"version"`
	Description string `json:"description"`
	Status      string `json:"status"`
	CreatedAtS  int    `json:"created_at_s"`
}

// NotificationOut is one announcement.
type NotificationOut struct {
	AtS  int    `json:"at_s"`
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Result is a replay's outcome: the contract of `relwatch replay --format json`.
type Result struct {
	Scenario      string            `json:"scenario"`
	App           string            `json:"app"`
	Rollbacks     []RollbackOut     `json:"rollbacks"`
	Releases      []ReleaseOut      `json:"releases"`
	Notifications []NotificationOut `json:"notifications"`
	WallMS        int64             `json:"wall_ms"`

	events []notify.Event
}

// Events returns the announcements of the run as events.
func (r Result) Events() []notify.Event { return r.events }

// virtualClock is the one clock of a replay, shared by the fake Heroku, the
// replay source and the watcher.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

const replayToken = "replay-token"

// slugID is the slug identity of a named build ("" leaves the release a
// build of its own).
func slugID(app, name string) string {
	if name == "" {
		return ""
	}
	return herokusim.NamedSlug(app, name)
}

// Run replays sc through the real watcher: the scenario's releases served by
// the fake Heroku over HTTP on a virtual clock, its series by the replay
// source, rollbacks through the real heroku client.
func Run(ctx context.Context, sc *Scenario, opts Options) (Result, error) {
	start := time.Now()
	st := opts.Settings
	if st.Tick <= 0 {
		return Result{}, errors.New("replay: tick must be positive")
	}
	epoch := opts.Epoch
	if epoch.IsZero() {
		epoch = Epoch
	}
	clock := &virtualClock{now: epoch.Add(time.Duration(opts.From) * time.Second)}
	fake := herokusim.New(replayToken, herokusim.WithClock(clock.Now), herokusim.WithRollbackReleasePhase(st.RollbackReleasePhase))
	defer fake.Close()
	for _, r := range sc.Releases {
		fake.AddRelease(sc.App, herokusim.ReleaseSpec{
			Version: r.Version, Description: r.Description, Status: r.Status,
			CreatedAt:  epoch.Add(time.Duration(r.AtS) * time.Second),
			PendingFor: time.Duration(r.SucceededAfterS) * time.Second,
			SlugID:     slugID(sc.App, r.Slug),
		})
	}
	client := heroku.New(fake.URL(), replayToken)
	rec := &notify.Recorder{}
	var notifier notify.Notifier = rec
	if opts.Notifier != nil {
		notifier = notify.Multi{rec, opts.Notifier}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := watcher.New(watcher.Config{
		Apps: []watcher.App{{
			Name: sc.App, Route: sc.WatchedRoute, Routes: sc.Routes(), Control: sc.ControlRoute(), Policy: st.Policy,
			Source: series.Serve(epoch, sc.Series, clock.Now),
		}},
		Heroku:       client,
		Roller:       &rollback.Roller{Heroku: client, Logger: logger},
		Notifier:     notifier,
		Logger:       logger.With("scenario", sc.Name),
		PollInterval: st.PollInterval,
		Overrides:    opts.Overrides,
	})
	to := opts.To
	if to <= 0 || to > sc.DurationS {
		to = sc.DurationS
	}
	step := int(st.Tick / time.Second)
	if step < 1 {
		step = 1
	}
	for t := opts.From; t <= to; t += step {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		clock.Set(epoch.Add(time.Duration(t) * time.Second))
		if err := w.Tick(ctx, clock.Now()); err != nil {
			return Result{}, fmt.Errorf("replay %s at t=%ds: %w", sc.Name, t, err)
		}
		if opts.Pace != nil {
			opts.Pace(ctx, t)
		}
	}
	releases, _, err := client.ListReleases(ctx, sc.App, 1000, false)
	if err != nil {
		return Result{}, fmt.Errorf("replay %s: read the releases back: %w", sc.Name, err)
	}
	return result(sc, epoch, releases, rec.Events(), start), nil
}

func result(sc *Scenario, epoch time.Time, releases []heroku.Release, events []notify.Event, start time.Time) Result {
	atS := func(t time.Time) int { return int(t.Sub(epoch).Round(time.Second) / time.Second) }
	res := Result{Scenario: sc.Name, App: sc.App, Rollbacks: []RollbackOut{}, Releases: []ReleaseOut{}, Notifications: []NotificationOut{}}
	sort.Slice(releases, func(i, j int) bool { return releases[i].Version < releases[j].Version })
	for _, r := range releases {
		res.Releases = append(res.Releases, ReleaseOut{Version: r.Version, Description: r.Description, Status: r.Status, CreatedAtS: atS(r.CreatedAt)})
		to, ok := r.RollsBackTo()
		if !ok || sc.Recorded(r.Version) || r.CreatedAt.Before(epoch) {
			// A rollback the scenario recorded is its history (a person's,
			// at the time): served as it happened, never relwatch's.
			continue
		}
		out := RollbackOut{To: to, AtS: atS(r.CreatedAt)}
		out.Release, out.Reason, out.Route = rolledBackFrom(releases, events, r)
		res.Rollbacks = append(res.Rollbacks, out)
	}
	// In the order they happened: a recorded release still to come when
	// relwatch rolled back has the lower version.
	sort.SliceStable(res.Rollbacks, func(i, j int) bool { return res.Rollbacks[i].AtS < res.Rollbacks[j].AtS })
	for _, e := range events {
		res.Notifications = append(res.Notifications, NotificationOut{AtS: atS(e.At), Kind: string(e.Kind), Text: e.Text()})
	}
	res.events = events
	res.WallMS = time.Since(start).Milliseconds()
	return res
}

// rolledBackFrom is the release relwatch's rollback release r rolled back,
// why and for which route, as relwatch announced it: the rollback that
// says it made r, else the last one relwatch began by the time r was
// created (a rollback whose release phase still ran at the end). Without
// either, the release live just before r.
func rolledBackFrom(releases []heroku.Release, events []notify.Event, r heroku.Release) (int, string, string) {
	var started *notify.Event
	for i, e := range events {
		f, ok := e.Fact.(notify.RollbackStep)
		switch {
		case !ok:
		case f.Rollback == r.Version && (e.Kind == notify.RollbackSucceeded || e.Kind == notify.RollbackFailed):
			return e.Release, f.Reason, f.Route
		case e.Kind == notify.RollbackStarted && !e.At.After(r.CreatedAt):
			started = &events[i]
		}
	}
	if started != nil {
		seen := started.Seen()
		return started.Release, seen.Reason, seen.Route
	}
	prev, _ := heroku.Previous(releases, r.Version)
	return prev.Version, "", ""
}

// Check compares a replay's result with the scenario's [expect]: the right
// verdict, exactly one rollback of a bad release to the newest earlier
// release that succeeded, within max_delay_s of bad_from_s, announced for
// expect.route where it names one; no rollback of
// a healthy one, and its watch ending healthy.
func Check(sc *Scenario, res Result) error {
	e := sc.Expect
	if e == nil {
		return errors.New("no [expect] in scenario.toml")
	}
	var errs []error
	switch e.Verdict {
	case "rollback":
		want := e.Target(sc.Releases)
		var mine []RollbackOut
		for _, rb := range res.Rollbacks {
			if e.Concerns(rb.Release) {
				mine = append(mine, rb)
			}
		}
		if len(mine) != 1 {
			errs = append(errs, fmt.Errorf("want exactly one rollback of v%d, got %d", e.Release, len(mine)))
		}
		for _, rb := range mine {
			if rb.To != want {
				errs = append(errs, fmt.Errorf("rolled back to v%d, want v%d", rb.To, want))
			}
			if delay := rb.AtS - e.BadFromS; delay > e.MaxDelayS {
				errs = append(errs, fmt.Errorf("rolled back at %ds, %ds after the bad traffic began (max %ds)", rb.AtS, delay, e.MaxDelayS))
			}
			if e.Route != "" && rb.Route != e.Route {
				errs = append(errs, fmt.Errorf("rolled back for %q, want %q (the route the bad traffic is on)", rb.Route, e.Route))
			}
		}
		if len(res.Rollbacks) > len(mine) {
			errs = append(errs, fmt.Errorf("%d other rollback(s)", len(res.Rollbacks)-len(mine)))
		}
	case "healthy":
		if len(res.Rollbacks) > 0 {
			errs = append(errs, fmt.Errorf("want no rollback, got %d (first: v%d at %ds: %s)", len(res.Rollbacks), res.Rollbacks[0].Release, res.Rollbacks[0].AtS, res.Rollbacks[0].Reason))
		}
		healthy := false
		for _, ev := range res.events {
			if ev.Kind == notify.WatchHealthy && ev.Release == e.Release {
				healthy = true
			}
		}
		if !healthy {
			errs = append(errs, fmt.Errorf("no watch.healthy for v%d", e.Release))
		}
	}
	return errors.Join(errs...)
}
