// Package analysis judges a release's traffic against the traffic before it.
//
// Every signal is a comparison of two counts over two exposures: errors per
// request (error share), repeats per request (repeat share), requests per
// second (request rate). One test serves them all: given the baseline's x1
// events over exposure t1 and the current window's x2 over t2, under "no
// change" x2 given x1+x2 is binomial with p = t2/(t1+t2). Real traffic is
// burstier than Poisson, so the binomial variance is multiplied by a
// dispersion factor measured on the baseline itself (Pearson's chi-square
// over baseline bins, quasi-Poisson). A signal is anomalous only when the
// difference is significant (z at or past the threshold), large (past an
// absolute and a relative minimum effect), backed by a minimum sample, and
// lasting (present in each third of the window, not one burst).
//
// Restart blips are expected: each signal is judged only after its grace
// (Grace) from the moment the release went live.
package analysis

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Signal names one thing the analysis measures.
type Signal string

// The signals.
const (
	ErrorShare   Signal = "error_share"
	RepeatShare  Signal = "repeat_share"
	RateRise     Signal = "request_rate_rise"
	RateCollapse Signal = "request_rate_collapse"
	Probe        Signal = "probe"
)

// Status is the outcome for one signal or for a whole verdict.
type Status string

// The statuses. Inconclusive never rolls back.
const (
	Healthy      Status = "healthy"
	Anomalous    Status = "anomalous"
	Inconclusive Status = "inconclusive"
)

// Thresholds are the knobs of the analysis; DefaultThresholds documents the
// defaults and why.
type Thresholds struct {
	Z                   float64       // one-sided z a difference must reach
	MinRequests         int64         // smallest sample (requests, or expected requests) to judge
	ErrorShareIncrease  float64       // absolute rise of the error share (0.01 = one point)
	ErrorShareRatio     float64       // relative rise of the error share
	RepeatShareIncrease float64       // absolute rise of the repeat share
	RepeatShareRatio    float64       // relative rise of the repeat share
	RateRiseRatio       float64       // rate at or above baseline times this is a rise
	RateCollapseRatio   float64       // rate at or below baseline times this is a collapse
	Sustain             time.Duration // shortest window; the effect must fill it
	MaxWindow           time.Duration // longest window, for thin traffic
	MinCoverage         float64       // share of window seconds that must have data
	MinBaseline         time.Duration // seconds of baseline data needed
	ProbeFailures       int           // consecutive failed probes after the release that count as a fault
}

// DefaultThresholds are the defaults config.toml documents.
func DefaultThresholds() Thresholds {
	return Thresholds{
		Z:                   4,
		MinRequests:         50,
		ErrorShareIncrease:  0.01,
		ErrorShareRatio:     2,
		RepeatShareIncrease: 0.10,
		RepeatShareRatio:    1.5,
		RateRiseRatio:       1.5,
		RateCollapseRatio:   0.5,
		Sustain:             30 * time.Second,
		MaxWindow:           10 * time.Minute,
		MinCoverage:         0.5,
		MinBaseline:         30 * time.Second,
		ProbeFailures:       3,
	}
}

// Interval is a span of time, [From, To).
type Interval struct{ From, To time.Time }

// Contains reports whether t is in the interval.
func (iv Interval) Contains(t time.Time) bool { return !t.Before(iv.From) && t.Before(iv.To) }

// Baseline is the traffic before a release: totals, and how bursty each
// count is.
type Baseline struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Seconds    int       `json:"seconds"` // seconds with data
	Requests   int64     `json:"requests"`
	Errors     int64     `json:"errors"`
	Repeats    int64     `json:"repeats"`
	HasRepeats bool      `json:"has_repeats"`
	// Dispersion factors, at least 1: observed variance over Poisson's.
	RequestDispersion float64 `json:"request_dispersion"`
	ErrorDispersion   float64 `json:"error_dispersion"`
	RepeatDispersion  float64 `json:"repeat_dispersion"`
	BinSeconds        int     `json:"bin_seconds"`
	// RecentRate is the request rate over the baseline's last tenth (at
	// least 5 min when it has them): a rate change must hold against it too,
	// so that traffic drifting through the day is not taken for a fault.
	RecentRate float64 `json:"recent_rate"`
}

// NewBaseline summarises s, leaving out the seconds in exclude (the restart
// blips of earlier releases) and seconds without data.
func NewBaseline(s metrics.Series, exclude []Interval, sustain time.Duration) Baseline {
	b := Baseline{From: s.Start, To: s.End(), HasRepeats: s.HasRepeats}
	kept := make([]metrics.Point, 0, len(s.Points))
	for i, p := range s.Points {
		t := s.Start.Add(time.Duration(i) * time.Second)
		skip := !p.OK
		for _, iv := range exclude {
			if iv.Contains(t) {
				skip = true
			}
		}
		if skip {
			kept = append(kept, metrics.Point{})
			continue
		}
		kept = append(kept, p)
		b.Seconds++
		b.Requests += p.Requests
		b.Errors += p.Errors
		b.Repeats += p.Repeats
	}
	// Bins as long as the test window when the baseline is long enough for
	// ten of them; shorter (down to 5 s) on a short baseline.
	bin := int(sustain / time.Second)
	if b.Seconds < 10*bin {
		bin = max(5, b.Seconds/10)
	}
	b.BinSeconds = bin
	b.RecentRate = recentRate(kept, max(300, len(kept)/10))
	b.RequestDispersion, b.ErrorDispersion, b.RepeatDispersion = dispersions(kept, bin, b)
	return b
}

func recentRate(pts []metrics.Point, span int) float64 {
	var secs, reqs int64
	for _, p := range pts[max(0, len(pts)-span):] {
		if p.OK {
			secs++
			reqs += p.Requests
		}
	}
	if secs == 0 {
		return 0
	}
	return float64(reqs) / float64(secs)
}

type bin struct {
	seconds                   int
	requests, errors, repeats int64
}

func dispersions(pts []metrics.Point, size int, b Baseline) (reqD, errD, repD float64) {
	var bins []bin
	for i := 0; i < len(pts); i += size {
		var cur bin
		for _, p := range pts[i:min(i+size, len(pts))] {
			if p.OK {
				cur.seconds++
				cur.requests += p.Requests
				cur.errors += p.Errors
				cur.repeats += p.Repeats
			}
		}
		if cur.seconds*2 >= size { // at least half the bin has data
			bins = append(bins, cur)
		}
	}
	reqD, errD, repD = 1, 1, 1
	if len(bins) < 3 || b.Seconds == 0 {
		return
	}
	rate := float64(b.Requests) / float64(b.Seconds)
	var chiReq, chiErr, chiRep float64
	var nReq, nErr, nRep int
	pErr, pRep := 0.0, 0.0
	if b.Requests > 0 {
		pErr = float64(b.Errors) / float64(b.Requests)
		pRep = float64(b.Repeats) / float64(b.Requests)
	}
	for _, bn := range bins {
		if e := rate * float64(bn.seconds); e > 0 {
			d := float64(bn.requests) - e
			chiReq += d * d / e
			nReq++
		}
		if v := float64(bn.requests) * pErr * (1 - pErr); v > 0 {
			d := float64(bn.errors) - float64(bn.requests)*pErr
			chiErr += d * d / v
			nErr++
		}
		if v := float64(bn.requests) * pRep * (1 - pRep); v > 0 {
			d := float64(bn.repeats) - float64(bn.requests)*pRep
			chiRep += d * d / v
			nRep++
		}
	}
	f := func(chi float64, n int) float64 {
		if n < 3 {
			return 1
		}
		return math.Max(1, chi/float64(n-1))
	}
	return f(chiReq, nReq), f(chiErr, nErr), f(chiRep, nRep)
}

// Rate is the baseline's requests per second.
func (b Baseline) Rate() float64 {
	if b.Seconds == 0 {
		return 0
	}
	return float64(b.Requests) / float64(b.Seconds)
}

// Finding is one signal's outcome with the evidence behind it, so a person
// can check it.
type Finding struct {
	Signal Signal `json:"signal"`
	Status Status `json:"status"`
	// Trigger is true for signals that may roll a release back on their own.
	// A rate rise alone is not one: more traffic is not by itself a fault.
	Trigger         bool      `json:"trigger"`
	Baseline        float64   `json:"baseline"` // share (0..1) or requests/s
	Current         float64   `json:"current"`
	BaselineSample  int64     `json:"baseline_sample"` // requests behind the value
	CurrentSample   int64     `json:"current_sample"`
	BaselineSeconds int       `json:"baseline_seconds"`
	CurrentSeconds  int       `json:"current_seconds"`
	Z               float64   `json:"z"`
	ZThreshold      float64   `json:"z_threshold"`
	Dispersion      float64   `json:"dispersion"`
	MinEffect       string    `json:"min_effect"`
	From            time.Time `json:"from"`
	To              time.Time `json:"to"`
	Note            string    `json:"note,omitempty"`
}

// Verdict is the analysis of one moment: per signal, and overall.
type Verdict struct {
	Status   Status    `json:"status"`
	Findings []Finding `json:"findings"`
	Note     string    `json:"note,omitempty"` // why inconclusive, when it is
}

// Fired returns the anomalous findings that may trigger a rollback.
func (v Verdict) Fired() []Finding {
	var out []Finding
	for _, f := range v.Findings {
		if f.Trigger && f.Status == Anomalous {
			out = append(out, f)
		}
	}
	return out
}

// Finding returns the finding for sig, if there is one.
func (v Verdict) Finding(sig Signal) (Finding, bool) {
	for _, f := range v.Findings {
		if f.Signal == sig {
			return f, true
		}
	}
	return Finding{}, false
}

// Reason is a one-line explanation of the verdict for people.
func (v Verdict) Reason() string {
	switch v.Status {
	case Anomalous:
		var parts []string
		for _, f := range v.Fired() {
			parts = append(parts, f.Describe())
		}
		if f, ok := v.Finding(RateRise); ok && f.Status == Anomalous {
			parts = append(parts, f.Describe())
		}
		return strings.Join(parts, "; ")
	case Inconclusive:
		return v.Note
	}
	return "all signals within their baseline"
}

// Summary is the verdict in a few words: the values of each signal that
// fired against its baseline.
func (v Verdict) Summary() string {
	if v.Status != Anomalous {
		return v.Reason()
	}
	var parts []string
	for _, f := range v.Fired() {
		parts = append(parts, f.Short())
	}
	if f, ok := v.Finding(RateRise); ok && f.Status == Anomalous {
		parts = append(parts, f.Short())
	}
	return strings.Join(parts, ", ")
}

// Short is the finding's values in a few words.
func (f Finding) Short() string {
	switch f.Signal {
	case ErrorShare:
		return fmt.Sprintf("error share %s (was %s)", Percent(f.Current), Percent(f.Baseline))
	case RepeatShare:
		return fmt.Sprintf("repeat share %s (was %s)", Percent(f.Current), Percent(f.Baseline))
	case RateCollapse:
		return fmt.Sprintf("request rate down to %.1f/s (was %.1f/s)", f.Current, f.Baseline)
	case Probe:
		return fmt.Sprintf("download probe failing %d times in a row (passed %s before)", f.CurrentSample, Percent(f.Baseline))
	}
	return fmt.Sprintf("request rate up to %.1f/s (was %.1f/s)", f.Current, f.Baseline)
}

// Describe says what the finding saw: the values, the samples, the test.
func (f Finding) Describe() string {
	win := f.To.Sub(f.From).Round(time.Second)
	switch f.Signal {
	case ErrorShare, RepeatShare:
		name := "error share"
		if f.Signal == RepeatShare {
			name = "repeat share"
		}
		return fmt.Sprintf("%s %s over the last %s (%s requests) vs %s before the release (%s requests); z=%.1f, threshold %.1f",
			name, Percent(f.Current), win, Thousands(f.CurrentSample), Percent(f.Baseline), Thousands(f.BaselineSample), f.Z, f.ZThreshold)
	case Probe:
		return fmt.Sprintf("the download probe failed its last %d checks (%s) after passing %s of %d before the release",
			f.CurrentSample, f.Note, Percent(f.Baseline), f.BaselineSample)
	default:
		verb := "rose"
		if f.Signal == RateCollapse {
			verb = "collapsed"
		}
		ratio := 0.0
		if f.Baseline > 0 {
			ratio = f.Current / f.Baseline
		}
		return fmt.Sprintf("request rate %s to %.1f/s over the last %s vs %.1f/s before the release (x%.2f); z=%.1f, threshold %.1f",
			verb, f.Current, win, f.Baseline, ratio, f.Z, f.ZThreshold)
	}
}

// Thousands writes n with thousands separators: 2,163,865.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + Thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Percent writes a share as a percentage, with more digits when it is tiny.
func Percent(x float64) string {
	if x < 0.001 && x > 0 {
		return fmt.Sprintf("%.3f%%", 100*x)
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

// RateZ is the quasi-Poisson two-sample test: the z score of x2 events over
// exposure t2 against x1 over t1, with variance inflated by dispersion. It
// is positive when the current rate is higher. A continuity correction keeps
// small counts honest.
func RateZ(x1, t1, x2, t2, dispersion float64) float64 {
	n := x1 + x2
	if n <= 0 || t1 <= 0 || t2 <= 0 {
		return 0
	}
	p := t2 / (t1 + t2)
	sd := math.Sqrt(math.Max(dispersion, 1) * n * p * (1 - p))
	d := x2 - n*p
	switch {
	case d > 0.5:
		d -= 0.5
	case d < -0.5:
		d += 0.5
	default:
		d = 0
	}
	if sd == 0 {
		return 0
	}
	return d / sd
}

// window is the counts of a span of the current series.
type window struct {
	from, to                  time.Time
	seconds, covered          int
	requests, errors, repeats int64
}

func sum(s metrics.Series, from, to int) window {
	w := window{from: s.Start.Add(time.Duration(from) * time.Second), to: s.Start.Add(time.Duration(to) * time.Second), seconds: to - from}
	for _, p := range s.Points[from:to] {
		if p.OK {
			w.covered++
			w.requests += p.Requests
			w.errors += p.Errors
			w.repeats += p.Repeats
		}
	}
	return w
}

// Grace is how long after a release goes live each kind of signal is left
// alone. Restarting every dyno gives router errors for as long as the new
// dynos take to boot (Errors); the request rate and the retry signature
// settle sooner (Traffic).
type Grace struct {
	Errors  time.Duration
	Traffic time.Duration
}

// span is the window a group of signals is judged on.
type span struct {
	w     window
	parts [3]window
	note  string // why the span cannot be judged, when it cannot
}

// pickSpan chooses the trailing window of s: th.Sustain long, longer (in
// steps of Sustain, up to MaxWindow) while the traffic is too thin for
// MinRequests.
func pickSpan(base Baseline, s metrics.Series, th Thresholds) span {
	sustain := max(3, int(th.Sustain/time.Second))
	n := len(s.Points)
	if n < sustain {
		return span{note: fmt.Sprintf("settling: %d s of traffic after the restart grace, need %d s", n, sustain)}
	}
	rate := base.Rate()
	size := sustain
	maxSize := max(sustain, int(th.MaxWindow/time.Second))
	for size < n && size < maxSize {
		w := sum(s, n-size, n)
		expected := rate * float64(w.covered)
		// Enough when the window holds the minimum sample, or when it
		// clearly lacks it because requests stopped arriving (a collapse
		// must not be diluted by older traffic).
		if expected >= float64(th.MinRequests) &&
			(w.requests >= th.MinRequests || float64(w.requests) <= th.RateCollapseRatio*expected) {
			break
		}
		size = min(n, maxSize, size+sustain)
	}
	sp := span{w: sum(s, n-size, n)}
	if float64(sp.w.covered) < th.MinCoverage*float64(sp.w.seconds) {
		sp.note = fmt.Sprintf("no data: metrics cover %d of the last %d s; no data is no evidence", sp.w.covered, sp.w.seconds)
		return sp
	}
	for i := range sp.parts {
		hi := n - size + (i+1)*size/3
		if i == 2 {
			hi = n
		}
		sp.parts[i] = sum(s, n-size+i*size/3, hi)
	}
	return sp
}

// ProbeResult is one synthetic download check.
type ProbeResult struct {
	At  time.Time
	OK  bool
	Err string
}

// AssessProbe judges the download probe: anomalous when it passed before the
// release (at least 3 checks, 80% of them, the last one included) and its
// last th.ProbeFailures checks since all failed. A probe that was failing
// already says nothing about this release.
func AssessProbe(before, after []ProbeResult, th Thresholds) Finding {
	need := max(1, th.ProbeFailures)
	f := Finding{Signal: Probe, Trigger: true, BaselineSample: int64(len(before)), ZThreshold: th.Z,
		MinEffect: fmt.Sprintf("%d failures in a row", need)}
	passed := 0
	for _, r := range before {
		if r.OK {
			passed++
		}
	}
	if len(before) > 0 {
		f.Baseline = float64(passed) / float64(len(before))
	}
	switch {
	case len(before) < 3:
		f.Status, f.Note = Inconclusive, fmt.Sprintf("%d probe checks before the release, need 3", len(before))
		return f
	case f.Baseline < 0.8 || !before[len(before)-1].OK:
		f.Status, f.Note = Healthy, "the probe was failing before the release: no evidence about it"
		f.Trigger = false
		return f
	case len(after) < need:
		f.Status, f.Note = Inconclusive, fmt.Sprintf("%d probe checks since the release, need %d", len(after), need)
		return f
	}
	last := after[len(after)-need:]
	f.From, f.To = last[0].At, last[len(last)-1].At
	f.CurrentSample = int64(need)
	f.Status = Anomalous
	for _, r := range last {
		if r.OK {
			f.Status = Healthy
			f.Current++
		}
	}
	f.Current /= float64(need)
	if f.Status == Anomalous {
		f.Note = last[len(last)-1].Err
	}
	return f
}

// With returns v with f added, its status recomputed.
func (v Verdict) With(f Finding) Verdict {
	v.Findings = append(append([]Finding(nil), v.Findings...), f)
	return v.settle()
}

// settle sets the verdict's status from its trigger findings: anomalous if
// any is, else inconclusive if any is, else healthy.
func (v Verdict) settle() Verdict {
	v.Status, v.Note = Healthy, ""
	var notes []string
	for _, f := range v.Findings {
		if !f.Trigger {
			continue
		}
		switch f.Status {
		case Anomalous:
			v.Status = Anomalous
		case Inconclusive:
			if v.Status == Healthy {
				v.Status = Inconclusive
			}
			notes = append(notes, string(f.Signal)+": "+f.Note)
		}
	}
	if v.Status == Inconclusive {
		v.Note = strings.Join(notes, "; ")
	}
	return v
}

// Assess judges sinceLive, the traffic since the release went live, against
// base. The error share is judged after grace.Errors, the other signals
// after grace.Traffic.
func Assess(base Baseline, sinceLive metrics.Series, grace Grace, th Thresholds) Verdict {
	if base.Seconds < int(th.MinBaseline/time.Second) || base.Requests < th.MinRequests {
		return Verdict{Status: Inconclusive, Note: fmt.Sprintf(
			"no usable baseline: %d s and %d requests of data before the release, need %s and %d",
			base.Seconds, base.Requests, th.MinBaseline, th.MinRequests)}
	}
	live, end := sinceLive.Start, sinceLive.End()
	errSpan := pickSpan(base, sinceLive.Slice(live.Add(grace.Errors), end), th)
	trafficSpan := pickSpan(base, sinceLive.Slice(live.Add(grace.Traffic), end), th)

	var v Verdict
	skipped := func(sig Signal, sp span) Finding {
		return Finding{Signal: sig, Status: Inconclusive, Trigger: true, Note: sp.note, ZThreshold: th.Z}
	}
	if errSpan.note != "" {
		v.Findings = append(v.Findings, skipped(ErrorShare, errSpan))
	} else {
		v.Findings = append(v.Findings,
			shareFinding(ErrorShare, base.Errors, base.Requests, base, errSpan.w, errSpan.parts, base.ErrorDispersion,
				th.ErrorShareIncrease, th.ErrorShareRatio, th, func(w window) int64 { return w.errors }))
	}
	hasRepeats := base.HasRepeats && sinceLive.HasRepeats
	switch {
	case trafficSpan.note != "":
		if hasRepeats {
			v.Findings = append(v.Findings, skipped(RepeatShare, trafficSpan))
		}
		v.Findings = append(v.Findings, skipped(RateCollapse, trafficSpan))
	default:
		if hasRepeats {
			v.Findings = append(v.Findings,
				shareFinding(RepeatShare, base.Repeats, base.Requests, base, trafficSpan.w, trafficSpan.parts, base.RepeatDispersion,
					th.RepeatShareIncrease, th.RepeatShareRatio, th, func(w window) int64 { return w.repeats }))
		}
		v.Findings = append(v.Findings, rateFindings(base, trafficSpan.w, trafficSpan.parts, th)...)
	}

	return v.settle()
}

func shareFinding(sig Signal, x1, t1 int64, base Baseline, w window, parts [3]window, disp, minIncrease, minRatio float64, th Thresholds, count func(window) int64) Finding {
	f := Finding{
		Signal: sig, Trigger: true, BaselineSample: t1, CurrentSample: w.requests,
		BaselineSeconds: base.Seconds, CurrentSeconds: w.covered, ZThreshold: th.Z, Dispersion: disp,
		From: w.from, To: w.to,
		MinEffect: fmt.Sprintf("+%s and x%.2f", Percent(minIncrease), minRatio),
	}
	f.Baseline = float64(x1) / float64(t1)
	if w.requests < th.MinRequests {
		f.Status = Inconclusive
		f.Note = fmt.Sprintf("%d requests in the window, need %d", w.requests, th.MinRequests)
		return f
	}
	x2 := count(w)
	f.Current = float64(x2) / float64(w.requests)
	f.Z = RateZ(float64(x1), float64(t1), float64(x2), float64(w.requests), disp)
	large := f.Current >= f.Baseline+minIncrease && f.Current >= f.Baseline*minRatio
	// Lasting: each third of the window shows at least half the minimum
	// rise; a third too small to say anything (under 10 requests) abstains.
	lasting := true
	for _, p := range parts {
		if p.requests < 10 {
			if p.covered == 0 {
				lasting = false
			}
			continue
		}
		if float64(count(p))/float64(p.requests) < f.Baseline+minIncrease/2 {
			lasting = false
		}
	}
	f.Status = Healthy
	if f.Z >= th.Z && large && lasting {
		f.Status = Anomalous
	}
	return f
}

func rateFindings(base Baseline, w window, parts [3]window, th Thresholds) []Finding {
	rate := base.Rate()
	mk := func(sig Signal, trigger bool, minEffect string) Finding {
		f := Finding{
			Signal: sig, Trigger: trigger, Baseline: rate, BaselineSample: base.Requests, CurrentSample: w.requests,
			BaselineSeconds: base.Seconds, CurrentSeconds: w.covered, ZThreshold: th.Z,
			Dispersion: base.RequestDispersion, From: w.from, To: w.to, MinEffect: minEffect,
		}
		if w.covered > 0 {
			f.Current = float64(w.requests) / float64(w.covered)
		}
		f.Z = RateZ(float64(base.Requests), float64(base.Seconds), float64(w.requests), float64(w.covered), base.RequestDispersion)
		return f
	}
	partRate := func(p window) (float64, bool) {
		if p.covered == 0 {
			return 0, false
		}
		return float64(p.requests) / float64(p.covered), true
	}
	expected := rate * float64(w.covered)

	rise := mk(RateRise, false, fmt.Sprintf("x%.2f", th.RateRiseRatio))
	rise.Status = Healthy
	if rise.Z >= th.Z && rise.Current >= max(rate, base.RecentRate)*th.RateRiseRatio {
		rise.Status = Anomalous
		for _, p := range parts {
			if r, ok := partRate(p); !ok || r < rate*(1+th.RateRiseRatio)/2 {
				rise.Status = Healthy
			}
		}
	}

	collapse := mk(RateCollapse, true, fmt.Sprintf("x%.2f", th.RateCollapseRatio))
	collapse.Z = -collapse.Z
	switch {
	case expected < float64(th.MinRequests):
		collapse.Status = Inconclusive
		collapse.Note = fmt.Sprintf("%.0f requests expected in the window, need %d", expected, th.MinRequests)
	case collapse.Z >= th.Z && collapse.Current <= min(rate, base.RecentRate)*th.RateCollapseRatio:
		collapse.Status = Anomalous
		for _, p := range parts {
			if r, ok := partRate(p); !ok || r > rate*(1+th.RateCollapseRatio)/2 {
				collapse.Status = Healthy
			}
		}
	default:
		collapse.Status = Healthy
	}
	return []Finding{collapse, rise}
}
