package analysis

import (
	"iter"
	"math"
	"slices"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// current is a series with running sums, so any window's counts cost O(1).
type current struct {
	start time.Time
	// cum[i] are the counts of the first i seconds.
	cum []counts
	// pts are the seconds themselves, for their response times.
	pts []metrics.Point
	// silentBefore is how many seconds without requests came right before
	// start, where c was cut from a longer series (at most clusterGap): a
	// cluster starting soon after start may still be whole.
	silentBefore int
}

// counts are running sums of a series' seconds.
type counts struct {
	covered, active           int
	requests, errors, repeats int64
}

func newCurrent(s metrics.Series) current {
	c := current{start: s.Start, cum: make([]counts, len(s.Points)+1), pts: s.Points}
	for i, p := range s.Points {
		w := c.cum[i]
		if p.OK {
			w.covered++
			w.requests += p.Requests
			w.errors += p.Errors
			w.repeats += p.Repeats
			if p.Requests > 0 {
				w.active++
			}
		}
		c.cum[i+1] = w
	}
	return c
}

func (c current) n() int { return len(c.cum) - 1 }

// A client retries a failed request at most retriesPerError times, each
// within retryReach seconds of the failure.
const (
	retriesPerError = 3
	retryReach      = 15
)

// withoutRetriesOfErrors is s with the repeats that its errors explain taken
// out of its first until seconds (the restart's grace): each error explains
// up to retriesPerError repeats in its own second and the retryReach seconds
// after it, oldest errors first. Dynos that boot for 30 s fail most
// requests, and the clients' retries of those failures fill the repeat
// share; a retry storm with no errors (crates.io's redirects) is left whole.
// ok is false, and s not copied, when no repeat was taken out (past the
// grace, every tick).
func withoutRetriesOfErrors(s metrics.Series, until int) (_ metrics.Series, ok bool) {
	until = min(until, len(s.Points))
	var pts []metrics.Point
	credit := make([]int64, until) // retries the errors of second i may still explain
	for t := range until {
		p := s.Points[t]
		if !p.OK {
			continue
		}
		credit[t] = retriesPerError * p.Errors
		for i := max(0, t-retryReach); i <= t && p.Repeats > 0; i++ {
			n := min(credit[i], p.Repeats)
			credit[i] -= n
			p.Repeats -= n
		}
		if p.Repeats != s.Points[t].Repeats {
			if pts == nil {
				pts = slices.Clone(s.Points)
			}
			pts[t] = p
		}
	}
	if pts == nil {
		return s, false
	}
	s.Points = pts
	return s, true
}

// from is c from second k on (none when k is past its end): the same sums,
// seen from there.
func (c current) from(k int) current {
	k = max(0, min(k, c.n()))
	silent := 0
	for j := k; j > 0 && silent < clusterGap && c.window(j-1, j).requests == 0; j-- {
		silent++
	}
	if silent == k {
		silent += c.silentBefore
	}
	return current{start: c.start.Add(time.Duration(k) * time.Second), cum: c.cum[k:], pts: c.pts[k:], silentBefore: silent}
}

// window is the counts of seconds [from, to) of the series.
func (c current) window(from, to int) window {
	a, b := c.cum[from], c.cum[to]
	return window{
		from: c.start.Add(time.Duration(from) * time.Second), to: c.start.Add(time.Duration(to) * time.Second),
		seconds: to - from, covered: b.covered - a.covered, active: b.active - a.active,
		requests: b.requests - a.requests, errors: b.errors - a.errors, repeats: b.repeats - a.repeats,
	}
}

// thirds splits the window [from, to) in three.
func (c current) thirds(from, to int) [3]window {
	var out [3]window
	for i := range out {
		hi := from + (i+1)*(to-from)/3
		if i == 2 {
			hi = to
		}
		out[i] = c.window(from+i*(to-from)/3, hi)
	}
	return out
}

// window is the counts of a span of seconds.
type window struct {
	from, to                  time.Time
	seconds, covered, active  int // active: seconds with requests
	requests, errors, repeats int64
}

func (w window) firsts(hasRepeats bool) int64 {
	if hasRepeats {
		return w.requests - w.repeats
	}
	return w.requests
}

func countErrors(w window) int64  { return w.errors }
func countRepeats(w window) int64 { return w.repeats }

func sustainSeconds(th Thresholds) int { return max(4, int(th.Sustain/time.Second)) }

// scale is a window length to judge at; a quick one (shorter than
// th.Sustain) only counts a strong effect.
type scale struct {
	seconds int
	quick   bool
}

// quickLengths are the window lengths shorter than th.Sustain on which a
// strong effect is trusted: th.QuickWindow (when shorter than the
// quarter), a quarter and a half of it.
func quickLengths(th Thresholds) []int {
	sustain := sustainSeconds(th)
	if q := int(th.QuickWindow / time.Second); q >= 3 && q < sustain/4 {
		return []int{q, sustain / 4, sustain / 2}
	}
	return []int{sustain / 4, sustain / 2}
}

// scalesFor are the window lengths judged when n seconds are available: the
// quick ones, then th.Sustain doubled while it fits, and the longest
// multiple of it that fits, at most th.MaxWindow.
func scalesFor(n int, th Thresholds) []scale {
	var out []scale
	for _, l := range quickLengths(th) {
		if l <= n {
			out = append(out, scale{seconds: l, quick: true})
		}
	}
	sustain := sustainSeconds(th)
	limit := min(n, max(sustain, int(th.MaxWindow/time.Second)))
	last := 0
	for l := sustain; l <= limit; l *= 2 {
		out = append(out, scale{seconds: l})
		last = l
	}
	if l := limit / sustain * sustain; l >= sustain && l != last {
		out = append(out, scale{seconds: l})
	}
	return out
}

// strong reports whether an excess is strong enough for a quick window:
// th.QuickFactor times the minimum, and times the baseline's own worst
// excess at that length.
func strong(excess, minExcess, burstExcess float64, th Thresholds) bool {
	return excess >= th.QuickFactor*minExcess && excess >= th.QuickFactor*math.Max(0, burstExcess)
}

// spread reports whether each of parts (equal parts of a window) holds a
// fair part of its requests (at least half of an equal share, and 5): an
// effect is only seen to last where there was traffic all along, not in one
// cluster of requests.
func spread(parts []window, total int64) bool {
	for _, p := range parts {
		if p.requests < max(5, total/int64(2*len(parts))) {
			return false
		}
	}
	return true
}

// quickWindows is how many windows of a quick length the baseline must
// have had, with the minimum sample, for its bursts at that length to be
// known: a quick verdict needs them.
const quickWindows = 5

// steady reports whether traffic filled a quick window: every sixth of it
// (of a window under 6 s, every second) carried requests, so one cluster (a CI build) cannot pass for an effect.
func steady(c current, from, to int) bool {
	parts := make([]window, min(6, to-from)) // a 5 s window: its seconds
	for i := range parts {
		parts[i] = c.window(from+i*(to-from)/len(parts), from+(i+1)*(to-from)/len(parts))
	}
	return spread(parts, c.window(from, to).requests)
}

// RateZ is the quasi-Poisson two-sample test: the z score of x2 events over
// exposure t2 against x1 over t1, with variance inflated by dispersion. It
// is positive when the current rate is higher. A continuity correction, and
// the larger of the variance under "no change" and the variance the counts
// show, keep small samples honest: a handful of events far above a small
// expectation is not taken for certainty.
func RateZ(x1, t1, x2, t2, dispersion float64) float64 {
	n := x1 + x2
	if n <= 0 || t1 <= 0 || t2 <= 0 {
		return 0
	}
	p := t2 / (t1 + t2)
	v := math.Max(n*p*(1-p), x2*(n-x2)/n)
	sd := math.Sqrt(math.Max(dispersion, 1) * v)
	if sd == 0 {
		return 0
	}
	return corrected(x2-n*p) / sd
}

// ShareZ is the two-sample test of shares: x2 of n2 now against x1 of n1
// before, each share's binomial variance times its own design effect (d1
// measured on the baseline, d2 on the current window: clustered traffic,
// such as CI builds at night, has fewer independent requests than it has
// requests, and not necessarily as few now as before). The variance is at
// least the pooled one under "no change"; a continuity correction keeps
// small samples honest. Positive when the share rose.
func ShareZ(x1, n1, x2, n2, d1, d2 float64) float64 {
	if n1 <= 0 || n2 <= 0 {
		return 0
	}
	d1, d2 = math.Max(d1, 1), math.Max(d2, 1)
	p1, p2, p := x1/n1, x2/n2, (x1+x2)/(n1+n2)
	v := math.Max(d1*p1*(1-p1)/n1+d2*p2*(1-p2)/n2, d1*p*(1-p)*(1/n1+1/n2))
	if v <= 0 {
		return 0
	}
	return corrected(x2-n2*p1) / n2 / math.Sqrt(v)
}

// shareDispersion is the design effect of a share within the window [from,
// to) of c: the robust dispersion of count over six equal parts, around
// the window's own share.
func (c current) shareDispersion(from, to int, count func(window) int64) float64 {
	w := c.window(from, to)
	if w.requests == 0 {
		return 1
	}
	p := float64(count(w)) / float64(w.requests)
	var terms []float64
	for i := range 6 {
		part := c.window(from+i*(to-from)/6, from+(i+1)*(to-from)/6)
		if v := float64(part.requests) * p * (1 - p); v > 0 {
			d := float64(count(part)) - float64(part.requests)*p
			terms = append(terms, d*d/v)
		}
	}
	return dispersion(terms, 1)
}

// corrected applies the continuity correction to a difference of counts.
func corrected(d float64) float64 {
	switch {
	case d > 0.5:
		return d - 0.5
	case d < -0.5:
		return d + 0.5
	}
	return 0
}

// judged runs check over the scales that fit the n seconds of c and
// returns the first anomalous finding, else the first judged one (the
// most recent window with the minimum sample), else why none was judged.
// check returns ok false when the window lacks a sample, with the finding
// saying why.
func judged(c current, th Thresholds, proto Finding, check func(w window, from, to int, quick bool, f Finding) (Finding, bool)) Finding {
	n := c.n()
	shortest := quickLengths(th)[0]
	if n < shortest {
		proto.Status, proto.Gap, proto.Have, proto.Need = Inconclusive, GapSettling, float64(n), float64(shortest)
		return proto
	}
	var first, why *Finding
	for _, sc := range scalesFor(n, th) {
		l := sc.seconds
		w := c.window(n-l, n)
		f := proto
		f.From, f.To, f.CurrentSeconds, f.CurrentSample = w.from, w.to, w.covered, w.requests
		if minCovered := th.MinCoverage * float64(l); float64(w.covered) < minCovered || w.covered == 0 {
			f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapNoData, float64(w.covered), math.Ceil(minCovered)
			if why == nil || why.Gap == GapNoData {
				why = &f
			}
			continue
		}
		f, ok := check(w, n-l, n, sc.quick, f)
		if !ok {
			f.Status = Inconclusive
			why = &f
			continue
		}
		if f.Status == Anomalous {
			return f
		}
		switch {
		case !sc.quick && first == nil:
			first = &f
		case sc.quick && why == nil:
			// Not strong on a quick window: for an ordinary effect the
			// window is still settling.
			f.Status, f.Gap, f.Have, f.Need = Inconclusive, GapSettling, float64(n), float64(sustainSeconds(th))
			why = &f
		}
	}
	if first != nil {
		return *first
	}
	return *why
}

// shareFinding judges a share (errors or repeats per request) against the
// baseline's.
func shareFinding(sig Signal, base Baseline, c current, th Thresholds, minIncrease, minRatio float64, count func(window) int64, ceiling float64) Finding {
	x1 := float64(count(window{requests: base.Requests, errors: base.Errors, repeats: base.Repeats}))
	t1 := float64(base.Requests)
	proto := Finding{Signal: sig, Trigger: true, Mode: Relative, Baseline: x1 / t1, BaselineSample: base.Requests,
		BaselineSeconds: base.Seconds, ZThreshold: th.Z, MinIncrease: minIncrease, MinRatio: minRatio}
	clusteredTo := map[int]bool{} // as in guardrail: asked once an end
	return judged(c, th, proto, func(w window, from, to int, quick bool, f Finding) (Finding, bool) {
		// Clustered traffic whose last clusters all fail past the
		// guardrail, more of them in a row than the baseline's clusters
		// make likely, is a fault whatever the baseline's windows did
		// (they hold one cluster each, some of them at 100%), and before
		// the minimum sample: the clusters are the sample.
		clustered := false
		if ceiling > 0 && !quick && base.Clusters >= clusters {
			var ok bool
			if clustered, ok = clusteredTo[to]; !ok {
				clustered = everyCluster(c, 0, to, ceiling, count, clustersNeeded(base), sig == RepeatShare)
				clusteredTo[to] = clustered
			}
		}
		if w.requests < th.MinRequests && !clustered {
			f.Gap, f.Have, f.Need = GapFewRequests, float64(w.requests), float64(th.MinRequests)
			return f, false
		}
		sc := base.scale(w.seconds)
		x2 := float64(count(w))
		f.Current = x2 / float64(w.requests)
		f.Dispersion = sc.ErrorDispersion
		worst := sc.MaxErrorShare
		if sig == RepeatShare {
			f.Dispersion, worst = sc.RepeatDispersion, sc.MaxRepeatShare
		}
		if sc.ShareWindows > 0 {
			f.Burst = worst
		}
		f.Z = ShareZ(x1, t1, x2, float64(w.requests), f.Dispersion, c.shareDispersion(from, to, count))
		excess, burstExcess := f.Current-f.Baseline, f.Burst-f.Baseline
		large := excess >= minIncrease && f.Current >= f.Baseline*minRatio
		beyondBursts := excess >= th.BurstMargin*math.Max(0, burstExcess)
		if quick {
			// Not on clustered traffic (a baseline with requests in under
			// half its seconds: CI builds at night): a quick window there
			// sees one build, whose later jobs fetch again what the first
			// did.
			beyondBursts = beyondBursts && sc.ShareWindows >= quickWindows && steady(c, from, to) &&
				strong(excess, minIncrease, burstExcess, th) && base.Active*2 >= base.Seconds
		}
		thirds := c.thirds(from, to)
		lasting := spread(thirds[:], w.requests)
		for _, p := range thirds {
			if p.requests == 0 || float64(count(p))/float64(p.requests) < f.Baseline+minIncrease/2 {
				lasting = false
			}
		}
		// Clustered traffic (requests in under half the seconds: CI builds
		// at night) holds few independent units however many requests: a
		// build's jobs, a re-run, fetch the same crates again together. Its
		// repeat share is judged by its clusters alone, as the guardrail
		// judges it, never by a z over requests that are not independent.
		byClusters := ceiling > 0 && w.active*2 < w.covered
		f.Status = Healthy
		if f.Z >= th.Z && large && lasting && beyondBursts && !byClusters {
			f.Status = Anomalous
		}
		if clustered && large {
			f.Status = Anomalous
		}
		return f, true
	})
}

// guardrail judges a share against a fixed ceiling, for when there is too
// little baseline: anomalous when the share is significantly (binomial z)
// and lastingly at or past it, or, for clustered traffic, when the last
// need clusters each are.
func guardrail(sig Signal, c current, ceiling float64, th Thresholds, count func(window) int64, need int) Finding {
	proto := Finding{Signal: sig, Trigger: true, Mode: Absolute, Baseline: ceiling, ZThreshold: th.Z, Dispersion: 1}
	// Whether every cluster is past the ceiling depends on the window's
	// end alone, which the window lengths share: asked once an end.
	clusteredTo := map[int]bool{}
	return judged(c, th, proto, func(w window, from, to int, quick bool, f Finding) (Finding, bool) {
		clustered, ok := false, false
		if !quick {
			if clustered, ok = clusteredTo[to]; !ok {
				clustered = everyCluster(c, 0, to, ceiling, count, need, sig == RepeatShare)
				clusteredTo[to] = clustered
			}
		}
		if w.requests < th.MinRequests && !clustered {
			f.Gap, f.Have, f.Need = GapFewRequests, float64(w.requests), float64(th.MinRequests)
			return f, false
		}
		n, x := float64(w.requests), float64(count(w))
		f.Current = x / n
		if sd := math.Sqrt(n * ceiling * (1 - ceiling)); sd > 0 {
			f.Z = corrected(x-n*ceiling) / sd
		}
		thirds := c.thirds(from, to)
		lasting := spread(thirds[:], w.requests) && !quick
		for _, p := range thirds {
			if p.requests == 0 || float64(count(p))/float64(p.requests) < ceiling {
				lasting = false
			}
		}
		// Clustered traffic (requests in under half the seconds: CI builds
		// at night) is judged by its clusters alone: one cluster past the
		// ceiling (a job re-run fetches everything again) is one unit of
		// evidence, however many requests it holds.
		byClusters := w.active*2 < w.covered
		f.Status = Healthy
		if f.Current >= ceiling && (f.Z >= th.Z && lasting && !byClusters || clustered) {
			f.Status = Anomalous
		}
		return f, true
	})
}

// Clustered traffic (CI builds at night: a burst of requests, then minutes
// of nothing) is judged by its clusters, the independent units it has:
// clusterGap idle seconds end one. The last clusters of at least
// clusterRequests requests, at least `clusters` of them and
// clusterEvidence requests together, must all show the share.
const (
	clusterGap      = 30
	clusterRequests = 4
	clusters        = 2
	clusterEvidence = clusters * clusterRequests
	// clusterEnded idle seconds end the newest cluster for judging it: a
	// build's jobs start within 20 s of each other.
	clusterEnded = 20
)

// rerunShare is the repeat share past which a cluster is a CI job re-run
// by hand, not a fault: a failing fetch is tried first, then retried (3
// tries of cargo's: 75% repeats), so failing builds hold first attempts; a
// re-run fetches again what a build fetched in the last minute, all of it
// repeats.
const rerunShare = 0.95

// rerun reports whether cl is a re-run: almost no first attempts.
func rerun(cl window) bool { return float64(cl.repeats) >= rerunShare*float64(cl.requests) }

// clusterChance is how unlikely the baseline must make the last clusters
// all failing by chance for them to be a fault.
const clusterChance = 0.05

// clustersNeeded is how many clusters in a row must fail past the
// guardrail: `clusters` where none of the baseline's did; where some did
// (a CI job re-run now and then fetches everything again), enough that
// the baseline's own rate of them, (past+1)/(clusters+2), makes that many
// in a row less likely than clusterChance.
func clustersNeeded(base Baseline) int {
	if base.ClustersPast == 0 {
		return clusters
	}
	p := float64(base.ClustersPast+1) / float64(base.Clusters+2)
	need := clusters
	for math.Pow(p, float64(need)) > clusterChance && need < 10 {
		need++
	}
	return need
}

// everyCluster reports whether the window [from, to) of c is clustered
// traffic (requests in under half its covered seconds) whose last need
// clusters each show the share at or past ceiling: each build (or each
// lone fetch retried) failing the same way is evidence a binomial test
// over their requests undersells, and that no mix of healthy builds gives.
func everyCluster(c current, from, to int, ceiling float64, count func(window) int64, need int, repeats bool) bool {
	if w := c.window(from, to); w.active*2 >= w.covered {
		return false
	}
	// The newest cluster counts once it has ended (clusterEnded idle
	// seconds after it): a build in progress is a part of its jobs, whose repeats
	// (the later jobs' fetches) may come first.
	idle := 0
	for t := to; t > from && idle < clusterEnded && c.window(t-1, t).requests == 0; t-- {
		idle++
	}
	inProgress := idle < clusterEnded
	seen, requests := 0, int64(0)
	for cl, whole := range c.clustersBackwards(from, to) {
		if seen >= need && requests >= clusterEvidence {
			break
		}
		if inProgress {
			inProgress = false
			continue
		}
		if !whole {
			continue // cut by the window: part of it is out of sight
		}
		if cl.requests < clusterRequests || (repeats && rerun(cl)) {
			continue
		}
		if float64(count(cl))/float64(cl.requests) < ceiling {
			return false
		}
		seen++
		requests += cl.requests
	}
	return seen >= need && requests >= clusterEvidence
}

// clustersBackwards yields the clusters of [from, to), newest first, and
// whether each is whole (not cut by from: silence before it, in the
// window or, at c's start, before c).
func (c current) clustersBackwards(from, to int) iter.Seq2[window, bool] {
	return func(yield func(window, bool) bool) {
		end := to
		for end > from {
			for end > from && c.window(end-1, end).requests == 0 {
				end--
			}
			if end == from {
				return
			}
			start, idle := end, 0
			for start > from && idle < clusterGap {
				if c.window(start-1, start).requests == 0 {
					idle++
				} else {
					idle = 0
				}
				start--
			}
			// Whole: silence before it in sight, or (at the start of c)
			// the silence c was cut after.
			whole := start > from || idle >= clusterGap || (start == 0 && idle+c.silentBefore >= clusterGap)
			if !yield(c.window(start, end), whole) {
				return
			}
			end = start
		}
	}
}

// collapseFinding judges the request rate falling: on first attempts where
// repeats are known, so that retries stopping is not read as a collapse.
func collapseFinding(base Baseline, c current, th Thresholds, hasRepeats bool) Finding {
	rate, recent := base.Rate(), base.RecentRate
	if hasRepeats {
		rate, recent = base.FirstRate(), base.RecentFirstRate
	}
	x1 := float64(base.Requests)
	if hasRepeats {
		x1 = float64(base.firsts())
	}
	proto := Finding{Signal: RateCollapse, Trigger: true, Mode: Relative, Baseline: rate, BaselineSample: base.Requests,
		BaselineSeconds: base.Seconds, ZThreshold: th.Z, MinRatio: th.RateCollapseRatio, FirstAttempts: hasRepeats,
		TotalBaseline: base.Rate()}
	return judged(c, th, proto, func(w window, from, to int, quick bool, f Finding) (Finding, bool) {
		expected := rate * float64(w.covered)
		if expected < float64(th.MinRequests) {
			f.Gap, f.Have, f.Need = GapFewRequests, math.Floor(expected), float64(th.MinRequests)
			return f, false
		}
		sc := base.scale(w.seconds)
		x2 := float64(w.firsts(hasRepeats))
		f.Current = x2 / float64(w.covered)
		f.TotalCurrent = float64(w.requests) / float64(w.covered)
		f.Dispersion = sc.FirstDispersion
		if sc.RateWindows > 0 {
			f.Burst = sc.MinFirstRate
		}
		f.Z = -RateZ(x1, float64(base.Seconds), x2, float64(w.covered), f.Dispersion)
		ratio := th.RateCollapseRatio
		if quick {
			ratio /= th.QuickFactor
		}
		large := f.Current <= math.Min(rate, recent)*ratio
		burstDrop := 0.0
		if sc.RateWindows > 0 {
			burstDrop = rate - sc.MinFirstRate
		}
		beyondBursts := rate-f.Current >= th.BurstMargin*math.Max(0, burstDrop)
		if quick {
			beyondBursts = beyondBursts && sc.RateWindows >= quickWindows && rate-f.Current >= th.QuickFactor*math.Max(0, burstDrop)
		}
		lasting := true
		for _, p := range c.thirds(from, to) {
			if p.covered == 0 || float64(p.firsts(hasRepeats))/float64(p.covered) > rate*(1+th.RateCollapseRatio)/2 {
				lasting = false
			}
		}
		f.Status = Healthy
		if f.Z >= th.Z && large && lasting && beyondBursts {
			f.Status = Anomalous
		}
		return f, true
	})
}

// retriesStopped reports a significant fall of the total request rate that
// the repeats explain: first attempts held (the collapse finding is
// healthy) and the repeat share fell. It is recovery, not a fault.
func retriesStopped(base Baseline, c current, th Thresholds, collapse Finding) (Finding, bool) {
	if collapse.Gap != GapNone || base.Requests == 0 {
		return Finding{}, false
	}
	from, to := c.n()-int(collapse.To.Sub(collapse.From)/time.Second), c.n()
	w := c.window(from, to)
	if w.requests == 0 || w.covered == 0 {
		return Finding{}, false
	}
	sc := base.scale(w.seconds)
	z := -RateZ(float64(base.Requests), float64(base.Seconds), float64(w.requests), float64(w.covered), sc.RequestDispersion)
	repeatsFell := float64(w.repeats)/float64(w.requests) < float64(base.Repeats)/float64(base.Requests)
	if z < th.Z || !repeatsFell {
		return Finding{}, false
	}
	f := collapse
	f.Signal, f.Trigger, f.Status, f.Z = RetriesStopped, false, Healthy, z
	return f, true
}

// riseFinding reports a rise of the total request rate, for context: never
// a rollback on its own.
func riseFinding(base Baseline, c current, th Thresholds) (Finding, bool) {
	rate := base.Rate()
	proto := Finding{Signal: RateRise, Mode: Relative, Baseline: rate, BaselineSample: base.Requests,
		BaselineSeconds: base.Seconds, ZThreshold: th.Z, MinRatio: th.RateRiseRatio}
	f := judged(c, th, proto, func(w window, from, to int, quick bool, f Finding) (Finding, bool) {
		if quick || rate*float64(w.covered) < float64(th.MinRequests) {
			return f, false
		}
		f.Current = float64(w.requests) / float64(w.covered)
		f.Dispersion = base.scale(w.seconds).RequestDispersion
		f.Z = RateZ(float64(base.Requests), float64(base.Seconds), float64(w.requests), float64(w.covered), f.Dispersion)
		f.Status = Healthy
		if f.Z >= th.Z && f.Current >= math.Max(rate, base.RecentRate)*th.RateRiseRatio {
			f.Status = Anomalous
			for _, p := range c.thirds(from, to) {
				if p.covered == 0 || float64(p.requests)/float64(p.covered) < rate*(1+th.RateRiseRatio)/2 {
					f.Status = Healthy
				}
			}
		}
		return f, true
	})
	return f, f.Status != Inconclusive
}
