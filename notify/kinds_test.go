package notify_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"

	"github.com/relwatch/relwatch/notify"
)

// TestKindsListsEveryKind keeps the one list of event kinds whole: every
// constant of type Kind in the package is in notify.Kinds(), once.
func TestKindsListsEveryKind(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []notify.Kind
	for _, f := range pkgs["notify"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						declared = append(declared, notify.Kind(s))
					}
				}
			}
		}
	}
	listed := notify.Kinds()
	if len(declared) < 10 {
		t.Fatalf("found only %d Kind constants: %v", len(declared), declared)
	}
	for _, k := range declared {
		if n := count(listed, k); n != 1 {
			t.Errorf("kind %q is in Kinds() %d times, want once", k, n)
		}
	}
	if len(listed) != len(declared) {
		t.Errorf("Kinds() has %d kinds, the package declares %d", len(listed), len(declared))
	}
}

func count(ks []notify.Kind, k notify.Kind) int {
	n := 0
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}
