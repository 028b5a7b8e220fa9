package series

import (
	"context"
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
