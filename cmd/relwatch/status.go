package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/internal/atomicfile"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
	"github.com/relwatch/relwatch/rollback"
	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// statusLimit is how many decisions and rollbacks status shows per app.
const statusLimit = 5

// unattendedAfter is how long a watch under way may go unstored before
// status says no worker may be watching it: the worker stores it once a
// minute.
const unattendedAfter = 3 * time.Minute

// appStatus is one app in `relwatch status --format json`: snake_case
// throughout, a list is [] when empty, a time or an object that is not
// there is null.
type appStatus struct {
	App string `json:"app"`
	// Watch is the newest watch as the store keeps it (store.WatchRecord);
	// null when no release of the app was watched yet.
	Watch *store.WatchRecord `json:"watch"`
	// TimeLeftS is the watch's time left in seconds; null when it is not
	// under way (or no worker stored it lately: Unattended).
	TimeLeftS *int64 `json:"time_left_s"`
	// UnattendedS is, for a watch stored as under way, how long ago it was
	// last stored when that is longer than a worker leaves it (it stores a
	// watch under way once a minute): no worker may be watching. Null
	// otherwise.
	UnattendedS *int64           `json:"unattended_s"`
	Pause       *pauseStatus     `json:"pause"`
	Decisions   []decisionStatus `json:"decisions"`
	Rollbacks   []rollbackStatus `json:"rollbacks"`
	Pending     []requestStatus  `json:"pending_requests"`
	signals     []signalRow      // the watch's last verdict, in words (text only)
	unstored    bool             // configured, with nothing in the store (text only)
}

type pauseStatus struct {
	By     string     `json:"by"`
	Reason string     `json:"reason"`
	Until  *time.Time `json:"until"` // null: until resumed
	At     time.Time  `json:"at"`
}

type decisionStatus struct {
	At time.Time `json:"at"`
	// Release is the release decided on; null for a decision about the app
	// itself (app.unknown: Heroku does not know the app).
	Release *int   `json:"release"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	// Evidence is the findings the decision stood on, by signal; {} when
	// it stood on none.
	Evidence map[string]analysis.Finding `json:"evidence"`
}

type rollbackStatus struct {
	ID       int64      `json:"id"`
	Bad      int        `json:"bad"`
	Target   int        `json:"target"`
	Reason   string     `json:"reason"`
	By       string     `json:"by"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished"` // null while open
	Outcome  string     `json:"outcome"`  // "" while in progress, pending, interrupted, done, skipped, failed, abandoned
	Created  *int       `json:"created"`  // the "Rollback to vN" release; null when Heroku made none
	Error    string     `json:"error"`
}

type requestStatus struct {
	ID     int64      `json:"id"`
	Kind   string     `json:"kind"`
	To     *int       `json:"to"`   // a rollback's target, an approval's release; null: none named
	From   *int       `json:"from"` // the release a rollback is for; null: the current one
	By     string     `json:"by"`
	Reason string     `json:"reason"`
	Until  *time.Time `json:"until"` // a pause's end; null otherwise
	At     time.Time  `json:"at"`
}

// signalRow is one signal of the watch's last verdict, in words.
type signalRow struct{ signal, now, before, verdict string }

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "[APP... | -a APP] [--format text|json] [--state DSN] [--config FILE] [--chart FILE.png]", `
Shows each app relwatch knows: the release under watch and the time left,
its signals at the last judgement against the baseline, pauses, the last
decisions and rollbacks, and requests the worker has not carried out yet.
Times are UTC, with their age. An app the configuration watches that has
nothing stored yet (no release made since the worker began) is shown as
not watched yet; the configuration is --config, else $RELWATCH_CONFIG,
else ./config.toml when there is one.

With --chart and one APP, also writes the picture of the app's last
verdict (as announced in chat) to FILE.png. It is drawn from the
announcements the worker stored for its chats, so it needs a worker with a
chat configured.`, stdout, stderr)
	state, cfgPath := stateFlag(fs), configFlag(fs)
	format := fs.String("format", "text", "output format: text or json")
	appF := appFlag(fs)
	chartTo := fs.String("chart", "", "write the picture of APP's last verdict to this PNG file (one APP)")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := textOrJSON(*format); err != nil {
		return err
	}
	// Heroku's app names are lower case: "Crates-IO" is crates-io, as in
	// chat and oneApp.
	var apps []string
	for _, a := range fs.Args() {
		apps = append(apps, strings.ToLower(a))
	}
	flagApp := strings.ToLower(*appF)
	if flagApp != "" && len(apps) > 0 && (len(apps) > 1 || apps[0] != flagApp) {
		return usageErr("APP %s and --app %s differ: say one", strings.Join(fs.Args(), " "), *appF)
	}
	if len(apps) == 0 && flagApp != "" {
		apps = []string{flagApp}
	} else if len(apps) == 0 && os.Getenv("HEROKU_APP") != "" {
		apps = []string{strings.ToLower(os.Getenv("HEROKU_APP"))}
	}
	if *chartTo != "" && len(apps) != 1 {
		return usageErr("--chart takes one APP, %d given", len(apps))
	}
	configured, err := statusApps(*cfgPath, stderr)
	if err != nil {
		return err
	}
	dsn := stateDSN(*state)
	if err := dynoLocal(dsn); err != nil {
		// Not the worker's state: "nothing recorded yet" would be false.
		return &exitError{code: 2, err: err}
	}
	db, err := openReadState(ctx, *state)
	if err != nil {
		return err
	}
	ctx, gaveUp, cancel := readWithin(ctx)
	defer cancel()
	var known []string
	if db != nil {
		defer db.Close()
		if known, err = db.Apps(ctx); err != nil {
			return gaveUp(err)
		}
	}
	stored := known
	for _, app := range configured {
		if !slices.Contains(known, app) {
			known = append(known, app) // watched, nothing stored yet
		}
	}
	for _, app := range apps {
		if !slices.Contains(known, app) {
			err := usageErr("no state for %s in %s; it has %s", app, store.Redact(dsn), listOrNone(stored))
			if configured != nil {
				err = usageErr("no state for %s in %s (it has %s), and the configuration does not watch it (it watches %s)", app, store.Redact(dsn), listOrNone(stored), listOrNone(configured))
			}
			return err
		}
	}
	if len(apps) == 0 {
		apps = known
	}
	if *chartTo != "" {
		if err := statusChart(ctx, db, apps[0], *chartTo); err != nil {
			return gaveUp(err)
		}
	}
	now := time.Now()
	out := []appStatus{}
	for _, app := range apps {
		st := newAppStatus(app)
		st.unstored = !slices.Contains(stored, app)
		if !st.unstored {
			if st, err = readStatus(ctx, db, app, now); err != nil {
				return gaveUp(err)
			}
		}
		out = append(out, st)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printStatus(stdout, out, describeState(dsn, db != nil && db.Postgres()), now)
}

// listOrNone lists names for a sentence: "a, b" or "none".
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// statusApps is the apps the configuration watches, when there is one,
// so that an app watched with nothing stored yet is shown, not taken for
// one relwatch does not know. A configuration named by --config must read;
// one found by default that does not is said on stderr and left out
// (status reads the state, and the state is still worth showing).
func statusApps(flagValue string, stderr io.Writer) ([]string, error) {
	if flagValue == "" && os.Getenv(configEnv) == "" {
		if _, err := os.Stat("config.toml"); err != nil {
			return nil, nil
		}
	}
	cfg, err := loadConfig(flagValue)
	if err != nil {
		if flagValue != "" {
			return nil, err
		}
		fmt.Fprintf(stderr, "relwatch status: the configuration was not read, so an app with nothing stored yet is not listed: %v\n", err)
		return nil, nil
	}
	var names []string
	for _, a := range cfg.Apps {
		names = append(names, a.Name)
	}
	return names, nil
}

// newAppStatus is app's status with nothing stored: its lists empty, never
// null.
func newAppStatus(app string) appStatus {
	return appStatus{App: app, Decisions: []decisionStatus{}, Rollbacks: []rollbackStatus{}, Pending: []requestStatus{}}
}

// readStatus reads one app's state.
func readStatus(ctx context.Context, db *store.DB, app string, now time.Time) (appStatus, error) {
	st := newAppStatus(app)
	w, ok, err := db.LatestWatch(ctx, app)
	if err != nil {
		return st, err
	}
	if ok {
		if w.Exclude == nil {
			w.Exclude = []store.Span{}
		}
		if w.Findings == nil {
			w.Findings = []analysis.Finding{}
		}
		st.Watch = &w
		switch {
		case w.State != watcher.StateWatching:
		case now.Sub(w.Updated) > unattendedAfter:
			ago := int64(now.Sub(w.Updated) / time.Second)
			st.UnattendedS = &ago
		case now.Before(w.Until):
			left := int64(w.Until.Sub(now) / time.Second)
			st.TimeLeftS = &left
		}
		for _, f := range w.Findings {
			var r signalRow
			r.signal, r.now, r.before, r.verdict = notify.Values(f)
			st.signals = append(st.signals, r)
		}
	}
	if p, ok, err := db.PauseOf(ctx, app); err != nil {
		return st, err
	} else if ok {
		st.Pause = &pauseStatus{By: p.By, Reason: p.Reason, Until: timeOrNull(p.Until), At: p.At}
	}
	decisions, err := db.Decisions(ctx, app, statusLimit)
	if err != nil {
		return st, err
	}
	for _, d := range decisions {
		ds := decisionStatus{At: d.At, Release: intOrNull(d.Release), Action: d.Action, Reason: d.Reason, Evidence: map[string]analysis.Finding{}}
		var fs []analysis.Finding
		if d.Evidence != "" {
			if err := json.Unmarshal([]byte(d.Evidence), &fs); err != nil {
				return st, fmt.Errorf("read the evidence of %s's decision of %s: %w", app, d.At.UTC().Format(time.RFC3339), err)
			}
		}
		for _, f := range fs {
			key := string(f.Signal) // "error_share", or "error_share POST /login" where the app guards several routes
			if f.Route != "" {
				key += " " + f.Route
			}
			ds.Evidence[key] = f
		}
		st.Decisions = append(st.Decisions, ds)
	}
	journal, err := db.Journal(ctx, app, false, statusLimit)
	if err != nil {
		return st, err
	}
	for _, e := range journal {
		st.Rollbacks = append(st.Rollbacks, rollbackStatus{ID: e.ID, Bad: e.Bad, Target: e.Target, Reason: e.Reason, By: e.By,
			Started: e.Started, Finished: timeOrNull(e.Finished), Outcome: e.Outcome, Created: intOrNull(e.Created), Error: e.Error})
	}
	pending, err := db.PendingRequests(ctx, app)
	if err != nil {
		return st, err
	}
	for _, r := range pending {
		st.Pending = append(st.Pending, requestStatus{ID: r.ID, Kind: r.Kind, To: intOrNull(r.To), From: intOrNull(r.From),
			By: r.By, Reason: r.Reason, Until: timeOrNull(r.Until), At: r.At})
	}
	return st, nil
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func intOrNull(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// describeState says which state status read, for a person: the SQLite
// file's full path, or the PostgreSQL URL without its password.
func describeState(dsn string, postgres bool) string {
	if postgres {
		return store.Redact(dsn) + " (PostgreSQL)"
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "sqlite:")
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path + " (SQLite)"
}

// statusWidth is how wide status wraps its long lines (decisions' reasons).
const statusWidth = 100

// printStatus writes the status as a person reads it: a table of the apps,
// then each app's signals, decisions, rollbacks and pending requests.
func printStatus(w io.Writer, apps []appStatus, where string, now time.Time) error {
	if !slices.ContainsFunc(apps, func(st appStatus) bool { return !st.unstored }) {
		_, err := fmt.Fprintf(w, "Nothing recorded yet in the state at %s: no watch, decision, pause or rollback.\n"+
			"The worker (relwatch watch) writes there; --state, $RELWATCH_STATE or $DATABASE_URL name another.\n", where)
		if len(apps) == 0 || err != nil {
			return err
		}
		fmt.Fprintln(w) // the apps the configuration watches follow
	}
	fmt.Fprintf(w, "relwatch status at %s, from %s\n\n", stamp(now, now), where)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tRELEASE\tSTATE\tLIVE SINCE\tAUTOMATIC ROLLBACK")
	for _, st := range apps {
		release, state, live := "-", "not watched yet", "-"
		if wt := st.Watch; wt != nil {
			release, state, live = fmt.Sprintf("v%d", wt.Release.Version), strings.ReplaceAll(wt.State, "_", " "), stamp(wt.LiveAt, now)
			rolling := rollingBack(st)
			switch {
			case rolling != "":
				// The watch is stored as under way while its rollback
				// is (a rollback release whose phase fails leaves it
				// live): "watching, 9m left" would say nothing is done.
				state = rolling
			case wt.State == watcher.StateWatching && wt.Anomalous:
				// Judged bad and held back (a pause, alert only): as the
				// chats' opening says it; the watch goes on.
				state = "looks bad"
			}
			if st.TimeLeftS != nil && rolling == "" {
				state += fmt.Sprintf(", %s left", notify.Span(time.Duration(*st.TimeLeftS)*time.Second))
			}
			if st.UnattendedS != nil {
				state += fmt.Sprintf(", stale %s", notify.Span(time.Duration(*st.UnattendedS)*time.Second))
			}
		}
		auto := "on"
		if p := st.Pause; p != nil {
			auto = "paused by " + p.By + " " + notify.Until(zeroIfNull(p.Until), now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.App, release, state, live, auto)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, st := range apps {
		printAppStatus(w, st, now)
	}
	return nil
}

// rollingBack says, for a watch stored as under way, the rollback of its
// release begun and not finished ("rolling back to v41"), or the one done
// that the worker has not closed the watch for yet ("rolled back to v41");
// "" when there is none.
func rollingBack(st appStatus) string {
	wt := st.Watch
	if wt == nil || wt.State != watcher.StateWatching {
		return ""
	}
	for _, e := range st.Rollbacks { // newest first
		if e.Bad != wt.Release.Version {
			continue
		}
		switch {
		case e.Outcome == store.JournalPending && e.Created != nil:
			return fmt.Sprintf("rolling back to v%d (v%d pending)", e.Target, *e.Created) // its release phase runs
		case e.Outcome == store.JournalInterrupted:
			// Its answer lost, or its worker stopped before it: how it
			// ended is known at the next read of Heroku's releases.
			return fmt.Sprintf("rolling back to v%d (unconfirmed)", e.Target)
		case store.JournalOpen(e.Outcome):
			return fmt.Sprintf("rolling back to v%d", e.Target)
		case e.Outcome == string(rollback.Done) && wt.RolledBack:
			return fmt.Sprintf("rolled back to v%d", e.Target)
		}
		return ""
	}
	return ""
}

func printAppStatus(w io.Writer, st appStatus, now time.Time) {
	fmt.Fprintf(w, "\n%s", st.App)
	if wt := st.Watch; wt != nil {
		fmt.Fprintf(w, " v%d (%s)", wt.Release.Version, wt.Release.Description)
	}
	fmt.Fprintln(w)
	if st.unstored {
		fmt.Fprintln(w, "  nothing stored yet: the configuration watches it; its watch begins with its next release")
	}
	if p := st.Pause; p != nil {
		line := notify.PausedBy(p.By, zeroIfNull(p.Until), now)
		if p.Until != nil {
			line += " (" + age(*p.Until, now) + ")"
		}
		if p.Reason != "" {
			line += ": " + p.Reason
		}
		fmt.Fprintln(w, wrap(line, "  ", "    "))
	}
	if st.UnattendedS != nil {
		fmt.Fprintln(w, wrap(fmt.Sprintf("no worker has stored this watch for %s (a worker stores a watch under way once a minute): is one running, and does it reach this store?",
			notify.Span(time.Duration(*st.UnattendedS)*time.Second)), "  ", "    "))
	}
	if wt := st.Watch; wt != nil {
		switch {
		case len(st.signals) == 0:
			fmt.Fprintln(w, "  no signal judged yet")
		default:
			fmt.Fprintf(w, "  signals at the last judgement stored, %s; %.0f%% of the watch had data\n", stamp(wt.Updated, now), 100*wt.Coverage)
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "    SIGNAL\tNOW\tBEFORE THE RELEASE\tVERDICT")
			for _, r := range st.signals {
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", r.signal, r.now, r.before, r.verdict)
			}
			tw.Flush()
		}
	}
	if len(st.Decisions) > 0 {
		fmt.Fprintln(w, "  decisions, newest first:")
		for _, d := range st.Decisions {
			head := "    " + stamp(d.At, now) + "  "
			if d.Release != nil {
				head += fmt.Sprintf("v%d ", *d.Release)
			}
			fmt.Fprintln(w, head+d.Action)
			fmt.Fprintln(w, wrap(d.Reason, "      ", "      "))
		}
	}
	if len(st.Rollbacks) > 0 {
		fmt.Fprintln(w, "  rollbacks, newest first:")
		for _, e := range st.Rollbacks {
			outcome := e.Outcome
			switch {
			case outcome == "":
				outcome = "in progress"
			case e.Created != nil:
				outcome += fmt.Sprintf(" (Heroku release v%d)", *e.Created)
			}
			fmt.Fprintf(w, "    %s  v%d -> v%d by %s: %s\n", stamp(e.Started, now), e.Bad, e.Target, e.By, outcome)
			why := e.Reason
			if e.Error != "" {
				why = strings.TrimPrefix(why+"; ", "; ") + e.Error
			}
			if why != "" {
				fmt.Fprintln(w, wrap(why, "      ", "      "))
			}
		}
	}
	if len(st.Pending) > 0 {
		fmt.Fprintln(w, "  requests the worker has not carried out yet:")
		for _, r := range st.Pending {
			line := fmt.Sprintf("pending %s by %s, asked %s", r.Kind, r.By, stamp(r.At, now))
			// What the request is about: the release approved, the one
			// rolled back and where to, the pause's end.
			switch {
			case r.Kind == store.KindApprove && r.To != nil:
				line += fmt.Sprintf(", of v%d", *r.To)
			case r.Kind == store.KindRollback && r.From != nil:
				line += fmt.Sprintf(", of v%d", *r.From)
			case r.Kind == store.KindPause:
				line += ", " + notify.Until(zeroIfNull(r.Until), now)
			}
			if r.Kind == store.KindRollback && r.To != nil {
				line += fmt.Sprintf(", to v%d", *r.To)
			}
			if r.Reason != "" {
				line += ": " + r.Reason
			}
			fmt.Fprintln(w, wrap(line, "    ", "      "))
		}
	}
}

func zeroIfNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// stamp is a time with its zone and its age: "12:30:05 UTC (3m ago)", with
// the date when it is a day or more away (the age says which day a time
// nearer is: "23:56:00 UTC (9m ago)" just after midnight).
func stamp(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	layout := "15:04:05 MST"
	if d := now.Sub(t); d >= 24*time.Hour || d <= -24*time.Hour {
		layout = "2006-01-02 15:04:05 MST"
	}
	if t.Equal(now) {
		return t.Format(layout)
	}
	return t.Format(layout) + " (" + age(t, now) + ")"
}

// age is how long ago t was ("3m ago"), or how long until it ("in 20m").
func age(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

// roughly writes a duration to its largest unit or two: "45s", "3m",
// "2h10m", "3d".
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// wrap breaks text into lines of at most statusWidth characters (a word
// longer than that stays whole), the first indented by first, the others
// by rest.
func wrap(text, first, rest string) string {
	var b strings.Builder
	line, indent := "", first
	flush := func() {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(indent + line)
		line, indent = "", rest
	}
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(indent+line+" "+word)) > statusWidth {
			flush()
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" || b.Len() == 0 {
		flush()
	}
	return b.String()
}

// statusChart writes the picture of app's last announced verdict to path.
func statusChart(ctx context.Context, db *store.DB, app, path string) error {
	payloads, err := db.Announced(ctx, app, 200)
	if err != nil {
		return err
	}
	var events []notify.Event
	for i := len(payloads) - 1; i >= 0; i-- { // oldest first, as chart.Last reads them
		var e notify.Event
		if json.Unmarshal([]byte(payloads[i]), &e) == nil {
			events = append(events, e)
		}
	}
	e, ok := chart.Last(events)
	if !ok {
		return &exitError{code: 1, err: fmt.Errorf("--chart: no verdict of %s with traffic to draw among its %d stored announcements (they are stored for the worker's chats: a worker without a chat stores none)", app, len(payloads))}
	}
	png, err := chart.PNG(e)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { // as replay --chart makes its folder
		return fmt.Errorf("--chart %s: cannot make its folder: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, png); err != nil {
		return fmt.Errorf("--chart: write the picture of %s v%d: %w", app, e.Release, err)
	}
	return nil
}
