package analysis

import (
	"math"
	"slices"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Elevated reports whether span shows sig moved the way a fault moves it,
// against base: significant (z at th.Z, with the baseline's dispersion at
// the span's length and the span's own) and past the signal's minimum
// ratio. It is weaker than a verdict on purpose (no absolute minimum, no
// lasting check, no burst margin): it is asked only of a fault already
// judged, to find the release it began under, and a slow fault is small
// where it begins. It asks the span's last 30 s, 1 min, 2 min and the whole
// of it; one without the minimum sample is not elevated.
func Elevated(base Baseline, span metrics.Series, sig Signal, th Thresholds) bool {
	c := newCurrent(span)
	// A fault that creeps in is plainest at the span's end: ask the last
	// half minute, minute, two minutes and the whole span.
	for _, l := range []int{30, 60, 120, c.n()} {
		if l <= c.n() && elevated(base, c.from(c.n()-l), span.HasRepeats, sig, th) {
			return true
		}
	}
	return false
}

// elevated is Elevated over the whole of c.
func elevated(base Baseline, c current, hasRepeats bool, sig Signal, th Thresholds) bool {
	n := c.n()
	if n == 0 || base.Requests == 0 {
		return false
	}
	w := c.window(0, n)
	sc := base.scale(n)
	switch sig {
	case ErrorShare, RepeatShare:
		count, x1, d1, ratio := countErrors, base.Errors, sc.ErrorDispersion, th.ErrorShareRatio
		if sig == RepeatShare {
			if !base.HasRepeats || !hasRepeats {
				return false
			}
			count, x1, d1, ratio = countRepeats, base.Repeats, sc.RepeatDispersion, th.RepeatShareRatio
		}
		if w.requests < th.MinRequests {
			return false
		}
		p1 := float64(x1) / float64(base.Requests)
		p2 := float64(count(w)) / float64(w.requests)
		// A score test: the span's count against what the baseline's share
		// expects of it, with the baseline's dispersion. The span's own is
		// not asked: a fault that creeps (its share rising through the
		// span) is no noise to discount.
		n2 := float64(w.requests)
		sd := math.Sqrt(math.Max(d1, 1) * n2 * math.Max(p1, 1/float64(base.Requests)) * (1 - p1) * (1 + n2/float64(base.Requests)))
		return p2 >= p1*ratio && corrected(float64(count(w))-n2*p1)/sd >= th.Z
	case RateCollapse:
		hasRepeats = base.HasRepeats && hasRepeats
		if w.covered == 0 || base.FirstRate()*float64(w.covered) < float64(th.MinRequests) {
			return false
		}
		rate := float64(w.firsts(hasRepeats)) / float64(w.covered)
		// Halfway to the collapse ratio: where a collapse begins.
		if rate > base.FirstRate()*(1+th.RateCollapseRatio)/2 {
			return false
		}
		return RateZ(float64(base.firsts()), float64(base.Seconds), float64(w.firsts(hasRepeats)), float64(w.covered), sc.FirstDispersion) <= -th.Z
	}
	return false
}

// incidentBin is the length of the bins Incidents sorts a lookback into.
// A run of longRun outlying bins or more is an incident; a shorter burst
// is the app's habit, for the baseline to know, with one exception: two
// minutes of errors past the minimum effect (errorIncidentRun bins), once
// in the lookback, is an outage (a database failover); kept, its worst
// window would let a steady 3% through as no worse than the baseline's
// bursts. Such bursts that recur (an hourly job saturating the dynos,
// with a baseline long enough to hold two of its runs) are a habit again.
const (
	incidentBin      = 60
	longRun          = 3
	errorIncidentRun = 2
)

// Incidents finds the stretches of s that were incidents rather than the
// app's normal: runs of at least incidentRun bins of incidentBin seconds
// whose error share or repeat share lies far above the lookback's typical
// (lower-quartile) bin (past the signal's minimum effect, and significant against the
// typical bin's level and dispersion), each widened by a bin either side.
// Seconds in exclude (restart blips, anomalous releases) are not looked
// at. A baseline leaves incidents out, so that an outage an hour ago (or
// one a release fixed) does not become the normal a release is judged
// against. Where most of the lookback is an incident, it is the typical
// bin and nothing is found: the baseline then is that, and says so.
func Incidents(s metrics.Series, exclude []Interval, th Thresholds) []Interval {
	kept := make([]metrics.Point, len(s.Points))
	for i, p := range s.Points {
		if p.OK && !AnyContains(exclude, s.Start.Add(time.Duration(i)*time.Second)) {
			kept[i] = p
		}
	}
	c := newCurrent(metrics.Series{Start: s.Start, Points: kept, HasRepeats: s.HasRepeats})
	var bins []window
	for from := 0; from < c.n(); from += incidentBin {
		bins = append(bins, c.window(from, min(c.n(), from+incidentBin)))
	}
	out := make([]bool, len(bins)) // the bins of incidents
	// outlying is the bins whose share of count lies far above the
	// typical bin's.
	outlying := func(count func(window) int64, minIncrease, ratio float64) []bool {
		far := make([]bool, len(bins))
		var shares []float64
		for _, b := range bins {
			if b.requests >= th.MinRequests {
				shares = append(shares, float64(count(b))/float64(b.requests))
			}
		}
		if len(shares) < 2*longRun { // too few bins to know the typical
			return far
		}
		// The typical bin is a quiet one (the lower quartile), so that an
		// incident up to three quarters of the lookback long is still
		// told from the normal.
		slices.Sort(shares)
		typical := shares[len(shares)/4]
		var terms []float64
		for _, b := range bins {
			if v := float64(b.requests) * typical * (1 - typical); b.requests >= th.MinRequests && v > 0 {
				d := float64(count(b)) - float64(b.requests)*typical
				terms = append(terms, d*d/v)
			}
		}
		// The dispersion from the lower quartile of the terms too (a
		// chi-square of one degree of freedom has its at 0.1015): an
		// incident's bins must not widen the noise they are judged by.
		disp := 1.0
		if len(terms) >= 3 {
			slices.Sort(terms)
			disp = math.Max(1, terms[len(terms)/4]/0.1015)
		}
		for i, b := range bins {
			if b.requests < th.MinRequests {
				continue
			}
			p := float64(count(b)) / float64(b.requests)
			if p < typical+minIncrease || p < typical*ratio {
				continue
			}
			sd := math.Sqrt(disp * float64(b.requests) * max(typical, 1/float64(b.requests)) * (1 - typical))
			if corrected(float64(count(b))-float64(b.requests)*typical)/sd >= th.Z {
				far[i] = true
			}
		}
		return far
	}
	markRuns(out, outlying(countErrors, th.ErrorShareIncrease, th.ErrorShareRatio), errorIncidentRun)
	if s.HasRepeats {
		markRuns(out, outlying(countRepeats, th.RepeatShareIncrease, th.RepeatShareRatio), longRun)
	}
	var ivs []Interval
	for i := 0; i < len(out); {
		if !out[i] {
			i++
			continue
		}
		j := i
		for j < len(out) && out[j] {
			j++
		}
		from := s.Start.Add(time.Duration(max(0, i-1)*incidentBin) * time.Second)
		to := s.Start.Add(time.Duration(min(c.n(), (j+1)*incidentBin)) * time.Second)
		ivs = append(ivs, Interval{From: from, To: to})
		i = j
	}
	return ivs
}

// markRuns sets in out the bins of every run of at least longRun outlying
// bins, and of the one run of at least short (a shorter minimum) where it
// is the lookback's only such shorter run.
func markRuns(out, outlying []bool, short int) {
	var alone [][2]int
	for i := 0; i < len(outlying); {
		j := i
		for j < len(outlying) && outlying[j] {
			j++
		}
		switch {
		case j-i >= longRun:
			for k := i; k < j; k++ {
				out[k] = true
			}
		case j-i >= short:
			alone = append(alone, [2]int{i, j})
		}
		i = max(j, i+1)
	}
	if len(alone) == 1 {
		for k := alone[0][0]; k < alone[0][1]; k++ {
			out[k] = true
		}
	}
}

// Predated returns v with an anomalous error share that had already risen
// before the release under watch was made taken for what it is: a fault
// the release did not start (the platform, a dependency), which rolling
// it back would not end. before is the route's traffic in the minute
// before the release was made, judged against base as the watch is;
// everywhere says the app's other traffic had risen then too. The error
// share becomes inconclusive (GapBeforeRelease, Have: its share before).
func (v Verdict) Predated(base Baseline, before metrics.Series, everywhere bool, th Thresholds) Verdict {
	for i, f := range v.Findings {
		if f.Signal != ErrorShare || f.Status != Anomalous || !Elevated(base, before, ErrorShare, th) {
			continue
		}
		w := newCurrent(before)
		all := w.window(0, w.n())
		f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapBeforeRelease, 0, 0
		if all.requests > 0 {
			f.Have = float64(all.errors) / float64(all.requests)
		}
		if everywhere {
			f.Need = 1
		}
		out := v
		out.Findings = append([]Finding(nil), v.Findings...)
		out.Findings[i] = f
		return out.settle()
	}
	return v
}

// Controlled returns v with a rate collapse that the app's other routes
// share (control: their traffic in the baseline, before, and over the
// collapse's window, now) taken for what it is: lost data (router lines
// dropped, a log pipeline falling behind), not the release. The collapse
// becomes inconclusive (GapSharedFall, Have: the control's own ratio)
// when the control fell at least halfway to the collapse ratio and the
// guarded route, measured against the control, did not collapse. A
// collapse of the guarded route alone stands.
func (v Verdict) Controlled(before, now metrics.Series, th Thresholds) Verdict {
	for i, f := range v.Findings {
		if f.Signal != RateCollapse || f.Status != Anomalous || f.Baseline <= 0 {
			continue
		}
		cb, cn := newCurrent(before), newCurrent(now)
		wb, wn := cb.window(0, cb.n()), cn.window(0, cn.n())
		if wb.covered == 0 || wn.covered == 0 || wb.requests == 0 {
			continue
		}
		controlRatio := (float64(wn.requests) / float64(wn.covered)) / (float64(wb.requests) / float64(wb.covered))
		ratio := f.Current / f.Baseline
		if controlRatio > (1+th.RateCollapseRatio)/2 || ratio/controlRatio <= th.RateCollapseRatio {
			continue
		}
		f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapSharedFall, controlRatio, 0
		out := v
		out.Findings = append([]Finding(nil), v.Findings...)
		out.Findings[i] = f
		return out.settle()
	}
	return v
}
