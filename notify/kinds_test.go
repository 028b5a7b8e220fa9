package notify_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
	"time"

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

// A release's story has each of its watch's facts once: said again at
// another time (a restarted worker), a watch.started, anomaly or end has
// the same key, so no chat hears it twice. Facts that may come again
// (a refusal, a person's pause) without an instance are told apart by time.
func TestKeyOfFactsOncePerRelease(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	once := map[notify.Kind]bool{notify.WatchStarted: true, notify.Anomaly: true, notify.WatchHealthy: true, notify.WatchInconclusive: true, notify.Blind: true}
	for _, k := range notify.Kinds() {
		a := notify.Event{Header: notify.Header{Kind: k, App: "crates-io", Release: 42, At: at}}
		b := a
		b.At = at.Add(time.Minute)
		if same := a.Key() == b.Key(); same != once[k] {
			t.Errorf("%s: same key a minute apart %v, want %v (%s, %s)", k, same, once[k], a.Key(), b.Key())
		}
		if text := a.Text(); strings.HasPrefix(text, "crates-io v42: "+string(k)) {
			t.Errorf("%s has no words of its own: %q", k, text)
		}
	}
}
