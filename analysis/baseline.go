package analysis

import (
	"math"
	"slices"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// Baseline is the traffic before a release: totals, and at each window
// length the current traffic is judged at, how bursty each count is and the
// baseline's own worst windows. The state store keeps a watch's baseline
// as this JSON.
type Baseline struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Seconds int       `json:"seconds"` // seconds with data, exclusions left out
	// Active is how many of them had requests: what a share is learnt
	// from. Night traffic in clusters (CI builds) has hours of data and
	// little activity.
	Active     int   `json:"active"`
	Requests   int64 `json:"requests"`
	Errors     int64 `json:"errors"`
	Repeats    int64 `json:"repeats"`
	HasRepeats bool  `json:"has_repeats"`
	// RecentRate and RecentFirstRate are the total and first-attempt rates
	// over the baseline's last tenth (at least 5 min when it has them): a
	// rate change must hold against them too, so that traffic drifting
	// through the day is not taken for a fault.
	RecentRate      float64 `json:"recent_rate"`
	RecentFirstRate float64 `json:"recent_first_rate"`
	// Clusters is how many clusters of requests (clustered traffic: CI
	// builds at night) the baseline had, and MaxClusterRepeatShare the
	// highest repeat share one of them showed; busy traffic has none.
	Clusters              int     `json:"clusters"`
	MaxClusterRepeatShare float64 `json:"max_cluster_repeat_share"`
	// ClustersPast is how many of them showed a repeat share at or past
	// the guardrail (th.MaxRepeatShare): a CI job re-run now and then
	// fetches everything again, and a night may have one.
	ClustersPast int `json:"clusters_past,omitempty"`
	// Scales describe the baseline at the quick window lengths and at
	// every multiple of th.Sustain up to th.MaxWindow, shortest first.
	Scales []Scale `json:"scales"`
	// Latency is the baseline's response times at the same lengths; nil
	// where the source gives none.
	Latency *LatencyBaseline `json:"latency,omitempty"`
}

// Scale is the baseline seen through windows of one length.
type Scale struct {
	Seconds int `json:"seconds"`
	// Dispersion factors, at least 1: the observed variance of each count
	// over windows of this length, over Poisson's (binomial's for shares).
	RequestDispersion float64 `json:"request_dispersion"`
	ErrorDispersion   float64 `json:"error_dispersion"`
	RepeatDispersion  float64 `json:"repeat_dispersion"`
	FirstDispersion   float64 `json:"first_dispersion"`
	// ShareWindows is how many baseline windows of this length had the
	// minimum sample; MaxErrorShare and MaxRepeatShare are the worst of
	// them: the baseline's own bursts.
	ShareWindows   int     `json:"share_windows"`
	MaxErrorShare  float64 `json:"max_error_share"`
	MaxRepeatShare float64 `json:"max_repeat_share"`
	// RateWindows is how many windows had the minimum expected sample;
	// MinFirstRate is the lowest first-attempt rate among them (the total
	// rate where repeats are unknown).
	RateWindows  int     `json:"rate_windows"`
	MinFirstRate float64 `json:"min_first_rate"`
}

// firsts is the count a rate collapse is judged on: first attempts where
// repeats are known, else all requests.
func (b Baseline) firsts() int64 {
	if b.HasRepeats {
		return b.Requests - b.Repeats
	}
	return b.Requests
}

// Rate is the baseline's requests per second.
func (b Baseline) Rate() float64 {
	if b.Seconds == 0 {
		return 0
	}
	return float64(b.Requests) / float64(b.Seconds)
}

// FirstRate is the baseline's first attempts per second (requests where
// repeats are unknown).
func (b Baseline) FirstRate() float64 {
	if b.Seconds == 0 {
		return 0
	}
	return float64(b.firsts()) / float64(b.Seconds)
}

// Usable reports whether there is enough baseline to judge against: at
// least th.MinBaseline of seconds with requests, and th.MinRequests
// requests. Seconds without requests say nothing of the shares.
func (b Baseline) Usable(th Thresholds) bool {
	return b.Active >= int(th.MinBaseline/time.Second) && b.Active > 0 && b.Requests >= th.MinRequests
}

// scale returns the baseline at window length seconds: the longest
// computed scale not longer than it.
func (b Baseline) scale(seconds int) Scale {
	out := Scale{Seconds: seconds, RequestDispersion: 1, ErrorDispersion: 1, RepeatDispersion: 1, FirstDispersion: 1}
	for _, s := range b.Scales {
		if s.Seconds > seconds {
			break
		}
		out = s
	}
	return out
}

// NewBaseline summarises s, leaving out the seconds in exclude (the restart
// blips of earlier releases, the time anomalous releases were live) and
// seconds without data.
func NewBaseline(s metrics.Series, exclude []Interval, th Thresholds) Baseline {
	b := Baseline{From: s.Start, To: s.End(), HasRepeats: s.HasRepeats}
	kept := make([]metrics.Point, len(s.Points))
	for i, p := range s.Points {
		t := s.Start.Add(time.Duration(i) * time.Second)
		if !p.OK || AnyContains(exclude, t) {
			continue
		}
		kept[i] = p
		b.Seconds++
		if p.Requests > 0 {
			b.Active++
		}
		b.Requests += p.Requests
		b.Errors += p.Errors
		b.Repeats += p.Repeats
	}
	c := newCurrent(metrics.Series{Start: s.Start, Points: kept, HasRepeats: s.HasRepeats})
	recent := max(300, len(kept)/10)
	if w := c.window(max(0, c.n()-recent), c.n()); w.covered > 0 {
		b.RecentRate = float64(w.requests) / float64(w.covered)
		b.RecentFirstRate = float64(w.firsts(b.HasRepeats)) / float64(w.covered)
	}
	if b.Active*2 < b.Seconds {
		for cl, whole := range c.clustersBackwards(0, c.n()) {
			if whole && cl.requests >= clusterRequests {
				b.Clusters++
				share := float64(cl.repeats) / float64(cl.requests)
				b.MaxClusterRepeatShare = math.Max(b.MaxClusterRepeatShare, share)
				if share >= th.MaxRepeatShare && !rerun(cl) {
					b.ClustersPast++
				}
			}
		}
	}
	sustain := sustainSeconds(th)
	maxWindow := max(sustain, int(th.MaxWindow/time.Second))
	lengths := quickLengths(th)
	for l := sustain; l <= maxWindow; l += sustain {
		lengths = append(lengths, l)
	}
	prev := Scale{RequestDispersion: 1, ErrorDispersion: 1, RepeatDispersion: 1, FirstDispersion: 1}
	for _, l := range lengths {
		sc := b.measure(c, l, th, prev)
		// The variance of counts over a longer window is no smaller, for
		// traffic that clusters, than over a shorter one: where a longer
		// scale's few bins say less, the shorter scale's many say it
		// better (night builds: hundreds of requests in seconds, then
		// minutes of nothing).
		sc.RequestDispersion = math.Max(sc.RequestDispersion, prev.RequestDispersion)
		sc.ErrorDispersion = math.Max(sc.ErrorDispersion, prev.ErrorDispersion)
		sc.RepeatDispersion = math.Max(sc.RepeatDispersion, prev.RepeatDispersion)
		sc.FirstDispersion = math.Max(sc.FirstDispersion, prev.FirstDispersion)
		b.Scales = append(b.Scales, sc)
		prev = sc
	}
	if s.HasLatency {
		b.Latency = newLatencyBaseline(kept, lengths, th)
	}
	return b
}

// measure describes the baseline c through windows of l seconds. Where the
// baseline is too short for three windows of l, the dispersions of the
// longest shorter scale (prev) stand in.
func (b Baseline) measure(c current, l int, th Thresholds, prev Scale) Scale {
	sc := Scale{Seconds: l}
	minCovered := int(math.Ceil(th.MinCoverage * float64(l)))
	rate := b.FirstRate()

	// The worst windows, sliding in sixths of the length.
	step := max(1, l/6)
	for from := 0; from+l <= c.n(); from += step {
		w := c.window(from, from+l)
		if w.covered == 0 || w.covered < minCovered {
			continue
		}
		if w.requests >= th.MinRequests {
			sc.ShareWindows++
			sc.MaxErrorShare = math.Max(sc.MaxErrorShare, float64(w.errors)/float64(w.requests))
			sc.MaxRepeatShare = math.Max(sc.MaxRepeatShare, float64(w.repeats)/float64(w.requests))
		}
		if rate*float64(w.covered) >= float64(th.MinRequests) {
			r := float64(w.firsts(b.HasRepeats)) / float64(w.covered)
			if sc.RateWindows == 0 || r < sc.MinFirstRate {
				sc.MinFirstRate = r
			}
			sc.RateWindows++
		}
	}

	// Dispersion: each bin's Pearson chi-square term, over whole bins of l
	// seconds at least half covered. The median term, not the mean: the
	// rare bursts are the envelope's to judge, and must not also inflate
	// the noise every window is measured against. (For one degree of
	// freedom the median of a chi-square is 0.455.)
	// The level each bin is measured against is the typical bin's (the
	// median), for the same reason.
	var bins []window
	for from := 0; from+l <= c.n(); from += l {
		if w := c.window(from, from+l); w.covered*2 >= l {
			bins = append(bins, w)
		}
	}
	var rates, firstRates, errShares, repShares []float64
	for _, w := range bins {
		rates = append(rates, float64(w.requests)/float64(w.covered))
		firstRates = append(firstRates, float64(w.firsts(b.HasRepeats))/float64(w.covered))
		if w.requests > 0 {
			errShares = append(errShares, float64(w.errors)/float64(w.requests))
			repShares = append(repShares, float64(w.repeats)/float64(w.requests))
		}
	}
	typRate, typFirst, pErr, pRep := median(rates), median(firstRates), median(errShares), median(repShares)
	var termsReq, termsErr, termsRep, termsFirst []float64
	for _, w := range bins {
		if e := typRate * float64(w.covered); e > 0 {
			d := float64(w.requests) - e
			termsReq = append(termsReq, d*d/e)
		}
		if e := typFirst * float64(w.covered); e > 0 {
			d := float64(w.firsts(b.HasRepeats)) - e
			termsFirst = append(termsFirst, d*d/e)
		}
		if v := float64(w.requests) * pErr * (1 - pErr); v > 0 {
			d := float64(w.errors) - float64(w.requests)*pErr
			termsErr = append(termsErr, d*d/v)
		}
		if v := float64(w.requests) * pRep * (1 - pRep); v > 0 {
			d := float64(w.repeats) - float64(w.requests)*pRep
			termsRep = append(termsRep, d*d/v)
		}
	}
	sc.RequestDispersion = dispersion(termsReq, prev.RequestDispersion)
	sc.ErrorDispersion = dispersion(termsErr, prev.ErrorDispersion)
	sc.RepeatDispersion = dispersion(termsRep, prev.RepeatDispersion)
	sc.FirstDispersion = dispersion(termsFirst, prev.FirstDispersion)
	return sc
}

// dispersion is the robust dispersion factor of chi-square terms (at least
// 1), or fallback when there are fewer than three.
func dispersion(terms []float64, fallback float64) float64 {
	if len(terms) < 3 {
		return fallback
	}
	return math.Max(1, median(terms)/0.455)
}

// median is the middle of xs (0 for none); it sorts xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	return m
}
