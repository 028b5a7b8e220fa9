package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// A mistyped DATABASE_URL is refused with what is wrong, and its password
// is in no output of the commands that open the state: the error they
// print, and the worker's log lines.
func TestBadDatabaseURLKeepsThePassword(t *testing.T) {
	cfg := watchConfig(t, "http://127.0.0.1:1", time.Now()) // before the Chdir: it names the demo's series by its absolute path
	t.Chdir(t.TempDir())                                    // a DSN taken for an SQLite path would land here
	cases := map[string]string{
		"postgres://u:s3cr3t-pw#1@127.0.0.1:1/db?connect_timeout=2": "connection refused",
		"postgres://u:s3cr3t-pw%zz@127.0.0.1:1/db":                  "invalid percent-encoded token in password",
		"u:s3cr3t-pw@127.0.0.1:1/db":                                "without its scheme",
		"postgres://u:1234/s3cr3t-pw@127.0.0.1:1/db":                "must be written %2F",
	}
	for dsn, want := range cases {
		t.Setenv("RELWATCH_STATE", "")
		t.Setenv("DATABASE_URL", dsn)
		t.Setenv("HEROKU_API_KEY", "test-token")
		for _, args := range [][]string{{"status"}, {"pause", "crates-io", "--config", cfg}, {"watch", "--config", cfg, "--log-level", "debug"}} {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			code, stdout, stderr := runMain(t, ctx, args...)
			cancel()
			if strings.Contains(stdout+stderr, "s3cr3t") {
				t.Errorf("relwatch %s with DATABASE_URL=%s printed the password:\n%s%s", args[0], dsn, stdout, stderr)
			}
			if code == 0 || !strings.Contains(stdout+stderr, want) { // the worker says it in its log, on stdout
				t.Errorf("relwatch %s with DATABASE_URL=%s: exit %d, stderr %q; want it to say %q", args[0], dsn, code, stderr, want)
			}
		}
	}
}

// A --state the PostgreSQL driver cannot read (a port that is no number)
// is bad configuration, exit 2 as every other, before anything connects;
// its password is never printed.
func TestUnreadableStateIsAConfigurationError(t *testing.T) {
	fake := herokusim.New("tok")
	defer fake.Close()
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 7, Description: "Deploy a"})
	t.Setenv("HEROKU_API_KEY", "tok")
	cfg := writeConfig(t, fmt.Sprintf("worker_app = \"relwatch\"\n[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n", fake.URL(), demoSeries(t)))
	for _, dsn := range []string{"postgres://u:s3cr3t-pw@127.0.0.1:notaport/db", "postgresql://u:s3cr3t-pw@127.0.0.1:99999/db"} {
		code, stdout, stderr := runMain(t, t.Context(), "check", "--config", cfg, "--state", dsn)
		if strings.Contains(stdout+stderr, "s3cr3t") {
			t.Errorf("--state %s: the password was printed:\n%s%s", dsn, stdout, stderr)
		}
		if code != 2 || !strings.Contains(stdout, "FAIL open state postgres") || !strings.Contains(stderr, "1 of the configuration") {
			t.Errorf("--state %s: exit %d\n%s%s\nwant exit 2, the state's problem one of the configuration", dsn, code, stdout, stderr)
		}
	}
}
