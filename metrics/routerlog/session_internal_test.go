package routerlog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// statusErr is an error with an HTTP status, as heroku.APIError is.
type statusErr int

func (e statusErr) Error() string   { return "Heroku answered " + http404or(int(e)) }
func (e statusErr) HTTPStatus() int { return int(e) }

func http404or(s int) string {
	if s == 404 {
		return "404 not_found"
	}
	return "503 unavailable"
}

// A log session Heroku refuses to start (404: no such app; 403: not the
// token's) was asked for again every 30 s with a warning each time, for
// as long as the worker ran: 240 requests and lines an hour. It is asked
// for less and less often, up to 10 min, and said once; a 503 is still
// tried again soon, and said each time.
func TestARefusedLogSessionIsAskedForLessOften(t *testing.T) {
	for _, tc := range []struct {
		status    int
		waits     []time.Duration
		warnLines int
	}{
		{404, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}, 1},
		{403, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}, 1},
		{503, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}, 6},
	} {
		var buf bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		var waits []time.Duration
		s := &Session{App: "gone", Agg: NewAggregator(Route{}, time.Minute, 0),
			Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
			start:  func(context.Context, string) (string, error) { return "", statusErr(tc.status) },
			pause: func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				if len(waits) == len(tc.waits) {
					cancel()
					return context.Canceled
				}
				return nil
			}}
		if err := s.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("%d: Run: %v", tc.status, err)
		}
		if !slices.Equal(waits, tc.waits) {
			t.Errorf("%d: waits %v, want %v", tc.status, waits, tc.waits)
		}
		if n := strings.Count(buf.String(), "level=WARN"); n != tc.warnLines {
			t.Errorf("%d: %d warnings, want %d:\n%s", tc.status, n, tc.warnLines, buf.String())
		}
	}
}
