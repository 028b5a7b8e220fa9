package herokusim_test

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/message"
)

// apiSchema is Heroku's Platform API schema (draft 04 hyper-schema, as
// interagent's prmd writes it), validated with santhosh-tekuri/jsonschema
// and two rules of Heroku's that the library does not know:
//
//   - strictProperties, prmd's keyword from the JSON Schema v5 proposals:
//     the object has every property of "properties" and no other
//     (java-json-tools/json-schema-validator wiki, "v5: strictProperties");
//   - full resources: the schema lists no "required" for its resources;
//     Heroku answers every property of a resource, null where it has no
//     value ("Provide full resources where available", interagent/http-api-
//     design), so every object schema that lists properties asks for all of
//     them, without refusing properties it does not list.
//
// A pattern Go's regexp cannot compile (it has no look-ahead) is not
// checked, and said (unchecked), rather than passed in silence.
type apiSchema struct {
	doc      map[string]any
	compiler *jsonschema.Compiler

	mu        sync.Mutex
	unchecked map[string]bool
}

// schemaURL is the schema's own id, the base of its "#/definitions/..."
// references.
const schemaURL = "http://api.heroku.com/schema"

// metaschemas the document names in $schema: interagent's hyper-schema and
// draft 04's are draft 04 schemas with links, which validation ignores.
var metaschemas = []string{
	"http://interagent.github.io/interagent-hyper-schema",
	"http://json-schema.org/draft-04/hyper-schema",
}

// newAPISchema reads the schema document; edit, if given, changes the
// decoded document before the validator sees it.
func newAPISchema(data []byte, edit func(doc map[string]any) error) (*apiSchema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("heroku schema: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("heroku schema: not an object")
	}
	if edit != nil {
		if err := edit(doc); err != nil {
			return nil, err
		}
	}
	s := &apiSchema{doc: doc, unchecked: map[string]bool{}}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	c.UseRegexpEngine(s.compileRegexp)
	c.RegisterVocabulary(&jsonschema.Vocabulary{URL: "urn:relwatch:heroku-full-resources", Compile: compileFullResource})
	for _, m := range metaschemas {
		if err := c.AddResource(m, map[string]any{"$schema": "http://json-schema.org/draft-04/schema#", "$ref": "http://json-schema.org/draft-04/schema#"}); err != nil {
			return nil, err
		}
	}
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s.compiler = c
	return s, nil
}

// definition returns a top-level definition ("app") of the document, for
// changes a test needs (properties Heroku added after the schema was cut).
func definition(doc map[string]any, name string) (map[string]any, error) {
	defs, _ := doc["definitions"].(map[string]any)
	def, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("heroku schema: no definition %q", name)
	}
	return def, nil
}

// add compiles a schema of the test's own (Heroku's error body) at url.
func (s *apiSchema) add(url, doc string) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	if err := s.compiler.AddResource(url, v); err != nil {
		return nil, err
	}
	return s.compiler.Compile(url)
}

// Link returns the compiled target schema of the hyper-schema link that
// serves method and path (a path with its identities filled in:
// /apps/crates-io/releases), and the link's title: the first such link in
// the order of the definitions' names and of their links.
func (s *apiSchema) Link(method, path string) (*jsonschema.Schema, string, error) {
	defs, _ := s.doc["definitions"].(map[string]any)
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		def, _ := defs[n].(map[string]any)
		links, _ := def["links"].([]any)
		for i, l := range links {
			link, _ := l.(map[string]any)
			href, _ := link["href"].(string)
			m, _ := link["method"].(string)
			if !strings.EqualFold(m, method) || !hrefPattern(href).MatchString(path) {
				continue
			}
			if _, ok := link["targetSchema"].(map[string]any); !ok {
				return nil, "", fmt.Errorf("heroku schema: link %s %s has no targetSchema", m, href)
			}
			title, _ := link["title"].(string)
			sch, err := s.compiler.Compile(fmt.Sprintf("%s#/definitions/%s/links/%d/targetSchema", schemaURL, n, i))
			if err != nil {
				return nil, "", err
			}
			return sch, n + " " + title, nil
		}
	}
	return nil, "", fmt.Errorf("heroku schema: no link serves %s %s", method, path)
}

var hrefVar = regexp.MustCompile(`\{\([^)]*\)\}`)

func hrefPattern(href string) *regexp.Regexp {
	parts := hrefVar.Split(href, -1)
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, "[^/]+") + "$")
}

// Unchecked lists the patterns the validator met and could not check.
func (s *apiSchema) Unchecked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.unchecked {
		out = append(out, "pattern "+k)
	}
	sort.Strings(out)
	return out
}

// validate decodes body (numbers kept exact) and validates it against sch,
// returning every problem found, each with the JSON pointer of its place:
// `at "/region": lacks property "name" (strictProperties)`.
func validate(sch *jsonschema.Schema, body []byte) []string {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []string{fmt.Sprintf("not JSON: %v", err)}
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []string{err.Error()}
	}
	var out []string
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, fmt.Sprintf("at %q: %s", "/"+strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(printer)))
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	return out
}

var printer = message.NewPrinter(message.MatchLanguage("en"))

// compileRegexp is Go's regexp, but a pattern it cannot compile matches
// everything and is listed as unchecked.
func (s *apiSchema) compileRegexp(p string) (jsonschema.Regexp, error) {
	re, err := regexp.Compile(p)
	if err == nil {
		return re, nil
	}
	s.mu.Lock()
	s.unchecked[p] = true
	s.mu.Unlock()
	return uncheckedRegexp(p), nil
}

type uncheckedRegexp string

func (uncheckedRegexp) MatchString(string) bool { return true }
func (r uncheckedRegexp) String() string        { return string(r) }

// fullResource is the rule of an object schema that lists properties: the
// object has every one of them and, with strictProperties (and no
// additionalProperties to say otherwise), no other.
type fullResource struct {
	props    []string
	strict   bool
	patterns []*regexp.Regexp
}

func compileFullResource(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
	props, _ := obj["properties"].(map[string]any)
	strict, _ := obj["strictProperties"].(bool)
	if len(props) == 0 && !strict {
		return nil, nil
	}
	f := &fullResource{strict: strict}
	for n := range props {
		f.props = append(f.props, n)
	}
	sort.Strings(f.props)
	if _, ok := obj["additionalProperties"]; ok {
		f.strict = false
	}
	pp, _ := obj["patternProperties"].(map[string]any)
	for p := range pp {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("patternProperties %q: %w", p, err)
		}
		f.patterns = append(f.patterns, re)
	}
	return f, nil
}

func (f *fullResource) Validate(ctx *jsonschema.ValidatorContext, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	var missing, extra []string
	for _, n := range f.props {
		if _, ok := obj[n]; !ok {
			missing = append(missing, n)
		}
	}
	if f.strict {
		for k := range obj {
			if !slices.Contains(f.props, k) && !slices.ContainsFunc(f.patterns, func(re *regexp.Regexp) bool { return re.MatchString(k) }) {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
	}
	if len(missing) > 0 {
		ctx.AddError(&lacksProperties{missing, f.strict})
	}
	if len(extra) > 0 {
		ctx.AddError(&unlistedProperties{extra})
	}
}

type lacksProperties struct {
	names  []string
	strict bool
}

func (k *lacksProperties) KeywordPath() []string {
	if k.strict {
		return []string{"strictProperties"}
	}
	return []string{"properties"}
}

func (k *lacksProperties) LocalizedString(p *message.Printer) string {
	why := "a full resource"
	if k.strict {
		why = "strictProperties"
	}
	return p.Sprintf("lacks property %s (%s)", quoteAll(k.names), why)
}

type unlistedProperties struct{ names []string }

func (*unlistedProperties) KeywordPath() []string { return []string{"strictProperties"} }

func (k *unlistedProperties) LocalizedString(p *message.Printer) string {
	return p.Sprintf("has property %s, which the schema does not list (strictProperties)", quoteAll(k.names))
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
