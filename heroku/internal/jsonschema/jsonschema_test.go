package jsonschema

import (
	"strings"
	"testing"
)

// A schema in the shape of Heroku's: definitions with their own
// definitions, $ref between them, strictProperties, null unions, enums,
// formats, patterns, items, anyOf, and a link with a targetSchema.
const doc = `{
  "definitions": {
    "thing": {
      "strictProperties": true,
      "type": ["object"],
      "definitions": {
        "id": {"type": ["string"], "format": "uuid"},
        "name": {"type": ["string"], "pattern": "^[a-z][a-z0-9-]{1,28}[a-z0-9]$"},
        "identity": {"anyOf": [{"$ref": "#/definitions/thing/definitions/id"}, {"$ref": "#/definitions/thing/definitions/name"}]}
      },
      "links": [
        {"href": "/things/{(%23%2Fdefinitions%2Fthing%2Fdefinitions%2Fidentity)}", "method": "GET", "title": "Info", "targetSchema": {"$ref": "#/definitions/thing"}},
        {"href": "/things", "method": "GET", "title": "List", "targetSchema": {"type": ["array"], "items": {"$ref": "#/definitions/thing"}}}
      ],
      "properties": {
        "id": {"$ref": "#/definitions/thing/definitions/id"},
        "name": {"$ref": "#/definitions/thing/definitions/name"},
        "created_at": {"type": ["string"], "format": "date-time"},
        "archived_at": {"type": ["null", "string"], "format": "date-time"},
        "size": {"type": ["integer", "null"], "minimum": 0},
        "status": {"type": ["string"], "enum": ["pending", "succeeded"]},
        "owner": {"type": ["object"], "strictProperties": true, "properties": {"email": {"type": ["string"], "format": "email"}}},
        "web_url": {"type": ["string"], "format": "uri"},
        "tags": {"type": ["array"], "items": {"type": ["string"]}},
        "space": {"type": ["null", "object"], "properties": {"name": {"type": ["string"], "pattern": "^(?!-)[a-z]+$"}}}
      }
    }
  }
}`

const good = `{"id": "01234567-89ab-cdef-0123-456789abcdef", "name": "crates-io", "created_at": "2026-11-01T12:00:00Z",
  "archived_at": null, "size": 3, "status": "pending", "owner": {"email": "a@example.com"},
  "web_url": "https://crates-io.herokuapp.com/", "tags": ["a"], "space": {"name": "x"}}`

func load(t *testing.T) (*Schema, map[string]any) {
	t.Helper()
	s, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	thing, err := s.Definition("thing")
	if err != nil {
		t.Fatal(err)
	}
	return s, thing
}

func TestValidAccepted(t *testing.T) {
	s, thing := load(t)
	if errs := s.ValidateJSON(thing, []byte(good)); len(errs) != 0 {
		t.Fatalf("a valid body was refused: %v", errs)
	}
	// Go's regexp cannot look ahead: said, not passed in silence.
	if u := s.Unchecked(); len(u) != 1 || !strings.Contains(u[0], "(?!-)") {
		t.Fatalf("unchecked %v", u)
	}
}

// Each change of the good body must be refused, naming the place.
func TestInvalidRefused(t *testing.T) {
	s, thing := load(t)
	for _, tt := range []struct{ name, from, to, want string }{
		{"a property missing", `"status": "pending", `, ``, `$: lacks property "status"`},
		{"a property added (strictProperties)", `"size": 3`, `"size": 3, "extra": 1`, `property "extra"`},
		{"a string as a number", `"size": 3`, `"size": "3"`, `$.size: is string, want type [integer null]`},
		{"a fraction as an integer", `"size": 3`, `"size": 3.5`, `$.size: is number`},
		{"below the minimum", `"size": 3`, `"size": -1`, `below the minimum`},
		{"null where not allowed", `"created_at": "2026-11-01T12:00:00Z"`, `"created_at": null`, `$.created_at: is null`},
		{"not a date-time", `"created_at": "2026-11-01T12:00:00Z"`, `"created_at": "yesterday"`, `not of format date-time`},
		{"not a uuid", `"id": "01234567-89ab-cdef-0123-456789abcdef"`, `"id": "42"`, `$.id: "42" is not of format uuid`},
		{"not in the enum", `"status": "pending"`, `"status": "done"`, `"done" is not one of`},
		{"not matching the pattern", `"name": "crates-io"`, `"name": "Crates_IO"`, `does not match pattern`},
		{"a nested property missing", `{"email": "a@example.com"}`, `{}`, `$.owner: lacks property "email"`},
		{"not an email", `"a@example.com"`, `"nobody"`, `$.owner.email`},
		{"not a uri", `"https://crates-io.herokuapp.com/"`, `"crates-io"`, `not of format uri`},
		{"an array item of the wrong type", `["a"]`, `["a", 2]`, `$.tags[1]: is integer`},
		{"an object where an array goes", `["a"]`, `{}`, `$.tags: is object`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(good, tt.from, tt.to, 1)
			if body == good {
				t.Fatalf("the change %q did not apply", tt.from)
			}
			errs := s.ValidateJSON(thing, []byte(body))
			if len(errs) == 0 || !strings.Contains(joinErrs(errs), tt.want) {
				t.Fatalf("errors %v, want one saying %q", errs, tt.want)
			}
		})
	}
	if errs := s.ValidateJSON(thing, []byte(`{"id": `)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not JSON") {
		t.Fatalf("cut body: %v", errs)
	}
}

func TestFullResources(t *testing.T) {
	s, thing := load(t)
	body := []byte(strings.Replace(good, `{"name": "x"}`, `{}`, 1))
	if errs := s.ValidateJSON(thing, body); len(errs) != 0 {
		t.Fatalf("space lists name but is not strict: %v", errs)
	}
	s.FullResources = true
	if errs := s.ValidateJSON(thing, body); len(errs) != 1 || !strings.Contains(errs[0].Error(), `$.space: lacks property "name"`) {
		t.Fatalf("full resources: %v", errs)
	}
}

func TestLink(t *testing.T) {
	s, _ := load(t)
	target, title, err := s.Link("GET", "/things/crates-io")
	if err != nil || title != "thing Info" || target["$ref"] != "#/definitions/thing" {
		t.Fatalf("Link = %v, %q, %v", target, title, err)
	}
	list, title, err := s.Link("GET", "/things")
	if err != nil || title != "thing List" {
		t.Fatalf("Link = %v, %q, %v", list, title, err)
	}
	if errs := s.ValidateJSON(list, []byte("["+good+", {}]")); len(errs) == 0 || !strings.Contains(joinErrs(errs), `$[1]: lacks property "id"`) {
		t.Fatalf("list errors %v", errs)
	}
	if _, _, err := s.Link("GET", "/things/a/b"); err == nil {
		t.Fatal("a path no link serves was matched")
	}
	if _, _, err := s.Link("POST", "/things"); err == nil {
		t.Fatal("a method no link serves was matched")
	}
}

func joinErrs(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}
