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
