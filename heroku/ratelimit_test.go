package heroku_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku"
	"github.com/relwatch/relwatch/heroku/herokusim"
)

// seen records, client-side, each request's method and Range and the
// status answered (the simulator logs a request after it answered).
type seen struct {
	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct {
	method, rng string
	status      int
}

func (s *seen) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	r := seenRequest{method: req.Method, rng: req.Header.Get("Range")}
	if resp != nil {
		r.status = resp.StatusCode
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
	return resp, err
}

func (s *seen) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.reqs...)
}

// heroku-go ships a RoundTripper that retries every 429 on its own, 30 s
// and more apart (RoundTripWithRetryBackoff); relwatch's client must never
// be built on it: a rate-limited rollback POST comes back at once, as one
// request, for the roller to decide.
func TestRateLimitedRollbackIsOneRequestAnsweredAtOnce(t *testing.T) {
	f := newFake(t, herokusim.WithRateLimit(10, 0))
	seed(f, 3)
	var sn seen
	c := heroku.New(f.URL(), token, heroku.WithTimeout(5*time.Second), heroku.WithTransport(&sn))
	ctx := context.Background()
	rels, _, err := c.ListReleases(ctx, "crates-io", 10, false)
	if err != nil {
		t.Fatal(err)
	}
	f.SetRateBudget(0)
	start := time.Now()
	_, err = c.Rollback(ctx, "crates-io", rels[1].ID)
	if !heroku.IsRateLimited(err) || !heroku.Retryable(err) {
		t.Fatalf("rollback with no budget left: %v, want a retryable 429", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the 429 came back after %s: something retried it", took)
	}
	var posts []seenRequest
	for _, r := range sn.requests() {
		if r.method == http.MethodPost {
			posts = append(posts, r)
		}
	}
	if len(posts) != 1 || posts[0].status != http.StatusTooManyRequests {
		t.Fatalf("POSTs %+v; want one, answered 429", posts)
	}
	if rem, ok := c.RateLimitRemaining(); !ok || rem != 0 {
		t.Fatalf("RateLimitRemaining after the 429 = %d, %v; want 0", rem, ok)
	}
	if n := len(f.Releases("crates-io")); n != 3 {
		t.Fatalf("%d releases after a refused rollback, want 3", n)
	}
}

// Heroku's largest page (max=1000) is followed across 206 pages of 200,
// and a conditional poll of it is answered 304 with the whole list.
func TestListReleasesOfAThousandAcrossPages(t *testing.T) {
	f := newFake(t)
	seed(f, 450)
	var sn seen
	c := heroku.New(f.URL(), token, heroku.WithTransport(&sn))
	ctx := context.Background()
	got, nm, err := c.ListReleases(ctx, "crates-io", 1000, true)
	if err != nil || nm || len(got) != 450 || got[0].Version != 450 || got[449].Version != 1 {
		t.Fatalf("ListReleases: %v, notModified %v, %d releases", err, nm, len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Version != got[i-1].Version-1 {
			t.Fatalf("release %d is v%d after v%d: want newest first, each once", i, got[i].Version, got[i-1].Version)
		}
	}
	reqs := sn.requests()
	if len(reqs) != 3 || reqs[0].rng != "version ..; max=1000,order=desc" || reqs[1].rng != "version ]251..; max=1000, order=desc" ||
		reqs[0].status != http.StatusPartialContent || reqs[2].status != http.StatusOK {
		t.Fatalf("requests %+v: want 3 pages, 206 until the last, each from the one before's Next-Range", reqs)
	}
	again, nm, err := c.ListReleases(ctx, "crates-io", 1000, true)
	if err != nil || !nm || len(again) != 450 {
		t.Fatalf("conditional poll: %v, notModified %v, %d releases", err, nm, len(again))
	}
	if reqs := sn.requests(); len(reqs) != 4 || reqs[3].status != http.StatusNotModified {
		t.Fatalf("requests %+v: want one more, answered 304", reqs)
	}
}

// retryAfterDate answers every request 503 with a Retry-After given as an
// HTTP-date, as RFC 9110 allows and proxies send.
type retryAfterDate struct{ at time.Time }

func (r retryAfterDate) RoundTrip(req *http.Request) (*http.Response, error) {
	body := `{"id":"unavailable","message":"down for maintenance"}`
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Request: req,
		Header: http.Header{"Retry-After": {r.at.UTC().Format(http.TimeFormat)}, "Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
}

// A Retry-After that is an HTTP-date is honoured as one in seconds is.
func TestRetryAfterAsAnHTTPDate(t *testing.T) {
	c := heroku.New("http://127.0.0.1:1", token, heroku.WithTransport(retryAfterDate{at: time.Now().Add(30 * time.Second)}))
	_, err := c.Rollback(context.Background(), "crates-io", "01234567-89ab-cdef-0123-456789abcdef")
	var ae *heroku.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("err %v, want a 503 APIError", err)
	}
	if ae.RetryAfter < 20*time.Second || ae.RetryAfter > 31*time.Second {
		t.Fatalf("RetryAfter %s from a date 30 s ahead", ae.RetryAfter)
	}
}

// otherJSON answers every request 502 with JSON that is not Heroku's
// error body: a proxy's.
type otherJSON struct{}

func (otherJSON) RoundTrip(req *http.Request) (*http.Response, error) {
	body := `{"error":"upstream connect error"}`
	return &http.Response{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Request: req,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
}

// An error body that is JSON but not Heroku's {"id","message"} is said as
// one that is no JSON: the status, and that Heroku's error JSON was not
// there; never an empty message.
func TestErrorJSONThatIsNotHerokusSaysSo(t *testing.T) {
	c := heroku.New("http://127.0.0.1:1", token, heroku.WithTransport(otherJSON{}))
	_, err := c.Rollback(context.Background(), "crates-io", "01234567-89ab-cdef-0123-456789abcdef")
	var ae *heroku.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.ID != "" {
		t.Fatalf("err %#v, want a 502 APIError with no id", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "502 no error id: Bad Gateway (the body was not Heroku's error JSON)") {
		t.Fatalf("error %q: want the status and that the body was not Heroku's error JSON", msg)
	}
}
