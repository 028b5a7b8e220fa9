// Package chart draws the picture of a verdict: each deciding signal per
// 30 s bucket over the baseline's end and the watch, the baseline's normal
// band, the threshold, and the release going live, the onset and the
// rollback marked. People would rather look than read a z score. It draws
// from what the event carries (notify.Event's Trend and Findings), with
// gonum/plot and its embedded fonts, so the same event gives the same bytes.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/relwatch/relwatch/analysis"
	"github.com/relwatch/relwatch/notify"
)

// The default picture size, in pixels: wide enough for a chat's preview.
const (
	Width  = 800
	Height = 400
)

// BandSD is how many standard deviations of the baseline's buckets the
// normal band spans either side of their mean.
const BandSD = 3

// The colours of the picture; tests look for them in its pixels.
var (
	BandColor      = color.RGBA{R: 204, G: 224, B: 255, A: 255} // the baseline's normal band
	SignalColor    = color.RGBA{R: 20, G: 20, B: 120, A: 255}
	ThresholdColor = color.RGBA{R: 128, G: 0, B: 160, A: 255}
	LiveColor      = color.RGBA{R: 0, G: 150, B: 0, A: 255}   // the release goes live
	OnsetColor     = color.RGBA{R: 255, G: 140, B: 0, A: 255} // the fault begins
	RollbackColor  = color.RGBA{R: 220, G: 0, B: 0, A: 255}   // the rollback
)

// ErrNoTrend is Render's answer for an event without traffic to draw (a
// person's rollback, a watch that never read its route).
var ErrNoTrend = errors.New("chart: the event carries no trend to draw")

// Kinds are the event kinds that get a picture: the verdicts.
var Kinds = map[notify.Kind]bool{notify.Anomaly: true, notify.RollbackStarted: true, notify.RollbackSucceeded: true, notify.WatchHealthy: true}

// Picture is a rendered chart, with where its marks fell, in pixels from
// the image's top left.
type Picture struct {
	PNG           []byte
	Width, Height int
	Signal        analysis.Signal
	// Signals are the signals drawn, one panel each from the top: every
	// trigger that fired (Signal is the first, whose panel the fields
	// below describe).
	Signals []analysis.Signal
	// X maps minutes since the release went live to a pixel column; Y maps
	// a value of the signal as drawn (percent for shares, requests/s for
	// rates) to a pixel row.
	X, Y func(float64) int
	// BandLow and BandHigh are the normal band, Threshold the line drawn
	// (NaN: none), in the signal's drawn unit.
	BandLow, BandHigh, Threshold float64
	// Onset and Rollback are in minutes since live; NaN when not marked.
	Onset, Rollback float64
}

// Render draws e's picture at width×height pixels: one panel per signal
// that fired, stacked (one, with the signal it was judged on, when none
// did).
func Render(e notify.Event, width, height int) (*Picture, error) {
	t := e.Seen().Trend
	if t == nil || len(t.Rate) == 0 {
		return nil, ErrNoTrend
	}
	if width < 200 || height < 120 {
		return nil, fmt.Errorf("chart: %dx%d pixels is too small to read (at least 200x120)", width, height)
	}
	ds := deciders(e)
	pic := &Picture{Width: width, Height: height, Signal: ds[0].f.Signal, Onset: math.NaN(), Rollback: math.NaN(), Threshold: math.NaN()}
	var plots []*plot.Plot
	for i, d := range ds {
		p, err := panel(e, d, pic, i == 0, vg.Points(float64(width)))
		if err != nil {
			return nil, err
		}
		plots = append(plots, p)
		pic.Signals = append(pic.Signals, d.f.Signal)
	}

	// 72 DPI: one point is one pixel, so the size asked is the size made.
	c := vgimg.NewWith(vgimg.UseWH(vg.Points(float64(width)), vg.Points(float64(height))), vgimg.UseDPI(72))
	dc := draw.New(c)
	first := dc
	if len(plots) == 1 {
		plots[0].Draw(dc)
	} else {
		grid := make([][]*plot.Plot, len(plots))
		for i, p := range plots {
			grid[i] = []*plot.Plot{p}
		}
		cells := plot.Align(grid, draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(6)}, dc)
		for i, p := range plots {
			p.Draw(cells[i][0])
		}
		first = cells[0][0]
	}
	data := plots[0].DataCanvas(first)
	tx, ty := plots[0].Transforms(&data)
	pic.X = func(x float64) int { return int(math.Round(float64(tx(x)))) }
	pic.Y = func(y float64) int { return height - int(math.Round(float64(ty(y)))) }
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: encode PNG: %w", err)
	}
	pic.PNG = buf.Bytes()
	return pic, nil
}

// decider is one signal to draw: its finding, its per-bucket values, and
// their unit.
type decider struct {
	f      analysis.Finding
	values []float64
	unit   string
}

// panel builds the plot of one signal; the first panel carries the title
// and sets pic's band, threshold and marks.
func panel(e notify.Event, d decider, pic *Picture, first bool, width vg.Length) (*plot.Plot, error) {
	t := e.Seen().Trend
	f, values, unit := d.f, d.values, d.unit
	band := struct{ low, high, threshold float64 }{threshold: math.NaN()}

	p := plot.New()
	p.Title.Text = signalName(f.Signal)
	if first {
		p.Title.Text = title(p, e, f.Signal, width)
	}
	p.X.Label.Text = "minutes since the release went live"
	p.Y.Label.Text = unit
	p.Legend.Top, p.Legend.Left = true, true

	bucket := t.Bucket.Minutes()
	if bucket <= 0 {
		bucket = 0.5
	}
	xOf := func(i int) float64 { return (float64(i-t.Release) + 0.5) * bucket }
	minX, maxX := float64(-t.Release)*bucket, float64(len(values)-t.Release)*bucket

	// The band: the baseline's buckets, mean ± BandSD·sd.
	mean, sd := meanSD(values[:min(t.Release, len(values))])
	maxY := 0.0
	if !math.IsNaN(mean) {
		band.low, band.high = math.Max(0, mean-BandSD*sd), mean+BandSD*sd
		poly, err := plotter.NewPolygon(plotter.XYs{{X: minX, Y: band.low}, {X: maxX, Y: band.low}, {X: maxX, Y: band.high}, {X: minX, Y: band.high}})
		if err != nil {
			return nil, fmt.Errorf("chart: band: %w", err)
		}
		poly.Color, poly.LineStyle.Width = BandColor, 0
		p.Add(poly)
		p.Legend.Add(fmt.Sprintf("baseline normal (mean ± %d sd)", BandSD), poly)
		maxY = band.high
	}
	if th := threshold(f) * scale(f.Signal); th > 0 && !math.IsNaN(th) {
		band.threshold = th
		l, err := plotter.NewLine(plotter.XYs{{X: minX, Y: th}, {X: maxX, Y: th}})
		if err != nil {
			return nil, fmt.Errorf("chart: threshold: %w", err)
		}
		l.Color, l.Width, l.Dashes = ThresholdColor, vg.Points(1.5), []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(l)
		p.Legend.Add("threshold", l)
		maxY = math.Max(maxY, th)
	}

	// The signal, broken where there was no data.
	var run plotter.XYs
	named := false
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		l, err := plotter.NewLine(run)
		if err != nil {
			return fmt.Errorf("chart: signal: %w", err)
		}
		l.Color, l.Width = SignalColor, vg.Points(2)
		p.Add(l)
		if !named {
			p.Legend.Add(signalName(f.Signal), l)
			named = true
		}
		run = nil
		return nil
	}
	for i, v := range values {
		if math.IsNaN(v) {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		run = append(run, plotter.XY{X: xOf(i), Y: v})
		maxY = math.Max(maxY, v)
	}
	if err := flush(); err != nil {
		return nil, err
	}

	onsetAt, rollbackAt := math.NaN(), math.NaN()
	if on := onset(e); !on.IsZero() && !t.LiveAt.IsZero() {
		onsetAt = on.Sub(t.LiveAt).Minutes()
	}
	if (e.Kind == notify.RollbackStarted || e.Kind == notify.RollbackSucceeded) && !t.LiveAt.IsZero() {
		rollbackAt = e.At.Sub(t.LiveAt).Minutes()
	}
	if maxY <= 0 {
		maxY = 1
	}
	top := maxY * 1.15
	for _, m := range []struct {
		x     float64
		c     color.Color
		label string
	}{{0, LiveColor, fmt.Sprintf("v%d live", e.Release)}, {onsetAt, OnsetColor, "onset"}, {rollbackAt, RollbackColor, "rollback"}} {
		if math.IsNaN(m.x) {
			continue
		}
		maxX = math.Max(maxX, m.x)
		l, err := plotter.NewLine(plotter.XYs{{X: m.x, Y: 0}, {X: m.x, Y: top}})
		if err != nil {
			return nil, fmt.Errorf("chart: %s mark: %w", m.label, err)
		}
		l.Color, l.Width = m.c, vg.Points(2)
		p.Add(l)
		p.Legend.Add(m.label, l)
	}
	p.X.Min, p.X.Max = minX, maxX
	p.Y.Min, p.Y.Max = 0, top
	if first {
		pic.BandLow, pic.BandHigh, pic.Threshold = band.low, band.high, band.threshold
		pic.Onset, pic.Rollback = onsetAt, rollbackAt
	}
	return p, nil
}

// titleMargin is the room left either side of the title.
const titleMargin = 8

// title is the first panel's title, "APP vN · ROUTE · KIND: SIGNAL", made
// to fit width: a long route, then a long app name, is shortened in its
// middle ("…"), so that the verdict and the signal, at the title's end,
// are never drawn off the picture (the title is centred: one too wide
// loses both its ends).
func title(p *plot.Plot, e notify.Event, s analysis.Signal, width vg.Length) string {
	app, rt := []rune(e.App), []rune(route(e.Seen().Route))
	keepApp, keepRoute := len(app), len(rt)
	text := func() string {
		return fmt.Sprintf("%s v%d · %s · %s: %s", shorten(app, keepApp), e.Release, shorten(rt, keepRoute), e.Kind, signalName(s))
	}
	for p.Title.TextStyle.Width(text())+2*titleMargin > width {
		switch {
		case keepRoute > 12:
			keepRoute -= max(1, keepRoute/10)
		case keepApp > 12:
			keepApp -= max(1, keepApp/10)
		default:
			return text() // as short as it gets
		}
	}
	return text()
}

// shorten is s with its middle taken out, marked "…", keeping keep of its
// characters: s itself when it has no more.
func shorten(s []rune, keep int) string {
	if len(s) <= keep {
		return string(s)
	}
	return string(s[:keep/2]) + "…" + string(s[len(s)-(keep-keep/2):])
}

// PNG draws e's picture at the default size and returns its bytes.
func PNG(e notify.Event) ([]byte, error) {
	p, err := Render(e, Width, Height)
	if err != nil {
		return nil, err
	}
	return p.PNG, nil
}

// deciders are the signals the picture shows: every trigger that fired
// and has a series in the trend, in the verdict's order; when none did,
// the first trigger judged with one, else the error share.
//
// The trend is the traffic of one route, Seen.Route, the one that decided:
// a finding of another route (the app guards several) has no series in
// it, and is not drawn over this route's values.
func deciders(e notify.Event) []decider {
	seen := e.Seen()
	var out []decider
	drawn := map[analysis.Signal]bool{}
	ofTrend := func(f analysis.Finding) bool { return f.Route == "" || f.Route == seen.Route }
	for _, f := range seen.Findings {
		if f.Trigger && f.Status == analysis.Anomalous && !drawn[f.Signal] && ofTrend(f) {
			if v, unit, ok := series(seen.Trend, f.Signal); ok {
				out = append(out, decider{f, v, unit})
				drawn[f.Signal] = true
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, f := range seen.Findings {
		if f.Trigger && ofTrend(f) {
			if v, unit, ok := series(seen.Trend, f.Signal); ok {
				return []decider{{f, v, unit}}
			}
		}
	}
	v, unit, _ := series(seen.Trend, analysis.ErrorShare)
	return []decider{{analysis.Finding{Signal: analysis.ErrorShare}, v, unit}}
}

// series is the trend's buckets of signal s, in the unit drawn.
func series(t *notify.Trend, s analysis.Signal) ([]float64, string, bool) {
	var v []float64
	unit := "% of requests"
	switch s {
	case analysis.ErrorShare:
		v = t.ErrorShare
	case analysis.RepeatShare:
		v = t.RepeatShare
	case analysis.RateCollapse, analysis.RateRise:
		v, unit = t.Rate, "requests/s"
	case analysis.LatencyP50:
		v, unit = t.LatencyP50, "ms"
	case analysis.LatencyP95:
		v, unit = t.LatencyP95, "ms"
	case analysis.LatencyP99:
		v, unit = t.LatencyP99, "ms"
	default:
		return nil, "", false
	}
	if len(v) == 0 {
		return nil, "", false
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * scale(s)
	}
	return out, unit, true
}

// scale turns a signal's value into the unit drawn: shares in percent.
func scale(s analysis.Signal) float64 {
	if s == analysis.ErrorShare || s == analysis.RepeatShare {
		return 100
	}
	if _, ok := analysis.LatencyQuantile(s); ok {
		return 1000 // seconds, drawn in ms
	}
	return 1
}

// threshold is the value past which the finding's signal is a fault, as
// the analysis judges it: the guardrail in absolute mode; else the least
// effect that counts (shares: baseline plus MinIncrease and times
// MinRatio; rates: times or over MinRatio), never inside the baseline's
// own worst window (Burst). NaN when the finding sets none.
func threshold(f analysis.Finding) float64 {
	if f.Mode == analysis.Absolute {
		return f.Baseline
	}
	switch f.Signal {
	case analysis.ErrorShare, analysis.RepeatShare, analysis.LatencyP50, analysis.LatencyP95, analysis.LatencyP99:
		th := math.Max(f.Baseline+f.MinIncrease, f.Baseline*f.MinRatio)
		return math.Max(th, f.Burst)
	case analysis.RateRise:
		if f.MinRatio > 0 {
			return f.Baseline * f.MinRatio
		}
	case analysis.RateCollapse:
		if f.MinRatio > 0 {
			th := f.Baseline / f.MinRatio
			if f.Burst > 0 {
				th = math.Min(th, f.Burst)
			}
			return th
		}
	}
	return math.NaN()
}

// onset is when the fault began: the start of the earliest window a
// trigger fired on.
func onset(e notify.Event) time.Time {
	var on time.Time
	for _, f := range e.Seen().Findings {
		if f.Trigger && f.Status == analysis.Anomalous && !f.From.IsZero() && (on.IsZero() || f.From.Before(on)) {
			on = f.From
		}
	}
	return on
}

func meanSD(v []float64) (mean, sd float64) {
	var n, sum float64
	for _, x := range v {
		if !math.IsNaN(x) {
			n++
			sum += x
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	mean = sum / n
	var ss float64
	for _, x := range v {
		if !math.IsNaN(x) {
			ss += (x - mean) * (x - mean)
		}
	}
	return mean, math.Sqrt(ss / n)
}

func route(r string) string {
	if r == "" {
		return "all routes"
	}
	return r
}

func signalName(s analysis.Signal) string {
	switch s {
	case analysis.RateCollapse:
		return "request rate (collapse)"
	case analysis.RateRise:
		return "request rate (rise)"
	case analysis.ErrorShare:
		return "error share"
	case analysis.RepeatShare:
		return "repeat share"
	}
	if q, ok := analysis.LatencyQuantile(s); ok {
		return fmt.Sprintf("p%g latency", 100*q)
	}
	return string(s)
}

// ForThread is notify.ThreadOptions.Picture: a verdict's picture, as a
// file named after the release and the kind; false for an event that has
// none (not a verdict, or no traffic to draw, as for a person's rollback).
func ForThread(e notify.Event) (notify.File, bool, error) {
	if !drawable(e) {
		return notify.File{}, false, nil
	}
	b, err := PNG(e)
	if err != nil {
		return notify.File{}, false, fmt.Errorf("draw %s v%d %s: %w", e.App, e.Release, e.Kind, err)
	}
	return notify.File{Name: FileName(e), Title: fmt.Sprintf("%s v%d: %s", e.App, e.Release, e.Kind), Data: b}, true, nil
}

// drawable reports whether e is a verdict with traffic to draw.
func drawable(e notify.Event) bool {
	t := e.Seen().Trend
	return Kinds[e.Kind] && t != nil && len(t.Rate) > 0
}

// FileName names e's picture: "crates-io-v42-rollback.succeeded.png".
func FileName(e notify.Event) string {
	return fmt.Sprintf("%s-v%d-%s.png", e.App, e.Release, e.Kind)
}

// Last is the verdict of a release's story to draw: the last event of
// Kinds with a trend (a rollback's end over its anomaly); false when the
// story has none.
func Last(events []notify.Event) (notify.Event, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i]; drawable(e) {
			return e, true
		}
	}
	return notify.Event{}, false
}
