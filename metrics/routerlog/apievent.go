package routerlog

import (
	"bytes"
)

// APIEventKind is what an API event line says happened to the app.
type APIEventKind uint8

// The API event kinds. Every kind but APIOther may mean a new release, or
// a release whose status changed: the watcher polls the app's releases.
const (
	APIOther    APIEventKind = iota // an API line that makes no release (scaling, a one-off dyno, a build starting)
	APIRelease                      // "Release v42 created", "Running release v42 commands", "Release v42 command failed"
	APIDeploy                       // "Deploy 3f1c2aa"
	APIRollback                     // "Rollback to v41"
	APIPromote                      // "Promote crates-io-staging v118"
	APIConfig                       // "Set FOO config vars", "Remove FOO config vars"
	APILost                         // logplex dropped lines of the stream (L10, L11): an event may be among them
)

func (k APIEventKind) String() string {
	switch k {
	case APIRelease:
		return "release"
	case APIDeploy:
		return "deploy"
	case APIRollback:
		return "rollback"
	case APIPromote:
		return "promote"
	case APIConfig:
		return "config"
	case APILost:
		return "lines lost"
	}
	return "other"
}

// APIEvent is one line Heroku's API wrote into the app's log.
type APIEvent struct {
	Unix    int64 // the line's timestamp, whole seconds
	Kind    APIEventKind
	Version int // the release the line names (Release vN, Rollback to vN: the target), 0 when none
}

// MayRelease reports whether the event may mean a release was created or
// changed status (or, for APILost, that such an event may have been lost).
func (e APIEvent) MayRelease() bool { return e.Kind != APIOther }

// ParseAPIEvent reads a line Heroku's API wrote into the app's log (source
// app, dyno api; Dev Center, "Logging": API logs), as a log session sends
// it or as a drain frame carries it:
//
//	2020-01-05T03:45:50.244579+00:00 app[api]: Release v24 created by user ana@example.com
//	<190>1 2020-01-05T03:45:50.244579+00:00 host app api - Deploy 399e1c85 by user ana@example.com
//
// It reports false for any other line (a router line, an app's own line,
// a dyno called api.1). It allocates nothing.
func ParseAPIEvent(b []byte) (APIEvent, bool) {
	h, ok := header(b)
	if !ok || string(h.source) != "app" || string(h.proc) != "api" {
		return APIEvent{}, false
	}
	unix, err := parseTimestamp(h.ts)
	if err != nil {
		return APIEvent{}, false
	}
	ev := APIEvent{Unix: unix}
	ev.Kind, ev.Version = classify(h.msg)
	return ev, true
}

var (
	releaseV    = []byte("Release v")
	runningV    = []byte("Running release v")
	deploy      = []byte("Deploy ")
	rollbackToV = []byte("Rollback to v")
	promote     = []byte("Promote ")
	configVars  = []byte(" config vars")
)

// classify reads what an API line's message says.
func classify(msg []byte) (APIEventKind, int) {
	switch {
	case bytes.HasPrefix(msg, releaseV):
		return APIRelease, leadingInt(msg[len(releaseV):])
	case bytes.HasPrefix(msg, runningV):
		return APIRelease, leadingInt(msg[len(runningV):])
	case bytes.HasPrefix(msg, rollbackToV):
		return APIRollback, leadingInt(msg[len(rollbackToV):])
	case bytes.HasPrefix(msg, deploy):
		return APIDeploy, 0
	case bytes.HasPrefix(msg, promote):
		return APIPromote, 0
	case bytes.Contains(msg, configVars):
		return APIConfig, 0
	}
	return APIOther, 0
}

// leadingInt reads the decimal number b starts with (0 when none).
func leadingInt(b []byte) int {
	n := 0
	for i := 0; i < len(b) && i < 9 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	return n
}

// isLostReport reports whether line is logplex's report of lines it
// dropped (Error L10, Error L11).
func isLostReport(line []byte) bool {
	_, ok := lostReport(line)
	return ok
}
