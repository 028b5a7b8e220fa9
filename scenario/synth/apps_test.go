package synth

import (
	"fmt"
	"math"

	"github.com/relwatch/relwatch/metrics"
)

// The facts of the shapes real Heroku apps bring (apps.go): a morning
// ramp, jobs on a timer, a CDN refetching, dynos booting slowly, a short
// outage in the baseline, one dyno of three failing, a memory leak.

func init() {
	shapeFacts["morning-ramp"] = func(in Instance, before, after window, dl []metrics.Point) string {
		at := releaseOf(in.Scenario, 42).AtS
		other := dense(in.Scenario, otherRoute)
		// The ramp starts 0-5 min after the release and lasts 12-20 min:
		// from 25 min after it, the recording is the morning.
		flat, late := sum(dl, at-600, at), sum(dl, at+1500, len(dl))
		otherBefore, otherLate := sum(other, 0, at), sum(other, at+1500, len(other))
		return check(flat.rate() > 0.75*before.rate() && flat.rate() < 1.33*before.rate(), "rate %.0f/s in the 10 min before the release, %.0f/s in the baseline: want the night flat", flat.rate(), before.rate()) +
			check(late.rate() > 2.5*before.rate(), "downloads %.0f/s -> %.0f/s late in the watch (x%.2f), want x2.5+", before.rate(), late.rate(), late.rate()/before.rate()) +
			check(otherLate.rate() > 2*otherBefore.rate(), "other route x%.2f late in the watch, want the whole app ramping", otherLate.rate()/otherBefore.rate()) +
			check(math.Abs(late.repeatShare()-before.repeatShare()) < 0.03 && late.errorShare() < 0.001,
				"late in the watch: repeat share %.1f%% -> %.1f%%, errors %.3f%%: want the shares unchanged", 100*before.repeatShare(), 100*late.repeatShare(), 100*late.errorShare())
	}
	shapeFacts["cron-5min"] = func(in Instance, before, after window, dl []metrics.Point) string {
		// Every 300 s from the drawn phase, a job of 150-600 requests within
		// 5-20 s (and its re-polls within 3 s), a fifth to a half of them
		// repeats; calm between the runs.
		runs, jobs := 0, 0
		var missed string
		for s := int(param(in, "cron_phase_s")); s+250 <= len(dl); s += 300 {
			runs++
			job, calm := sum(dl, s, s+25), sum(dl, s+100, s+250)
			extra := float64(job.requests) - 25*calm.rate()
			if extra >= 120 && job.repeatShare() > calm.repeatShare()+0.05 {
				jobs++
			} else {
				missed = fmt.Sprintf(", missing at %d s: %.0f requests past the calm's, repeat share %.1f%% (calm %.1f%%)", s, extra, 100*job.repeatShare(), 100*calm.repeatShare())
			}
		}
		return check(runs >= 11 && jobs >= runs-1, "%d of %d runs 300 s apart show the job%s", jobs, runs, missed)
	}
	shapeFacts["cdn-flush"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return cdnFlushFacts(in, before, dl)
	}
	shapeFacts["cdn-flush-slow"] = func(in Instance, before, after window, dl []metrics.Point) string {
		at, s := releaseOf(in.Scenario, 42).AtS, serving(in)
		// Past the cold dynos (at most 30 s), the origin is still loaded.
		base := quantile(dl, 0, at, 0.5)
		loaded, later := quantile(dl, s+30, s+75, 0.5)/base, quantile(dl, s+300, s+900, 0.5)/base
		return cdnFlushFacts(in, before, dl) +
			check(loaded > 1.25, "p50 x%.2f 30-75 s into the flush, want the origin slower", loaded) +
			check(later > 0.8 && later < 1.25, "p50 x%.2f 5-15 min after, want back", later)
	}
	shapeFacts["slow-boot"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return slowBootFacts(in, before, after, dl, 20, 35)
	}
	shapeFacts["slow-boot-short"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return slowBootFacts(in, before, after, dl, 12, 20)
	}
	shapeFacts["short-outage-before"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return shortOutageFacts(in, dl) + check(after.errorShare() < 0.001, "%.3f%% errors after the release", 100*after.errorShare())
	}
	shapeFacts["short-outage-then-bad"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return shortOutageFacts(in, dl) + check(after.errorShare() > 0.02 && after.errorShare() < 0.06, "%.2f%% errors after the release, want 3-5%%", 100*after.errorShare())
	}
	shapeFacts["one-dyno-of-three"] = oneDynoFacts
	shapeFacts["one-dyno-of-three-later"] = func(in Instance, before, after window, dl []metrics.Point) string {
		at := live(in.Scenario, 42)
		from := in.Scenario.Expect.BadFromS
		fine := sum(dl, at+20, max(at+20, from))
		return oneDynoFacts(in, before, after, dl) +
			check(from-at >= 120 && from-at <= 500, "the dyno fails from %d s after going live, want 2-8 min", from-at) +
			check(fine.errorShare() < 0.002, "%.2f%% errors before the dyno fails", 100*fine.errorShare())
	}
	shapeFacts["errors-1-to-8pct"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return check(before.errorShare() > 0.006 && before.errorShare() < 0.014, "%.2f%% errors before the release, want ~1%%", 100*before.errorShare()) +
			check(after.errorShare() > 0.055 && after.errorShare() < 0.10 && after.errorShare() > 5*before.errorShare(), "%.2f%% errors after, want ~8%%", 100*after.errorShare())
	}
	shapeFacts["crates-io-one-retry"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return check(after.repeatShare() > 0.45 && after.repeatShare() < 0.65, "repeat share %.1f%%, want ~55%% (one retry each)", 100*after.repeatShare()) +
			check(after.rate() > 1.5*before.rate() && after.rate() < 2.5*before.rate(), "rate x%.2f, want ~2", after.rate()/before.rate()) +
			check(after.errorShare() < 0.001, "errors %.3f%%, want none but the baseline's", 100*after.errorShare())
	}
	shapeFacts["partial-one-retry"] = func(in Instance, before, after window, dl []metrics.Point) string {
		// A share f of the downloads fails, retried once by a share r:
		// repeat share (base + f r) / (1 + f r).
		fr := param(in, "failing") * param(in, "retrying")
		want := (before.repeatShare() + fr) / (1 + fr)
		return check(math.Abs(after.repeatShare()-want) < 0.04 && after.repeatShare() > before.repeatShare()+0.08,
			"repeat share %.1f%% -> %.1f%%, want %.1f%% (one retry of %.0f%%)", 100*before.repeatShare(), 100*after.repeatShare(), 100*want, 100*param(in, "failing")) +
			check(after.errorShare() < 0.001, "errors %.3f%%", 100*after.errorShare())
	}
	shapeFacts["one-rps-bad"] = func(in Instance, before, after window, dl []metrics.Point) string {
		return check(before.rate() > 0.5 && before.rate() < 1.8, "rate %.2f/s, want ~1", before.rate()) +
			check(after.errorShare() > 0.07 && after.errorShare() < 0.25, "error share %.1f%%, want 10-20%% (retried)", 100*after.errorShare()) +
			check(after.repeatShare() > before.repeatShare()+0.05, "repeat share %.1f%% -> %.1f%%, want the retries", 100*before.repeatShare(), 100*after.repeatShare())
	}
	shapeFacts["memory-leak"] = func(in Instance, before, after window, dl []metrics.Point) string {
		at, s := releaseOf(in.Scenario, 42).AtS, serving(in)
		two := in.Scenario.Expect.BadFromS
		top := param(in, "leak_x")
		base := quantile(dl, 0, at, 0.5)
		p50 := func(from int) float64 { return quantile(dl, from, from+60, 0.5) / base }
		// Past the cold dynos, every two minutes slower than the last,
		// until the creep's end (15 min).
		msg := ""
		for t, last := s+30, 0.0; t+120 <= s+900; t += 120 {
			if x := p50(t); x < last {
				msg += check(false, "p50 x%.2f at %d s, x%.2f two minutes before: want it rising", x, t, last)
			} else {
				last = x
			}
		}
		return msg + check(p50(s+30) < 1.5, "p50 x%.2f 30 s after serving, want a creep", p50(s+30)) +
			check(p50(two) > 1.6 && p50(two) < 2.5, "p50 x%.2f at bad_from_s (%d s), want x2", p50(two), two) +
			check(p50(s+900) > 0.8*top && p50(s+900) < 1.25*top, "p50 x%.2f after 15 min, want x%.2f", p50(s+900), top) +
			check(after.errorShare() < 0.001, "errors %.3f%%", 100*after.errorShare())
	}
}

// serving is about the first second release 42's new dynos serve: the
// restart blip starts 0-2 s after it goes live and lasts v42_restart_s.
func serving(in Instance) int {
	return live(in.Scenario, 42) + int(param(in, "v42_restart_s")) + 2
}

// cdnFlushFacts: the rate x2+ for the first half minute the new code
// serves, back near the baseline after 5 min; no errors and the repeat
// share unchanged meanwhile.
func cdnFlushFacts(in Instance, before window, dl []metrics.Point) string {
	s := serving(in)
	// Past the restart blip's retries (up to 8 s).
	flush, later := sum(dl, s+10, s+30), sum(dl, s+300, s+900)
	return check(flush.rate() > 2*before.rate(), "rate %.0f/s -> %.0f/s when the new code serves (x%.2f), want x2.5-3.5", before.rate(), flush.rate(), flush.rate()/before.rate()) +
		check(later.rate() > 0.7*before.rate() && later.rate() < 1.4*before.rate(), "rate x%.2f 5-15 min after, want back", later.rate()/before.rate()) +
		check(flush.errorShare() < 0.002 && math.Abs(flush.repeatShare()-before.repeatShare()) < 0.03,
			"in the flush: errors %.2f%%, repeat share %.1f%% (before %.1f%%)", 100*flush.errorShare(), 100*flush.repeatShare(), 100*before.repeatShare())
}

// slowBootFacts: for boot_s (lo-hi) seconds from going live a third or
// more of the requests fail and are retried, and fewer arrive (the dip);
// then the errors are the baseline's.
func slowBootFacts(in Instance, before, after window, dl []metrics.Point, lo, hi int) string {
	at := live(in.Scenario, 42)
	boot := int(param(in, "boot_s"))
	booting := sum(dl, at+2, at+boot)
	dip := booting.firstRate() / sum(dl, at-300, at).firstRate()
	erring := 0
	for t := at; t < at+120; t++ {
		if w := sum(dl, t, t+1); w.errorShare() > 0.2 {
			erring++
		}
	}
	return check(boot >= lo && boot <= hi, "boot_s %d, want %d-%d", boot, lo, hi) +
		check(erring >= boot-4 && erring <= boot+4, "%d seconds past 20%% errors after going live, want boot_s %d", erring, boot) +
		check(booting.errorShare() > 0.3, "%.1f%% errors while booting", 100*booting.errorShare()) +
		check(booting.repeatShare() > before.repeatShare()+0.15, "repeat share %.1f%% while booting (%.1f%% before), want the retries", 100*booting.repeatShare(), 100*before.repeatShare()) +
		check(dip < 0.95 && math.Abs(dip-param(in, "boot_dip")) < 0.15, "first attempts x%.2f while booting, want the dip (x%.2f)", dip, param(in, "boot_dip")) +
		check(after.errorShare() < before.errorShare()+0.0005, "%.3f%% errors after the boot, %.3f%% before", 100*after.errorShare(), 100*before.errorShare())
}

// shortOutageFacts: in the baseline, one run of 10%+ errors lasting
// incident_s (60-170 s) that ended 5-25 min before the release.
func shortOutageFacts(in Instance, dl []metrics.Point) string {
	at := releaseOf(in.Scenario, 42).AtS
	first, last, n := -1, -1, 0
	for t := range at {
		if w := sum(dl, t, t+1); w.errorShare() >= 0.1 {
			if first < 0 {
				first = t
			}
			last, n = t, n+1
		}
	}
	length := last - first + 1
	return check(first >= 0 && length >= 55 && length <= 175 && math.Abs(float64(length)-param(in, "incident_s")) <= 5 && float64(n) >= 0.8*float64(length),
		"%d of the %d s from %d s to %d s past 10%% errors, want one run of incident_s (%.0f s)", n, length, first, last, param(in, "incident_s")) +
		check(at-last >= 295 && at-last <= 1505, "the outage ended %d s before the release, want 5-25 min", at-last)
}

// oneDynoFacts: one dyno of three fails every request, and a retry fails
// with the same chance: the error share is the dyno's share of the
// requests (30-36%), and the retries raise the repeat share.
func oneDynoFacts(in Instance, before, after window, dl []metrics.Point) string {
	return check(after.errorShare() > 0.25 && after.errorShare() < 0.4 && math.Abs(after.errorShare()-param(in, "errors")) < 0.02,
		"error share %.1f%%, want the failing dyno's %.1f%%", 100*after.errorShare(), 100*param(in, "errors")) +
		check(after.repeatShare() > before.repeatShare()+0.15, "repeat share %.1f%% -> %.1f%%, want the retries", 100*before.repeatShare(), 100*after.repeatShare())
}
