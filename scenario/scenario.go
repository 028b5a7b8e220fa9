// Package scenario reads recorded releases (../shared/scenarios format: a
// folder with scenario.toml and series.csv) and runs them through the real
// watcher on a virtual clock, against the fake Heroku.
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/BurntSushi/toml"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/internal/atomicfile"
	"github.com/relwatch/relwatch/metrics/series"
)

// Release is one release of the scenario's app.
type Release struct {
	Version         int    `toml:"version"`
	AtS             int    `toml:"at_s"`
	Description     string `toml:"description"`
	Status          string `toml:"status"`
	SucceededAfterS int    `toml:"succeeded_after_s,omitempty"`
	// Slug names the build the release runs; a config-var change keeps its
	// predecessor's. Releases without one each run a build of their own.
	Slug string `toml:"slug,omitempty"`
}

// Expect is the right outcome of a scenario.
type Expect struct {
	Verdict   string `toml:"verdict"` // "rollback" or "healthy"
	Release   int    `toml:"release"`
	BadFromS  int    `toml:"bad_from_s,omitempty"`
	MaxDelayS int    `toml:"max_delay_s,omitempty"`
	// To is the release a rollback must go back to (0: the newest earlier
	// one that succeeded); FaultFrom is the release the bad traffic began
	// under (0: Release). A rollback to FaultFrom or later goes back into
	// the fault.
	To        int `toml:"to,omitzero"`
	FaultFrom int `toml:"fault_from,omitzero"`
	// Route is the route the bad traffic is on, where the app guards
	// several: the rollback must be announced for it ("": any).
	Route string `toml:"route,omitempty"`
}

// Target is the release a rollback must go back to.
func (e Expect) Target(releases []Release) int {
	if e.To != 0 {
		return e.To
	}
	var known []heroku.Release
	for _, r := range releases {
		known = append(known, heroku.Release{Version: r.Version, Status: r.Status})
	}
	prev, _ := heroku.Previous(known, e.Release)
	return prev.Version
}

// Concerns reports whether a rollback of release rolls back the fault:
// the expected release, or one the fault began under before it.
func (e Expect) Concerns(release int) bool {
	from := e.FaultFrom
	if from == 0 {
		from = e.Release
	}
	return release >= from && release <= e.Release
}

// IntoFault reports whether a rollback to version goes back to a release
// that was live since the bad traffic began.
func (e Expect) IntoFault(version int) bool {
	from := e.FaultFrom
	if from == 0 {
		from = e.Release
	}
	return version >= from
}

// Scenario is one recorded release.
type Scenario struct {
	Dir          string `toml:"-"`
	Name         string `toml:"name"`
	App          string `toml:"app"`
	WatchedRoute string `toml:"watched_route"`
	// WatchedRoutes (the project's extension) are every route the watcher
	// guards, the first one leading; watched_route may then be left out
	// (it is the first), or must be the first.
	WatchedRoutes []string  `toml:"watched_routes,omitempty"`
	DurationS     int       `toml:"duration_s"`
	Releases      []Release `toml:"releases"`
	Expect        *Expect   `toml:"expect,omitempty"`

	// Series holds each route's rows (seconds without a row have no data).
	Series series.Table `toml:"-"`
}

// Routes are the routes the watcher guards: watched_routes, or the one
// watched_route.
func (sc *Scenario) Routes() []string {
	if len(sc.WatchedRoutes) > 0 {
		return sc.WatchedRoutes
	}
	return []string{sc.WatchedRoute}
}

// ControlRoute is the app's other traffic in the recording, the route a
// fall of the watched one is checked against: "other" when the recording
// has it and no watched route is "other" (the configuration refuses a
// control route that is guarded itself: each route's control is then the
// other guarded routes), else none.
func (sc *Scenario) ControlRoute() string {
	if _, ok := sc.Series["other"]; ok && sc.WatchedRoute != "other" && !slices.Contains(sc.WatchedRoutes, "other") {
		return "other"
	}
	return ""
}

// Recorded reports whether the scenario's history has release version: a
// release of the recording, not one a replay made.
func (sc *Scenario) Recorded(version int) bool {
	for _, r := range sc.Releases {
		if r.Version == version {
			return true
		}
	}
	return false
}

// maxOffsetS bounds a release's at_s (before the recording) and
// succeeded_after_s: 100 years, well inside a time.Duration (292 years),
// which a replay makes of them.
const maxOffsetS = 100 * 365 * 24 * 3600

// Load reads the scenario folder dir.
func Load(dir string) (*Scenario, error) {
	tomlPath := filepath.Join(dir, "scenario.toml")
	raw, err := os.ReadFile(tomlPath)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", dir, err)
	}
	sc, err := ParseTOML(raw)
	if err != nil {
		return nil, config.InFile(tomlPath, err)
	}
	sc.Dir = dir
	csvPath := filepath.Join(dir, "series.csv")
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", dir, err)
	}
	defer f.Close()
	pts, err := series.Parse(f, sc.DurationS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", csvPath, err)
	}
	for _, r := range sc.Routes() {
		if _, ok := pts[r]; !ok {
			return nil, fmt.Errorf("%s: watched route %q has no rows", csvPath, r)
		}
	}
	sc.Series = pts
	return sc, nil
}

// ParseTOML decodes and validates scenario.toml strictly: an unknown key is
// an error, and every problem is reported at once.
func ParseTOML(raw []byte) (*Scenario, error) {
	var sc Scenario
	md, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(&sc)
	if err != nil {
		return nil, config.UnknownKeysToo(raw, err, func(again []byte) (toml.MetaData, error) {
			var sc Scenario
			return toml.NewDecoder(bytes.NewReader(again)).Decode(&sc)
		}, unknownKeys)
	}
	errs := unknownKeys(md)
	if sc.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if sc.App == "" {
		errs = append(errs, errors.New("app: required"))
	} else if err := config.CheckAppName(sc.App); err != nil {
		// The replay's fake Heroku would answer 404 only at the end.
		errs = append(errs, fmt.Errorf("app: %w", err))
	}
	seenRoute := map[string]bool{}
	for i, r := range sc.WatchedRoutes {
		switch {
		case r == "":
			errs = append(errs, fmt.Errorf("watched_routes[%d]: empty", i))
		case seenRoute[r]:
			errs = append(errs, fmt.Errorf("watched_routes[%d]: %q is listed twice", i, r))
		}
		seenRoute[r] = true
	}
	switch {
	case len(sc.WatchedRoutes) > 0 && sc.WatchedRoute == "":
		sc.WatchedRoute = sc.WatchedRoutes[0]
	case len(sc.WatchedRoutes) > 0 && sc.WatchedRoute != sc.WatchedRoutes[0]:
		errs = append(errs, fmt.Errorf("watched_route: %q is not the first of watched_routes (%q)", sc.WatchedRoute, sc.WatchedRoutes[0]))
	case sc.WatchedRoute == "":
		errs = append(errs, errors.New("watched_route: required"))
	}
	if !md.IsDefined("duration_s") {
		errs = append(errs, errors.New("duration_s: required"))
	} else if sc.DurationS <= 0 || sc.DurationS > 7*24*3600 {
		errs = append(errs, fmt.Errorf("duration_s: %d is not between 1 and 604800", sc.DurationS))
	}
	if len(sc.Releases) == 0 {
		errs = append(errs, errors.New("releases: at least one is required"))
	}
	seen := map[int]bool{}
	failed := map[int]bool{}
	for i, r := range sc.Releases {
		p := fmt.Sprintf("releases[%d]", i)
		if r.Version <= 0 {
			errs = append(errs, fmt.Errorf("%s.version: %d is not a positive number", p, r.Version))
		} else if seen[r.Version] {
			errs = append(errs, fmt.Errorf("%s.version: v%d appears twice", p, r.Version))
		}
		seen[r.Version] = true
		failed[r.Version] = r.Status == "failed"
		if r.Description == "" {
			errs = append(errs, fmt.Errorf("%s.description: required", p))
		}
		if r.Status != "succeeded" && r.Status != "failed" {
			errs = append(errs, fmt.Errorf("%s.status: %q is not succeeded or failed", p, r.Status))
		}
		if r.SucceededAfterS < 0 {
			errs = append(errs, fmt.Errorf("%s.succeeded_after_s: %d is negative", p, r.SucceededAfterS))
		} else if r.SucceededAfterS > maxOffsetS {
			errs = append(errs, fmt.Errorf("%s.succeeded_after_s: %d is more than 100 years (%d s)", p, r.SucceededAfterS, maxOffsetS))
		}
		if sc.DurationS > 0 && r.AtS >= sc.DurationS {
			errs = append(errs, fmt.Errorf("%s.at_s: %d is after the recording ends (duration_s %d)", p, r.AtS, sc.DurationS))
		} else if r.AtS < -maxOffsetS {
			errs = append(errs, fmt.Errorf("%s.at_s: %d is more than 100 years before the recording (%d s)", p, r.AtS, -maxOffsetS))
		}
	}
	if e := sc.Expect; e != nil {
		switch e.Verdict {
		case "rollback":
			if e.MaxDelayS <= 0 {
				errs = append(errs, fmt.Errorf("expect.max_delay_s: %d must be positive for a rollback", e.MaxDelayS))
			}
			if e.BadFromS < 0 || (sc.DurationS > 0 && e.BadFromS >= sc.DurationS) {
				errs = append(errs, fmt.Errorf("expect.bad_from_s: %d is outside the recording", e.BadFromS))
			}
		case "healthy":
			// --check of a healthy verdict reads none of the rollback's
			// keys: a file that says when bad traffic begins, or where
			// it is, is a rollback mislabelled, or a healthy one with a
			// leftover. Zero is "none": relwatch's own writer puts
			// bad_from_s and max_delay_s, as 0, in every healthy scenario.
			if e.BadFromS != 0 {
				errs = append(errs, fmt.Errorf("expect.bad_from_s: %d says when bad traffic begins, but the verdict is healthy (remove the key, or make the verdict rollback)", e.BadFromS))
			}
			if e.MaxDelayS != 0 {
				errs = append(errs, fmt.Errorf("expect.max_delay_s: %d bounds a rollback's delay, but the verdict is healthy (remove the key, or make the verdict rollback)", e.MaxDelayS))
			}
			if e.To != 0 {
				errs = append(errs, fmt.Errorf("expect.to: v%d is where a rollback goes back to, but the verdict is healthy (remove the key, or make the verdict rollback)", e.To))
			}
			if e.FaultFrom != 0 {
				errs = append(errs, fmt.Errorf("expect.fault_from: v%d is where bad traffic began, but the verdict is healthy (remove the key, or make the verdict rollback)", e.FaultFrom))
			}
			if e.Route != "" {
				errs = append(errs, fmt.Errorf("expect.route: %q is the route bad traffic is on, but the verdict is healthy (remove the key, or make the verdict rollback)", e.Route))
			}
		default:
			errs = append(errs, fmt.Errorf("expect.verdict: %q is not rollback or healthy", e.Verdict))
		}
		if !seen[e.Release] {
			errs = append(errs, fmt.Errorf("expect.release: v%d is not among the releases", e.Release))
		} else if failed[e.Release] {
			errs = append(errs, fmt.Errorf("expect.release: v%d failed: a failed release never goes live, so is neither rolled back nor watched", e.Release))
		}
		if e.To != 0 && (!seen[e.To] || e.To >= e.Release) {
			errs = append(errs, fmt.Errorf("expect.to: v%d is not a release before v%d", e.To, e.Release))
		} else if e.To != 0 && failed[e.To] {
			errs = append(errs, fmt.Errorf("expect.to: v%d failed: a rollback goes back to a release that succeeded", e.To))
		}
		if e.FaultFrom != 0 && (!seen[e.FaultFrom] || e.FaultFrom > e.Release) {
			errs = append(errs, fmt.Errorf("expect.fault_from: v%d is not a release up to v%d", e.FaultFrom, e.Release))
		}
		if e.Route != "" && !slices.Contains(sc.Routes(), e.Route) {
			errs = append(errs, fmt.Errorf("expect.route: %q is not a watched route", e.Route))
		}
	}
	if len(errs) > 0 {
		return nil, config.Located(raw, errs)
	}
	sort.Slice(sc.Releases, func(i, j int) bool { return sc.Releases[i].Version < sc.Releases[j].Version })
	return &sc, nil
}

// unknownKeys names the keys of the file that no field takes.
func unknownKeys(md toml.MetaData) []error {
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("%s: unknown key", k))
	}
	return errs
}

// Write saves sc as a scenario folder in dir: scenario.toml, opening with
// a comment that names it, and series.csv (seconds without data have no
// row). A failure leaves the folder as it was (see WriteCommented).
func Write(dir string, sc *Scenario) error {
	return WriteCommented(dir, sc, fmt.Sprintf("# %s, exported by relwatch\n", sc.Name))
}

// WriteCommented is Write with comment (lines that start with "#") opening
// scenario.toml. Both files are written to temporary names first and
// renamed into place only when both are whole, so a failure leaves no
// half-written scenario. scenario.toml is renamed last, and the old one is
// taken aside first: a crash between the renames leaves a folder without
// scenario.toml, which no replay takes for a scenario, never a new
// series.csv beside the old scenario.toml.
func WriteCommented(dir string, sc *Scenario, comment string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := encode(sc, comment)
	if err != nil {
		return err
	}
	return atomicfile.Replace(dir, files...)
}

// encode is sc's folder as the files to write, scenario.toml last.
func encode(sc *Scenario, comment string) ([]atomicfile.File, error) {
	var meta bytes.Buffer
	meta.WriteString(comment)
	if err := toml.NewEncoder(&meta).Encode(sc); err != nil {
		return nil, fmt.Errorf("encode scenario.toml: %w", err)
	}
	var csv bytes.Buffer
	if err := series.Write(&csv, sc.Series, sc.DurationS); err != nil {
		return nil, fmt.Errorf("encode series.csv: %w", err)
	}
	return []atomicfile.File{
		{Name: "series.csv", Write: func(w io.Writer) error { _, err := w.Write(csv.Bytes()); return err }},
		{Name: "scenario.toml", Write: func(w io.Writer) error { _, err := w.Write(meta.Bytes()); return err }},
	}, nil
}
