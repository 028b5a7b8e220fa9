package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
	"github.com/relwatch/relwatch/internal/testenv"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/store"
)

// The crash tests run the real `relwatch watch` binary as a child process
// against the simulated Heroku and fake Slack and Zulip servers on
// 127.0.0.1, make a release bad (a recorded series), and kill the worker
// with SIGKILL from inside the fakes at a chosen point; then start it again
// (same dyno name, or another) and check what Heroku and the chats end
// with: one rollback, each announcement once per chat and in order, the
// opening message showing the outcome, the outcome as Heroku's. There is
// no test hook inside the worker.

// buildRelwatch builds the binary once per top-level test.
func buildRelwatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relwatch")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is one worker process.
type child struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// crashRig is one scenario's world: Heroku behind a proxy that can kill the
// worker, the chats, a state store, a config.
type crashRig struct {
	t      *testing.T
	bin    string
	heroku *herokusim.Server
	proxy  *httptest.Server
	slack  *notifytest.Slack
	zulip  *notifytest.Zulip
	state  string
	config string
	env    []string // more environment for the workers

	mu      sync.Mutex
	current *child
	// armed is the kill point still waiting to fire; killed is closed when
	// it has.
	armed  atomic.Bool
	killed chan struct{}
	// heroku-side hook, called at each stage of a request to the proxy.
	herokuHook func(stage string, r *http.Request) bool
	posted     atomic.Bool // Heroku answered the rollback POST
}

const (
	stageArrived  = "arrived"  // before it reaches Heroku
	stageActed    = "acted"    // Heroku acted, its answer not sent on yet
	stageAnswered = "answered" // the answer is sent on
)

// releasePhase is how long the rollback release's phase runs on the fake.
const releasePhase = 2 * time.Second

func newCrashRig(t *testing.T, bin, state string) *crashRig {
	return newCrashRigWith(t, bin, state, "1s", 0)
}

// newCrashRigWith is newCrashRig with leases of lease and, when stormIn is
// not 0, the retry storm starting stormIn from now instead of 2 s after
// the release.
func newCrashRigWith(t *testing.T, bin, state, lease string, stormIn time.Duration) *crashRig {
	r := &crashRig{t: t, bin: bin, state: state, killed: make(chan struct{})}
	r.heroku = herokusim.New("crash-token", herokusim.WithRollbackReleasePhase(releasePhase))
	t.Cleanup(r.heroku.Close)
	r.proxy = httptest.NewServer(http.HandlerFunc(r.serveHeroku))
	t.Cleanup(r.proxy.Close)
	r.slack = notifytest.NewSlack()
	t.Cleanup(r.slack.Stop)
	r.zulip = notifytest.NewZulip("relwatch-bot@zulip.example", "zkey", "t-crates-io")
	t.Cleanup(r.zulip.Close)

	// The demo's recording: the retry storm starts 2 s after the release.
	// The release went live 12 s ago, so the first worker sees a bad
	// release at once.
	now := time.Now()
	released := now.Add(-12 * time.Second)
	r.heroku.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote s v117", CreatedAt: now.Add(-2 * time.Hour)})
	r.heroku.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 42, Description: "Promote s v118", CreatedAt: released})
	anchor := released.Add(-1828 * time.Second)
	if stormIn != 0 {
		anchor = now.Add(stormIn - 1830*time.Second)
	}
	r.config = watchConfigWith(t, r.proxy.URL, anchor, fmt.Sprintf("lease_ttl = %q", lease), fmt.Sprintf(`
[[notifiers]]
type = "slack"
channel = "C0DEPLOY"
api_url = %q
[[notifiers]]
type = "zulip"
stream = "t-crates-io"
site = %q
`, r.slack.GetAPIURL(), r.zulip.URL))
	return r
}

// withDrain adds an app whose router logs come by a log drain on port.
func (r *crashRig) withDrain(port string) {
	r.heroku.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 7, Description: "Deploy docs", CreatedAt: time.Now().Add(-2 * time.Hour)})
	f, err := os.OpenFile(r.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprint(f, "[[apps]]\nname = \"docs-rs\"\nroute = \"GET /crate/{name}\"\n[apps.metrics]\nsource = \"routerlog\"\nvia = \"drain\"\n")
	r.env = append(r.env, "PORT="+port, "RELWATCH_DRAIN_USER=logplex", "RELWATCH_DRAIN_PASSWORD=drain-secret")
}

// start runs a worker named dyno.
func (r *crashRig) start(dyno string) *child {
	c := &child{out: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(r.bin, "watch", "--config", r.config, "--state", r.state, "--log-level", "info")
	c.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "DYNO=" + dyno, "HEROKU_API_KEY=crash-token",
		"SLACK_BOT_TOKEN=xoxb-crash", "ZULIP_EMAIL=relwatch-bot@zulip.example", "ZULIP_API_KEY=zkey", "HEROKU_APP_NAME=my-relwatch"}, r.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	r.t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			c.kill()
		}
	})
	r.mu.Lock()
	r.current = c
	r.mu.Unlock()
	return c
}

// kill fires the armed kill point: SIGKILL to the worker, and wait until it
// is gone. It reports whether it fired (only once).
func (r *crashRig) kill() bool {
	if !r.armed.CompareAndSwap(true, false) {
		return false
	}
	r.mu.Lock()
	c := r.current
	r.mu.Unlock()
	c.kill()
	close(r.killed)
	return true
}

func (r *crashRig) setHerokuHook(f func(stage string, req *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.herokuHook = f
}

// serveHeroku forwards to the simulated Heroku, calling the Heroku-side
// hook before, in the middle of, and after each request.
func (r *crashRig) serveHeroku(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	herokuHook := r.herokuHook
	r.mu.Unlock()
	hook := func(stage string) bool { return herokuHook != nil && herokuHook(stage, req) }
	body, _ := io.ReadAll(req.Body)
	if hook(stageArrived) {
		return // the worker is dead: nobody reads an answer
	}
	out, _ := http.NewRequestWithContext(req.Context(), req.Method, r.heroku.URL()+req.URL.RequestURI(), bytes.NewReader(body))
	out.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if hook(stageActed) {
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
	w.(http.Flusher).Flush()
	if isRollbackPOST(req) && resp.StatusCode == http.StatusCreated {
		r.posted.Store(true)
	}
	hook(stageAnswered)
}

func isRollbackPOST(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL.Path == "/apps/crates-io/releases"
}

// killPoint is where a scenario kills the first worker.
type killPoint struct {
	name string
	arm  func(r *crashRig)
}

func onHeroku(stage string, when func(r *crashRig, req *http.Request) bool) func(r *crashRig) {
	return func(r *crashRig) {
		r.setHerokuHook(func(s string, req *http.Request) bool {
			return s == stage && when(r, req) && r.kill()
		})
	}
}

func onSlack(match func(c notifytest.Call) bool) func(r *crashRig) {
	return func(r *crashRig) {
		r.slack.OnAccepted(func(c notifytest.Call) {
			if match(c) {
				r.kill()
			}
		})
	}
}

func onZulip(match func(c notifytest.Call) bool) func(r *crashRig) {
	return func(r *crashRig) {
		r.zulip.OnAccepted(func(c notifytest.Call) {
			if match(c) {
				r.kill()
			}
		})
	}
}

var killPoints = []killPoint{
	{"before the rollback POST", onHeroku(stageArrived, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })},
	{"Heroku acted, answer not sent", onHeroku(stageActed, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })},
	{"just after Heroku's answer", onHeroku(stageAnswered, func(_ *crashRig, req *http.Request) bool { return isRollbackPOST(req) })},
	{"during the rollback's release phase", onHeroku(stageAnswered, func(r *crashRig, req *http.Request) bool {
		return req.Method == http.MethodGet && req.URL.Path == "/apps/crates-io/releases" && r.posted.Load()
	})},
	{"Slack kept the opening, unrecorded", onSlack(func(c notifytest.Call) bool {
		return c.Path == "/chat.postMessage" && c.Form.Get("thread_ts") == ""
	})},
	{"Slack kept rollback.started, unrecorded", onSlack(func(c notifytest.Call) bool {
		return c.Path == "/chat.postMessage" && strings.Contains(c.Form.Get("text"), "Rolling crates-io back")
	})},
	{"Slack kept the outcome edit, unrecorded", onSlack(func(c notifytest.Call) bool {
		return c.Path == "/chat.update" && strings.Contains(c.Form.Get("text"), "⏪ rolled back to v41")
	})},
	{"Zulip kept the anomaly, unrecorded", onZulip(func(c notifytest.Call) bool {
		return c.Method == http.MethodPost && strings.Contains(c.Form.Get("content"), "looks bad")
	})},
	{"Zulip kept rollback.succeeded, unrecorded", onZulip(func(c notifytest.Call) bool {
		return c.Method == http.MethodPost && strings.Contains(c.Form.Get("content"), "is rolled back to v41")
	})},
}

func TestCrashSQLite(t *testing.T) {
	crashMatrix(t, func(t *testing.T) string { return filepath.Join(t.TempDir(), "state.db") })
}

func TestIntegrationCrashPostgres(t *testing.T) {
	testenv.Postgres(t) // skips (or fails under RELWATCH_INTEGRATION=1) without PostgreSQL
	crashMatrix(t, func(t *testing.T) string { return testenv.Postgres(t) })
}

// crashMatrix runs every kill point, restarting under the same dyno name
// and under another, in parallel.
func crashMatrix(t *testing.T, state func(*testing.T) string) {
	if testing.Short() {
		t.Skip("the crash matrix runs worker processes")
	}
	bin := buildRelwatch(t)
	for _, kp := range killPoints {
		for _, next := range []string{"worker.1", "worker.2"} {
			t.Run(kp.name+", restarted as "+next, func(t *testing.T) {
				t.Parallel()
				crashScenario(t, bin, state(t), kp, next)
			})
		}
	}
}

func crashScenario(t *testing.T, bin, state string, kp killPoint, next string) {
	r := newCrashRig(t, bin, state)
	first := r.killedAt(kp)
	killedAt := time.Now()
	second := r.start(next)
	r.waitSettled(second)
	settled := time.Since(killedAt)
	second.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-second.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("the second worker still runs 15 s after SIGTERM:\n%s", tail(second.out.String(), 40))
	}
	if second.err != nil {
		t.Errorf("the second worker exited with %v:\n%s", second.err, tail(second.out.String(), 40))
	}
	r.assertStory(first, second)
	t.Logf("settled %s after the kill", settled.Round(100*time.Millisecond))
}

// killedAt runs a first worker (worker.1) until kp kills it.
func (r *crashRig) killedAt(kp killPoint) *child {
	r.t.Helper()
	kp.arm(r)
	r.armed.Store(true)
	first := r.start("worker.1")
	select {
	case <-r.killed:
	case <-first.exited:
		select { // the kill closes killed right after the worker is gone
		case <-r.killed:
		case <-time.After(5 * time.Second):
			r.t.Fatalf("the first worker exited before the kill point (%v):\n%s", first.err, tail(first.out.String(), 40))
		}
	case <-time.After(60 * time.Second):
		r.t.Fatalf("the kill point never came:\n%s", tail(first.out.String(), 40))
	}
	return first
}

// waitSettled waits until Heroku has the rollback succeeded, both chats'
// opening messages show it, and the outbox holds nothing undelivered.
func (r *crashRig) waitSettled(w *child) {
	r.t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, r.state)
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := false
		for _, rel := range r.heroku.Releases("crates-io") {
			done = done || (rel.Description == "Rollback to v41" && rel.Status == "succeeded")
		}
		sl := r.slack.Messages()
		zu := r.zulip.Messages()
		done = done && len(sl) > 0 && strings.Contains(sl[0].Text, "⏪ rolled back to v41") &&
			len(zu) > 0 && strings.HasPrefix(zu[0].Content, "**⏪ rolled back to v41**")
		if done {
			s, err1 := db.Undelivered(ctx, "slack", 10)
			z, err2 := db.Undelivered(ctx, "zulip", 10)
			if err1 == nil && err2 == nil && len(s) == 0 && len(z) == 0 {
				return
			}
		}
		select {
		case <-w.exited:
			r.t.Fatalf("the second worker exited (%v):\n%s", w.err, tail(w.out.String(), 60))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not settled 60 s after the restart\nslack: %+v\nzulip: %+v\n--- second worker:\n%s", sl, zu, tail(w.out.String(), 60))
		}
	}
}

// assertStory checks Heroku and the chats once the second worker stopped.
func (r *crashRig) assertStory(first, second *child) {
	t := r.t
	t.Helper()
	logs := "--- first worker:\n" + tail(first.out.String(), 30) + "\n--- second worker:\n" + tail(second.out.String(), 40)
	var rollbacks []herokusim.Release
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			rollbacks = append(rollbacks, rel)
		}
	}
	if len(rollbacks) != 1 || rollbacks[0].Status != "succeeded" || rollbacks[0].Version != 43 {
		t.Fatalf("Heroku's rollbacks %+v, want one, v43, succeeded\n%s", rollbacks, logs)
	}
	heroku := rollbacks[0]

	// Slack: one opening message for v42, its three replies once each, in
	// order, in its thread; the opening ends with the outcome.
	wantReplies := []string{"crates-io v42 looks bad", "Rolling crates-io back from v42 to v41", "crates-io is rolled back to v41 (Heroku release v43"}
	var opening *notifytest.SlackMessage
	var replies []notifytest.SlackMessage
	msgs := r.slack.Messages()
	for i, m := range msgs {
		switch {
		case m.ThreadTS == "":
			if opening != nil {
				t.Errorf("a second top-level Slack message: %q", m.Text)
				continue
			}
			opening = &msgs[i]
		default:
			replies = append(replies, m)
		}
	}
	if opening == nil || !strings.Contains(opening.Text, "crates-io v42 is live") || !strings.HasPrefix(opening.Text, "⏪ rolled back to v41 · ") {
		t.Fatalf("Slack's opening message: %+v\n%s", opening, logs)
	}
	if len(replies) != len(wantReplies) {
		t.Errorf("Slack thread has %d replies, want %d:\n%s\n%s", len(replies), len(wantReplies), slackTexts(replies), logs)
	}
	for i, m := range replies {
		if m.ThreadTS != opening.TS {
			t.Errorf("Slack reply %q is in thread %q, not the opening's %q", m.Text, m.ThreadTS, opening.TS)
		}
		if i < len(wantReplies) && !strings.Contains(m.Text, wantReplies[i]) {
			t.Errorf("Slack reply %d is %q, want %q", i, m.Text, wantReplies[i])
		}
		if strings.Contains(m.Text, "repeated after restart") {
			t.Errorf("Slack reply sent again, though Slack could be asked: %q", m.Text)
		}
	}
	if n := len(replies); n > 0 && strings.Contains(replies[n-1].Text, "is rolled back") && replies[n-1].Posted.Before(heroku.UpdatedAt) {
		t.Errorf("rollback.succeeded reached Slack at %s, before Heroku's release phase ended at %s", replies[n-1].Posted, heroku.UpdatedAt)
	}

	// Zulip: the same story in the topic.
	wantZulip := append([]string{"**⏪ rolled back to v41** · crates-io v42 is live"}, wantReplies...)
	zu := withoutPictures(r.zulip.Messages())
	if len(zu) != len(wantZulip) {
		t.Errorf("Zulip topic has %d messages, want %d:\n%s\n%s", len(zu), len(wantZulip), zulipTexts(zu), logs)
	}
	for i, m := range zu {
		if i < len(wantZulip) && !strings.Contains(m.Content, wantZulip[i]) {
			t.Errorf("Zulip message %d is %q, want %q", i, m.Content, wantZulip[i])
		}
		if m.Topic != "deployments" || strings.Contains(m.Content, "repeated after restart") {
			t.Errorf("Zulip message %q in topic %q", m.Content, m.Topic)
		}
	}
	if t.Failed() {
		t.Log(logs)
	}
}

func slackTexts(ms []notifytest.SlackMessage) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  [%s in %s] %s\n", m.TS, m.ThreadTS, m.Text)
	}
	return b.String()
}

// pictureLink is the message that shows a verdict's picture in a Zulip
// topic, after its text.
var pictureLink = regexp.MustCompile(`^\[[^\]]+\.png\]\(/user_uploads/[^)]+\)$`)

// withoutPictures is a topic's announcements: its messages but the
// picture links (best-effort, so not counted as the story).
func withoutPictures(ms []notifytest.ZulipMessage) []notifytest.ZulipMessage {
	var out []notifytest.ZulipMessage
	for _, m := range ms {
		if !pictureLink.MatchString(m.Content) {
			out = append(out, m)
		}
	}
	return out
}

func zulipTexts(ms []notifytest.ZulipMessage) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  [%d] %s\n", m.ID, m.Content)
	}
	return b.String()
}

func TestSIGTERMBudgetSQLite(t *testing.T) {
	sigtermBudget(t, filepath.Join(t.TempDir(), "state.db"))
}

func TestIntegrationSIGTERMBudgetPostgres(t *testing.T) {
	sigtermBudget(t, testenv.Postgres(t))
}

// sigtermBudget stops a worker with SIGTERM while its rollback POST hangs
// at Heroku, every Slack call hangs, and a slow client holds the log
// drain: it must exit within the README's 10 s, journal the rollback as
// interrupted and announce no failure; the next worker finishes the
// rollback and says the whole story once.
func sigtermBudget(t *testing.T, state string) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	bin := buildRelwatch(t)
	r := newCrashRig(t, bin, state)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	r.withDrain(port)
	// A rollback that would go on longer than the shutdown budget: the stop,
	// not its own deadline, cuts it short.
	cfg, _ := os.ReadFile(r.config)
	os.WriteFile(r.config, bytes.Replace(cfg, []byte(`rollback_timeout = "5s"`), []byte(`rollback_timeout = "1m"`), 1), 0o644)

	release := make(chan struct{}) // ends every hang when the test is done with them
	var once sync.Once
	unhang := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unhang)
	hang := func(req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-release:
		}
	}
	r.slack.FailWith(func(w http.ResponseWriter, req *http.Request) bool { hang(req); return true })
	sigterm := make(chan time.Time, 1)
	var answering atomic.Bool
	r.setHerokuHook(func(stage string, req *http.Request) bool {
		if stage != stageArrived || !isRollbackPOST(req) || answering.Load() {
			return false
		}
		if !r.armed.CompareAndSwap(true, false) {
			hang(req) // Heroku answers no rollback POST until the test says so
			return true
		}
		r.mu.Lock()
		c := r.current
		r.mu.Unlock()
		// A slow client on the drain: headers, then a byte now and then.
		slow, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			fmt.Fprintf(slow, "POST /drain/docs-rs HTTP/1.1\r\nHost: relwatch\r\nAuthorization: Basic %s\r\nContent-Type: application/logplex-1\r\nLogplex-Msg-Count: 1\r\nContent-Length: 100000\r\n\r\n",
				base64.StdEncoding.EncodeToString([]byte("logplex:drain-secret")))
			go func() {
				defer slow.Close()
				for {
					select {
					case <-release:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := slow.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
		} else {
			t.Errorf("the drain does not listen: %v", err)
		}
		sigterm <- time.Now()
		c.cmd.Process.Signal(syscall.SIGTERM)
		hang(req) // Heroku never answers
		return true
	})
	r.armed.Store(true)
	first := r.start("worker.1")
	var sentAt time.Time
	select {
	case sentAt = <-sigterm:
	case <-first.exited:
		t.Fatalf("the worker exited before its rollback POST (%v):\n%s", first.err, tail(first.out.String(), 40))
	case <-time.After(60 * time.Second):
		t.Fatalf("no rollback POST:\n%s", tail(first.out.String(), 40))
	}
	select {
	case <-first.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after SIGTERM (Heroku would SIGKILL it):\n%s", tail(first.out.String(), 40))
	}
	took := time.Since(sentAt)
	t.Logf("exited %s after SIGTERM (hung rollback POST, hung Slack, slow drain client)", took.Round(10*time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("exited %s after SIGTERM: past the 10 s the README promises", took)
	}
	if first.err != nil {
		t.Errorf("exit status after SIGTERM: %v", first.err)
	}
	out := first.out.String()
	if !strings.Contains(out, "rollback interrupted") || strings.Contains(out, "rollback.failed") {
		t.Errorf("the stopped worker's log:\n%s", tail(out, 40))
	}
	db, err := store.Open(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := db.Journal(context.Background(), "crates-io", false, 5)
	db.Close()
	if len(j) != 1 || j[0].Outcome != store.JournalInterrupted {
		t.Fatalf("journal %+v: want the rollback interrupted", j)
	}
	for _, rel := range r.heroku.Releases("crates-io") {
		if strings.HasPrefix(rel.Description, "Rollback") {
			t.Fatalf("Heroku made a rollback the test never let through: %+v", rel)
		}
	}

	// Heroku and Slack answer again; the same dyno restarts and finishes
	// the rollback.
	answering.Store(true)
	unhang()
	r.slack.FailWith(nil)
	second := r.start("worker.1")
	r.waitSettled(second)
	second.cmd.Process.Signal(syscall.SIGTERM)
	<-second.exited
	r.assertStory(first, second)
	for _, m := range r.slack.Messages() {
		if strings.Contains(m.Text, "failed") {
			t.Errorf("an interrupted rollback was announced as failed: %q", m.Text)
		}
	}
}
