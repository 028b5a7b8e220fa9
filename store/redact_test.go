package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/store"
)

// badDSNs are DATABASE_URLs as people mistype them, each with the password
// "s3cr3t-pw" in some spelling, and what the error must say is wrong. The
// servers named are on loopback ports where nothing listens.
var badDSNs = []struct {
	name, dsn, want string
}{
	{"hash in the password", "postgres://u:s3cr3t-pw#1@127.0.0.1:1/db?connect_timeout=2", "127.0.0.1"},
	{"bad percent escape", "postgres://u:s3cr3t-pw%zz@127.0.0.1:1/db", "invalid percent-encoded token in password"},
	{"no scheme", "u:s3cr3t-pw@127.0.0.1:1/db", "without its scheme"},
	{"unknown scheme", "mysql://u:s3cr3t-pw@127.0.0.1:1/db", `unknown scheme "mysql"`},
	{"misspelt scheme", "postgress://u:s3cr3t-pw@127.0.0.1:1/db", `unknown scheme "postgress"`},
	{"slash in the password", "postgres://u:s3cr3t-pw/x@127.0.0.1:1/db", "must be written %2F"},
	{"digits and a slash", "postgres://u:1234/s3cr3t-pw@127.0.0.1:1/db", "must be written %2F"},
	{"question mark in the password", "postgres://u:s3cr3t-pw?x@127.0.0.1:1/db?connect_timeout=2", "127.0.0.1"},
	{"at sign in the password", "postgres://u:s3cr3t-pw@x@127.0.0.1:1/db", "must be written %40"},
	{"colon in the password", "postgres://u:ab:s3cr3t-pw%zz@127.0.0.1:1/db", "invalid percent-encoded token"},
	{"space in the password", "postgres://u:s3cr3t-pw x@127.0.0.1:1/db", "spaces"},
	{"bad port", "postgres://u:s3cr3t-pw@127.0.0.1:99999/db", "port"},
	{"bad IPv6 host", "postgresql://u:s3cr3t-pw@[::1/db", `"]"`},
	{"password in the query and a bad setting", "postgres://u@127.0.0.1:1/db?password=s3cr3t-pw&sslmode=bogus", "sslmode is invalid"},
	{"keyword DSN", "host=127.0.0.1 port=1 user=u password=s3cr3t-pw", "password= setting"},
	{"quoted keyword password", "host=127.0.0.1 user=u password='s3cr3t-pw x'", "password= setting"},
	{"escaped password, server down", "postgres://u:s3cr3t%2Dpw@127.0.0.1:1/db?connect_timeout=2", "127.0.0.1"},
}

func TestBadDSNsNeverPrintThePassword(t *testing.T) {
	// Were a DSN taken for an SQLite path, the file lands here.
	t.Chdir(t.TempDir())
	for _, tc := range badDSNs {
		t.Run(tc.name, func(t *testing.T) {
			if got := store.Redact(tc.dsn); strings.Contains(got, "s3cr3t") {
				t.Errorf("Redact(%q) = %q", tc.dsn, got)
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			db, err := store.Open(ctx, tc.dsn)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tc.dsn)
			}
			// What a command does with it: print it, log it.
			logger.Error("cannot open the state", "err", err, "dsn", store.Redact(tc.dsn))
			for what, text := range map[string]string{"error": err.Error(), "log line": logs.String()} {
				if strings.Contains(text, "s3cr3t") {
					t.Errorf("the password is in the %s: %s", what, text)
				}
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "open state ") {
				t.Errorf("Open(%q) = %v, want it to say %q", tc.dsn, err, tc.want)
			}
		})
	}
}

func TestRedactKeepsWhatIsNotSecret(t *testing.T) {
	tests := map[string]string{
		"postgres://u:s3cr3t@h:5432/db?sslmode=require": "postgres://u:xxxxx@h:5432/db?sslmode=require",
		"postgres://u:s3cr#t@h/db":                      "postgres://u:xxxxx@h/db",
		"postgres://u:s3cr%zz@h/db":                     "postgres://u:xxxxx@h/db",
		"u:s3cr3t@h/db":                                 "u:xxxxx@h/db",
		"postgres://u@h/db?password=s3cr3t&sslmode=x":   "postgres://u@h/db?password=xxxxx&sslmode=x",
		"host=h user=u password='s 3cr3t' dbname=d":     "host=h user=u password=xxxxx dbname=d",
		"postgres://h/db":                               "postgres://h/db",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"relwatch.db":                                   "relwatch.db",
		"/var/state/relwatch.db":                        "/var/state/relwatch.db",
		"postgres://u:s3cr3t@h/db?application_name=a@b": "postgres://u:xxxxx@h/db?application_name=a@b",
	}
	for in, want := range tests {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenStillTakesSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{filepath.Join(dir, "a.db"), "sqlite:" + filepath.Join(dir, "b@c.db")} {
		db, err := store.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		db.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "b@c.db")); err != nil {
		t.Fatalf("sqlite: with an '@' in the name: %v", err)
	}
}
