package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's "Commands" table is where a person looks a command up: it
// has a row for every command relwatch has (promote had none), and for
// relwatch help.
func TestReadmeCommandsListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal(`README has no "## Commands" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	named := map[string]bool{}
	cmdName := regexp.MustCompile("`(?:relwatch )?([a-z]+)")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell, _, _ := strings.Cut(strings.ReplaceAll(line[1:], `\|`, ""), "|") // the row's first cell
		for _, m := range cmdName.FindAllStringSubmatch(cell, -1) {
			named[m[1]] = true
		}
	}
	for _, c := range append(commands(), command{name: "help"}) {
		if !named[c.name] {
			t.Errorf("README Commands: no row for relwatch %s", c.name)
		}
	}
}
