package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProm answers /api/v1/query_range as Prometheus does, with samples
// from values(query, t) (ok false: no sample at t).
func fakeProm(t *testing.T, values func(q string, ts int64) (float64, bool), delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		r.ParseForm()
		q := r.Form.Get("query")
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		var pts []string
		for ts := int64(start); ts <= int64(end); ts += int64(step) {
			if v, ok := values(q, ts); ok {
				pts = append(pts, fmt.Sprintf(`[%d,"%g"]`, ts, v))
			}
		}
		result := "[]"
		if len(pts) > 0 {
			result = `[{"metric":{},"values":[` + strings.Join(pts, ",") + `]}]`
		}
		if strings.Contains(q, "two") {
			result = `[{"metric":{"a":"1"},"values":[]},{"metric":{"a":"2"},"values":[]}]`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":%s}}`, result)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var t0 = time.Unix(1_700_000_000, 0)

func TestCountsSpreadsStepsAndKeepsGaps(t *testing.T) {
	url := fakeProm(t, func(q string, ts int64) (float64, bool) {
		sec := ts - t0.Unix()
		if sec > 20 && sec <= 30 { // a scrape gap
			return 0, false
		}
		if strings.Contains(q, "5..") {
			if sec > 30 {
				return 7.5, true
			}
			return 0, false // no errors: the series is absent for those steps
		}
		return 100.4, true // increase() extrapolates: fractions
	}, 0)
	src, err := New(url, "crates-io", Queries{}, Options{Step: 5 * time.Second, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Counts(context.Background(), "download", t0, t0.Add(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 40 || s.HasRepeats {
		t.Fatalf("%d points, repeats %v", len(s.Points), s.HasRepeats)
	}
	var reqs, errs int64
	for i, p := range s.Points {
		gap := i >= 20 && i < 30
		if p.OK == gap {
			t.Fatalf("second %d: OK=%v", i, p.OK)
		}
		reqs += p.Requests
		errs += p.Errors
	}
	// Six steps of 100.4 requests, two of 7.5 errors, rounded once.
	if reqs != 602 || errs != 15 {
		t.Fatalf("requests %d errors %d, want 602 and 15", reqs, errs)
	}
}

func TestNoSeriesIsNoDataForRequests(t *testing.T) {
	url := fakeProm(t, func(string, int64) (float64, bool) { return 0, false }, 0)
	src, _ := New(url, "crates-io", Queries{}, Options{Step: time.Second, Timeout: time.Second})
	s, err := src.Counts(context.Background(), "download", t0, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Points {
		if p.OK {
			t.Fatal("no series for requests must be no data, not zero traffic")
		}
	}
}

func TestPrometheusDownSlowOrAmbiguousIsAnError(t *testing.T) {
	slow := fakeProm(t, func(string, int64) (float64, bool) { return 1, true }, 500*time.Millisecond)
	src, _ := New(slow, "a", Queries{}, Options{Step: time.Second, Timeout: 100 * time.Millisecond})
	if _, err := src.Counts(context.Background(), "r", t0, t0.Add(10*time.Second)); err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("slow: %v", err)
	}
	down, _ := New("http://127.0.0.1:1", "a", Queries{}, Options{Step: time.Second, Timeout: time.Second})
	if _, err := down.Counts(context.Background(), "r", t0, t0.Add(10*time.Second)); err == nil {
		t.Error("down: no error")
	}
	two := fakeProm(t, func(string, int64) (float64, bool) { return 1, true }, 0)
	amb, _ := New(two, "a", Queries{Requests: `two`}, Options{Step: time.Second, Timeout: time.Second})
	if _, err := amb.Counts(context.Background(), "r", t0, t0.Add(10*time.Second)); err == nil || !strings.Contains(err.Error(), "wrap it in sum()") {
		t.Errorf("two series: %v", err)
	}
	if _, err := New(two, "a", Queries{Requests: `{{.Nope`}, Options{Step: time.Second, Timeout: time.Second}); err == nil {
		t.Error("a broken template was accepted")
	}
}

func TestQueryTemplate(t *testing.T) {
	src, _ := New("http://127.0.0.1:9090", "crates-io", Queries{Repeats: `sum(increase(repeats_total{route="{{.Route}}"}[{{.Step}}]))`}, Options{Step: 15 * time.Second, Timeout: time.Second})
	q, _ := src.Query(0, "download")
	if q != `sum(rate(http_requests_total{app="crates-io",route="download"}[1m])) * 15` {
		t.Fatalf("requests query %q: want the rate over four steps times the step", q)
	}
	wide, err := New("http://127.0.0.1:9090", "crates-io", Queries{}, Options{Step: 15 * time.Second, Window: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := wide.Query(1, "download"); q != `sum(rate(http_requests_total{app="crates-io",route="download",status=~"5.."}[2m])) * 15` {
		t.Fatalf("errors query with a 2m window %q", q)
	}
	for _, o := range []Options{{Step: 15 * time.Second, Window: 10 * time.Second}, {Step: 15 * time.Second, Window: 90500 * time.Millisecond}} {
		if _, err := New("http://127.0.0.1:9090", "crates-io", Queries{}, o); err == nil || !strings.Contains(err.Error(), "window") {
			t.Errorf("%+v: %v, want the window refused", o, err)
		}
	}
	if q, _ := src.Query(2, "download"); q != `sum(increase(repeats_total{route="download"}[15s]))` {
		t.Fatalf("repeats query %q", q)
	}
}

// The source owns its defaults (issue 18): a zero step and timeout are
// DefaultStep and DefaultTimeout; set ones are kept.
func TestDefaultsAreTheSources(t *testing.T) {
	s, err := New("http://127.0.0.1:9", "crates-io", Queries{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.step != DefaultStep || s.timeout != DefaultTimeout {
		t.Errorf("step %s, timeout %s; want the defaults %s, %s", s.step, s.timeout, DefaultStep, DefaultTimeout)
	}
	if s, err = New("http://127.0.0.1:9", "crates-io", Queries{}, Options{Step: 5 * time.Second, Timeout: 3 * time.Second}); err != nil || s.step != 5*time.Second || s.timeout != 3*time.Second {
		t.Errorf("set values: %v, %v", s, err)
	}
}

// Check runs every configured query: a requests query that matches
// nothing, or a query Prometheus refuses, fails it, named; an errors or
// repeats query that matches nothing is a note, for its signal then reads
// none.
func TestCheckRunsEveryQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		q := r.Form.Get("query")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path != "/api/v1/query":
			http.NotFound(w, r)
		case strings.Contains(q, "refused"):
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}`)
		case strings.Contains(q, "none"):
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		default:
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"12"]}]}}`, t0.Unix())
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		name    string
		q       Queries
		notes   []string // each in its note, in order
		failure string   // in the error; "": none
	}{
		{name: "every query has data", q: Queries{Requests: "requests", Errors: "errors", Repeats: "repeats"}},
		{name: "no errors lately", q: Queries{Requests: "requests", Errors: "errors none", Repeats: "repeats"},
			notes: []string{"the errors query matches no series now"}},
		{name: "repeats refused", q: Queries{Requests: "requests", Errors: "errors", Repeats: "repeats refused"},
			failure: "the repeats query: bad_data: 1:5: parse error"},
		{name: "requests match nothing", q: Queries{Requests: "requests none", Errors: "errors"},
			failure: "the requests query matches no series"},
	} {
		src, err := New(srv.URL, "crates-io", c.q, Options{Step: 5 * time.Second, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		notes, err := src.Check(context.Background(), "download", t0)
		if (err != nil) != (c.failure != "") || err != nil && !strings.Contains(err.Error(), c.failure) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.failure)
		}
		if len(notes) != len(c.notes) {
			t.Errorf("%s: notes %q, want %q", c.name, notes, c.notes)
			continue
		}
		for i, n := range notes {
			if !strings.Contains(n, c.notes[i]) {
				t.Errorf("%s: note %q, want %q", c.name, n, c.notes[i])
			}
		}
	}
}

// An address that does not parse (PROMETHEUS_URL is read as set, never
// through the config's check) is refused without its password: url.Parse
// quotes the whole URL in its error, and a password with an unescaped '/'
// or a bad % escape reads as a port or an escape, quoted too.
func TestABadAddressKeepsItsPassword(t *testing.T) {
	for _, addr := range []string{
		"https://relwatch:s3cr3t/pw@prometheus.example/",
		"https://relwatch:s3cr3t%zz@prometheus.example/",
		"https://relwatch:s3cr3t pw@prometheus example/",
	} {
		_, err := New(addr, "crates-io", Queries{}, Options{})
		if err == nil {
			t.Errorf("New(%q) took it", addr)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("New(%q): the error shows the password: %v", addr, err)
		}
		if !strings.Contains(err.Error(), "relwatch:xxxxx@") {
			t.Errorf("New(%q): %v; want the address said, its password as xxxxx", addr, err)
		}
	}
}
