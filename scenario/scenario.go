// Package scenario reads recorded releases (../shared/scenarios format: a
// folder with scenario.toml and series.csv) and runs them through the real
// watcher on a virtual clock, against the fake Heroku.
package scenario

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/relwatch/relwatch/metrics"
)

// Release is one release of the scenario's app.
type Release struct {
	Version         int    `toml:"version"`
	AtS             int    `toml:"at_s"`
	Description     string `toml:"description"`
	Status          string `toml:"status"`
	SucceededAfterS int    `toml:"succeeded_after_s,omitempty"`
}

// Expect is the right outcome of a scenario.
type Expect struct {
	Verdict   string `toml:"verdict"` // "rollback" or "healthy"
	Release   int    `toml:"release"`
	BadFromS  int    `toml:"bad_from_s,omitempty"`
	MaxDelayS int    `toml:"max_delay_s,omitempty"`
}

// Scenario is one recorded release.
type Scenario struct {
	Dir          string    `toml:"-"`
	Name         string    `toml:"name"`
	App          string    `toml:"app"`
	WatchedRoute string    `toml:"watched_route"`
	DurationS    int       `toml:"duration_s"`
	Releases     []Release `toml:"releases"`
	Expect       *Expect   `toml:"expect,omitempty"`

	// Series holds per-route points, index t_s; OK false where the file had
	// no row.
	Series map[string][]metrics.Point `toml:"-"`
}

// Load reads the scenario folder dir.
func Load(dir string) (*Scenario, error) {
	tomlPath := filepath.Join(dir, "scenario.toml")
	raw, err := os.ReadFile(tomlPath)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", dir, err)
	}
	sc, err := ParseTOML(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tomlPath, err)
	}
	sc.Dir = dir
	csvPath := filepath.Join(dir, "series.csv")
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", dir, err)
	}
	defer f.Close()
	series, err := ParseSeries(f, sc.DurationS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", csvPath, err)
	}
	if _, ok := series[sc.WatchedRoute]; !ok {
		return nil, fmt.Errorf("%s: watched_route %q has no rows", csvPath, sc.WatchedRoute)
	}
	sc.Series = series
	return sc, nil
}

// ParseTOML decodes and validates scenario.toml strictly: an unknown key is
// an error, and every problem is reported at once.
func ParseTOML(raw []byte) (*Scenario, error) {
	var sc Scenario
	md, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(&sc)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("%s: unknown key", k))
	}
	if sc.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if sc.App == "" {
		errs = append(errs, errors.New("app: required"))
	}
	if sc.WatchedRoute == "" {
		errs = append(errs, errors.New("watched_route: required"))
	}
	if sc.DurationS <= 0 || sc.DurationS > 7*24*3600 {
		errs = append(errs, fmt.Errorf("duration_s: %d is not between 1 and 604800", sc.DurationS))
	}
	if len(sc.Releases) == 0 {
		errs = append(errs, errors.New("releases: at least one is required"))
	}
	seen := map[int]bool{}
	for i, r := range sc.Releases {
		p := fmt.Sprintf("releases[%d]", i)
		if r.Version <= 0 {
			errs = append(errs, fmt.Errorf("%s.version: %d is not a positive number", p, r.Version))
		} else if seen[r.Version] {
			errs = append(errs, fmt.Errorf("%s.version: v%d appears twice", p, r.Version))
		}
		seen[r.Version] = true
		if r.Description == "" {
			errs = append(errs, fmt.Errorf("%s.description: required", p))
		}
		if r.Status != "succeeded" && r.Status != "failed" {
			errs = append(errs, fmt.Errorf("%s.status: %q is not succeeded or failed", p, r.Status))
		}
		if r.SucceededAfterS < 0 {
			errs = append(errs, fmt.Errorf("%s.succeeded_after_s: %d is negative", p, r.SucceededAfterS))
		}
		if sc.DurationS > 0 && r.AtS >= sc.DurationS {
			errs = append(errs, fmt.Errorf("%s.at_s: %d is after the recording ends (duration_s %d)", p, r.AtS, sc.DurationS))
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
		default:
			errs = append(errs, fmt.Errorf("expect.verdict: %q is not rollback or healthy", e.Verdict))
		}
		if !seen[e.Release] {
			errs = append(errs, fmt.Errorf("expect.release: v%d is not among the releases", e.Release))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(sc.Releases, func(i, j int) bool { return sc.Releases[i].Version < sc.Releases[j].Version })
	return &sc, nil
}

// Write saves sc as a scenario folder in dir: scenario.toml and series.csv
// (seconds without data have no row). It writes to temporary files first,
// so a failure leaves no half-written scenario.
func Write(dir string, sc *Scenario) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var meta bytes.Buffer
	fmt.Fprintf(&meta, "# %s, exported by relwatch\n", sc.Name)
	if err := toml.NewEncoder(&meta).Encode(sc); err != nil {
		return fmt.Errorf("encode scenario.toml: %w", err)
	}
	var series bytes.Buffer
	series.WriteString(SeriesHeader + "\n")
	routes := make([]string, 0, len(sc.Series))
	for r := range sc.Series {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for t := 0; t < sc.DurationS; t++ {
		for _, r := range routes {
			if pts := sc.Series[r]; t < len(pts) && pts[t].OK {
				p := pts[t]
				fmt.Fprintf(&series, "%d,%s,%d,%d,%d\n", t, r, p.Requests, p.Errors, p.Repeats)
			}
		}
	}
	for name, data := range map[string][]byte{"scenario.toml": meta.Bytes(), "series.csv": series.Bytes()} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// SeriesHeader is the header line series.csv must start with.
const SeriesHeader = "t_s,route,requests,errors,repeats"

// maxSeriesSeconds bounds a series with no declared duration (a week).
const maxSeriesSeconds = 7 * 24 * 3600

// ParseSeries reads series.csv: one row per route per second, t_s from 0 to
// durationS-1 (durationS 0: as long as the file says, up to a week). Errors
// name the line.
func ParseSeries(r io.Reader, durationS int) (map[string][]metrics.Point, error) {
	limit := durationS
	if durationS <= 0 {
		limit = maxSeriesSeconds
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	out := map[string][]metrics.Point{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			if text != SeriesHeader {
				return nil, fmt.Errorf("line 1: header is %q, want %q", text, SeriesHeader)
			}
			continue
		}
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 5 {
			return nil, fmt.Errorf("line %d: %d fields, want 5 (%s)", line, len(fields), SeriesHeader)
		}
		var nums [4]int64
		for i, idx := range []int{0, 2, 3, 4} {
			n, err := strconv.ParseInt(fields[idx], 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("line %d: %s %q is not a non-negative whole number", line, strings.Split(SeriesHeader, ",")[idx], fields[idx])
			}
			nums[i] = n
		}
		t, route := nums[0], fields[1]
		if route == "" {
			return nil, fmt.Errorf("line %d: route is empty", line)
		}
		if t >= int64(limit) {
			return nil, fmt.Errorf("line %d: t_s %d is past the recording (%d s)", line, t, limit)
		}
		if nums[2] > nums[1] || nums[3] > nums[1] {
			return nil, fmt.Errorf("line %d: errors %d or repeats %d exceed requests %d", line, nums[2], nums[3], nums[1])
		}
		pts := out[route]
		if int(t) >= len(pts) {
			n := durationS
			if n <= 0 {
				n = max(int(t)+1, 2*len(pts))
			}
			pts = append(pts, make([]metrics.Point, n-len(pts))...)
			out[route] = pts
		}
		if pts[t].OK {
			return nil, fmt.Errorf("line %d: a second row for t_s %d, route %q", line, t, route)
		}
		pts[t] = metrics.Point{OK: true, Requests: nums[1], Errors: nums[2], Repeats: nums[3]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line == 0 {
		return nil, errors.New("empty file: no header")
	}
	return out, nil
}
