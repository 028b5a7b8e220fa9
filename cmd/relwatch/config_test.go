package main

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/watcher"
)

// The config's plain values and the watcher's policy are converted field
// by field: every field, both ways, with the defaults in one place.
func TestConfigPolicyIsTheWatchersPolicy(t *testing.T) {
	if got := policyOf(configDefaults()); got != watcher.DefaultPolicy() {
		t.Fatalf("defaults through the config: %+v, want %+v", got, watcher.DefaultPolicy())
	}
	// A distinct value in every field of the config's policy must arrive
	// in the watcher's field of the same name.
	var p config.Policy
	fill(t, reflect.ValueOf(&p).Elem(), 1)
	got := policyOf(p)
	same(t, reflect.ValueOf(p), reflect.ValueOf(got))
	if n, m := reflect.TypeFor[config.ResolvedThresholds]().NumField(), reflect.TypeFor[analysis.Thresholds]().NumField(); n != m {
		t.Errorf("config.ResolvedThresholds has %d fields, analysis.Thresholds %d", n, m)
	}
	if n, m := reflect.TypeFor[config.Policy]().NumField(), reflect.TypeFor[watcher.Policy]().NumField(); n != m {
		t.Errorf("config.Policy has %d fields, watcher.Policy %d", n, m)
	}
}

func fill(t *testing.T, v reflect.Value, seed int) int {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		seed++
		switch f.Kind() {
		case reflect.Struct:
			seed = fill(t, f, seed)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Float64:
			f.SetFloat(float64(seed) + 0.5)
		case reflect.Int, reflect.Int64:
			if f.Type() == reflect.TypeFor[time.Duration]() {
				f.SetInt(int64(seed) * int64(time.Second))
			} else {
				f.SetInt(int64(seed))
			}
		default:
			t.Fatalf("fill: field %s of kind %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	return seed
}

func same(t *testing.T, from, to reflect.Value) {
	for i := 0; i < from.NumField(); i++ {
		name := from.Type().Field(i).Name
		dst := to.FieldByName(name)
		if !dst.IsValid() {
			t.Errorf("%s.%s has no field of that name in %s", from.Type(), name, to.Type())
			continue
		}
		if from.Field(i).Kind() == reflect.Struct {
			same(t, from.Field(i), dst)
			continue
		}
		if from.Field(i).Interface() != dst.Interface() {
			t.Errorf("%s: %v became %v", name, from.Field(i).Interface(), dst.Interface())
		}
	}
}

// A Prometheus window below the default step is a configuration problem
// named by its key and line when the config loads, not a plan-time error
// without a line. Before, it was refused only when the source was built.
func TestWindowBelowTheDefaultStepNamesItsLine(t *testing.T) {
	freshState(t)
	t.Setenv("HEROKU_API_KEY", "tok")
	cfg := writeConfig(t, `[[apps]]
name = "crates-io"
route = "download"
[apps.metrics]
source = "prometheus"
url = "http://127.0.0.1:9"
window = "10s"
`)
	code, out, errOut := runMain(t, context.Background(), "check", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, "line 7: apps[0].metrics.window: 10s must be") || !strings.Contains(errOut, "the step is 15s, the default") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}
