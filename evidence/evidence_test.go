package evidence

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The record of a judgement is the lowest floor: the analysis, the store
// and notify import it, so it imports nothing of relwatch's.
func TestImportsNoRelwatchPackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.HasPrefix(imp.Path.Value, `"github.com/relwatch/`) {
				t.Errorf("%s imports %s", name, imp.Path.Value)
			}
		}
	}
}
