package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	hk "github.com/heroku/heroku-go/v5"

	"github.com/relwatch/relwatch/config"
)

// helpFlag finds the flags a command's --help lists ("  -a, --app string").
var helpFlag = regexp.MustCompile(`(?m)^  (?:-[a-z], )?(--[a-z][a-z-]*)`)

// readmeCommandLine finds a command line the README shows: relwatch, a
// command, and what follows on the line up to the end of its code.
var readmeCommandLine = regexp.MustCompile("relwatch (" + commandNames() + ")\\b([^`|\\n#]*)")

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, "|")
}

// Every command relwatch has is in the README's Commands table, and every
// flag a README command line gives its command is one the command takes
// (as its --help lists them): a new team types these lines as they are.
func TestReadmeCommandLinesParse(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	_, table, ok := strings.Cut(readme, "\n## Commands\n")
	if !ok {
		t.Fatal(`README.md has no "Commands" section`)
	}
	table, _, _ = strings.Cut(table, "\n\n")
	takes := map[string]map[string]bool{}
	for _, c := range commands() {
		if !strings.Contains(table, "| `relwatch "+c.name) && !strings.Contains(table, ", `relwatch "+c.name) && !strings.Contains(table, ", `"+c.name+" ") {
			t.Errorf("relwatch %s is not in the README's Commands table", c.name)
		}
		_, out, _ := runMain(t, context.Background(), c.name, "--help")
		takes[c.name] = map[string]bool{"--help": true}
		for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
			takes[c.name][m[1]] = true
		}
	}
	lines := 0
	for _, src := range []string{readme, mustRead(t, "../../scenarios/README.md")} {
		for _, m := range readmeCommandLine.FindAllStringSubmatch(src, -1) {
			lines++
			for _, f := range regexp.MustCompile(`(?:^|\s|\[)(--[a-z][a-z-]*)`).FindAllStringSubmatch(m[2], -1) {
				if !takes[m[1]][f[1]] {
					t.Errorf("README: %q: relwatch %s takes no %s", strings.TrimSpace(m[0]), m[1], f[1])
				}
			}
		}
	}
	if lines < 20 {
		t.Fatalf("found %d README command lines: the pattern no longer finds them", lines)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// commentedKey is a commented-out key of config.toml with the value it
// shows: `# tick = "5s"`, `# z = 4.0   # why`.
var commentedKey = regexp.MustCompile(`^# ([a-z_]+ = (?:"[^"]*"|[0-9.]+|true|false))(?:\s+#.*)?$`)

// The value config.toml shows for each key of its top level, [heroku],
// [watch] and [thresholds] is the default the code fills in: the file,
// its commented keys uncommented, resolves to what the file without them
// resolves to (an app of its own is added to both, to resolve the
// policy).
func TestExampleConfigShowsTheDefaults(t *testing.T) {
	var shown []string
	section, keys := "", 0
	for _, l := range strings.Split(mustRead(t, "../../config.toml"), "\n") {
		if h := regexp.MustCompile(`^#:? (\[[a-z.\[\]]+\])`).FindStringSubmatch(l); h != nil {
			section = h[1]
			if section == "[heroku]" || section == "[watch]" || section == "[thresholds]" {
				shown = append(shown, section)
			}
			continue
		}
		if m := commentedKey.FindStringSubmatch(l); m != nil && (section == "" || section == "[heroku]" || section == "[watch]" || section == "[thresholds]") {
			if strings.HasPrefix(m[1], "worker_app ") {
				continue // an example, not a default: none is $HEROKU_APP_NAME
			}
			shown = append(shown, m[1])
			keys++
		}
	}
	if keys < 30 {
		t.Fatalf("read %d keys of config.toml's top level, [heroku], [watch] and [thresholds]: the pattern no longer finds them", keys)
	}
	const app = "\n[[apps]]\nname = \"a\"\nroute = \"download\"\nmetrics = { source = \"series\", path = \"x.csv\" }\n"
	dir := t.TempDir()
	withShown, err := loadConfigText(t, dir, strings.Join(shown, "\n")+app)
	if err != nil {
		t.Fatalf("config.toml's defaults, uncommented:\n%s\n%v", strings.Join(shown, "\n"), err)
	}
	without, err := loadConfigText(t, dir, app)
	if err != nil {
		t.Fatal(err)
	}
	if without.APIURL == "" {
		without.APIURL = hk.DefaultURL // the client's, when the file names none
	}
	if !reflect.DeepEqual(withShown, without) {
		t.Errorf("config.toml shows defaults that are not the code's:\nshown %+v\ncode  %+v", withShown, without)
	}
}

func loadConfigText(t *testing.T, dir, text string) (*config.Config, error) {
	t.Helper()
	p := filepath.Join(dir, "relwatch.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(p)
	if err != nil {
		return nil, err
	}
	return c.Config, nil
}
