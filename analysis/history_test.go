package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// An outage in the lookback is left out of the baseline; the app's own
// short hiccups are not (they are its bursts, for the envelope to know).
func TestIncidentsLeavesOutAnOutageNotTheHiccups(t *testing.T) {
	th := DefaultThresholds()
	for _, tc := range []struct {
		name        string
		outage      [2]int // seconds of 20% errors
		hiccups     []int  // 20 s of 3% errors each
		repeats     [2]int // seconds of 60% repeats
		jobs        []int  // 120 s of 2% errors each (a job saturating the dynos)
		wantFrom    int    // -1: no incident
		wantTo      int
		wantOutside []int // seconds that must stay in the baseline
	}{
		{name: "outage of 15 min in 45", outage: [2]int{900, 1800}, wantFrom: 840, wantTo: 1860, wantOutside: []int{600, 2000}},
		{name: "outage of 30 min in 45, longer than the normal", outage: [2]int{300, 2100}, wantFrom: 240, wantTo: 2160},
		{name: "hiccups only", hiccups: []int{300, 1200, 2000}, wantFrom: -1},
		// Two minutes of 20% errors (a database failover) is an outage:
		// kept, its worst window hid a steady 3% release.
		{name: "an outage of 70 s over two bins", outage: [2]int{1210, 1280}, wantFrom: 1140, wantTo: 1380, wantOutside: []int{1100, 1400}},
		{name: "an outage of 2 min", outage: [2]int{1200, 1320}, wantFrom: 1140, wantTo: 1380},
		{name: "an outage of 50 s in one bin is a burst", outage: [2]int{1205, 1255}, wantFrom: -1},
		{name: "a hiccup across two bins is not an incident", hiccups: []int{1190}, wantFrom: -1},
		{name: "a job's 2 min of errors, once, is an incident", jobs: []int{1200}, wantFrom: 1140, wantTo: 1380},
		{name: "a job's 2 min of errors, recurring, is a habit", jobs: []int{600, 1200, 1800}, wantFrom: -1},
		{name: "repeats for 2 min (a client's job) are not an incident", repeats: [2]int{1200, 1320}, wantFrom: -1},
		{name: "repeats for 3 min are", repeats: [2]int{1200, 1380}, wantFrom: 1140, wantTo: 1440},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := gen(rand.New(rand.NewPCG(1, 2)), t0, 2700, 300, 0.0005, 0.1)
			if tc.outage[1] > 0 {
				burst(s, tc.outage[0], tc.outage[1], 0.2)
			}
			for i := tc.repeats[0]; i < tc.repeats[1]; i++ {
				s.Points[i].Repeats = s.Points[i].Requests * 6 / 10
			}
			for _, at := range tc.jobs {
				burst(s, at, at+120, 0.02)
			}
			for _, h := range tc.hiccups {
				burst(s, h, h+20, 0.03)
			}
			got := Incidents(s, nil, th)
			if tc.wantFrom < 0 {
				if len(got) != 0 {
					t.Fatalf("incidents %v, want none", got)
				}
				return
			}
			at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
			if len(got) != 1 || !got[0].From.Equal(at(tc.wantFrom)) || !got[0].To.Equal(at(tc.wantTo)) {
				t.Fatalf("incidents %v, want one from %d s to %d s", got, tc.wantFrom, tc.wantTo)
			}
			for _, sec := range tc.wantOutside {
				if AnyContains(got, at(sec)) {
					t.Errorf("%d s is left out, want it kept", sec)
				}
			}
			// The baseline without the outage is the normal.
			b := NewBaseline(s, got, th)
			if share := float64(b.Errors) / float64(b.Requests); share > 0.002 {
				t.Errorf("baseline error share %.4f with the incident left out, want the normal 0.0005", share)
			}
		})
	}
}

// A fault that creeps in is already elevated where it begins, past the
// restart blip; a healthy stretch is not, nor one whose errors fell.
func TestElevated(t *testing.T) {
	th := DefaultThresholds()
	rng := rand.New(rand.NewPCG(3, 4))
	base := NewBaseline(gen(rng, t0, 1800, 200, 0.0005, 0.1), nil, th)
	creep := func(secs int, top float64) metrics.Series {
		s := gen(rng, t0, secs, 200, 0.0005, 0.1)
		for i := range s.Points {
			share := 0.0005 + top*float64(i)/float64(secs)
			s.Points[i].Errors = binom(rng, s.Points[i].Requests, share)
		}
		return s
	}
	for _, tc := range []struct {
		name string
		span metrics.Series
		sig  Signal
		want bool
	}{
		{"healthy", gen(rng, t0, 130, 200, 0.0005, 0.1), ErrorShare, false},
		{"a creep to 0.4% over 2 min", creep(130, 0.004), ErrorShare, true},
		{"errors fell", gen(rng, t0, 130, 200, 0, 0.1), ErrorShare, false},
		{"repeats rose to 30%", gen(rng, t0, 120, 200, 0.0005, 0.3), RepeatShare, true},
		{"first attempts fell to 60%", gen(rng, t0, 120, 120, 0.0005, 0.1), RateCollapse, true},
		{"first attempts held", gen(rng, t0, 120, 200, 0.0005, 0.1), RateCollapse, false},
		{"too few requests to say", gen(rng, t0, 10, 2, 0.5, 0.1), ErrorShare, false},
		{"only the last minute shows it", func() metrics.Series {
			s := gen(rng, t0, 1860, 200, 0.0005, 0.1)
			burst(s, 1800, 1860, 0.01)
			return s
		}(), ErrorShare, true},
	} {
		if got := Elevated(base, tc.span, tc.sig, th); got != tc.want {
			t.Errorf("%s: Elevated = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A collapse the app's other routes share is lost data: inconclusive,
// never a rollback; a collapse of the guarded route alone stands.
func TestControlledSharedFallIsNoCollapse(t *testing.T) {
	th := DefaultThresholds()
	rng := rand.New(rand.NewPCG(5, 6))
	base := NewBaseline(gen(rng, t0, 1800, 500, 0.0005, 0.1), nil, th)
	controlBefore := gen(rng, t0, 1800, 50, 0.001, 0.05)
	for _, tc := range []struct {
		name                     string
		guardedRate, controlRate float64
		want                     Status
	}{
		{"every route fell alike", 200, 20, Inconclusive},
		{"the other routes held", 200, 50, Anomalous},
		{"the other routes fell less than halfway", 200, 40, Anomalous},
		{"the guarded route fell far more than the others", 100, 35, Anomalous},
	} {
		now := gen(rng, t0.Add(1800*time.Second), 300, tc.guardedRate, 0.0005, 0.1)
		v := Assess(base, now, Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
		if f, _ := v.Finding(RateCollapse); f.Status != Anomalous || v.Status != Anomalous {
			t.Fatalf("%s: guarded route alone: %+v, want an anomalous collapse to start from", tc.name, f)
		}
		got := v.Controlled(controlBefore, gen(rng, t0.Add(1800*time.Second), 300, tc.controlRate, 0.001, 0.05), th)
		f, _ := got.Finding(RateCollapse)
		if f.Status != tc.want || got.Status != tc.want {
			t.Errorf("%s: collapse %s (verdict %s), want %s", tc.name, f.Status, got.Status, tc.want)
		}
		if tc.want == Inconclusive && (f.Gap != GapSharedFall || f.Have > 0.5) {
			t.Errorf("%s: gap %s have %.2f, want shared_fall with the control's ratio", tc.name, f.Gap, f.Have)
		}
	}
}

// Errors that had already risen in the minute before the release was made
// are not the release's: inconclusive, with their share and whether the
// rise was everywhere; errors that rose with the release stand.
func TestPredatedErrorsAreNotTheRelease(t *testing.T) {
	th := DefaultThresholds()
	rng := rand.New(rand.NewPCG(7, 8))
	base := NewBaseline(gen(rng, t0, 1800, 500, 0.0005, 0.1), nil, th)
	now := gen(rng, t0.Add(1860*time.Second), 300, 500, 0.05, 0.1)
	v := Assess(base, now, Grace{Errors: 45 * time.Second, Traffic: 10 * time.Second}, th)
	if f, _ := v.Finding(ErrorShare); f.Status != Anomalous || v.Status != Anomalous {
		t.Fatalf("the release alone: %+v, want an anomalous error share to start from", f)
	}
	for _, tc := range []struct {
		name       string
		share      float64
		everywhere bool
		want       Status
	}{
		{"errors had risen before, everywhere", 0.05, true, Inconclusive},
		{"errors had risen before, this route only", 0.04, false, Inconclusive},
		{"quiet before the release", 0.0005, true, Anomalous},
	} {
		got := v.Predated(base, gen(rng, t0.Add(1800*time.Second), 60, 500, tc.share, 0.1), tc.everywhere, th)
		f, _ := got.Finding(ErrorShare)
		if f.Status != tc.want || got.Status != tc.want {
			t.Errorf("%s: error share %s (verdict %s), want %s", tc.name, f.Status, got.Status, tc.want)
		}
		if tc.want != Inconclusive {
			continue
		}
		if f.Gap != GapBeforeRelease || math.Abs(f.Have-tc.share) > tc.share/2 || (f.Need == 1) != tc.everywhere {
			t.Errorf("%s: gap %s have %.4f need %.0f, want before_release with the share before (%.4f) and everywhere %v", tc.name, f.Gap, f.Have, f.Need, tc.share, tc.everywhere)
		}
	}
}
