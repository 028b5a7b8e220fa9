// Package heroku is relwatch's client for the Heroku Platform API: the few
// calls the watcher and the rollback need, built on heroku-go v5, plus what
// heroku-go does not do (ETag and If-None-Match, Next-Range pagination,
// Ratelimit-Remaining, typed errors that say whether a retry can help).
package heroku

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	hk "github.com/heroku/heroku-go/v5"
	"github.com/relwatch/relwatch/internal/redact"
)

// DefaultURL is the Platform API's address.
const DefaultURL = hk.DefaultURL

func fromHK(r hk.Release) Release {
	out := Release{
		ID:          r.ID,
		Version:     r.Version,
		Description: r.Description,
		Status:      r.Status,
		Current:     r.Current,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
		User:        r.User.Email,
	}
	if r.Slug != nil {
		out.SlugID = r.Slug.ID
	}
	return out
}

// Client calls the Platform API for one account token. It is safe for
// concurrent use.
type Client struct {
	svc     *hk.Service
	timeout time.Duration // per HTTP exchange
	token   string        // only to keep it out of what Heroku's errors say

	mu        sync.Mutex
	etags     map[string]string    // app -> ETag of the newest-releases poll
	cached    map[string][]Release // app -> releases that ETag describes
	remaining int                  // last Ratelimit-Remaining seen, -1 before any
}

// Option changes how New builds a Client.
type Option func(*options)

type options struct {
	base     http.RoundTripper
	timeout  time.Duration
	observer Observer
}

// WithTransport sets the HTTP transport under heroku-go's (tests use it).
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.base = rt } }

// WithTimeout bounds each HTTP exchange (default 15 s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// New returns a client for the API at baseURL (DefaultURL when empty) that
// authenticates with token. The token is only ever placed in the
// Authorization header.
func New(baseURL, token string, opts ...Option) *Client {
	o := options{base: http.DefaultTransport, timeout: 15 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Client{etags: map[string]string{}, cached: map[string][]Release{}, remaining: -1, timeout: o.timeout, token: token}
	httpc := &http.Client{
		Transport: &hk.Transport{
			BearerToken: token,
			UserAgent:   "relwatch (" + hk.DefaultUserAgent + ")",
			Transport:   &metaTransport{next: o.base, client: c, observer: o.observer},
		},
	}
	c.svc = hk.NewService(httpc)
	if baseURL != "" {
		c.svc.URL = strings.TrimRight(baseURL, "/")
	}
	return c
}

// call bounds one exchange with Heroku by the client's timeout.
func (c *Client) call(ctx context.Context, ex *exchange) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, fmt.Errorf("no answer within %s", c.timeout))
	return withExchange(ctx, ex), cancel
}

// Heroku's rate limit per account (per token): a pool of RateLimitPool
// requests, refilled "at a rate of roughly 75 per minute (or 4500 per
// hour), up to a maximum of 4500" (Platform API reference, "Rate Limits").
const (
	RateLimitPool            = 4500
	RateLimitRefillPerMinute = 75
)

// RateLimitRemaining is the last Ratelimit-Remaining the API sent, and
// whether any was seen yet.
func (c *Client) RateLimitRemaining() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remaining, c.remaining >= 0
}

// ListReleases returns up to max of the app's newest releases, newest first,
// following Next-Range while Heroku truncates the list. With conditional set
// it sends the ETag of the previous conditional poll; when Heroku answers
// 304 it returns the releases of that poll and notModified true.
func (c *Client) ListReleases(ctx context.Context, app string, max int, conditional bool) (releases []Release, notModified bool, err error) {
	if max <= 0 {
		max = 10
	}
	lr := &hk.ListRange{Field: "version", Max: max, Descending: true}
	var ex exchange
	if conditional {
		c.mu.Lock()
		ex.ifNoneMatch = c.etags[app]
		c.mu.Unlock()
	}
	firstETag := ""
	for page := 1; ; page++ {
		ex.status, ex.header = 0, nil
		callCtx, cancel := c.call(ctx, &ex)
		list, err := c.svc.ReleaseList(callCtx, app, lr)
		cancel()
		if ex.status == http.StatusNotModified {
			c.mu.Lock()
			cached := append([]Release(nil), c.cached[app]...)
			c.mu.Unlock()
			return cached, true, nil
		}
		if err != nil {
			return nil, false, c.apiError("list releases of "+app, &ex, err)
		}
		if page == 1 {
			firstETag = ex.header.Get("ETag")
		}
		for _, r := range list {
			releases = append(releases, fromHK(r))
		}
		next := ex.header.Get("Next-Range")
		if ex.status != http.StatusPartialContent || next == "" || len(releases) >= max || len(list) == 0 {
			break
		}
		if page >= 100 {
			return nil, false, fmt.Errorf("list releases of %s: more than 100 pages, giving up", app)
		}
		ex.ifNoneMatch = ""
		ex.rangeOverride = next
	}
	if len(releases) > max {
		releases = releases[:max]
	}
	if conditional {
		c.mu.Lock()
		if firstETag != "" {
			c.etags[app] = firstETag
			c.cached[app] = append([]Release(nil), releases...)
		}
		c.mu.Unlock()
	}
	return releases, false, nil
}

// Release reads one release of app by id or version number.
func (c *Client) Release(ctx context.Context, app, idOrVersion string) (Release, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	r, err := c.svc.ReleaseInfo(ctx, app, idOrVersion)
	if err != nil {
		return Release{}, c.apiError(fmt.Sprintf("read release %s of %s", idOrVersion, app), &ex, err)
	}
	return fromHK(*r), nil
}

// Rollback asks Heroku to roll app back to the release with id releaseID
// (POST /apps/{app}/releases). It sends the request once: whether to try
// again is the caller's choice, since a lost response may hide a rollback
// that happened.
func (c *Client) Rollback(ctx context.Context, app, releaseID string) (Release, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	r, err := c.svc.ReleaseRollback(ctx, app, hk.ReleaseRollbackOpts{Release: releaseID})
	if err != nil {
		return Release{}, c.apiError("roll back "+app, &ex, err)
	}
	return fromHK(*r), nil
}

// LogSession starts a tail of the app's router log lines (POST
// /apps/{app}/log-sessions with source heroku, dyno router, tail true) and
// returns the logplex_url to stream them from. The URL is a credential:
// never log it.
func (c *Client) LogSession(ctx context.Context, app string) (string, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	s, err := c.svc.LogSessionCreate(ctx, app, hk.LogSessionCreateOpts{
		Source: hk.String("heroku"), Dyno: hk.String("router"), Tail: hk.Bool(true),
	})
	if err != nil {
		return "", c.apiError("start a log session for "+app, &ex, err)
	}
	return s.LogplexURL, nil
}

// APILogSession starts a tail of the app's API events: the lines Heroku's
// API writes into the app's log ("app[api]: Release v42 created by user
// ..."), source app, dyno api (POST /apps/{app}/log-sessions with tail
// true; the last 10 lines first). It returns the logplex_url to stream
// them from. The URL is a credential: never log it.
func (c *Client) APILogSession(ctx context.Context, app string) (string, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	s, err := c.svc.LogSessionCreate(ctx, app, hk.LogSessionCreateOpts{
		Source: hk.String("app"), Dyno: hk.String("api"), Tail: hk.Bool(true), Lines: hk.Int(10),
	})
	if err != nil {
		return "", c.apiError("start a log session of API events for "+app, &ex, err)
	}
	return s.LogplexURL, nil
}

// RecentLogSession starts a log session that sends the app's last lines
// router log lines and ends (tail false), and returns its logplex_url. The
// URL is a credential: never log it.
func (c *Client) RecentLogSession(ctx context.Context, app string, lines int) (string, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	s, err := c.svc.LogSessionCreate(ctx, app, hk.LogSessionCreateOpts{
		Source: hk.String("heroku"), Dyno: hk.String("router"), Tail: hk.Bool(false), Lines: hk.Int(lines),
	})
	if err != nil {
		return "", c.apiError("start a log session for "+app, &ex, err)
	}
	return s.LogplexURL, nil
}

// Coupling is an app's place in a pipeline.
type Coupling struct {
	AppID string
	Stage string // review, development, staging, production
}

// Pipeline returns a pipeline's id and its couplings.
func (c *Client) Pipeline(ctx context.Context, name string) (string, []Coupling, error) {
	var ex exchange
	cctx, cancel := c.call(ctx, &ex)
	p, err := c.svc.PipelineInfo(cctx, name)
	cancel()
	if err != nil {
		return "", nil, c.apiError("read pipeline "+name, &ex, err)
	}
	ex = exchange{}
	cctx, cancel = c.call(ctx, &ex)
	defer cancel()
	list, err := c.svc.PipelineCouplingListByPipeline(cctx, p.ID, nil)
	if err != nil {
		return "", nil, c.apiError("list the couplings of pipeline "+name, &ex, err)
	}
	var out []Coupling
	for _, cp := range list {
		out = append(out, Coupling{AppID: cp.App.ID, Stage: cp.Stage})
	}
	return p.ID, out, nil
}

// AppStage says which pipeline app is coupled to and at what stage
// (pipeline "" when it is in none), and the names of the pipeline's apps
// at stage production (relwatch check notes a watched app that is not
// production).
func (c *Client) AppStage(ctx context.Context, app string) (pipeline, stage string, production []string, err error) {
	var ex exchange
	cctx, cancel := c.call(ctx, &ex)
	cp, err := c.svc.PipelineCouplingInfoByApp(cctx, app)
	cancel()
	if err != nil {
		err = c.apiError("read the pipeline coupling of "+app, &ex, err)
		if IsNotFound(err) {
			return "", "", nil, nil
		}
		return "", "", nil, err
	}
	ex = exchange{}
	cctx, cancel = c.call(ctx, &ex)
	p, err := c.svc.PipelineInfo(cctx, cp.Pipeline.ID)
	cancel()
	if err != nil {
		return "", "", nil, c.apiError("read the pipeline of "+app, &ex, err)
	}
	_, couplings, err := c.Pipeline(ctx, p.ID)
	if err != nil {
		return "", "", nil, err
	}
	for _, o := range couplings {
		if o.Stage != "production" {
			continue
		}
		name, _, err := c.App(ctx, o.AppID)
		if err != nil {
			return "", "", nil, err
		}
		production = append(production, name)
	}
	return p.Name, cp.Stage, production, nil
}

// Promote promotes the source app's current release to the target apps
// (POST /pipeline-promotions) and returns the promotion's id.
func (c *Client) Promote(ctx context.Context, pipelineID, sourceAppID string, targetAppIDs []string) (string, error) {
	var o hk.PipelinePromotionCreateOpts
	o.Pipeline.ID = pipelineID
	o.Source.App = &struct {
		ID *string `json:"id,omitempty" url:"id,omitempty,key"`
	}{ID: hk.String(sourceAppID)}
	for _, id := range targetAppIDs {
		o.Targets = append(o.Targets, struct {
			App *struct {
				ID *string `json:"id,omitempty" url:"id,omitempty,key"`
			} `json:"app,omitempty" url:"app,omitempty,key"`
		}{App: &struct {
			ID *string `json:"id,omitempty" url:"id,omitempty,key"`
		}{ID: hk.String(id)}})
	}
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	p, err := c.svc.PipelinePromotionCreate(ctx, o)
	if err != nil {
		return "", c.apiError("promote", &ex, err)
	}
	return p.ID, nil
}

// PromotionTarget is where one target of a promotion stands.
type PromotionTarget struct {
	AppID     string
	Status    string // pending, succeeded, failed
	ReleaseID string
	Error     string
}

// PromotionTargets lists a promotion's targets.
func (c *Client) PromotionTargets(ctx context.Context, promotionID string) ([]PromotionTarget, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	list, err := c.svc.PipelinePromotionTargetList(ctx, promotionID, nil)
	if err != nil {
		return nil, c.apiError("read promotion "+promotionID, &ex, err)
	}
	var out []PromotionTarget
	for _, t := range list {
		pt := PromotionTarget{AppID: t.App.ID, Status: t.Status}
		if t.Release != nil {
			pt.ReleaseID = t.Release.ID
		}
		if t.ErrorMessage != nil {
			pt.Error = *t.ErrorMessage
		}
		out = append(out, pt)
	}
	return out, nil
}

// App reads an app's name and id (relwatch check uses it to test access).
func (c *Client) App(ctx context.Context, app string) (name, id string, err error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	a, err := c.svc.AppInfo(ctx, app)
	if err != nil {
		return "", "", c.apiError("read app "+app, &ex, err)
	}
	return a.Name, a.ID, nil
}

// Webhook is an app webhook subscription as Heroku lists it (never its
// secret).
type Webhook struct {
	URL     string
	Include []string
	Level   string
}

// AppWebhooks lists app's webhook subscriptions (relwatch check asks
// whether one sends api:release to relwatch).
func (c *Client) AppWebhooks(ctx context.Context, app string) ([]Webhook, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	list, err := c.svc.AppWebhookList(ctx, app, nil)
	if err != nil {
		return nil, c.apiError("list the webhooks of "+app, &ex, err)
	}
	out := make([]Webhook, 0, len(list))
	for _, h := range list {
		out = append(out, Webhook{URL: h.URL, Include: h.Include, Level: h.Level})
	}
	return out, nil
}

// LogDrain is one of an app's log drains: where Logplex sends its lines,
// and the token it sends with each batch (Logplex-Drain-Token). Both are
// credentials: never print them whole.
type LogDrain struct {
	URL, Token string
}

// AppLogDrains lists app's log drains (relwatch check asks whether one
// sends the router lines to relwatch, with the worker's credentials).
func (c *Client) AppLogDrains(ctx context.Context, app string) ([]LogDrain, error) {
	var ex exchange
	ctx, cancel := c.call(ctx, &ex)
	defer cancel()
	list, err := c.svc.LogDrainList(ctx, app, nil)
	if err != nil {
		return nil, c.apiError("list the log drains of "+app, &ex, err)
	}
	out := make([]LogDrain, 0, len(list))
	for _, d := range list {
		out = append(out, LogDrain{URL: d.URL, Token: d.Token})
	}
	return out, nil
}

// apiError turns what heroku-go returned into an *APIError when Heroku
// answered with an error, a *BadAnswerError when it answered success with a
// body that could not be read, or a wrapped transport error when it did not
// answer. None of them carries the token or a request header.
func (c *Client) apiError(op string, ex *exchange, err error) error {
	if ex.status == 0 {
		return &TransportError{Op: op, Err: err}
	}
	requestID := ex.header.Get("Request-Id")
	if ex.status >= 200 && ex.status < 300 {
		return &BadAnswerError{Op: op, Status: ex.status, Problem: bodyProblem(err), RequestID: requestID, Err: err}
	}
	e := &APIError{Op: op, Status: ex.status, RequestID: requestID}
	var he hk.Error
	// JSON without Heroku's id and message (a proxy's) decodes into an
	// hk.Error with neither: it is not Heroku's error.
	if errors.As(err, &he) && (he.ID != "" || he.Error() != "") {
		e.ID = he.ID
		// Heroku's words go into logs, errors and announcements: never the
		// token, should a message quote it back.
		e.Message = redact.String(he.Error(), c.token)
	} else {
		// heroku-go could not read Heroku's error JSON {"id","message"}.
		e.Message = http.StatusText(ex.status) + " (the body was not Heroku's error JSON)"
	}
	e.RetryAfter = retryAfter(ex.header.Get("Retry-After"), time.Now())
	return e
}

// retryAfter reads a Retry-After (RFC 9110, 10.2.3): a number of seconds
// or an HTTP-date (a proxy in front of Heroku may send either); 0 when
// there is none, it cannot be read, or the date is past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// bodyProblem says in words what went wrong reading a success body.
func bodyProblem(err error) string {
	var syntax *json.SyntaxError
	var shape *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "was cut short"
	case errors.Is(err, io.EOF):
		return "was empty"
	case errors.As(err, &syntax):
		return "is not valid JSON"
	case errors.As(err, &shape):
		return "is JSON of another shape than the Platform API's"
	case errors.Is(err, context.DeadlineExceeded):
		return "did not arrive in time"
	default:
		return "could not be read"
	}
}

// exchange carries per-request headers in and response metadata out of the
// transport, since heroku-go's typed calls drop response headers.
type exchange struct {
	ifNoneMatch   string
	rangeOverride string
	status        int
	header        http.Header
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

type metaTransport struct {
	next     http.RoundTripper
	client   *Client
	observer Observer // nil: none
}

func (t *metaTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if ex != nil && (ex.ifNoneMatch != "" || ex.rangeOverride != "") {
		req = req.Clone(req.Context())
		if ex.ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ex.ifNoneMatch)
		}
		if ex.rangeOverride != "" {
			req.Header.Set("Range", ex.rangeOverride)
		}
	}
	began := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.observe(req, 0, began, -1)
		return nil, err
	}
	remaining := -1
	if v := resp.Header.Get("Ratelimit-Remaining"); v != "" {
		if n, perr := strconv.Atoi(v); perr == nil {
			remaining = n
			t.client.mu.Lock()
			t.client.remaining = n
			t.client.mu.Unlock()
		}
	}
	t.observe(req, resp.StatusCode, began, remaining)
	if ex != nil {
		ex.status = resp.StatusCode
		ex.header = resp.Header.Clone()
	}
	return resp, nil
}

func (t *metaTransport) observe(req *http.Request, status int, began time.Time, remaining int) {
	if t.observer != nil {
		t.observer.HerokuExchange(Endpoint(req.Method, req.URL.Path), status, time.Since(began), remaining)
	}
}
