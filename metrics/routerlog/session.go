package routerlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/sethvargo/go-retry"
)

// SessionStarter creates a log session (POST /apps/{app}/log-sessions with
// source=heroku, dyno=router, tail=true) and returns its logplex_url.
type SessionStarter interface {
	LogSession(ctx context.Context, app string) (string, error)
}

// Tail streams the app's router lines into agg until ctx ends, starting a
// new session (with backoff, via go-retry) whenever a stream ends or fails.
// Seconds between a stream's end and the next one's start have no data.
func Tail(ctx context.Context, agg *Aggregator, starter SessionStarter, app string, httpc *http.Client, now func() time.Time, logger *slog.Logger) error {
	if httpc == nil {
		httpc = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	backoff := retry.WithCappedDuration(30*time.Second, retry.NewExponential(500*time.Millisecond))
	for attempt := 1; ; attempt++ {
		url, err := starter.LogSession(ctx, app)
		if err == nil {
			var lines int64
			lines, err = stream(ctx, agg, httpc, url, now)
			if lines > 0 {
				attempt = 0 // a stream that delivered resets the backoff
				backoff = retry.WithCappedDuration(30*time.Second, retry.NewExponential(500*time.Millisecond))
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, _ := backoff.Next()
		logger.Warn("router log stream ended; reconnecting", "app", app, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// maxLine is the longest log line read; longer ones are skipped as
// malformed (Heroku cuts lines at 10 KB).
const maxLine = 16 << 10

func stream(ctx context.Context, agg *Aggregator, httpc *http.Client, url string, now func() time.Time) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("open log stream: %w", redactURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("open log stream: status %d", resp.StatusCode)
	}
	agg.Listening(now())
	defer func() { agg.Stopped(now()) }()
	r := bufio.NewReaderSize(resp.Body, maxLine)
	var lines int64
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			agg.Malformed()
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return lines, endOf(err)
			}
			continue
		case err != nil && len(line) == 0:
			return lines, endOf(err)
		}
		lines++
		if !lostLine(agg, line) {
			agg.Add(line)
		}
		if err != nil {
			return lines, endOf(err)
		}
	}
}

func endOf(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("the stream ended")
	}
	return err
}

// redactURL drops the URL from an error: a logplex_url is a capability.
func redactURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

var (
	l10 = []byte("Error L10")
	l11 = []byte("Error L11")
)

// lostLine handles logplex's reports of dropped lines:
//
//	... heroku[logplex]: Error L11 (Tail buffer overflow) -> This tail session dropped 1101 messages since 2013-04-09T19:37:34.771587+00:00.
//	... heroku logplex - Error L10 (output buffer overflow): 500 messages dropped since 2013-04-09T19:37:34+00:00.
//
// Every second from "since" to the line's own time is marked as no data.
func lostLine(agg *Aggregator, line []byte) bool {
	i := bytes.Index(line, l11)
	if i < 0 {
		i = bytes.Index(line, l10)
	}
	if i < 0 {
		return false
	}
	var ts []byte
	if len(line) > 0 && line[0] == '<' { // syslog: "<PRI>1 TS ..."
		if _, rest, ok := cut(line); ok {
			ts, _, _ = cut(rest)
		}
	} else {
		ts, _, _ = cut(line)
	}
	at, err := parseTimestamp(ts)
	if err != nil {
		agg.Malformed()
		return true
	}
	msg := line[i:]
	var n int64
	if j := bytes.Index(msg, []byte(" messages")); j > 0 {
		k := j
		for k > 0 && msg[k-1] >= '0' && msg[k-1] <= '9' {
			k--
		}
		v, _ := atoi(msg[k:j])
		n = int64(v)
	}
	since := at
	if j := bytes.Index(msg, []byte("since ")); j >= 0 {
		s := bytes.TrimRight(msg[j+len("since "):], ".\r\n ")
		if u, err := parseTimestamp(s); err == nil && u <= at && at-u < 3600 {
			since = u
		}
	}
	for sec := since; sec <= at; sec++ {
		agg.Lost(sec, 0)
	}
	agg.Lost(at, n)
	return true
}
