package control

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

func TestParse(t *testing.T) {
	good := map[string]Command{
		"pause crates-io 30m because migration": {Verb: "pause", App: "crates-io", For: 30 * time.Minute, Reason: "migration"},
		"pause crates-io":                       {Verb: "pause", App: "crates-io"},
		"resume crates-io":                      {Verb: "resume", App: "crates-io"},
		"approve crates-io v42":                 {Verb: "approve", App: "crates-io", Release: 42},
		"rollback crates-io v41 because broken": {Verb: "rollback", App: "crates-io", Release: 41, Reason: "broken"},
		"  ROLLBACK   crates-io  ":              {Verb: "rollback", App: "crates-io"},
		"pause Crates-IO":                       {Verb: "pause", App: "crates-io"},
		"help":                                  {Verb: "help"},
		// As people say it, and as the command line takes it.
		"pause crates-io for 30m":                 {Verb: "pause", App: "crates-io", For: 30 * time.Minute},
		"pause crates-io --for 2h because deploy": {Verb: "pause", App: "crates-io", For: 2 * time.Hour, Reason: "deploy"},
		"rollback crates-io to v41":               {Verb: "rollback", App: "crates-io", Release: 41},
		"rollback crates-io --to 41 because slow": {Verb: "rollback", App: "crates-io", Release: 41, Reason: "slow"},
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                           "no command",
		"pause":                      "which app",
		"pause crates-io soon":       `"soon" is not a duration`,
		"pause crates-io 30m please": "unexpected",
		"pause crates-io for":        `"for" is not a duration`,
		"rollback crates-io to":      `"to" is not a release`,
		"rollback crates-io for v41": `unexpected "v41"`,
		"approve crates-io":          "which release",
		"approve crates-io v":        `"v" is not a release`,
		"deploy crates-io":           `unknown command "deploy"`,
		// An unknown command is said as one even without an app, never
		// answered "which app?" (then refused once the app is given).
		"status": `unknown command "status"`,
		"puase":  `unknown command "puase"`,
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"pause crates-io 30m because migration", "approve a v1", "rollback a v2 because x", "resume a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(in)
		if err != nil {
			return
		}
		if c.Verb != "help" && c.App == "" {
			t.Fatalf("a command without an app: %+v", c)
		}
		if c.For < 0 || c.Release < 0 {
			t.Fatalf("negative values: %+v", c)
		}
	})
}

func TestPlane(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().Truncate(time.Second) // the store expires pauses on its own clock
	p := &Plane{Store: db, Apps: []string{"crates-io", "docs-rs"}, ChatUsers: []string{"U_ANA"}, Now: func() time.Time { return now }}
	ana, mallory, cli := Actor{Name: "<@U_ANA>", Chat: true, ChatUser: "U_ANA"}, Actor{Name: "<@U_MAL>", Chat: true, ChatUser: "U_MAL"}, Actor{Name: "ben"}

	var na *NotAllowedError
	if _, err := p.Do(ctx, mallory, Command{Verb: Rollback, App: "crates-io"}); !errors.As(err, &na) || na.Actor != mallory {
		t.Fatalf("a chat user not allowed: %v", err)
	}
	// A chat command that names no user is no command-line person's.
	if _, err := p.Do(ctx, Actor{Name: "<@>", Chat: true}, Command{Verb: Rollback, App: "crates-io"}); !errors.As(err, &na) {
		t.Fatalf("a chat command without a user: %v", err)
	}
	var ua *UnknownAppError
	if _, err := p.Do(ctx, cli, Command{Verb: Pause, App: "crates_io"}); !errors.As(err, &ua) || !strings.Contains(err.Error(), "crates-io, docs-rs") {
		t.Fatalf("a typo of an app: %v", err)
	}
	if reqs, _ := db.PendingRequests(ctx, "crates-io"); len(reqs) != 0 {
		t.Fatalf("refused commands were written: %+v", reqs)
	}

	o, err := p.Do(ctx, ana, Command{Verb: Pause, App: "crates-io", For: 30 * time.Minute, Reason: "migration"})
	if err != nil || !o.Until.Equal(now.Add(30*time.Minute)) || o.By != "<@U_ANA>" {
		t.Fatalf("pause: %+v, %v", o, err)
	}
	if pause, ok, _ := db.PauseOf(ctx, "crates-io"); !ok || pause.By != "<@U_ANA>" || pause.Reason != "migration" {
		t.Fatalf("the pause in the store: %+v %v", pause, ok)
	}
	if o, err := p.Do(ctx, cli, Command{Verb: Resume, App: "crates-io"}); err != nil || !o.Existed {
		t.Fatalf("resume: %+v, %v", o, err)
	}
	if o, err := p.Do(ctx, cli, Command{Verb: Resume, App: "crates-io"}); err != nil || o.Existed {
		t.Fatalf("resume again: %+v, %v", o, err)
	}
	if _, err := p.Do(ctx, cli, Command{Verb: Approve, App: "crates-io", Release: 42}); err != nil {
		t.Fatal(err)
	}
	if by, _ := db.ApprovedBy(ctx, "crates-io", 42); by != "ben" {
		t.Fatalf("approved by %q", by)
	}
	o, err = p.Do(ctx, ana, Command{Verb: Rollback, App: "crates-io", Of: 42, Reason: "from the Slack button"})
	if err != nil || o.Request == 0 {
		t.Fatalf("rollback of v42: %+v, %v", o, err)
	}
	reqs, _ := db.PendingRequests(ctx, "crates-io")
	last := reqs[len(reqs)-1]
	if last.Kind != store.KindRollback || last.From != 42 || last.By != "<@U_ANA>" {
		t.Fatalf("the rollback request %+v", last)
	}
}

// TestAMixedCaseAppNameIsTheApp: Heroku app names are lowercase only, so
// "/relwatch pause Crates-IO 30m" can only mean crates-io; it was refused
// as an app relwatch does not watch.
func TestAMixedCaseAppNameIsTheApp(t *testing.T) {
	c, err := Parse("pause Crates-IO 30m")
	if err != nil {
		t.Fatal(err)
	}
	s := &pauseStore{}
	p := &Plane{Store: s, Apps: []string{"crates-io"}, ChatUsers: []string{"U_ANA"}}
	if _, err := p.Do(context.Background(), Actor{Name: "@ana", Chat: true, ChatUser: "U_ANA"}, c); err != nil {
		t.Fatalf("/relwatch pause Crates-IO 30m: %v", err)
	}
	if len(s.paused) != 1 || s.paused[0].App != "crates-io" {
		t.Fatalf("paused %+v; want crates-io paused", s.paused)
	}
}

// pauseStore keeps the pauses written, and takes every other write.
type pauseStore struct{ paused []store.Pause }

func (s *pauseStore) SetPause(_ context.Context, p store.Pause) error {
	s.paused = append(s.paused, p)
	return nil
}
func (*pauseStore) Resume(context.Context, string, string) (bool, error)       { return false, nil }
func (*pauseStore) Approve(context.Context, string, int, string, string) error { return nil }
func (*pauseStore) RequestRollback(context.Context, string, int, string, string) (int64, error) {
	return 1, nil
}
func (*pauseStore) RequestRollbackOf(context.Context, string, int, string, string) (int64, error) {
	return 1, nil
}

// TestPauseLengthsPeopleType: a pause from chat is bounded at 7 days, and
// may be typed in days; one past the bound is refused naming the bound (it
// was refused as "not a duration like 30m or 2h", and 1d was refused too).
func TestPauseLengthsPeopleType(t *testing.T) {
	for word, want := range map[string]time.Duration{
		"30m":   30 * time.Minute,
		"1h30m": 90 * time.Minute,
		"1d":    24 * time.Hour,
		"1D":    24 * time.Hour,
		"2d12h": 60 * time.Hour,
		"7d":    7 * 24 * time.Hour,
		"168h":  7 * 24 * time.Hour,
	} {
		c, err := Parse("pause crates-io " + word)
		if err != nil || c.For != want {
			t.Errorf("pause crates-io %s: %v, %v; want %v", word, c.For, err, want)
		}
	}
	for word, want := range map[string]string{
		"8d":          "longer than the 7-day limit",
		"7d1h":        "longer than the 7-day limit",
		"200h":        "longer than the 7-day limit",
		"9999999999d": "longer than the 7-day limit",
		"0m":          "0m is no time",
		"0d":          "0d is no time",
		"-5m":         "-5m is no time",
		"soon":        `"soon" is not a duration: say one like 30m, 2h, 1h30m or 1d`,
		"1.5d":        `"1.5d" is not a duration`,
		"-1d":         `"-1d" is not a duration`,
		"1d-5h":       `"1d-5h" is not a duration`,
		"d":           `"d" is not a duration`,
	} {
		_, err := Parse("pause crates-io " + word)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("pause crates-io %s: %v; want it refused with %q", word, err, want)
		}
	}
}

// TestAnUnknownAppAmongManyNamesTheNearest: the refusal of an app relwatch
// does not watch named every configured app; with a thousand (the
// README's crew) that was 23 KB, past what a chat answer may be.
func TestAnUnknownAppAmongManyNamesTheNearest(t *testing.T) {
	apps := make([]string, 1000)
	for i := range apps {
		apps[i] = fmt.Sprintf("crates-io-mirror-%04d", i)
	}
	apps = append(apps, "docs-rs")
	for typed, want := range map[string]string{
		"crates-io-mirorr-0001": `relwatch does not watch "crates-io-mirorr-0001"; of the 1001 apps it watches, the nearest are crates-io-mirror-0001, ` +
			`crates-io-mirror-0000, crates-io-mirror-0002, crates-io-mirror-0003, crates-io-mirror-0004, and 996 more`,
		"docs_rs": `relwatch does not watch "docs_rs"; of the 1001 apps it watches, the nearest are docs-rs, ` +
			`crates-io-mirror-0000, crates-io-mirror-0001, crates-io-mirror-0002, crates-io-mirror-0003, and 996 more`,
	} {
		err := (&UnknownAppError{App: typed, Configured: apps}).Error()
		if err != want {
			t.Errorf("%s:\n got %s\nwant %s", typed, err, want)
		}
	}
	// A few are all named, as configured.
	if err := (&UnknownAppError{App: "x", Configured: apps[:5]}).Error(); !strings.HasSuffix(err, "it watches "+strings.Join(apps[:5], ", ")) {
		t.Errorf("five apps: %s", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"crates-io", "crates-io", 0},
		{"crates_io", "crates-io", 1}, {"mirorr", "mirror", 2}, {"kitten", "sitting", 3}, {"日本", "日本語", 1},
	} {
		if got := editDistance([]rune(tc.a), []rune(tc.b)); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
