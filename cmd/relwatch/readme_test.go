package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
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
