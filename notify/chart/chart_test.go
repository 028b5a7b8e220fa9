package chart_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
)

var live = time.Date(2023, 7, 20, 14, 0, 0, 0, time.UTC)

// Verdict is a crates.io-like rollback: 20 baseline buckets of repeat
// share alternating 10% and 20% (band 0..30%), then 78% from 2 min after
// live, rolled back at 4 min.
func Verdict() notify.Event {
	t := &notify.Trend{Bucket: 30 * time.Second, Release: 20, LiveAt: live}
	for i := range 30 {
		share := 0.10
		if i%2 == 1 {
			share = 0.20
		}
		if i >= 24 {
			share = 0.78
		}
		t.Rate = append(t.Rate, 1200)
		t.ErrorShare = append(t.ErrorShare, 0)
		t.RepeatShare = append(t.RepeatShare, share)
	}
	t.RepeatShare[22] = math.NaN() // a bucket without data breaks the line
	return notify.Event{Header: notify.Header{Kind: notify.RollbackSucceeded, At: live.Add(4 * time.Minute), App: "crates-io", Release: 42},
		Fact: notify.RollbackStep{Target: 41, Seen: notify.Seen{Route: "GET /api/v1/crates/{name}/{version}/download", Trend: t,
			Findings: []analysis.Finding{
				{Signal: analysis.ErrorShare, Status: analysis.Healthy, Trigger: true},
				{Signal: analysis.RepeatShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.15, Current: 0.78,
					MinIncrease: 0.05, MinRatio: 3, Burst: 0.25, From: live.Add(2 * time.Minute), To: live.Add(4 * time.Minute)},
			}}}}
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

// near reports whether a pixel within 2 px of (x, y) has colour want
// (antialiasing blends a line's edges, never its middle).
func near(img image.Image, x, y int, want color.RGBA) bool {
	for dx := -2; dx <= 2; dx++ {
		for dy := -2; dy <= 2; dy++ {
			r, g, b, _ := img.At(x+dx, y+dy).RGBA()
			if close8(r, want.R) && close8(g, want.G) && close8(b, want.B) {
				return true
			}
		}
	}
	return false
}

func close8(v uint32, want uint8) bool { return math.Abs(float64(v>>8)-float64(want)) <= 12 }

func TestPictureShowsBandThresholdAndMarks(t *testing.T) {
	pic, err := chart.Render(Verdict(), 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, pic.PNG)
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 360 {
		t.Fatalf("picture is %dx%d, want 640x360", b.Dx(), b.Dy())
	}
	if pic.Signal != analysis.RepeatShare {
		t.Errorf("picture shows %s, want the signal that fired (repeat_share)", pic.Signal)
	}
	if math.Abs(pic.BandLow-0) > 1e-9 || math.Abs(pic.BandHigh-30) > 1e-9 || math.Abs(pic.Threshold-45) > 1e-9 {
		t.Errorf("band %.2f..%.2f threshold %.2f; want 0..30 (15%% ± 3·5%%) and 45 (3 × 15%%)", pic.BandLow, pic.BandHigh, pic.Threshold)
	}
	checks := []struct {
		what string
		x, y int
		want color.RGBA
	}{
		{"the band, inside the baseline", pic.X(-8), pic.Y(4), chart.BandColor},
		{"the threshold line", pic.X(-7), pic.Y(45), chart.ThresholdColor},
		{"the live mark", pic.X(0), pic.Y(60), chart.LiveColor},
		{"the onset mark", pic.X(2), pic.Y(60), chart.OnsetColor},
		{"the rollback mark", pic.X(4), pic.Y(60), chart.RollbackColor},
		{"the signal after the break", pic.X(4.75), pic.Y(78), chart.SignalColor},
	}
	for _, c := range checks {
		if !near(img, c.x, c.y, c.want) {
			t.Errorf("%s: pixel (%d, %d) is %v, want %v", c.what, c.x, c.y, img.At(c.x, c.y), c.want)
		}
	}
	// Above the band, in the baseline, nothing is drawn: white.
	if x, y := pic.X(-8), pic.Y(38); !near(img, x, y, color.RGBA{255, 255, 255, 255}) || near(img, x, y, chart.BandColor) {
		t.Errorf("pixel (%d, %d) above the band is %v, want white", x, y, img.At(x, y))
	}
}

func TestPictureIsDeterministicAndSurvivesTheOutbox(t *testing.T) {
	e := Verdict()
	first, err := chart.PNG(e)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back notify.Event
	if err := json.Unmarshal(stored, &back); err != nil {
		t.Fatal(err)
	}
	if tr := back.Seen().Trend; !tr.LiveAt.Equal(live) || len(tr.RepeatShare) != 30 || !math.IsNaN(tr.RepeatShare[22]) {
		t.Fatalf("trend after JSON: live %v, %d repeat buckets; want %v, 30 with bucket 22 empty", tr.LiveAt, len(tr.RepeatShare), live)
	}
	again, err := chart.PNG(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Error("the same event, read back from JSON, draws different bytes")
	}
	if img := decode(t, first); img.Bounds().Dx() != chart.Width || img.Bounds().Dy() != chart.Height {
		t.Errorf("default picture is %v, want %dx%d", img.Bounds(), chart.Width, chart.Height)
	}
}

func TestNoTrendNoPicture(t *testing.T) {
	e := Verdict()
	f := e.Fact.(notify.RollbackStep)
	f.Trend = nil
	e.Fact = f
	if _, err := chart.PNG(e); err != chart.ErrNoTrend {
		t.Errorf("err %v, want ErrNoTrend", err)
	}
}

// A healthy end is drawn too: the band and the live mark, no onset and no
// rollback, and the signal judged (error share here, as nothing fired).
func TestHealthyEndHasNoOnsetNorRollback(t *testing.T) {
	e := Verdict()
	seen := e.Seen()
	for i := range seen.Trend.RepeatShare {
		seen.Trend.ErrorShare[i] = 0.01 + 0.01*float64(i%2)
	}
	seen.Findings = []analysis.Finding{{Signal: analysis.ErrorShare, Status: analysis.Healthy, Trigger: true, Baseline: 0.015, MinIncrease: 0.02, MinRatio: 2}}
	e.Kind, e.Fact = notify.WatchHealthy, notify.WatchEnd{Seen: seen}
	pic, err := chart.Render(e, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Signal != analysis.ErrorShare || !math.IsNaN(pic.Onset) || !math.IsNaN(pic.Rollback) {
		t.Fatalf("healthy picture: signal %s onset %v rollback %v; want error_share, neither mark", pic.Signal, pic.Onset, pic.Rollback)
	}
	img := decode(t, pic.PNG)
	if x, y := pic.X(0), pic.Y(pic.BandHigh*1.05); !near(img, x, y, chart.LiveColor) {
		t.Errorf("no live mark at (%d, %d)", x, y)
	}
	for _, c := range []color.RGBA{chart.OnsetColor, chart.RollbackColor} {
		for x := pic.X(0.5); x < pic.X(5); x++ {
			if near(img, x, pic.Y(pic.BandHigh*1.05), c) {
				t.Fatalf("colour %v drawn at x=%d of a healthy end", c, x)
			}
		}
	}
}

// TestEverySignalThatFiredHasItsPanel: a release that both fails (5xx) and
// is retried shows both deciding signals, one panel each, stacked in the
// verdict's order; the first panel is the one the Picture's fields place.
func TestEverySignalThatFiredHasItsPanel(t *testing.T) {
	e := Verdict()
	seen := e.Seen()
	for i := range seen.Trend.ErrorShare {
		if i >= 24 {
			seen.Trend.ErrorShare[i] = 0.30
		}
	}
	seen.Findings[0] = analysis.Finding{Signal: analysis.ErrorShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.001, Current: 0.30,
		MinIncrease: 0.005, MinRatio: 2, From: live.Add(2 * time.Minute), To: live.Add(4 * time.Minute)}
	pic, err := chart.Render(e, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	if len(pic.Signals) != 2 || pic.Signals[0] != analysis.ErrorShare || pic.Signals[1] != analysis.RepeatShare || pic.Signal != analysis.ErrorShare {
		t.Fatalf("panels %v (first %s), want error_share then repeat_share", pic.Signals, pic.Signal)
	}
	img := decode(t, pic.PNG)
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Fatalf("picture is %dx%d, want 640x480", b.Dx(), b.Dy())
	}
	// The first panel fills the top half; the second, its own live mark
	// included, the bottom half.
	if y := pic.Y(0); y > 480/2+10 {
		t.Errorf("the first panel's zero is at row %d: not in the top half", y)
	}
	x := pic.X(0)
	found := false
	for y := 480/2 + 10; y < 470 && !found; y++ {
		found = near(img, x, y, chart.LiveColor)
	}
	if !found {
		t.Error("no live mark in the lower panel: the second signal is not drawn")
	}
	// One signal that fired: one panel, as before.
	if pic, err := chart.Render(Verdict(), 640, 480); err != nil || len(pic.Signals) != 1 {
		t.Fatalf("one signal: %v panels, %v", pic.Signals, err)
	}
}

// Where the app guards several routes, the picture is of the route that
// decided (Seen.Route, whose traffic the trend is): a signal that fired
// on another route has no series in that trend, and drawing its threshold
// over the deciding route's values would mix two routes' figures.
func TestAnotherRoutesSignalIsNotDrawnOnThisRoutesTrend(t *testing.T) {
	e := Verdict()
	seen := e.Seen()
	route := seen.Route
	for i := range seen.Findings {
		seen.Findings[i].Route = route
	}
	for range seen.Trend.Rate {
		seen.Trend.LatencyP95 = append(seen.Trend.LatencyP95, 0.050) // this route's p95: 50 ms throughout
	}
	seen.Findings = append(seen.Findings, analysis.Finding{Signal: analysis.LatencyP95, Route: "POST /login", Status: analysis.Anomalous, Trigger: true,
		Baseline: 0.300, Current: 2.4, MinIncrease: 0.05, MinRatio: 1.5, From: live.Add(2 * time.Minute), To: live.Add(4 * time.Minute)})
	step := e.Fact.(notify.RollbackStep)
	step.Seen = seen
	e.Fact = step
	pic, err := chart.Render(e, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	if len(pic.Signals) != 1 || pic.Signals[0] != analysis.RepeatShare {
		t.Errorf("panels %v: want repeat_share alone, the signal that fired on %s; POST /login's p95 is not in its trend", pic.Signals, route)
	}
	// One route (findings without a route): every signal that fired is drawn.
	one := Verdict()
	one.Seen().Findings[0] = analysis.Finding{Signal: analysis.ErrorShare, Status: analysis.Anomalous, Trigger: true, Baseline: 0.001, Current: 0.3}
	if pic, err := chart.Render(one, 640, 480); err != nil || len(pic.Signals) != 2 {
		t.Errorf("one route: panels %v, %v; want both signals", pic.Signals, err)
	}
}
