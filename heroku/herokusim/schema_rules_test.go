package herokusim_test

import (
	"strings"
	"testing"
)

// A schema in the shape of Heroku's: a definition with its own
// definitions, strictProperties, an object that lists properties without
// it, a pattern Go's regexp cannot compile, and links with targetSchemas.
const thingSchema = `{
  "$schema": "http://interagent.github.io/interagent-hyper-schema",
  "id": "http://api.heroku.com/schema#",
  "definitions": {
    "thing": {
      "$schema": "http://json-schema.org/draft-04/hyper-schema",
      "strictProperties": true,
      "type": ["object"],
      "definitions": {
        "id": {"type": ["string"], "format": "uuid"},
        "name": {"type": ["string"], "pattern": "^[a-z](?:[a-z]|-(?!-))+$"},
        "identity": {"anyOf": [{"$ref": "#/definitions/thing/definitions/id"}, {"$ref": "#/definitions/thing/definitions/name"}]}
      },
      "links": [
        {"href": "/things/{(%23%2Fdefinitions%2Fthing%2Fdefinitions%2Fidentity)}", "method": "GET", "title": "Info", "targetSchema": {"$ref": "#/definitions/thing"}},
        {"href": "/things", "method": "GET", "title": "List", "targetSchema": {"type": ["array"], "items": {"$ref": "#/definitions/thing"}}}
      ],
      "properties": {
        "id": {"$ref": "#/definitions/thing/definitions/id"},
        "name": {"$ref": "#/definitions/thing/definitions/name"},
        "space": {"type": ["null", "object"], "properties": {"name": {"type": ["string"]}}}
      }
    }
  }
}`

const goodThing = `{"id": "01234567-89ab-cdef-0123-456789abcdef", "name": "crates-io", "space": {"name": "x"}}`

// The rules the test adds to the library: a full resource (every listed
// property, others allowed), strictProperties (every listed property, no
// other), links found by method and path, and the pattern it cannot check
// said.
func TestAPISchemaRules(t *testing.T) {
	s, err := newAPISchema([]byte(thingSchema), nil)
	if err != nil {
		t.Fatal(err)
	}
	info, title, err := s.Link("GET", "/things/crates-io")
	if err != nil || title != "thing Info" {
		t.Fatalf("Link = %q, %v", title, err)
	}
	if errs := validate(info, []byte(goodThing)); len(errs) != 0 {
		t.Fatalf("a valid body was refused: %v", errs)
	}
	if u := s.Unchecked(); len(u) != 1 || !strings.Contains(u[0], "(?!-)") {
		t.Fatalf("unchecked %v", u)
	}
	for _, tt := range []struct{ name, from, to, want string }{
		{"strict: a property missing", `"name": "crates-io", `, ``, `at "/": lacks property "name" (strictProperties)`},
		{"strict: a property added", `"name": "crates-io"`, `"name": "crates-io", "extra": 1`, `at "/": has property "extra"`},
		{"full resource: a property missing", `{"name": "x"}`, `{}`, `at "/space": lacks property "name" (a full resource)`},
		{"a referenced format", `"id": "01234567-89ab-cdef-0123-456789abcdef"`, `"id": "42"`, `at "/id": '42' is not valid uuid`},
		{"not JSON", `}`, ``, `not JSON`},
	} {
		body := strings.Replace(goodThing, tt.from, tt.to, 1)
		if body == goodThing {
			t.Fatalf("%s: the change %q did not apply", tt.name, tt.from)
		}
		if errs := validate(info, []byte(body)); !strings.Contains(strings.Join(errs, "\n"), tt.want) {
			t.Errorf("%s: errors %q, want one saying %q", tt.name, errs, tt.want)
		}
	}
	if errs := validate(info, []byte(strings.Replace(goodThing, `{"name": "x"}`, `{"name": "x", "extra": 1}`, 1))); len(errs) != 0 {
		t.Errorf("a full resource that is not strict refused a property it does not list: %v", errs)
	}
	list, title, err := s.Link("GET", "/things")
	if err != nil || title != "thing List" {
		t.Fatalf("Link = %q, %v", title, err)
	}
	if errs := validate(list, []byte("["+goodThing+", {}]")); !strings.Contains(strings.Join(errs, "\n"), `at "/1": lacks property "id"`) {
		t.Fatalf("list errors %q", errs)
	}
	if _, _, err := s.Link("GET", "/things/a/b"); err == nil {
		t.Fatal("a path no link serves was matched")
	}
	if _, _, err := s.Link("POST", "/things"); err == nil {
		t.Fatal("a method no link serves was matched")
	}
}
