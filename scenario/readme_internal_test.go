package scenario

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/metrics/series"
)

// tomlKeys are the keys ParseTOML reads into v's type, by their toml tags.
func tomlKeys(v any) []string {
	var keys []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// readmeTable is the table of scenarios/README.md that follows the line
// heading it, as rows of cells.
func readmeTable(t *testing.T, readme, heading string) [][]string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n"+heading)
	if !ok {
		t.Fatalf("scenarios/README.md has no %q", heading)
	}
	var rows [][]string
	started := false
	for _, line := range strings.Split(rest, "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		if strings.HasPrefix(line, "| ---") || strings.HasPrefix(line, "| key") || strings.HasPrefix(line, "| column") {
			continue
		}
		rows = append(rows, strings.Split(strings.Trim(line, "| "), " | "))
	}
	return rows
}

var (
	readmeQuoted = regexp.MustCompile("`([^`]*)`")
	// snakeKey is a key with an underscore: no status value or word of
	// prose is spelled so.
	snakeKey = regexp.MustCompile(`^[a-z]+(_[a-z]+)+$`)
)

// Every key the scenario parser reads is in scenarios/README.md's
// scenario.toml table, and every key the table lists is read; so too the
// series.csv columns.
func TestScenariosReadmeListsWhatIsRead(t *testing.T) {
	raw, err := os.ReadFile("../scenarios/README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	// The top-level keys are the table's first column; a table's keys are
	// in its row's meaning.
	tables := map[string][]string{"[[releases]]": tomlKeys(Release{}), "[expect]": tomlKeys(Expect{})}
	top := map[string]bool{}
	for _, k := range tomlKeys(Scenario{}) {
		top[k] = true
	}
	listed := map[string]bool{}
	for _, row := range readmeTable(t, readme, "`scenario.toml`") {
		var table string
		for _, m := range readmeQuoted.FindAllStringSubmatch(row[0], -1) {
			key := strings.Trim(m[1], "[]")
			listed[key] = true
			if !top[key] {
				t.Errorf("scenarios/README.md lists the key %q, which the parser does not read there", m[1])
			}
			if _, ok := tables[m[1]]; ok {
				table = m[1]
			}
		}
		if table == "" {
			continue
		}
		named := map[string]bool{}
		for _, m := range readmeQuoted.FindAllStringSubmatch(strings.Join(row[1:], " "), -1) {
			named[m[1]] = true
			if snakeKey.MatchString(m[1]) && !slices.Contains(tables[table], m[1]) {
				t.Errorf("scenarios/README.md names %q among the keys of %s, which the parser does not read there", m[1], table)
			}
		}
		for _, k := range tables[table] {
			if !named[k] {
				t.Errorf("the parser reads the key %q of %s, which scenarios/README.md does not name", k, table)
			}
		}
	}
	for k := range top {
		if !listed[k] {
			t.Errorf("the parser reads the top-level key %q, which scenarios/README.md's table does not list", k)
		}
	}
	var columns []string
	for _, row := range readmeTable(t, readme, "`series.csv`") {
		columns = append(columns, strings.Trim(row[0], "`"))
	}
	if want := strings.Split(series.HeaderLatency, ","); !slices.Equal(columns, want) {
		t.Errorf("scenarios/README.md lists the series.csv columns %v; the parser reads %v", columns, want)
	}
}

// jsonKeys are the keys encoding/json writes of v's type.
func jsonKeys(v any) []string {
	var keys []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && t.Field(i).IsExported() {
			keys = append(keys, name)
		}
	}
	return keys
}

// The README's account of `relwatch replay --format json` names every key
// of Result, and of a rollback and a notification the keys they have.
func TestReadmeSaysTheReplayJSON(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(raw)), " ")
	_, said, ok := strings.Cut(readme, "`relwatch replay --format json` prints one object a line per scenario: ")
	if !ok {
		t.Fatal("README.md no longer says what replay --format json prints")
	}
	said, _, _ = strings.Cut(said, ". ")
	// "`rollbacks` (`release`, `to`, ...)": a key, then its keys.
	nested := regexp.MustCompile("`([a-z_]+)` \\(([^)]*)\\)")
	inner := map[string][]string{}
	for _, m := range nested.FindAllStringSubmatch(said, -1) {
		for _, k := range readmeQuoted.FindAllStringSubmatch(m[2], -1) {
			inner[m[1]] = append(inner[m[1]], k[1])
		}
	}
	top := nested.ReplaceAllString(said, "`$1`")
	var listed []string
	for _, m := range readmeQuoted.FindAllStringSubmatch(top, -1) {
		listed = append(listed, m[1])
	}
	if want := jsonKeys(Result{}); !slices.Equal(slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(want))) {
		t.Errorf("README says replay --format json has %v; it has %v", listed, want)
	}
	for key, v := range map[string]any{"rollbacks": RollbackOut{}, "notifications": NotificationOut{}} {
		want := jsonKeys(v)
		if got := inner[key]; !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("README says replay --format json's %s have %v; they have %v", key, got, want)
		}
	}
}
