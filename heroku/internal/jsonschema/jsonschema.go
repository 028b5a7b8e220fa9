// Package jsonschema validates JSON documents against the subset of JSON
// Schema (draft 04 hyper-schema, as interagent's prmd writes it) that
// Heroku's Platform API schema uses: $ref into the document, type (one name
// or a list, "null" included), properties, strictProperties, required,
// additionalProperties, patternProperties, items, enum, anyOf, oneOf,
// minimum, pattern and format (date-time, date, uuid, email, uri, ipv4).
//
// strictProperties is prmd's keyword, from the JSON Schema v5 proposals:
// the object has every property of "properties" and no other (java-json-
// tools/json-schema-validator wiki, "v5: strictProperties"). The schema
// lists no "required" for its resources; Heroku answers every property of
// a resource, null where it has no value ("Provide full resources where
// available", interagent/http-api-design), so FullResources asks the same
// of every object schema that lists properties.
//
// It is written for tests: it reports every problem it finds, with the
// JSON path where it found it, and says which patterns and formats it
// could not check (Go's regexp has no look-ahead) rather than pass them in
// silence.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Schema is a loaded schema document.
type Schema struct {
	root map[string]any
	// FullResources requires every listed property of an object, as
	// strictProperties does, without refusing properties it does not list.
	FullResources bool

	mu        sync.Mutex
	patterns  map[string]*regexp.Regexp
	unchecked map[string]bool
}

// Load reads a schema document.
func Load(data []byte) (*Schema, error) {
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("jsonschema: load: %w", err)
	}
	return &Schema{root: root, patterns: map[string]*regexp.Regexp{}, unchecked: map[string]bool{}}, nil
}

// Resolve returns the schema at a JSON pointer reference ("#/definitions/app").
func (s *Schema) Resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("jsonschema: only references into the document are supported, not %q", ref)
	}
	var node any = s.root
	for _, tok := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(ref, "#"), "/"), "/") {
		if tok == "" {
			continue
		}
		tok, err := url.PathUnescape(tok)
		if err != nil {
			return nil, fmt.Errorf("jsonschema: reference %q: %w", ref, err)
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("jsonschema: reference %q: %q is not an object", ref, tok)
		}
		if node, ok = m[tok]; !ok {
			return nil, fmt.Errorf("jsonschema: reference %q: no %q", ref, tok)
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("jsonschema: reference %q is not a schema", ref)
	}
	return m, nil
}

// Definition returns a top-level definition ("app") for changes a test
// needs (properties Heroku added after the schema was cut).
func (s *Schema) Definition(name string) (map[string]any, error) {
	return s.Resolve("#/definitions/" + name)
}

// Link returns the target schema of the hyper-schema link that serves
// method and path (a path with its identities filled in:
// /apps/crates-io/releases), and the link's title.
func (s *Schema) Link(method, path string) (map[string]any, string, error) {
	defs, _ := s.root["definitions"].(map[string]any)
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		def, _ := defs[n].(map[string]any)
		links, _ := def["links"].([]any)
		for _, l := range links {
			link, _ := l.(map[string]any)
			href, _ := link["href"].(string)
			m, _ := link["method"].(string)
			if !strings.EqualFold(m, method) || !hrefPattern(href).MatchString(path) {
				continue
			}
			target, ok := link["targetSchema"].(map[string]any)
			if !ok {
				return nil, "", fmt.Errorf("jsonschema: link %s %s has no targetSchema", m, href)
			}
			title, _ := link["title"].(string)
			return target, n + " " + title, nil
		}
	}
	return nil, "", fmt.Errorf("jsonschema: no link serves %s %s", method, path)
}

var hrefVar = regexp.MustCompile(`\{\([^)]*\)\}`)

func hrefPattern(href string) *regexp.Regexp {
	parts := hrefVar.Split(href, -1)
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, "[^/]+") + "$")
}

// Unchecked lists the patterns and formats the validator met and could not
// check.
func (s *Schema) Unchecked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.unchecked {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ValidateJSON decodes body (numbers kept exact) and validates it against
// schema, returning every problem found.
func (s *Schema) ValidateJSON(schema map[string]any, body []byte) []error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return []error{fmt.Errorf("$: not JSON: %w", err)}
	}
	if dec.More() {
		return []error{fmt.Errorf("$: more than one JSON value")}
	}
	return s.Validate(schema, v)
}

// Validate validates a decoded value (from a decoder with UseNumber)
// against schema.
func (s *Schema) Validate(schema map[string]any, v any) []error {
	var errs []error
	s.validate(schema, v, "$", &errs, 0)
	return errs
}

func (s *Schema) fail(errs *[]error, path, format string, args ...any) {
	*errs = append(*errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (s *Schema) validate(sch map[string]any, v any, path string, errs *[]error, depth int) {
	if depth > 64 {
		s.fail(errs, path, "schema nests deeper than 64 references")
		return
	}
	if ref, ok := sch["$ref"].(string); ok {
		target, err := s.Resolve(ref)
		if err != nil {
			s.fail(errs, path, "%v", err)
			return
		}
		s.validate(target, v, path, errs, depth+1)
		// draft 04: $ref stands for the whole schema; siblings are ignored
		return
	}
	if t, ok := sch["type"]; ok && !typeMatches(t, v) {
		s.fail(errs, path, "is %s, want type %v", typeName(v), t)
		return
	}
	if e, ok := sch["enum"].([]any); ok && !inEnum(e, v) {
		s.fail(errs, path, "%s is not one of %v", show(v), e)
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		alts, ok := sch[key].([]any)
		if !ok {
			continue
		}
		matched := 0
		var first []error
		for _, alt := range alts {
			altSch, _ := alt.(map[string]any)
			var altErrs []error
			s.validate(altSch, v, path, &altErrs, depth+1)
			if len(altErrs) == 0 {
				matched++
			} else if first == nil {
				first = altErrs
			}
		}
		if matched == 0 || (key == "oneOf" && matched > 1) {
			s.fail(errs, path, "matches %d of the %s alternatives (first mismatch: %v)", matched, key, first)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		s.validateObject(sch, x, path, errs, depth)
	case []any:
		if items, ok := sch["items"].(map[string]any); ok {
			for i, item := range x {
				s.validate(items, item, fmt.Sprintf("%s[%d]", path, i), errs, depth+1)
			}
		}
	case string:
		if f, ok := sch["format"].(string); ok {
			s.checkFormat(f, x, path, errs)
		}
		if p, ok := sch["pattern"].(string); ok {
			if re := s.pattern(p); re != nil && !re.MatchString(x) {
				s.fail(errs, path, "%q does not match pattern %s", x, p)
			}
		}
	case json.Number:
		if m, ok := sch["minimum"]; ok {
			min, _ := toFloat(m)
			if f, _ := x.Float64(); f < min {
				s.fail(errs, path, "%s is below the minimum %v", x, m)
			}
		}
	}
}

func (s *Schema) validateObject(sch map[string]any, obj map[string]any, path string, errs *[]error, depth int) {
	props, _ := sch["properties"].(map[string]any)
	strict, _ := sch["strictProperties"].(bool)
	required := map[string]bool{}
	if r, ok := sch["required"].([]any); ok {
		for _, name := range r {
			if n, ok := name.(string); ok {
				required[n] = true
			}
		}
	}
	if strict || (s.FullResources && len(props) > 0) {
		for name := range props {
			required[name] = true
		}
	}
	names := make([]string, 0, len(required))
	for n := range required {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := obj[n]; !ok {
			s.fail(errs, path, "lacks property %q", n)
		}
	}
	patternProps, _ := sch["patternProperties"].(map[string]any)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val, p := obj[k], path+"."+k
		known := false
		if ps, ok := props[k].(map[string]any); ok {
			known = true
			s.validate(ps, val, p, errs, depth+1)
		}
		for pat, ps := range patternProps {
			if re := s.pattern(pat); re != nil && re.MatchString(k) {
				known = true
				if m, ok := ps.(map[string]any); ok {
					s.validate(m, val, p, errs, depth+1)
				}
			}
		}
		if known {
			continue
		}
		switch ap := sch["additionalProperties"].(type) {
		case bool:
			if !ap {
				s.fail(errs, path, "has property %q, which the schema does not allow", k)
			}
		case map[string]any:
			s.validate(ap, val, p, errs, depth+1)
		default:
			if strict {
				s.fail(errs, path, "has property %q, which the schema does not list (strictProperties)", k)
			}
		}
	}
}

func (s *Schema) pattern(p string) *regexp.Regexp {
	s.mu.Lock()
	defer s.mu.Unlock()
	if re, ok := s.patterns[p]; ok {
		return re
	}
	re, err := regexp.Compile(p)
	if err != nil {
		s.unchecked["pattern "+p] = true
		re = nil
	}
	s.patterns[p] = re
	return re
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

func (s *Schema) checkFormat(f, v, path string, errs *[]error) {
	ok := true
	switch f {
	case "date-time":
		_, err := time.Parse(time.RFC3339, v)
		ok = err == nil
	case "date":
		_, err := time.Parse(time.DateOnly, v)
		ok = err == nil
	case "uuid":
		ok = uuidRE.MatchString(v)
	case "email":
		ok = emailRE.MatchString(v)
	case "uri":
		u, err := url.Parse(v)
		ok = err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
	case "ipv4":
		ip := net.ParseIP(v)
		ok = ip != nil && ip.To4() != nil && strings.Contains(v, ".")
	default:
		s.mu.Lock()
		s.unchecked["format "+f] = true
		s.mu.Unlock()
	}
	if !ok {
		s.fail(errs, path, "%q is not of format %s", v, f)
	}
}

func typeMatches(t any, v any) bool {
	switch x := t.(type) {
	case string:
		return isType(x, v)
	case []any:
		for _, name := range x {
			if n, ok := name.(string); ok && isType(n, v) {
				return true
			}
		}
		return false
	}
	return true
}

func isType(name string, v any) bool {
	switch name {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && f == float64(int64(f)) && !strings.ContainsAny(n.String(), ".eE")
	}
	return false
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		if isType("integer", x) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func inEnum(e []any, v any) bool {
	for _, x := range e {
		if equal(x, v) {
			return true
		}
	}
	return false
}

func equal(schemaValue, v any) bool {
	if n, ok := v.(json.Number); ok {
		a, _ := n.Float64()
		b, ok := toFloat(schemaValue)
		return ok && a == b
	}
	return fmt.Sprint(schemaValue) == fmt.Sprint(v) && typeName(v) == typeName(normalize(schemaValue))
}

func normalize(v any) any {
	if f, ok := v.(float64); ok {
		return json.Number(fmt.Sprint(f))
	}
	return v
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
