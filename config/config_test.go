package config

import (
	"strings"
	"testing"
	"time"
)

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Apps[0]
	if a.Name != "crates-io" || a.Route != "download" || a.WatchFor != 20*time.Minute || a.RestartGrace != 45*time.Second ||
		!a.AutoRollback || a.Thresholds.Z != 4 || cfg.PollInterval != 5*time.Second || cfg.RollbackTimeout != 2*time.Minute {
		t.Fatalf("example config resolved to %+v / %+v", cfg, a)
	}
}

func TestOverridesAndDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
[watch]
watch_for = "5m"
[thresholds]
z = 5.0
[[apps]]
name = "a"
route = "download"
metrics = { source = "series", path = "x.csv" }
[[apps]]
name = "b"
route = "download"
watch_for = "1m"
auto_rollback = false
metrics = { source = "series", path = "x.csv" }
thresholds = { z = 6.0 }
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Apps[0], cfg.Apps[1]
	if a.WatchFor != 5*time.Minute || a.Thresholds.Z != 5 || !a.AutoRollback {
		t.Errorf("app a = %+v", a)
	}
	if b.WatchFor != time.Minute || b.Thresholds.Z != 6 || b.AutoRollback || b.Thresholds.MinRequests != 50 {
		t.Errorf("app b = %+v", b)
	}
}

func TestDecodeErrorNamesTheKey(t *testing.T) {
	_, err := Parse([]byte("tick = \"soon\"\n"))
	if err == nil || !strings.Contains(err.Error(), "tick") || !strings.Contains(err.Error(), `"soon" is not a duration`) {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorsNameEveryKey(t *testing.T) {
	_, err := Parse([]byte(`
[heroku]
poll_intervall = "5s"
[thresholds]
z = -1.0
rate_collapse_ratio = 1.5
[[apps]]
name = "a"
metrics = { source = "statsd" }
[[apps]]
name = "a"
route = "download"
metrics = { source = "series" }
[[notifiers]]
type = "pager"
`))
	for _, want := range []string{
		"heroku.poll_intervall: unknown key",
		"thresholds.z: -1 must be positive",
		"thresholds.rate_collapse_ratio: 1.5 must be between 0 and 1",
		"apps[0].route: required",
		`apps[0].metrics.source: unknown source "statsd"`,
		`apps[1].name: "a" is configured twice`,
		`apps[1].metrics.path: required`,
		`notifiers[0].type: unknown notifier "pager"`,
	} {
		if err != nil && strings.Count(err.Error(), "z: -1 must be positive") != 1 {
			t.Errorf("an inherited problem is reported more than once: %v", err)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

func TestSourcesAndProbe(t *testing.T) {
	cfg, err := Parse([]byte(`
[[apps]]
name = "a"
route = "download"
[apps.metrics]
source = "prometheus"
url = "http://127.0.0.1:9090"
step = "15s"
[apps.probe]
url = "https://crates.io/api/v1/crates/serde/1.0.0/download"
[[apps]]
name = "b"
route = "GET /api/v1/crates/{crate}/{version}/download"
metrics = { source = "routerlog", via = "session" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Apps[0].Probe; p == nil || p.Interval != 10*time.Second || cfg.Apps[0].Metrics.Step.Duration != 15*time.Second {
		t.Fatalf("app a: %+v", cfg.Apps[0])
	}
	_, err = Parse([]byte(`
[[apps]]
name = "a"
route = "download"
metrics = { source = "prometheus", step = "1500ms", path = "x.csv" }
probe = { url = "crates.io/download" }
[[apps]]
name = "b"
route = "/x"
metrics = { source = "routerlog", via = "carrier-pigeon", retain = "10m" }
`))
	for _, want := range []string{
		"apps[0].metrics.step: 1.5s must be a whole number of seconds",
		`apps[0].metrics: path and start are for source "series"`,
		`apps[0].probe.url: "crates.io/download" is not an absolute http(s) URL`,
		`apps[1].metrics.via: "carrier-pigeon" is not session or drain`,
		"apps[1].metrics.retain: 10m0s is shorter than baseline + watch_for (50m0s)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`[[apps]]
name = "a"
route = "r"
metrics = { source = "series", path = "p" }`))
	f.Add([]byte(`tick = "5s"
[thresholds]
z = 4.0`))
	f.Add([]byte("[[apps]]\nname = 1"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw)
		if err == nil && len(cfg.Apps) == 0 {
			t.Fatal("a config without apps was accepted")
		}
	})
}
