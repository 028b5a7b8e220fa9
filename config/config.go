// Package config reads relwatch's config.toml: strictly (an unknown key is
// an error naming it), with every problem reported at once by its key path.
// Secrets never live in the file: they come from the environment.
//
// It knows no other relwatch package: it returns plain values, and the
// command builds the watcher's policy, the sources and the notifiers from
// them. The defaults it fills in are given by the command (Options), so
// they live in one place, beside the code that uses them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Duration is a time.Duration written as "30s", "20m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		if days, derr := strconv.Atoi(strings.TrimSuffix(string(b), "d")); derr == nil && strings.HasSuffix(string(b), "d") && days > 0 {
			// "90d": a duration here counts hours at most.
			return fmt.Errorf("%q is not a duration: days are written in hours here, like \"%dh\"", string(b), days*24)
		}
		return fmt.Errorf("%q is not a duration like \"30s\" or \"20m\"", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Thresholds overrides analysis thresholds; unset fields keep the default.
type Thresholds struct {
	Z                   *float64  `toml:"z"`
	MinRequests         *int64    `toml:"min_requests"`
	ErrorShareIncrease  *float64  `toml:"error_share_increase"`
	ErrorShareRatio     *float64  `toml:"error_share_ratio"`
	RepeatShareIncrease *float64  `toml:"repeat_share_increase"`
	RepeatShareRatio    *float64  `toml:"repeat_share_ratio"`
	RateRiseRatio       *float64  `toml:"rate_rise_ratio"`
	RateCollapseRatio   *float64  `toml:"rate_collapse_ratio"`
	Sustain             *Duration `toml:"sustain"`
	MaxWindow           *Duration `toml:"max_window"`
	MinCoverage         *float64  `toml:"min_coverage"`
	MinBaseline         *Duration `toml:"min_baseline"`
	ProbeFailures       *int      `toml:"probe_failures"`
	QuickFactor         *float64  `toml:"quick_factor"`
	QuickWindow         *Duration `toml:"quick_window"`
	BurstMargin         *float64  `toml:"burst_margin"`
	MaxErrorShare       *float64  `toml:"max_error_share"`
	MaxRepeatShare      *float64  `toml:"max_repeat_share"`
	LatencyRatio        *float64  `toml:"latency_ratio"`
	LatencyIncrease     *Duration `toml:"latency_increase"`
}

// Apply returns base with the set fields of t: each field of Thresholds
// sets ResolvedThresholds' field of the same name (TestThresholdsApplyEveryField
// fails a field without one), so a new threshold is a field in each, not
// another line here.
func (t Thresholds) Apply(base ResolvedThresholds) ResolvedThresholds {
	from, to := reflect.ValueOf(t), reflect.ValueOf(&base).Elem()
	for i := range from.NumField() {
		v := from.Field(i)
		if v.IsNil() {
			continue
		}
		dst := to.FieldByName(from.Type().Field(i).Name)
		switch v := v.Elem().Interface().(type) {
		case Duration:
			dst.Set(reflect.ValueOf(v.Duration))
		default:
			dst.Set(reflect.ValueOf(v))
		}
	}
	return base
}

// Watch holds the watch settings; in [watch] they are the defaults, in an
// app they override them.
type Watch struct {
	WatchFor     *Duration `toml:"watch_for"`
	Baseline     *Duration `toml:"baseline"`
	RestartGrace *Duration `toml:"restart_grace"`
	SettleGrace  *Duration `toml:"settle_grace"`
	AutoRollback *bool     `toml:"auto_rollback"`
}

// Metrics names where an app's traffic counts come from.
type Metrics struct {
	Source string `toml:"source"` // "prometheus", "routerlog" or "series"

	// source "series": a series.csv file, t_s = 0 at Start (RFC 3339; empty:
	// when relwatch starts).
	Path  string `toml:"path"`
	Start string `toml:"start"`

	// source "prometheus".
	URL           string    `toml:"url"` // default $PROMETHEUS_URL
	Step          *Duration `toml:"step"`
	Window        *Duration `toml:"window"` // the range the default queries read a rate over
	Timeout       *Duration `toml:"timeout"`
	RequestsQuery string    `toml:"requests_query"`
	ErrorsQuery   string    `toml:"errors_query"`
	RepeatsQuery  string    `toml:"repeats_query"`
	LatencyQuery  string    `toml:"latency_query"`

	// source "routerlog": Via is "session" (a log session from the worker)
	// or "drain" (an HTTPS drain on $PORT; credentials from
	// RELWATCH_DRAIN_USER / RELWATCH_DRAIN_PASSWORD / RELWATCH_DRAIN_TOKEN,
	// or RELWATCH_DRAIN_<APP>_TOKEN when several apps have drains).
	Via    string    `toml:"via"`
	Retain *Duration `toml:"retain"`
}

// Probe is an app's synthetic download check.
type Probe struct {
	URL      string    `toml:"url"`
	Interval *Duration `toml:"interval"`
	Timeout  *Duration `toml:"timeout"`
}

// App is one [[apps]] entry.
type App struct {
	Name  string `toml:"name"`
	Route string `toml:"route"`
	// Routes guards several routes (the first leads the announcements);
	// give route or routes, not both.
	Routes []string `toml:"routes"`
	// AllRoutes also guards every other route the app serves, its paths
	// grouped into templates (source "routerlog"), at most MaxRoutes in
	// all, busiest first; the named routes are always among them, the
	// first leading.
	AllRoutes bool `toml:"all_routes"`
	MaxRoutes int  `toml:"max_routes"`
	// ControlRoute is the app's other traffic as the source names it: a
	// fall it shares with the guarded route is lost data, not a collapse.
	ControlRoute string     `toml:"control_route"`
	Metrics      Metrics    `toml:"metrics"`
	Probe        *Probe     `toml:"probe"`
	Thresholds   Thresholds `toml:"thresholds"`
	// TokenEnv names the environment variable that holds the Heroku token
	// the app is reached with (default HEROKU_API_KEY): apps of several
	// teams or accounts, each token with its own rate-limit budget. The
	// name ends in _API_KEY or _TOKEN, so that relwatch keeps its value
	// out of everything it writes.
	TokenEnv string `toml:"token_env"`
	Watch
}

// DefaultTokenEnv holds the Heroku token of an app that names none.
const DefaultTokenEnv = "HEROKU_API_KEY"

// SecretSuffixes end the names of the environment variables that may hold a
// credential of an app's (token_env): the command redacts the values of
// every variable named so.
var SecretSuffixes = []string{"_API_KEY", "_TOKEN"}

// envName is an environment variable's name as a shell writes it.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Heroku is the [heroku] table.
type Heroku struct {
	APIURL       string    `toml:"api_url"`
	PollInterval *Duration `toml:"poll_interval"`
	// IdlePollInterval is between the release polls of an app with nothing
	// going on (twice it when a push source tells of its releases).
	IdlePollInterval *Duration `toml:"idle_poll_interval"`
	Timeout          *Duration `toml:"timeout"`
}

// Notifier is one [[notifiers]] entry. Secrets come from the environment:
// SLACK_BOT_TOKEN; ZULIP_EMAIL, ZULIP_API_KEY and ZULIP_SITE.
type Notifier struct {
	Type    string `toml:"type"`    // "console", "slack" or "zulip"
	Channel string `toml:"channel"` // slack: channel ID or name
	Stream  string `toml:"stream"`  // zulip
	Topic   string `toml:"topic"`   // zulip (default "deployments")
	Site    string `toml:"site"`    // zulip (default $ZULIP_SITE)
	APIURL  string `toml:"api_url"` // slack: another API address (tests)
	// Events are the event kinds to post (default all), as written: the
	// command checks them against notify's list.
	Events []string `toml:"events"`
	// Commands turns on /relwatch slash commands over Socket Mode (slack;
	// needs SLACK_APP_TOKEN); only AllowedUsers (Slack user IDs) may act.
	Commands     bool     `toml:"commands"`
	AllowedUsers []string `toml:"allowed_users"`
}

// Destination is where a chat notifier posts: a Slack channel, a Zulip
// stream's topic (its site first when set); "" for the console.
func (n Notifier) Destination() string {
	switch n.Type {
	case "slack":
		return n.Channel
	case "zulip":
		topic := n.Topic
		if topic == "" {
			topic = "deployments"
		}
		d := n.Stream + "/" + topic
		if n.Site != "" {
			d = n.Site + " " + d
		}
		return d
	}
	return ""
}

// File is config.toml as written.
type File struct {
	Heroku     Heroku     `toml:"heroku"`
	Tick       *Duration  `toml:"tick"`
	Watch      Watch      `toml:"watch"`
	Thresholds Thresholds `toml:"thresholds"`
	Apps       []App      `toml:"apps"`
	Notifiers  []Notifier `toml:"notifiers"`
	// RollbackTimeout bounds a whole rollback, every attempt included.
	RollbackTimeout *Duration `toml:"rollback_timeout"`
	// WorkerApp is the Heroku app relwatch runs in, for the override
	// commands in announcements (default $HEROKU_APP_NAME).
	WorkerApp string `toml:"worker_app"`
	// LeaseTTL is how long a worker's hold on an app lasts unrenewed: a
	// killed worker's apps are taken over after it.
	LeaseTTL *Duration `toml:"lease_ttl"`
	// Retention is how long the state store keeps watches, decisions and
	// what is over of requests, rollbacks and announcements; "0s" keeps
	// everything.
	Retention *Duration `toml:"retention"`
}

// ResolvedThresholds are the analysis thresholds with every default filled
// in: analysis.Thresholds field for field, in its order and of its types,
// so that the command converts one into the other (analysis.Thresholds(t))
// and the compiler refuses a field added to one and not the other. (config
// imports nothing of relwatch's.)
type ResolvedThresholds struct {
	Z                   float64
	MinRequests         int64
	ErrorShareIncrease  float64
	ErrorShareRatio     float64
	RepeatShareIncrease float64
	RepeatShareRatio    float64
	RateRiseRatio       float64
	RateCollapseRatio   float64
	Sustain             time.Duration
	QuickFactor         float64
	QuickWindow         time.Duration
	MaxWindow           time.Duration
	MinCoverage         float64
	MinBaseline         time.Duration
	ProbeFailures       int
	BurstMargin         float64
	MaxErrorShare       float64
	MaxRepeatShare      float64
	LatencyRatio        float64
	LatencyIncrease     time.Duration
}

// Policy is how an app's releases are watched and judged, with every
// default filled in: watcher.Policy field for field, as plain values.
type Policy struct {
	WatchFor     time.Duration
	Baseline     time.Duration
	RestartGrace time.Duration
	SettleGrace  time.Duration
	AutoRollback bool
	Thresholds   ResolvedThresholds
}

// ResolvedApp is an app with every default filled in.
type ResolvedApp struct {
	Name string
	// Route is the leading guarded route, Routes[0]; Routes are all the
	// routes named.
	Route  string
	Routes []string
	// AllRoutes guards every route the source sees, at most MaxRoutes.
	AllRoutes bool
	MaxRoutes int
	// ControlRoute is the app's other traffic ("" for none).
	ControlRoute string
	Metrics      Metrics // a relative series path is resolved against Options.Dir
	Probe        *ResolvedProbe
	// TokenEnv is the environment variable of the app's Heroku token.
	TokenEnv string
	Policy
}

// ResolvedProbe is a probe with its defaults.
type ResolvedProbe struct {
	URL      string
	Interval time.Duration
	Timeout  time.Duration
}

// Config is the validated configuration.
type Config struct {
	APIURL           string
	PollInterval     time.Duration
	IdlePollInterval time.Duration
	HTTPTimeout      time.Duration
	Tick             time.Duration
	RollbackTimeout  time.Duration
	Apps             []ResolvedApp
	Notifiers        []Notifier
	// WorkerApp is worker_app as written: empty when the file does not
	// say (the command then asks $HEROKU_APP_NAME).
	WorkerApp string
	LeaseTTL  time.Duration
	Retention time.Duration // 0: keep everything
}

// DefaultRetention is how long the state store keeps history by default:
// 90 days.
const DefaultRetention = 90 * 24 * time.Hour

// MinRetention is the shortest retention: what a restarted worker and
// `relwatch status` read must outlive a day.
const MinRetention = 24 * time.Hour

// KnownSources are the metrics sources this build has.
var KnownSources = []string{"prometheus", "routerlog", "series"}

// KnownNotifiers are the notifier types this build has.
var KnownNotifiers = []string{"console", "slack", "zulip"}

// Options is what Parse needs besides the text.
type Options struct {
	// Defaults is the policy of an app that sets nothing. The command
	// passes the watcher's and the analysis's defaults.
	Defaults Policy
	// Dir is the folder relative paths in the file are relative to (the
	// config file's own); empty: the working directory.
	Dir string
	// EventKinds are the event names a notifier's events may list (the
	// command passes notify's one list); empty: not checked.
	EventKinds []string
	// RouterRoute checks a route of an app whose metrics are the router
	// log (the command passes the router-log source's own parser); nil:
	// only its shape, a method and a path, is checked.
	RouterRoute func(route string) error
	// RouterShadows reports whether the router-log route earlier takes
	// every request later would (the command passes the source's own
	// rule: a request counts toward the first route that matches it), so
	// that later, listed after it, would never count one; nil: not
	// checked.
	RouterShadows func(earlier, later string) bool
	// PrometheusStep is the step of a Prometheus source that sets none
	// (the command passes the source's own default), which its window may
	// not be shorter than; zero: a window is checked only against a step
	// the file sets.
	PrometheusStep time.Duration
}

// Load reads and validates the file at path. Relative paths in it are
// relative to the file's folder (opt.Dir is ignored).
func Load(path string, opt Options) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	opt.Dir = filepath.Dir(path)
	cfg, err := Parse(raw, opt)
	if err != nil {
		return nil, InFile("config "+path, err)
	}
	return cfg, nil
}

// DecodeError is TOML the decoder could not read into the configuration:
// where it stopped, the key it was reading, and why.
type DecodeError struct {
	Line int    // from 1; 0 when the decoder did not say
	Key  string // the key being read, when the decoder said
	Msg  string
	Err  error // the decoder's own error
}

// Error implements error.
func (e *DecodeError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// tomlError is how the TOML decoder words the errors it gives no
// position for (a value of the wrong type).
var tomlError = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func decodeError(err error) *DecodeError {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &DecodeError{Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message, Err: err}
	}
	if m := tomlError.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &DecodeError{Line: line, Key: m[2], Msg: m[3], Err: err}
	}
	return &DecodeError{Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
}

// wrongType is how the decoder words a value of the wrong type, in Go's
// type names.
var wrongType = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)

// tomlTypes name the decoder's Go types, of values and of destinations,
// as TOML does.
var tomlTypes = map[string]string{
	"string": "a string", "int64": "an integer", "integer": "an integer", "float64": "a float", "float": "a number",
	"bool": "a boolean", "boolean": "a boolean", "[]any": "an array", "[]interface {}": "an array", "slice": "an array",
	"map[string]any": "a table", "map[string]interface {}": "a table", "map": "a table", "struct": "a table",
	"time.Time": "a date-time",
}

// inTOMLWords words a value of the wrong type as the file does ("want a
// string, got an array"), and gives its key the indexes every other
// problem's has (apps[1].route), from the key at its line.
//
// The decoder's line is the key's last in the file, not the wrong value's:
// where the key is in several tables of an array, the wrong value is found
// in the file read without types, and its line and index are said.
func (e *DecodeError) inTOMLWords(raw []byte, lines []keyLine) *DecodeError {
	m := wrongType.FindStringSubmatch(e.Msg)
	if m == nil || tomlTypes[m[1]] == "" || tomlTypes[m[2]] == "" {
		return e
	}
	e.Msg = fmt.Sprintf("want %s, got %s", tomlTypes[m[2]], tomlTypes[m[1]])
	var same []keyLine
	for _, k := range lines {
		if unindexed.ReplaceAllString(k.path, "") == e.Key {
			same = append(same, k)
		}
	}
	if len(same) > 1 {
		var doc map[string]any
		if _, err := toml.Decode(string(raw), &doc); err == nil {
			for _, k := range same {
				if v, ok := valueAt(doc, k.path); ok && tomlTypeOf(v) == tomlTypes[m[1]] {
					e.Key, e.Line = k.path, k.line
					return e
				}
			}
		}
	}
	for _, k := range same {
		if k.line == e.Line {
			e.Key = k.path
		}
	}
	return e
}

// valueAt is the value at an indexed key path ("apps[1].route") of a TOML
// document read without types.
func valueAt(doc map[string]any, path string) (any, bool) {
	var v any = doc
	for _, part := range strings.Split(path, ".") {
		name, idx, indexed := strings.Cut(part, "[")
		table, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = table[name]; !ok {
			return nil, false
		}
		if indexed {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			arr, ok := v.([]map[string]any)
			if err != nil || !ok || i < 0 || i >= len(arr) {
				return nil, false
			}
			v = arr[i]
		}
	}
	return v, true
}

// tomlTypeOf names the type of a value read without types as tomlTypes do.
func tomlTypeOf(v any) string {
	switch v.(type) {
	case []map[string]any:
		return "an array"
	case time.Time:
		return "a date-time"
	}
	return tomlTypes[fmt.Sprintf("%T", v)]
}

// unindexed matches the indexes of a key's path.
var unindexed = regexp.MustCompile(`\[\d+\]`)

// Parse decodes and validates a config.toml. A configuration without apps
// is valid: the commands that need one say so.
func Parse(raw []byte, opt Options) (*Config, error) {
	var f File
	md, err := toml.NewDecoder(bytes.NewReader(raw)).Decode(&f)
	if err != nil {
		return nil, withUnknownKeys(raw, err)
	}
	var errs []error
	lines := keyLines(raw)
	errs = append(errs, unknownKeys(md)...)
	if f.Heroku.APIURL != "" {
		if !IsHTTPURL(f.Heroku.APIURL) {
			errs = append(errs, fmt.Errorf("heroku.api_url: %q is not an http(s) URL like https://api.heroku.com", MaskPassword(f.Heroku.APIURL)))
		}
	}
	cfg := &Config{
		APIURL:           f.Heroku.APIURL,
		PollInterval:     orDur(f.Heroku.PollInterval, 5*time.Second),
		IdlePollInterval: orDur(f.Heroku.IdlePollInterval, time.Minute),
		HTTPTimeout:      orDur(f.Heroku.Timeout, 15*time.Second),
		Tick:             orDur(f.Tick, 5*time.Second),
		RollbackTimeout:  orDur(f.RollbackTimeout, 2*time.Minute),
		Notifiers:        f.Notifiers,
		WorkerApp:        f.WorkerApp,
		LeaseTTL:         orDur(f.LeaseTTL, 30*time.Second),
		Retention:        orDur(f.Retention, DefaultRetention),
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s must be positive", key, d))
		}
	}
	if f.WorkerApp != "" {
		if err := CheckAppName(f.WorkerApp); err != nil {
			errs = append(errs, fmt.Errorf("worker_app: %w", err))
		}
	}
	positive("heroku.poll_interval", cfg.PollInterval)
	positive("heroku.idle_poll_interval", cfg.IdlePollInterval)
	// A bound between two keys, one left at its default, is the fault of
	// the key the file sets: the problem names it, at its line.
	switch {
	case cfg.IdlePollInterval <= 0 || cfg.IdlePollInterval >= cfg.PollInterval:
	case f.Heroku.IdlePollInterval == nil:
		errs = append(errs, fmt.Errorf("heroku.poll_interval: %s is longer than idle_poll_interval (%s, its default)", cfg.PollInterval, cfg.IdlePollInterval))
	default:
		errs = append(errs, fmt.Errorf("heroku.idle_poll_interval: %s is shorter than poll_interval (%s)", cfg.IdlePollInterval, cfg.PollInterval))
	}
	positive("heroku.timeout", cfg.HTTPTimeout)
	positive("tick", cfg.Tick)
	positive("rollback_timeout", cfg.RollbackTimeout)
	if cfg.Retention != 0 && cfg.Retention < MinRetention {
		errs = append(errs, fmt.Errorf("retention: %s is less than a day (%s); \"0s\" keeps everything", cfg.Retention, MinRetention))
	}
	switch {
	case cfg.LeaseTTL >= 2*cfg.Tick:
	case f.LeaseTTL == nil:
		errs = append(errs, fmt.Errorf("tick: %s is more than half of lease_ttl (%s, its default): a tick of at most %s, or lease_ttl = %q or more", cfg.Tick, cfg.LeaseTTL, cfg.LeaseTTL/2, (2*cfg.Tick).String()))
	default:
		errs = append(errs, fmt.Errorf("lease_ttl: %s must be at least two ticks (%s)", cfg.LeaseTTL, 2*cfg.Tick))
	}
	def := opt.Defaults
	defaults := f.Thresholds.Apply(def.Thresholds)
	errs = append(errs, checkThresholds("thresholds", defaults, f.Thresholds)...)
	errs = append(errs, checkWatch("watch", f.Watch)...)
	errs = append(errs, checkGraces("watch", f.Watch, Policy{
		WatchFor:     orDur(f.Watch.WatchFor, def.WatchFor),
		RestartGrace: orDur(f.Watch.RestartGrace, def.RestartGrace),
		SettleGrace:  orDur(f.Watch.SettleGrace, def.SettleGrace),
	})...)
	names := map[string]bool{}
	for i, a := range f.Apps {
		p := fmt.Sprintf("apps[%d]", i)
		r := ResolvedApp{Name: a.Name, Route: a.Route, AllRoutes: a.AllRoutes, MaxRoutes: a.MaxRoutes, ControlRoute: a.ControlRoute, Metrics: a.Metrics,
			TokenEnv: a.TokenEnv, Policy: Policy{
				WatchFor:     orDur(a.WatchFor, orDur(f.Watch.WatchFor, def.WatchFor)),
				Baseline:     orDur(a.Baseline, orDur(f.Watch.Baseline, def.Baseline)),
				RestartGrace: orDur(a.RestartGrace, orDur(f.Watch.RestartGrace, def.RestartGrace)),
				SettleGrace:  orDur(a.SettleGrace, orDur(f.Watch.SettleGrace, def.SettleGrace)),
				AutoRollback: orBool(a.AutoRollback, orBool(f.Watch.AutoRollback, def.AutoRollback)),
				Thresholds:   a.Thresholds.Apply(defaults),
			}}
		if a.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", p))
		} else if err := CheckAppName(a.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", p, err))
		} else if names[a.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is configured twice", p, a.Name))
		}
		names[a.Name] = true
		if r.TokenEnv == "" {
			r.TokenEnv = DefaultTokenEnv
		} else if err := checkTokenEnv(r.TokenEnv); err != nil {
			errs = append(errs, fmt.Errorf("%s.token_env: %w", p, err))
		}
		errs = append(errs, resolveRoutes(p, a, &r, opt)...)
		switch {
		case a.ControlRoute != "" && a.ControlRoute != "other" && a.Metrics.Source == "routerlog":
			errs = append(errs, fmt.Errorf("%s.control_route: %q with metrics.source = \"routerlog\": the router log's control is \"other\", every line no guarded route (or template) matched", p, a.ControlRoute))
		}
		// Problems the app inherits are reported once, at [watch].
		errs = append(errs, checkWatch(p, a.Watch)...)
		errs = append(errs, checkGraces(p, a.Watch, r.Policy)...)
		if r.Baseline > 0 && r.Baseline < r.Thresholds.MinBaseline {
			// The baseline holds at most its own length of traffic: it
			// could never be compared with.
			errs = append(errs, fmt.Errorf("%s.baseline: %s is shorter than thresholds.min_baseline (%s): no baseline would ever be enough to compare with, and the absolute guardrails would judge alone", p, r.Baseline, r.Thresholds.MinBaseline))
		}
		if a.Thresholds != (Thresholds{}) {
			// Problems the app inherits are reported once, at [thresholds].
			errs = append(errs, checkThresholds(p+".thresholds", r.Thresholds, a.Thresholds)...)
		}
		if a.Probe != nil {
			rp := &ResolvedProbe{URL: a.Probe.URL, Interval: orDur(a.Probe.Interval, 10*time.Second), Timeout: orDur(a.Probe.Timeout, 10*time.Second)}
			if !IsHTTPURL(rp.URL) {
				errs = append(errs, fmt.Errorf("%s.probe.url: %q is not an absolute http(s) URL", p, MaskPassword(rp.URL)))
			}
			positive(p+".probe.interval", rp.Interval)
			positive(p+".probe.timeout", rp.Timeout)
			if rp.Interval > 0 && rp.Timeout > rp.Interval {
				// One check at a time: a hanging download would be checked
				// every timeout, and probe_failures would take that long
				// each to roll a release back.
				said := ""
				if a.Probe.Timeout == nil {
					said = " (the default)"
				}
				errs = append(errs, fmt.Errorf("%s.probe.timeout: %s%s is longer than probe.interval (%s): checks run one at a time, so a hanging download would be checked every %s", p, rp.Timeout, said, rp.Interval, rp.Timeout))
			}
			r.Probe = rp
		}
		m := a.Metrics
		if m.Source != "prometheus" && (m.URL != "" || m.Step != nil || m.Window != nil || m.Timeout != nil || m.RequestsQuery != "" || m.ErrorsQuery != "" || m.RepeatsQuery != "" || m.LatencyQuery != "") {
			errs = append(errs, fmt.Errorf("%s.metrics: url, step, window, timeout, requests_query, errors_query, repeats_query and latency_query are for source \"prometheus\"", p))
		}
		if m.Source != "routerlog" && (m.Via != "" || m.Retain != nil) {
			errs = append(errs, fmt.Errorf("%s.metrics: via and retain are for source \"routerlog\"", p))
		}
		if m.Source != "series" && (m.Path != "" || m.Start != "") {
			errs = append(errs, fmt.Errorf("%s.metrics: path and start are for source \"series\"", p))
		}
		switch a.Metrics.Source {
		case "":
			errs = append(errs, fmt.Errorf("%s.metrics.source: required (one of %v)", p, KnownSources))
		case "prometheus":
			if m.Step != nil && (m.Step.Duration < time.Second || m.Step.Duration%time.Second != 0) {
				errs = append(errs, fmt.Errorf("%s.metrics.step: %s must be a whole number of seconds", p, m.Step.Duration))
			}
			step, stepSaid := opt.PrometheusStep, fmt.Sprintf(" (the step is %s, the default)", opt.PrometheusStep)
			if m.Step != nil {
				step, stepSaid = m.Step.Duration, fmt.Sprintf(" (the step is %s)", m.Step.Duration)
			} else if step == 0 {
				stepSaid = ""
			}
			if w := m.Window; w != nil && (w.Duration < time.Second || w.Duration%time.Second != 0 || w.Duration < step) {
				errs = append(errs, fmt.Errorf("%s.metrics.window: %s must be a whole number of seconds, at least the step, and twice the scrape interval%s", p, w.Duration, stepSaid))
			}
			if m.Timeout != nil && m.Timeout.Duration <= 0 {
				errs = append(errs, fmt.Errorf("%s.metrics.timeout: %s must be positive", p, m.Timeout.Duration))
			}
			if m.URL != "" && !IsHTTPURL(m.URL) {
				// Not quoted: a Prometheus address may hold a password.
				errs = append(errs, fmt.Errorf("%s.metrics.url: not an absolute http(s) URL", p))
			}
		case "routerlog":
			switch m.Via {
			case "session", "drain":
			case "":
				errs = append(errs, fmt.Errorf(`%s.metrics.via: required with source "routerlog": "session" (a log session from this worker, no setup) or "drain" (an HTTPS drain on a web dyno)`, p))
			default:
				errs = append(errs, fmt.Errorf("%s.metrics.via: %q is not session or drain", p, m.Via))
			}
			switch {
			case m.Retain == nil:
			case m.Retain.Duration < r.Baseline+r.WatchFor:
				errs = append(errs, fmt.Errorf("%s.metrics.retain: %s is shorter than baseline + watch_for (%s)", p, m.Retain.Duration, r.Baseline+r.WatchFor))
			case m.Retain.Duration > MaxRetain:
				errs = append(errs, fmt.Errorf("%s.metrics.retain: %s is past the limit of %s (%d bytes a second of each route: %s at the limit)", p, m.Retain.Duration, MaxRetain, RouterBytesPerSecond, routerMemory(MaxRetain)))
			default:
				errs = append(errs, checkMemory(p, r, true, m.Retain)...)
			}
			if m.Retain == nil {
				errs = append(errs, checkMemory(p, r, true, nil)...)
			}
		case "series":
			if a.Metrics.Path == "" {
				errs = append(errs, fmt.Errorf("%s.metrics.path: required for source \"series\"", p))
			} else if !filepath.IsAbs(a.Metrics.Path) && opt.Dir != "" {
				r.Metrics.Path = filepath.Join(opt.Dir, a.Metrics.Path)
			}
			if a.Metrics.Start != "" {
				if _, err := time.Parse(time.RFC3339, a.Metrics.Start); err != nil {
					errs = append(errs, fmt.Errorf("%s.metrics.start: %q is not an RFC 3339 time", p, a.Metrics.Start))
				}
			}
		default:
			errs = append(errs, fmt.Errorf("%s.metrics.source: unknown source %q (known: %v)", p, a.Metrics.Source, KnownSources))
		}
		if m.Source == "prometheus" || m.Source == "series" {
			errs = append(errs, checkMemory(p, r, false, nil)...)
		}
		cfg.Apps = append(cfg.Apps, r)
	}
	commandsAt := -1            // the notifier that takes the chat commands
	postsAt := map[string]int{} // type and destination -> the notifier posting there
	for i, n := range f.Notifiers {
		p := fmt.Sprintf("notifiers[%d]", i)
		if d := n.Destination(); d != "" {
			// Announcements are remembered by chat and destination: two
			// notifiers of one would share threads and outbox rows.
			if j, ok := postsAt[n.Type+" "+d]; ok {
				errs = append(errs, fmt.Errorf("%s: notifiers[%d] posts to %s %s already (merge their events into one)", p, j, n.Type, d))
			} else {
				postsAt[n.Type+" "+d] = i
			}
		}
		switch n.Type {
		case "console":
		case "slack":
			if n.Channel == "" {
				errs = append(errs, fmt.Errorf("%s.channel: required for slack", p))
			}
			if n.APIURL != "" && !IsHTTPURL(n.APIURL) {
				errs = append(errs, fmt.Errorf("%s.api_url: %q is not an absolute http(s) URL like https://slack.com/api/", p, MaskPassword(n.APIURL)))
			}
		case "zulip":
			if n.Stream == "" {
				errs = append(errs, fmt.Errorf("%s.stream: required for zulip", p))
			}
			if n.Site != "" && !IsHTTPURL(n.Site) {
				errs = append(errs, fmt.Errorf("%s.site: %q is not an absolute http(s) URL like %s", p, MaskPassword(n.Site), ZulipSiteExample))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.type: unknown notifier %q (known: %v)", p, n.Type, KnownNotifiers))
		}
		if n.Type != "slack" && (n.Channel != "" || n.APIURL != "" || n.Commands || len(n.AllowedUsers) > 0) {
			errs = append(errs, fmt.Errorf("%s: channel, api_url, commands and allowed_users are for slack", p))
		}
		if n.Commands && len(n.AllowedUsers) == 0 {
			errs = append(errs, fmt.Errorf("%s.allowed_users: required with commands = true (Slack user IDs like U0123ABCD)", p))
		}
		if n.Type == "slack" && !n.Commands && len(n.AllowedUsers) > 0 {
			// As max_routes without all_routes: a list that would be
			// ignored reads as a permission that is in force.
			errs = append(errs, fmt.Errorf("%s.allowed_users: only with commands = true (without it, no one's commands are taken)", p))
		}
		if n.Commands && commandsAt >= 0 {
			// One SLACK_APP_TOKEN: Slack hands each command to either
			// connection, and so to either list of allowed users.
			errs = append(errs, fmt.Errorf("%s.commands: notifiers[%d] takes the commands already (one Slack app token, one list of allowed users)", p, commandsAt))
		} else if n.Commands {
			commandsAt = i
		}
		if n.Type != "zulip" && (n.Stream != "" || n.Topic != "" || n.Site != "") {
			errs = append(errs, fmt.Errorf("%s: stream, topic and site are for zulip", p))
		}
		for j, e := range n.Events {
			if len(opt.EventKinds) > 0 && !slices.Contains(opt.EventKinds, e) {
				errs = append(errs, fmt.Errorf("%s.events[%d]: unknown event %q (known: %v)", p, j, e, opt.EventKinds))
			}
		}
	}
	if len(errs) > 0 {
		return nil, atLines(errs, lines)
	}
	return cfg, nil
}

// MaxWatchFor, MaxBaseline and MaxRetain bound what a release is watched
// for, what it is compared with, and the router log's per-second memory.
// A day of baseline holds a whole daily cycle, and a day of watch a slow
// leak; past that a release is no longer what is being judged. The router
// log keeps RouterBytesPerSecond of each route for retain (by default
// twice baseline + watch_for, so at most MaxRetain): at MaxRetain 33 MB a
// route, where an unbounded baseline ("87600h") asked for terabytes at
// start.
const (
	MaxWatchFor = 24 * time.Hour
	MaxBaseline = 24 * time.Hour
	MaxRetain   = 2 * (MaxBaseline + MaxWatchFor)
)

// RouterBytesPerSecond is what the router log keeps of a route for each
// second retained: a 32-byte slot of counts, and 64 bytes of response
// times once the slot has had one (metrics/routerlog's ring).
const RouterBytesPerSecond = 32 + 64

// WatchBytesPerSecond is what the watcher keeps of each route it judges
// for each second since the release went live, whatever the source: a
// metrics.Point (40 bytes) and its latency histogram (128, once the source
// gives response times).
const WatchBytesPerSecond = 40 + 128

// MaxAppMemory bounds what one app's watch may keep: each route it judges
// (all_routes: up to max_routes) since the release went live, up to
// watch_for, and with the router log each named route, each of up to
// max_routes templates (all_routes) and the others' line for its retain. Half a standard-1X dyno's 512 MB: the worker has
// more to hold.
const MaxAppMemory = 256_000_000

// checkMemory refuses an app whose watch would keep more than MaxAppMemory
// (routerLog: its source keeps rings too; retain nil: the default, twice
// baseline + watch_for).
func checkMemory(p string, r ResolvedApp, routerLog bool, retain *Duration) []error {
	judged := len(r.Routes)
	if r.AllRoutes {
		judged = max(judged, r.MaxRoutes)
	}
	need := int64(judged) * int64(r.WatchFor/time.Second) * WatchBytesPerSecond
	if !routerLog {
		if need <= MaxAppMemory {
			return nil
		}
		return []error{fmt.Errorf("%s.metrics: %d routes judged for watch_for %s need about %d MB (%d bytes a route-second since the release), past the %d MB an app may hold: lower watch_for, or max_routes", p, judged, r.WatchFor, need/1_000_000, WatchBytesPerSecond, MaxAppMemory/1_000_000)}
	}
	keep, key := 2*(r.Baseline+r.WatchFor), "baseline and watch_for (retain is twice their sum)"
	if retain != nil {
		keep, key = retain.Duration, "metrics.retain"
	}
	// The router log keeps a ring for each named route, each of up to
	// max_routes templates of the other paths (all_routes), and the
	// others' line (metrics/routerlog.New): more than it judges.
	routes := len(r.Routes) + 1
	if r.AllRoutes {
		routes += r.MaxRoutes
	}
	need += int64(routes) * int64(keep/time.Second) * RouterBytesPerSecond
	if need <= MaxAppMemory {
		return nil
	}
	return []error{fmt.Errorf("%s.metrics: %d routes kept for %s in the router log (%d bytes a route-second) and %d judged for watch_for %s (%d bytes a route-second) need about %d MB, past the %d MB an app may hold: lower %s, or max_routes", p, routes, keep, RouterBytesPerSecond, judged, r.WatchFor, WatchBytesPerSecond, need/1_000_000, MaxAppMemory/1_000_000, key)}
}

// routerMemory says how much the router log keeps of a route over retain.
func routerMemory(retain time.Duration) string {
	return fmt.Sprintf("%d MB a route", int64(retain/time.Second)*RouterBytesPerSecond/1_000_000)
}

// MaskPassword is raw, a URL or what was meant as one (a DSN, a probe's
// URL, a chat's address; it need not parse: a password with an unescaped
// '#', '/', '?' or '@', a URL that lost its scheme), with the password of
// its userinfo shown as xxxxx: everything from the first ':' of what looks
// like the userinfo to the last '@' (perhaps more than the password, never
// less). The one rule for it: config imports nothing of relwatch's, so
// every package may use it, and the configuration's errors quote URLs.
func MaskPassword(raw string) string {
	prefix, rest := "", raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		prefix, rest = scheme+"://", after
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return raw
	}
	return prefix + user + ":xxxxx" + rest[at:]
}

// IsHTTPURL reports whether raw is an absolute http(s) URL: the one rule
// for every address relwatch reaches (the Heroku API, a probe, Prometheus,
// a chat's).
func IsHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// ZulipSiteExample is what a Zulip site looks like, for the errors that
// refuse one.
const ZulipSiteExample = "https://rust-lang.zulipchat.com"

// checkWatch names each watch setting w sets that the watcher cannot use,
// under p ("watch", or an app's path).
func checkWatch(p string, w Watch) []error {
	var errs []error
	for _, d := range []struct {
		key    string
		v      *Duration
		zeroOK bool          // a grace may be none
		max    time.Duration // 0: no bound of its own
	}{{"watch_for", w.WatchFor, false, MaxWatchFor}, {"baseline", w.Baseline, false, MaxBaseline}, {"restart_grace", w.RestartGrace, true, 0}, {"settle_grace", w.SettleGrace, true, 0}} {
		switch {
		case d.v == nil:
		case d.zeroOK && d.v.Duration < 0:
			errs = append(errs, fmt.Errorf("%s.%s: %s is negative", p, d.key, d.v.Duration))
		case !d.zeroOK && d.v.Duration <= 0:
			errs = append(errs, fmt.Errorf("%s.%s: %s must be positive", p, d.key, d.v.Duration))
		case d.max > 0 && d.v.Duration > d.max:
			errs = append(errs, fmt.Errorf("%s.%s: %s is past the limit of %s (a router log keeps twice baseline + watch_for of each route, %d bytes a second: at both limits %s)", p, d.key, d.v.Duration, d.max, RouterBytesPerSecond, routerMemory(MaxRetain)))
		}
	}
	return errs
}

// checkGraces refuses a grace that lasts the whole watch: what it holds
// back would never be judged. A problem is reported under p (at the key of
// w's that makes it, so once where an app inherits it); res is the watch
// resolved there.
func checkGraces(p string, w Watch, res Policy) []error {
	var errs []error
	for _, g := range []struct {
		key, holds string
		set        bool
		v          time.Duration
	}{{"restart_grace", "the error share", w.RestartGrace != nil, res.RestartGrace}, {"settle_grace", "the request rate and the repeat share", w.SettleGrace != nil, res.SettleGrace}} {
		if res.WatchFor <= 0 || g.v < res.WatchFor || (!g.set && w.WatchFor == nil) {
			continue
		}
		at := g.key
		if !g.set {
			at = "watch_for"
		}
		errs = append(errs, fmt.Errorf("%s.%s: %s (%s) must be shorter than watch_for (%s): %s would never be judged", p, at, g.key, g.v, res.WatchFor, g.holds))
	}
	return errs
}

// checkThresholds checks the thresholds t that the table at p resolves to;
// set is what that table writes itself (a bound between two keys blames
// the one it sets).
func checkThresholds(p string, t ResolvedThresholds, set Thresholds) []error {
	var errs []error
	// An infinite threshold is never crossed: the signal it guards would
	// be off while the file reads as though it were on.
	pos := func(key string, v float64) {
		switch {
		case math.IsInf(v, 0):
			errs = append(errs, fmt.Errorf("%s.%s: %g is not a finite number", p, key, v))
		case !(v > 0):
			errs = append(errs, fmt.Errorf("%s.%s: %g must be positive", p, key, v))
		}
	}
	pos("z", t.Z)
	pos("error_share_increase", t.ErrorShareIncrease)
	pos("repeat_share_increase", t.RepeatShareIncrease)
	if t.MinRequests < 1 {
		errs = append(errs, fmt.Errorf("%s.min_requests: %d must be at least 1", p, t.MinRequests))
	}
	for key, v := range map[string]float64{"error_share_ratio": t.ErrorShareRatio, "repeat_share_ratio": t.RepeatShareRatio, "rate_rise_ratio": t.RateRiseRatio,
		"quick_factor": t.QuickFactor, "burst_margin": t.BurstMargin, "latency_ratio": t.LatencyRatio} {
		switch {
		case math.IsInf(v, 0):
			errs = append(errs, fmt.Errorf("%s.%s: %g is not a finite number", p, key, v))
		case !(v >= 1):
			errs = append(errs, fmt.Errorf("%s.%s: %g must be at least 1", p, key, v))
		}
	}
	if !(t.RateCollapseRatio > 0 && t.RateCollapseRatio < 1) {
		errs = append(errs, fmt.Errorf("%s.rate_collapse_ratio: %g must be between 0 and 1", p, t.RateCollapseRatio))
	}
	if !(t.MinCoverage > 0 && t.MinCoverage <= 1) {
		errs = append(errs, fmt.Errorf("%s.min_coverage: %g must be in (0, 1]", p, t.MinCoverage))
	}
	if t.Sustain < 3*time.Second {
		errs = append(errs, fmt.Errorf("%s.sustain: %s must be at least 3s", p, t.Sustain))
	}
	// At or past a quarter of sustain it adds nothing (that window is
	// judged anyway): allowed, as a shorter sustain makes it so.
	if t.QuickWindow < 0 || (t.QuickWindow > 0 && t.QuickWindow < 3*time.Second) {
		errs = append(errs, fmt.Errorf("%s.quick_window: %s must be \"0s\" (none) or at least 3s", p, t.QuickWindow))
	}
	switch {
	case t.MaxWindow >= t.Sustain:
	case set.MaxWindow == nil && set.Sustain != nil:
		// The table sets sustain alone: the key written is at fault.
		errs = append(errs, fmt.Errorf("%s.sustain: %s is longer than max_window (%s): windows double from sustain up to max_window; a shorter sustain, or max_window = %q or more", p, t.Sustain, t.MaxWindow, t.Sustain.String()))
	default:
		errs = append(errs, fmt.Errorf("%s.max_window: %s must be at least sustain (%s)", p, t.MaxWindow, t.Sustain))
	}
	if t.ProbeFailures < 1 {
		errs = append(errs, fmt.Errorf("%s.probe_failures: %d must be at least 1", p, t.ProbeFailures))
	}
	if t.LatencyIncrease < 0 {
		errs = append(errs, fmt.Errorf("%s.latency_increase: %s is negative", p, t.LatencyIncrease))
	}
	if t.MinBaseline <= 0 {
		errs = append(errs, fmt.Errorf("%s.min_baseline: %s must be positive", p, t.MinBaseline))
	}
	for key, v := range map[string]float64{"max_error_share": t.MaxErrorShare, "max_repeat_share": t.MaxRepeatShare} {
		if !(v > 0 && v < 1) {
			errs = append(errs, fmt.Errorf("%s.%s: %g must be between 0 and 1", p, key, v))
		}
	}
	return errs
}

func orDur(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func orBool(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// herokuAppName is what Heroku takes for an app's name.
var herokuAppName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)

// CheckAppName says what is wrong with name as a Heroku app's name; nil
// when Heroku would take it. It is the one rule for every app name
// relwatch reads (the config's apps, worker_app, a scenario's app).
func CheckAppName(name string) error {
	if !herokuAppName.MatchString(name) {
		return fmt.Errorf("%q is not a Heroku app name (lowercase letters, digits and dashes, starting with a letter, at most 30)", name)
	}
	return nil
}

// DefaultMaxRoutes and MaxMaxRoutes bound all_routes: the routes judged
// at once, busiest first.
const (
	DefaultMaxRoutes = 50
	MaxMaxRoutes     = 200
)

// resolveRoutes fills r's routes from a's route, routes and all_routes,
// returning each problem with its key under p (a router-log route as
// opt's RouterRoute and RouterShadows read it).
func resolveRoutes(p string, a App, r *ResolvedApp, opt Options) []error {
	var errs []error
	routes := a.Routes
	switch {
	case a.Route != "" && len(a.Routes) > 0:
		errs = append(errs, fmt.Errorf("%s.routes: give route (one) or routes (several), not both", p))
	case a.Route != "":
		routes = []string{a.Route}
	case len(a.Routes) == 0:
		errs = append(errs, fmt.Errorf("%s.route: required: the guarded route, or routes = [...] for several (the first leads; all_routes = true adds every other)", p))
	}
	key := func(i int) string {
		if a.Route != "" {
			return p + ".route"
		}
		return fmt.Sprintf("%s.routes[%d]", p, i)
	}
	seen := map[string]bool{}
	for i, rt := range routes {
		var unread error // what the router-log source cannot read in rt
		if a.Metrics.Source == "routerlog" && opt.RouterRoute != nil {
			unread = opt.RouterRoute(rt)
		}
		switch {
		case rt == "":
			errs = append(errs, fmt.Errorf("%s: empty", key(i)))
		case a.Metrics.Source == "routerlog" && !routerRouteShape.MatchString(rt):
			errs = append(errs, fmt.Errorf("%s: %q is not a method and a path, like \"GET /api/v1/crates/{crate}/{version}/download\" (the router log's method and path)", key(i), rt))
		case unread != nil:
			errs = append(errs, fmt.Errorf("%s: %w", key(i), unread))
		case seen[rt]:
			errs = append(errs, fmt.Errorf("%s: %q is listed twice", key(i), rt))
		case rt == a.ControlRoute:
			errs = append(errs, fmt.Errorf("%s.control_route: %q is a guarded route itself; name the app's other traffic", p, rt))
		case a.Metrics.Source == "routerlog" && opt.RouterShadows != nil:
			for j, earlier := range routes[:i] {
				if opt.RouterShadows(earlier, rt) {
					errs = append(errs, fmt.Errorf("%s: %q never counts a request: %s (%q) matches every request it would, and the first route that matches takes it; list it before", key(i), rt, key(j), earlier))
					break
				}
			}
		}
		seen[rt] = true
	}
	r.Routes = routes
	r.Route = ""
	if len(routes) > 0 {
		r.Route = routes[0]
	}
	if a.AllRoutes && a.Metrics.Source != "routerlog" && a.Metrics.Source != "series" {
		errs = append(errs, fmt.Errorf("%s.all_routes: needs metrics.source = \"routerlog\" or \"series\" (a source that sees every route; name Prometheus' routes in routes = [...])", p))
	}
	switch {
	case a.MaxRoutes != 0 && !a.AllRoutes:
		errs = append(errs, fmt.Errorf("%s.max_routes: only with all_routes = true", p))
	case a.MaxRoutes < 0 || a.MaxRoutes > MaxMaxRoutes:
		errs = append(errs, fmt.Errorf("%s.max_routes: %d is not between 1 and %d", p, a.MaxRoutes, MaxMaxRoutes))
	case a.AllRoutes && a.MaxRoutes == 0:
		r.MaxRoutes = DefaultMaxRoutes
	}
	if a.AllRoutes && len(routes) > r.MaxRoutes {
		errs = append(errs, fmt.Errorf("%s.routes: %d routes named, more than max_routes (%d)", p, len(routes), r.MaxRoutes))
	}
	return errs
}

// routerRouteShape is a router-log route: an HTTP method, then a path.
var routerRouteShape = regexp.MustCompile(`^[A-Z]+ /\S*$`)

// unknownKeys names each key of the file that no field takes, the way
// every other problem is named (apps[1].metrics.sourc): the decoder lists
// its keys in the file's order, an array of tables' each time it begins
// one, so each key's indexes are counted as the file is read.
func unknownKeys(md toml.MetaData) []error {
	unknown := map[string]bool{}
	for _, k := range md.Undecoded() {
		unknown[k.String()] = true
	}
	var errs []error
	arrays := map[string]int{} // array-of-tables path -> its current index
	for _, k := range md.Keys() {
		plain := k.String()
		if md.Type(k...) == "ArrayHash" {
			beginTable(arrays, plain)
		}
		if !unknown[plain] {
			continue
		}
		hint := ""
		switch near := nearestKey(k[len(k)-1]); {
		case near == k[len(k)-1]:
			// A known key under the wrong table: say where it goes.
			hint = fmt.Sprintf(" (`%s` is a key of %s, not of this table)", near, strings.Join(tablesOf(near), " and "))
		case near != "":
			hint = fmt.Sprintf(" (did you mean `%s`?)", near)
		}
		errs = append(errs, fmt.Errorf("%s: unknown key%s", indexed(plain, arrays), hint))
	}
	return errs
}

// withUnknownKeys is the decoder's error on a config.toml and its unknown
// keys (see UnknownKeysToo).
func withUnknownKeys(raw []byte, err error) error {
	return UnknownKeysToo(raw, err, func(again []byte) (toml.MetaData, error) {
		var f File
		return toml.NewDecoder(bytes.NewReader(again)).Decode(&f)
	}, unknownKeys)
}

// UnknownKeysToo is the decoder's error on raw (ReadError) and, when it
// stopped at a value it could not take rather than at TOML it could not
// read, the file's unknown keys with it, each at its line: so that a
// person fixes them in one go, not one run each. They are found by
// decoding the file again (decode, into what the file is read into)
// without the values refused (a known key's, each time), until the
// decoder goes through; unknown names them from its metadata.
func UnknownKeysToo(raw []byte, err error, decode func(again []byte) (toml.MetaData, error), unknown func(toml.MetaData) []error) error {
	first := ReadError(raw, err)
	var doc map[string]any
	if _, perr := toml.Decode(string(raw), &doc); perr != nil {
		return first // not TOML: nothing more to read
	}
	for range 64 {
		key := decodeError(err).Key
		if key == "" || !deleteKey(doc, strings.Split(key, ".")) {
			return first
		}
		var again bytes.Buffer
		if toml.NewEncoder(&again).Encode(doc) != nil {
			return first
		}
		md, derr := decode(again.Bytes())
		if derr == nil {
			problems := unknown(md)
			if len(problems) == 0 {
				return first
			}
			return Located(raw, append([]error{first}, problems...))
		}
		err = derr
	}
	return first
}

// deleteKey takes the key at path (its parts, without indexes) out of doc,
// out of every table of an array of tables on the way; whether it was there.
func deleteKey(doc map[string]any, path []string) bool {
	v, ok := doc[path[0]]
	if !ok {
		return false
	}
	if len(path) == 1 {
		delete(doc, path[0])
		return true
	}
	switch t := v.(type) {
	case map[string]any:
		return deleteKey(t, path[1:])
	case []map[string]any:
		found := false
		for _, m := range t {
			found = deleteKey(m, path[1:]) || found
		}
		return found
	}
	return false
}

// checkTokenEnv says what is wrong with name as an app's token_env.
func checkTokenEnv(name string) error {
	if !envName.MatchString(name) {
		return fmt.Errorf("%q is not an environment variable's name (letters, digits and _, not starting with a digit)", name)
	}
	for _, suf := range SecretSuffixes {
		if strings.HasSuffix(name, suf) {
			return nil
		}
	}
	return fmt.Errorf("%q must end in %s, so that relwatch keeps its value out of everything it writes", name, strings.Join(SecretSuffixes, " or "))
}

// nearestKey is the known key closest to key (at most two edits away,
// and nearer than its own length), or "".
func nearestKey(key string) string {
	best, bestD := "", 3
	for _, k := range knownKeys() {
		if d := editDistance(key, k); d < bestD && d < len(key) {
			best, bestD = k, d
		}
	}
	return best
}

// knownKeys are every key the configuration file takes, from the toml tags
// of File and what it holds.
func knownKeys() []string {
	var keys []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name != "" && name != "-" {
				keys = append(keys, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(File{}))
	return keys
}

// tablesOf names the tables that take key, as the file writes their
// headers ("[watch]", "[[apps]]", "[apps.metrics]"; "the top level").
func tablesOf(key string) []string {
	var out []string
	durationType := reflect.TypeOf(Duration{})
	var walk func(t reflect.Type, header, path string)
	walk = func(t reflect.Type, header, path string) {
		for i := range t.NumField() {
			f := t.Field(i)
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && ft.Kind() == reflect.Struct {
				walk(ft, header, path)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			if name == key && !slices.Contains(out, header) {
				out = append(out, header)
			}
			switch {
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, "["+sub+"]", sub)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), "[["+sub+"]]", sub)
			}
		}
	}
	walk(reflect.TypeOf(File{}), "the top level", "")
	return out
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
