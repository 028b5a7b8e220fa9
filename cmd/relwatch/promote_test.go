package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relwatch/relwatch/heroku/herokusim"
)

// promote --from Docs-RS-Staging is docs-rs-staging, as the other commands
// take an app named in capitals (Heroku's app names are lower case): it
// read HEROKU_API_KEY instead of the app's token_env, and asked Heroku for
// an app of that spelling.
func TestPromoteFromAnAppNamedInCapitals(t *testing.T) {
	freshState(t)
	fake := herokusim.New("team-a-secret")
	defer fake.Close()
	fake.AddAccount("team-b-secret", teamBEmail)
	now := time.Now()
	fake.AddRelease("docs-rs-staging", herokusim.ReleaseSpec{Version: 9, Description: "Deploy 9ab03de", CreatedAt: now.Add(-time.Hour)})
	fake.AddRelease("docs-rs", herokusim.ReleaseSpec{Version: 4, Description: "Promote docs-rs-staging v8", CreatedAt: now.Add(-2 * time.Hour)})
	fake.OwnApp("docs-rs-staging", teamBEmail)
	fake.OwnApp("docs-rs", teamBEmail)
	fake.AddPipeline("docs-rs", map[string]string{"docs-rs-staging": "staging", "docs-rs": "production"})
	var apps strings.Builder
	for _, app := range []string{"docs-rs-staging", "docs-rs"} {
		fmt.Fprintf(&apps, "[[apps]]\nname = %q\nroute = \"download\"\ntoken_env = %q\nmetrics = { source = \"series\", path = %q }\n", app, teamBEnv, demoSeries(t))
	}
	cfg := writeConfig(t, fmt.Sprintf("[heroku]\napi_url = %q\n%s[[notifiers]]\ntype = \"console\"\n", fake.URL(), apps.String()))
	t.Setenv("HEROKU_API_KEY", "")
	t.Setenv(teamBEnv, "team-b-secret")
	code, out, errOut := runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "docs-rs", "--from", "Docs-RS-Staging", "--no-probe", "--wait", "20s")
	if code != 0 || !strings.Contains(out, "docs-rs: succeeded as v5 (Promote docs-rs-staging v9); relwatch watches it") {
		t.Fatalf("promote --from Docs-RS-Staging: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "team-b-secret") {
		t.Fatal("a token appeared in promote's output")
	}
}

// A promotion Heroku refuses (here a 422, as when the source app has no
// slug yet) was announced "Deploying ... now" and nothing after: the chat
// believed a deployment was under way that never began. The refusal is
// announced too.
func TestPromoteRefusedByHerokuIsAnnounced(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	now := time.Now()
	fake.AddRelease("crates-io-staging", herokusim.ReleaseSpec{Version: 118, Description: "Deploy 9ab03de", CreatedAt: now.Add(-time.Hour)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote crates-io-staging v117", CreatedAt: now.Add(-2 * time.Hour)})
	fake.AddPipeline("crates-io", map[string]string{"crates-io-staging": "staging", "crates-io": "production"})
	fake.InjectFault(herokusim.Fault{Method: "POST", Path: "/pipeline-promotions", Status: 422, ID: "invalid_params", Message: "Couldn't find a slug for the source app"})
	cfg := writeConfig(t, fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n[[notifiers]]\ntype = \"console\"\n", fake.URL(), demoSeries(t)))
	t.Setenv("HEROKU_API_KEY", "tok")
	code, out, errOut := runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "crates-io", "--from", "crates-io-staging", "--no-probe", "--wait", "20s")
	if code != 1 || !strings.Contains(errOut, "Couldn't find a slug") {
		t.Fatalf("promote refused by Heroku: exit %d\n%s%s", code, out, errOut)
	}
	started, refused := strings.Index(out, "[promotion.started]"), strings.Index(out, "[promotion.refused]")
	if refused < 0 || refused < started || !strings.Contains(out[refused:], "Heroku refused the promotion") {
		t.Fatalf("the chat was not told the promotion did not happen:\n%s", out)
	}
}

// Heroku answering 503 once (or not at all) while promote follows its
// targets ended the command "read promotion ...: Heroku answered 503",
// exit 1, with the promotion under way and succeeding: the person running
// it, told it failed, would promote again. An error a retry may cure is
// tried again while --wait lasts.
func TestPromoteFollowsThroughAPassingHerokuError(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	now := time.Now()
	fake.AddRelease("crates-io-staging", herokusim.ReleaseSpec{Version: 118, Description: "Deploy 9ab03de", CreatedAt: now.Add(-time.Hour)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote crates-io-staging v117", CreatedAt: now.Add(-2 * time.Hour)})
	fake.AddPipeline("crates-io", map[string]string{"crates-io-staging": "staging", "crates-io": "production"})
	fake.InjectFault(herokusim.Fault{Method: "GET", Path: "/pipeline-promotions/", Status: 503, ID: "unavailable", Message: "Heroku is temporarily unavailable"})
	cfg := writeConfig(t, fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n[[notifiers]]\ntype = \"console\"\n", fake.URL(), demoSeries(t)))
	t.Setenv("HEROKU_API_KEY", "tok")
	code, out, errOut := runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "crates-io", "--from", "crates-io-staging", "--no-probe", "--wait", "20s")
	if code != 0 || !strings.Contains(out, "crates-io: succeeded as v42 (Promote crates-io-staging v118); relwatch watches it") {
		t.Fatalf("promote through one 503: exit %d\n%s%s", code, out, errOut)
	}
}

// --from the production app said "pipeline crates-io has no  app after
// crates-io (production)": a stage left empty, and no word of what to
// promote from instead.
func TestPromoteFromProductionSaysWhatToPromoteFrom(t *testing.T) {
	freshState(t)
	fake := herokusim.New("tok")
	defer fake.Close()
	now := time.Now()
	fake.AddRelease("crates-io-staging", herokusim.ReleaseSpec{Version: 118, Description: "Deploy 9ab03de", CreatedAt: now.Add(-time.Hour)})
	fake.AddRelease("crates-io", herokusim.ReleaseSpec{Version: 41, Description: "Promote crates-io-staging v117", CreatedAt: now.Add(-2 * time.Hour)})
	fake.AddPipeline("crates-io", map[string]string{"crates-io-staging": "staging", "crates-io": "production"})
	cfg := writeConfig(t, fmt.Sprintf("[heroku]\napi_url = %q\n[[apps]]\nname = \"crates-io\"\nroute = \"download\"\nmetrics = { source = \"series\", path = %q }\n[[notifiers]]\ntype = \"console\"\n", fake.URL(), demoSeries(t)))
	t.Setenv("HEROKU_API_KEY", "tok")
	code, out, errOut := runMain(t, context.Background(), "promote", "--config", cfg, "--pipeline", "crates-io", "--from", "crates-io", "--no-probe")
	want := "crates-io is pipeline crates-io's production app: no stage comes after it to promote to (promote from its staging app: --from crates-io-staging)"
	if code != 1 || !strings.Contains(errOut, want) || strings.Contains(out, "[promotion.") {
		t.Fatalf("promote --from the production app: exit %d\n%s%s\nwant %q", code, out, errOut, want)
	}
}
