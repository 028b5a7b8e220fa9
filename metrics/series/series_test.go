package series

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

func TestSourceServesOnlyThePast(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pts := make([]metrics.Point, 10)
	for i := range pts {
		pts[i] = metrics.Point{OK: i != 3, Requests: int64(i)}
	}
	now := start.Add(6 * time.Second)
	src := New(Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts}}, func() time.Time { return now })
	s, err := src.Counts(context.Background(), "download", start.Add(-2*time.Second), start.Add(12*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 14 || !s.Start.Equal(start.Add(-2*time.Second)) {
		t.Fatalf("series of %d points from %s", len(s.Points), s.Start)
	}
	for i, p := range s.Points {
		sec := i - 2
		want := sec >= 0 && sec < 6 && sec != 3
		if p.OK != want || (want && p.Requests != int64(sec)) {
			t.Errorf("second %d: %+v, want OK=%v", sec, p, want)
		}
	}
	if _, err := src.Counts(context.Background(), "upload", start, now); err == nil {
		t.Error("an unknown route must be an error, not zero traffic")
	}
	sl := s.Slice(start, start.Add(3*time.Second))
	if len(sl.Points) != 3 || sl.Points[1].Requests != 1 || !sl.Start.Equal(start) {
		t.Errorf("Slice = %+v", sl)
	}
	if out := s.Slice(start.Add(time.Hour), start.Add(2*time.Hour)); len(out.Points) != 0 {
		t.Errorf("Slice past the end = %d points", len(out.Points))
	}
}

// naiveCounts is how the source read a dense recording before it held rows:
// second by second.
func naiveCounts(start time.Time, pts []metrics.Point, now, from, to time.Time) []metrics.Point {
	from, to = from.Truncate(time.Second), to.Truncate(time.Second)
	if to.Before(from) {
		to = from
	}
	limit := now.Truncate(time.Second)
	out := make([]metrics.Point, int(to.Sub(from)/time.Second))
	for i := range out {
		t := from.Add(time.Duration(i) * time.Second)
		if !t.Before(limit) {
			break
		}
		idx := int(t.Sub(start) / time.Second)
		if t.Before(start) || idx >= len(pts) {
			continue
		}
		if pts[idx].OK { // a second without data has no counts
			out[i] = pts[idx]
		}
	}
	return out
}

func TestSourceAgreesWithASecondBySecondRead(t *testing.T) {
	pts := make([]metrics.Point, 50)
	for i := range pts {
		pts[i] = metrics.Point{OK: i%7 != 3, Requests: int64(i + 1)}
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, startOff := range []time.Duration{0, 500 * time.Millisecond, -300 * time.Millisecond} {
		start := base.Add(startOff)
		for _, nowS := range []int{-5, 0, 1, 17, 49, 50, 80} {
			now := base.Add(time.Duration(nowS)*time.Second + 200*time.Millisecond)
			src := New(Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts}}, func() time.Time { return now })
			for fromS := -10; fromS <= 55; fromS += 5 {
				for _, length := range []int{-3, 0, 1, 9, 30, 70} {
					from := base.Add(time.Duration(fromS)*time.Second + 700*time.Millisecond)
					to := from.Add(time.Duration(length) * time.Second)
					got, err := src.Counts(context.Background(), "download", from, to)
					if err != nil {
						t.Fatal(err)
					}
					want := naiveCounts(start, pts, now, from, to)
					if !slices.Equal(got.Points, want) {
						t.Fatalf("start %+v now %d from %d len %d:\n got %v\nwant %v", startOff, nowS, fromS, length, got.Points, want)
					}
				}
			}
		}
	}
}

// The routes a recording lists are those with requests in the window and
// before now, busiest first, never the other traffic; limit caps them.
func TestSourceListsItsRoutes(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dense := func(reqs ...int64) []metrics.Point {
		pts := make([]metrics.Point, len(reqs))
		for i, r := range reqs {
			pts[i] = metrics.Point{OK: true, Requests: r}
		}
		return pts
	}
	now := start.Add(4 * time.Second)
	src := New(Recording{Start: start, Routes: map[string][]metrics.Point{
		"download": dense(5, 5, 5, 5, 5, 5), // 15 in [1s, 4s)
		"index":    dense(0, 9, 9, 0, 0, 0), // 18
		"search":   dense(9, 0, 0, 0, 99),   // none in the window; 99 after now
		"login":    dense(0, 0, 0, 1, 0, 0), // 1
		Control:    dense(50, 50, 50, 50, 50, 50),
	}}, func() time.Time { return now })
	got := src.Routes(start.Add(time.Second), start.Add(time.Hour), 0)
	if want := []string{"index", "download", "login"}; !slices.Equal(got, want) {
		t.Errorf("Routes = %q, want %q", got, want)
	}
	if got := src.Routes(start.Add(time.Second), start.Add(time.Hour), 2); !slices.Equal(got, []string{"index", "download"}) {
		t.Errorf("Routes limit 2 = %q", got)
	}
	var _ metrics.RouteLister = src
}
