package watcher

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/metrics"
	"github.com/relwatch/relwatch/store"
)

// A watch survives the trip through the store's record: every field a
// restarted worker needs comes back as it was.
func TestWatchRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	wt := &Watch{
		App:          "crates-io",
		Release:      heroku.Release{ID: "0b5c", Version: 42, Description: "Promote s v118", Status: heroku.StatusSucceeded, SlugID: "s1", CreatedAt: at, UpdatedAt: at.Add(time.Minute)},
		FirstVersion: 41, BaselineFrom: at.Add(-30 * time.Minute), BaselineTo: at, LiveAt: at.Add(time.Minute), Until: at.Add(21 * time.Minute),
		Baseline: &analysis.Baseline{From: at.Add(-30 * time.Minute), To: at, Seconds: 1800, Requests: 9000, Errors: 3, Repeats: 900, HasRepeats: true,
			RecentRate: 5.1, RecentFirstRate: 4.6, Scales: []analysis.Scale{{Seconds: 30, RequestDispersion: 2.5, ErrorDispersion: 1,
				RepeatDispersion: 1.5, FirstDispersion: 2, ShareWindows: 50, MaxErrorShare: 0.01, MaxRepeatShare: 0.2, RateWindows: 50, MinFirstRate: 3.1}},
			Latency: &analysis.LatencyBaseline{Histogram: metrics.Histogram{12: 40, 13: 900, 20: 3}, Scales: []analysis.LatencyScale{{Seconds: 60,
				Spread: [3]float64{0.02, 0.05, 0.11}, Worst: [3]float64{0.061, 0.24, 0.9}, Windows: [3]int{30, 30, 12}}}}},
		Exclude:   []analysis.Interval{{From: at.Add(-20 * time.Minute), To: at.Add(-19 * time.Minute)}},
		Anomalous: true, RolledBack: true, Judged: true, State: StateRolledBack, Quarantined: 39, ApprovedBy: "ana",
		Last: Evidence{Coverage: 0.97, Verdict: analysis.Verdict{Status: analysis.Anomalous, Mode: analysis.Relative, Findings: []analysis.Finding{{
			Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.1, Current: 0.8, BaselineSample: 9000,
			CurrentSample: 400, BaselineSeconds: 1800, CurrentSeconds: 30, Z: 31.5, ZThreshold: 4, Dispersion: 1.5, From: at, To: at.Add(30 * time.Second), Mode: analysis.Relative,
			MinIncrease: 0.1, MinRatio: 1.5, Burst: 0.2, FirstAttempts: true, TotalBaseline: 5, TotalCurrent: 9, Gap: analysis.GapFewRequests, Have: 3, Need: 50, Detail: "d",
		}}}},
	}
	got := watchFromRecord(wt.storedRecord())
	if !reflect.DeepEqual(got, wt) {
		t.Fatalf("round trip changed the watch:\n got %+v\nwant %+v", got, wt)
	}
}

// Every field of a finding and of a baseline survives the store, the
// fields a test fixture forgets included: each is filled here by
// reflection, and the watch goes through a real store (SQLite) and back.
// A finding is one type (evidence.Finding) and a baseline the analysis'
// own JSON, which the store keeps as they are; a field the store's JSON
// lost, or a copy of the type that came back, fails this test.
func TestRecordKeepsEveryField(t *testing.T) {
	var f analysis.Finding
	fill(t, reflect.ValueOf(&f).Elem(), "Finding")
	var b analysis.Baseline
	fill(t, reflect.ValueOf(&b).Elem(), "Baseline")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	wt := Watch{App: "crates-io", Release: heroku.Release{ID: "r42", Version: 42, Description: "Deploy", Status: "succeeded", CreatedAt: at, UpdatedAt: at},
		LiveAt: at, Until: at.Add(20 * time.Minute), State: StateWatching, Baseline: &b,
		Last: Evidence{Verdict: analysis.Verdict{Status: analysis.Anomalous, Mode: analysis.Relative, Findings: []analysis.Finding{f}}}}
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SaveWatch(t.Context(), wt.storedRecord()); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := db.LatestWatch(t.Context(), "crates-io")
	if err != nil || !ok {
		t.Fatalf("the watch did not come back: %v %v", ok, err)
	}
	back := watchFromRecord(rec)
	if got := back.Last.Verdict.Findings; len(got) != 1 || !reflect.DeepEqual(got[0], f) {
		t.Fatalf("the store lost a field of the finding:\n got %+v\nwant %+v", got, f)
	}
	if !reflect.DeepEqual(back.Baseline, &b) {
		t.Fatalf("the store lost a field of the baseline:\n got %+v\nwant %+v", back.Baseline, &b)
	}

	// A latency baseline that does not read (a record of a newer
	// relwatch) leaves the latency unjudged, not the rest of the baseline.
	var fields map[string]any
	if err := json.Unmarshal(rec.Baseline, &fields); err != nil {
		t.Fatal(err)
	}
	fields["latency"] = "a newer shape"
	rec.Baseline, _ = json.Marshal(fields)
	want := b
	want.Latency = nil
	if got := watchFromRecord(rec).Baseline; !reflect.DeepEqual(got, &want) {
		t.Fatalf("with a latency baseline that does not read:\n got %+v\nwant %+v", got, &want)
	}
}

// fill gives every field of v a value of its own, nested ones too (one
// element to a slice or map, every element of an array).
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("x" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Uint32:
		if v.CanInt() {
			v.SetInt(int64(len(path)))
		} else {
			v.SetUint(uint64(len(path)))
		}
	case reflect.Float64:
		v.SetFloat(float64(len(path)) + 0.5)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 1, 12, 0, len(path), 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), path+"[0]")
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		t.Fatalf("%s: kind %s this test cannot fill; teach it", path, v.Kind())
	}
}
