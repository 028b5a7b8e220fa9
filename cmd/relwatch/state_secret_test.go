package main

import (
	"context"
	"strings"
	"testing"
	"time"
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
