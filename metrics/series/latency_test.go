package series

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/metrics"
)

// histogram returns a histogram with the given bucket counts.
func histogram(counts map[int]uint32) *metrics.Histogram {
	var h metrics.Histogram
	for i, n := range counts {
		h[i] = n
	}
	return &h
}

// samePoints reports whether a and b hold the same counts, comparing
// latency histograms by value.
func samePoints(a, b []metrics.Point) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		p, q := a[i], b[i]
		if (p.Latency == nil) != (q.Latency == nil) || (p.Latency != nil && *p.Latency != *q.Latency) {
			return false
		}
		p.Latency, q.Latency = nil, nil
		if p != q {
			return false
		}
	}
	return true
}

func TestLatencyRoundTrips(t *testing.T) {
	download := []metrics.Point{
		{OK: true, Requests: 10, Errors: 1, Latency: histogram(map[int]uint32{0: 1, 7: 3, 8: 6})},
		{},                                  // no data
		{OK: true, Requests: 0},             // no traffic, no latency
		{OK: true, Requests: 5, Repeats: 2}, // requests without times
		{OK: true, Requests: 4, Latency: histogram(map[int]uint32{31: 2})}, // fewer times than requests
		{OK: true, Requests: math.MaxUint32, Latency: histogram(map[int]uint32{12: math.MaxUint32})},
	}
	other := []metrics.Point{{OK: true, Requests: 3}, {OK: true, Requests: 1}}
	tab := TableOf(map[string][]metrics.Point{"download": download, "other": other})
	var out bytes.Buffer
	if err := Write(&out, tab, 6); err != nil {
		t.Fatal(err)
	}
	want := HeaderLatency + "\n" +
		"0,download,10,1,0,0:1;7:3;8:6\n" +
		"0,other,3,0,0,\n" +
		"1,other,1,0,0,\n" +
		"2,download,0,0,0,\n" +
		"3,download,5,0,2,\n" +
		"4,download,4,0,0,31:2\n" +
		"5,download,4294967295,0,0,12:4294967295\n"
	if out.String() != want {
		t.Fatalf("Write =\n%s\nwant\n%s", out.String(), want)
	}
	got, err := Parse(&out, 6)
	if err != nil {
		t.Fatal(err)
	}
	for route, rows := range tab {
		if !samePoints(got[route].pts, rows.pts) || !slices.Equal(got[route].secs, rows.secs) {
			t.Errorf("route %q came back as %+v, want %+v", route, got[route].pts, rows.pts)
		}
		if got[route].HasLatency() != rows.HasLatency() {
			t.Errorf("route %q: latency %v read back as %v", route, rows.HasLatency(), got[route].HasLatency())
		}
	}
}

func TestOldHeaderHasNoLatency(t *testing.T) {
	got, err := Parse(strings.NewReader(Header+"\n0,download,10,1,0\n0,other,3,0,0\n"), 5)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	src := Serve(start, got, func() time.Time { return start.Add(time.Hour) })
	for _, route := range []string{"download", "other"} {
		s, err := src.Counts(context.Background(), route, start, start.Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got[route].HasLatency() || s.HasLatency || s.Points[0].Latency != nil || !s.Points[0].OK {
			t.Errorf("route %q of a file without the latency column: HasLatency %v, %v; first point %+v", route, got[route].HasLatency(), s.HasLatency, s.Points[0])
		}
	}
	// The latency column, timing one route only: the other has none, as
	// FromPoints would say of its points, and no histogram is made up.
	got, err = Parse(strings.NewReader(HeaderLatency+"\n0,download,10,1,0,12:10\n0,other,3,0,0,\n"), 5)
	if err != nil {
		t.Fatal(err)
	}
	for route, want := range map[string]bool{"download": true, "other": false} {
		if p, _ := got[route].At(0); got[route].HasLatency() != want || (p.Latency != nil) != want {
			t.Errorf("route %q: HasLatency %v, Latency %v; want latency %v", route, got[route].HasLatency(), p.Latency, want)
		}
	}
}

func TestParseRejectsBadLatency(t *testing.T) {
	tests := map[string]string{
		"32:1":          `line 3: latency bucket "32" is not a whole number from 0 to 31`,
		"-1:1":          `line 3: latency bucket "-1" is not a whole number from 0 to 31`,
		"x:1":           `line 3: latency bucket "x" is not a whole number from 0 to 31`,
		":1":            `line 3: latency bucket "" is not a whole number from 0 to 31`,
		"3:1;3:2":       `line 3: latency bucket 3 appears twice`,
		"5:1;3:2":       `line 3: latency bucket 3 comes after bucket 5: buckets must increase`,
		"3:0":           `line 3: latency bucket 3: count "0" is not a whole number from 1 to 4294967295`,
		"3:x":           `line 3: latency bucket 3: count "x" is not a whole number from 1 to 4294967295`,
		"3:+2":          `line 3: latency bucket 3: count "+2" is not a whole number from 1 to 4294967295`,
		"3:":            `line 3: latency bucket 3: count "" is not a whole number from 1 to 4294967295`,
		"3:4294967296":  `line 3: latency bucket 3: count "4294967296" is not a whole number from 1 to 4294967295`,
		"3":             `line 3: latency pair "3" is not BUCKET:COUNT`,
		"3:1;":          `line 3: latency pair "" is not BUCKET:COUNT`,
		"3:1 4:1":       `line 3: latency bucket 3: count "1 4:1" is not a whole number from 1 to 4294967295`,
		"3:6;4:5":       `line 3: latency counts 11 responses, more than requests 10`,
		"31:4294967295": `line 3: latency counts 4294967295 responses, more than requests 10`,
	}
	for field, want := range tests {
		in := HeaderLatency + "\n0,download,10,0,0,1:10\n1,download,10,0,0," + field + "\n"
		if _, err := Parse(strings.NewReader(in), 5); err == nil || err.Error() != want {
			t.Errorf("latency %q: Parse = %v, want %s", field, err, want)
		}
	}
	// The columns follow the header.
	for in, want := range map[string]string{
		HeaderLatency + "\n0,download,10,0,0,\n1,download,10,0,0\n": "line 3: 5 fields, want 6 (" + HeaderLatency + ")",
		Header + "\n0,download,10,0,0\n1,download,10,0,0,\n":        "line 3: 6 fields, want 5 (" + Header + ")",
		Header + "\n0,download,10,0,0\n1,download,10,0,0,1:1\n":     "line 3: 6 fields, want 5 (" + Header + ")",
		"t_s,route,requests,errors,repeats,p50\n":                   `line 1: header is "t_s,route,requests,errors,repeats,p50", want "` + Header + `" or "` + HeaderLatency + `"`,
		HeaderLatency + "\n0,download,0,0,0,0:1\n":                  "line 2: latency counts 1 responses, more than requests 0",
	} {
		if _, err := Parse(strings.NewReader(in), 5); err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %s", in, err, want)
		}
	}
}

func TestFromPointsAndCountsCarryLatency(t *testing.T) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	h := histogram(map[int]uint32{9: 4})
	pts := []metrics.Point{
		{OK: true, Requests: 4, Latency: h},
		{OK: true, Requests: 2},
		{OK: false, Latency: histogram(map[int]uint32{1: 1})}, // no data: its latency is not recorded
	}
	noTimes := []metrics.Point{{OK: true, Requests: 4}, {OK: false, Latency: histogram(map[int]uint32{1: 1})}}
	src := New(Recording{Start: start, Routes: map[string][]metrics.Point{"download": pts, "other": noTimes}}, func() time.Time { return start.Add(time.Hour) })
	*h = metrics.Histogram{} // the caller's histogram is not the recording's

	s, err := src.Counts(context.Background(), "download", start, start.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasLatency || s.Points[0].Latency == nil || *s.Points[0].Latency != *histogram(map[int]uint32{9: 4}) || s.Points[1].Latency != nil || s.Points[2].Latency != nil {
		t.Fatalf("Counts = HasLatency %v, points %+v", s.HasLatency, s.Points)
	}
	s.Points[0].Latency[9] = 100 // the caller's copy, not the recording's
	again, err := src.Counts(context.Background(), "download", start, start.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if again.Points[0].Latency[9] != 4 {
		t.Errorf("a change to what Counts returned reached the recording: bucket 9 is %d", again.Points[0].Latency[9])
	}

	s, err = src.Counts(context.Background(), "other", start, start.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s.HasLatency || s.Points[1].Latency != nil {
		t.Errorf("a route whose seconds with data have no latency: HasLatency %v, points %+v", s.HasLatency, s.Points)
	}
}
