package rollback

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheJournalIsWrittenHereAlone: outside its tests, no package but this
// one writes the rollback journal (BeginRollback, FinishRollback), so what
// makes a rollback exactly-once across crashes is read in one place (issue
// 18). The store defines the writes; a bounded pass-through elsewhere would
// still be a second writer, and is refused too.
func TestTheJournalIsWrittenHereAlone(t *testing.T) {
	writes := map[string]bool{"BeginRollback": true, "FinishRollback": true}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(here)
	seen := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !writes[sel.Sel.Name] {
				return true
			}
			if filepath.Dir(rel) != "rollback" {
				t.Errorf("%s calls %s: only rollback/ writes the journal", rel, sel.Sel.Name)
			} else {
				seen++
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("no call to BeginRollback or FinishRollback found in rollback/: the walk read nothing")
	}
}
