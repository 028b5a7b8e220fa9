package watcher

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportsNoSource: the core imports no metrics source (a probe, the
// router log, Prometheus, a series file): what it reads of one is
// analysis' and metrics' types, and the command adapts (issue 18).
func TestImportsNoSource(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.HasPrefix(imp.Path.Value, `"github.com/relwatch/relwatch/metrics/`) {
				t.Errorf("%s imports the source %s", name, imp.Path.Value)
			}
		}
	}
}
