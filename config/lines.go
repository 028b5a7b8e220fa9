package config

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// keyLine is where a key (or a table) is in the file: its path the way
// every error spells it ("apps[1].metrics.source"), and its line, from 1.
type keyLine struct {
	path string
	line int
}

var (
	tableHeader = regexp.MustCompile(`^\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$`)
	arrayHeader = regexp.MustCompile(`^\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$`)
	keyValue    = regexp.MustCompile(`^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=`)
)

// keyLines lists the tables and keys of raw TOML with their lines. It reads
// the file the way a person does: headers and "key =" lines; a value that
// spans lines (a multi-line string or array) is skipped until a line that
// looks like a key or a header again. Good enough to point at a line, never
// used to read a value.
func keyLines(raw []byte) []keyLine {
	var out []keyLine
	arrays := map[string]int{} // array-of-tables plain path -> its last index
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	inString := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if inString {
			if strings.Count(line, `"""`)%2 == 1 || strings.Count(line, `'''`)%2 == 1 {
				inString = false
			}
			continue
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case arrayHeader.MatchString(line):
			plain := dotted(arrayHeader.FindStringSubmatch(line)[1])
			beginTable(arrays, plain)
			table = indexed(plain, arrays)
			out = append(out, keyLine{path: table, line: n})
		case tableHeader.MatchString(line):
			table = indexed(dotted(tableHeader.FindStringSubmatch(line)[1]), arrays)
			out = append(out, keyLine{path: table, line: n})
		case keyValue.MatchString(line):
			key := dotted(keyValue.FindStringSubmatch(line)[1])
			out = append(out, keyLine{path: join(table, key), line: n})
			if v := line[len(keyValue.FindString(line)):]; strings.Count(v, `"""`)%2 == 1 || strings.Count(v, `'''`)%2 == 1 {
				inString = true
			}
		}
	}
	return out
}

// dotted is a TOML key with its parts unquoted and no spaces around dots.
func dotted(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// beginTable counts one more table of the array of tables at plain (its
// path without indexes): the first is [0].
func beginTable(arrays map[string]int, plain string) {
	idx, seen := arrays[plain]
	if seen {
		idx++
	}
	arrays[plain] = idx
}

// indexed gives each array-of-tables prefix of plain its current index:
// "apps.metrics" after the second [[apps]] is "apps[1].metrics".
func indexed(plain string, arrays map[string]int) string {
	parts := strings.Split(plain, ".")
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
		if idx, ok := arrays[strings.Join(parts[:i+1], ".")]; ok {
			fmt.Fprintf(&b, "[%d]", idx)
		}
	}
	return b.String()
}

func join(table, key string) string {
	if table == "" {
		return key
	}
	return table + "." + key
}

// lineOf is the line of path: its own, else (a required key that is not
// there) its table's; 0 when the file does not say.
func lineOf(lines []keyLine, path string) int {
	for p := path; p != ""; {
		for _, k := range lines {
			if k.path == p {
				return k.line
			}
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// atLines puts each problem's line before it: "line 12: apps[0].name:
// required". A problem's path is what comes before its first ": ".
func atLines(errs []error, lines []keyLine) error {
	out := make([]error, 0, len(errs))
	for _, err := range errs {
		path, _, _ := strings.Cut(err.Error(), ": ")
		if n := lineOf(lines, path); n > 0 && !strings.ContainsAny(path, " ") {
			err = &lineError{line: n, err: err}
		}
		out = append(out, err)
	}
	// In the file's order; those it cannot place last, as found.
	slices.SortStableFunc(out, func(a, b error) int { return cmp.Compare(lineNo(a), lineNo(b)) })
	return errors.Join(out...)
}

// lineNo is a problem's line for sorting: past any line when unknown.
func lineNo(err error) int {
	var le *lineError
	if errors.As(err, &le) {
		return le.line
	}
	var de *DecodeError // says its line itself
	if errors.As(err, &de) && de.Line > 0 {
		return de.Line
	}
	return math.MaxInt
}

// lineError is a problem with its line.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// InFile is err said of a file (what: "config relwatch.toml"): every line
// of it, one a problem when several are joined, begins with what, so that
// each reads (and greps) alone.
func InFile(what string, err error) error { return &fileError{what: what, err: err} }

type fileError struct {
	what string
	err  error
}

func (e *fileError) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = e.what + ": " + l
	}
	return strings.Join(lines, "\n")
}

func (e *fileError) Unwrap() error { return e.err }

// Located puts each of errs, problems of the TOML raw named by their key
// paths ("releases[1].status: ..."), at its line, in the file's order: how
// every TOML file relwatch reads says where a problem is.
func Located(raw []byte, errs []error) error { return atLines(errs, keyLines(raw)) }

// ReadError is the TOML decoder's error on raw in the words the
// configuration's are: its line, its indexed key, TOML's type names.
func ReadError(raw []byte, err error) error {
	return decodeError(err).inTOMLWords(raw, keyLines(raw))
}
