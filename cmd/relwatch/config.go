package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/metrics/prometheus"
	"github.com/relwatch/relwatch/metrics/routerlog"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/watcher"
)

// configEnv holds the configuration itself (TOML) or the path of a file:
// on Heroku a config var keeps the configuration out of the repository.
const configEnv = "RELWATCH_CONFIG"

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "the configuration file (default $"+configEnv+", which holds the TOML itself or a file's path; then config.toml)")
}

// conf is the validated configuration and where it came from.
type conf struct {
	*config.Config
	from string // the file's path, or "$RELWATCH_CONFIG"
}

// loadConfig reads the configuration: the --config file, else
// $RELWATCH_CONFIG, else ./config.toml. Every problem is a usage error (exit
// 2) naming its key.
func loadConfig(flagValue string) (*conf, error) {
	opt := config.Options{Defaults: configDefaults(), RouterRoute: func(route string) error {
		_, err := routerlog.ParseRoute(route)
		return err
	}, RouterShadows: routerlog.Shadows, PrometheusStep: prometheus.DefaultStep}
	for _, k := range notify.Kinds() {
		opt.EventKinds = append(opt.EventKinds, string(k))
	}
	path := flagValue
	env := os.Getenv(configEnv)
	if path == "" && env != "" {
		// A path may hold "=" or "[" as TOML does (/tmp/d=1/c.toml): what
		// names a file is a path, anything else TOML.
		if _, err := os.Stat(env); err == nil {
			path = env
		}
	}
	var c *conf
	switch {
	case path != "":
		cfg, err := config.Load(path, opt)
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		c = &conf{Config: cfg, from: path}
	case env != "":
		cfg, err := config.Parse([]byte(env), opt)
		if err != nil {
			if !strings.Contains(env, "\n") {
				// One line may have been meant as a path.
				err = fmt.Errorf("read as TOML, as no file %q exists: %w", env, err)
			}
			return nil, &exitError{code: 2, err: config.InFile("config $"+configEnv, err)}
		}
		c = &conf{Config: cfg, from: "$" + configEnv}
	default:
		cfg, err := config.Load("config.toml", opt)
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("%w (give --config FILE, or set %s)", err, configEnv)}
		}
		c = &conf{Config: cfg, from: "config.toml"}
	}
	return c, nil
}

// requireApps refuses a configuration that watches nothing.
func (c *conf) requireApps() error {
	if len(c.Apps) > 0 {
		return nil
	}
	if c.from == "$"+configEnv {
		return usageErr("no apps configured in $%s: add an [[apps]] table (config.toml documents it)", configEnv)
	}
	return usageErr("no apps configured: edit %s (or set %s)", c.from, configEnv)
}

// app returns the configured app called name; any other name is a usage
// error that lists the configured ones.
func (c *conf) app(name string) (config.ResolvedApp, error) {
	if err := c.requireApps(); err != nil {
		return config.ResolvedApp{}, err
	}
	var names []string
	for _, a := range c.Apps {
		if a.Name == name {
			return a, nil
		}
		names = append(names, a.Name)
	}
	return config.ResolvedApp{}, usageErr("%q is not a configured app (configured in %s: %s)", name, c.from, strings.Join(names, ", "))
}

// tokenEnv is the variable that holds the Heroku token for app: its
// token_env when it is a configured app, else the default, as the config
// resolves an app that names none.
func (c *conf) tokenEnv(app string) string {
	for _, a := range c.Apps {
		if a.Name == app {
			return a.TokenEnv
		}
	}
	return config.DefaultTokenEnv
}

// workerApp is the Heroku app relwatch runs in, for the commands the
// announcements quote: worker_app, else $HEROKU_APP_NAME (which Heroku sets
// only with runtime-dyno-metadata); empty when neither says.
func (c *conf) workerApp() (name, origin string) {
	if c.WorkerApp != "" {
		return c.WorkerApp, "worker_app in " + c.from
	}
	if v := os.Getenv("HEROKU_APP_NAME"); v != "" {
		return v, "$HEROKU_APP_NAME"
	}
	return "", ""
}

// configDefaults are the policy of an app that sets nothing: the watcher's
// and the analysis's own defaults, as the config's plain values.
func configDefaults() config.Policy {
	p := watcher.DefaultPolicy()
	return config.Policy{
		WatchFor: p.WatchFor, Baseline: p.Baseline, RestartGrace: p.RestartGrace, SettleGrace: p.SettleGrace,
		AutoRollback: p.AutoRollback,
		Thresholds:   config.ResolvedThresholds(p.Thresholds),
	}
}

// policyOf is the watcher's policy from the config's plain values.
func policyOf(p config.Policy) watcher.Policy {
	return watcher.Policy{
		WatchFor: p.WatchFor, Baseline: p.Baseline, RestartGrace: p.RestartGrace, SettleGrace: p.SettleGrace,
		AutoRollback: p.AutoRollback,
		Thresholds:   analysis.Thresholds(p.Thresholds),
	}
}
