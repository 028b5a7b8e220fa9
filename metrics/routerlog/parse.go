// Package routerlog turns Heroku router log lines into per-second counts of
// an app's guarded routes (and, with all_routes, of templates of its other
// paths): requests, errors (5xx and router errors), repeats (the
// same client asking for the same path within 60 s: the retry signature)
// and a histogram of response times (connect + service).
//
// Lines come in two ways: a log session (POST /apps/{app}/log-sessions, then
// a stream of lines; it works from a worker with no public URL) or an HTTPS
// log drain (octet-counted syslog frames). Lines that do not parse are
// counted and skipped. Lost lines (logplex L10 / L11) mark their seconds as
// missing data: no data is no evidence.
package routerlog

import (
	"bytes"
	"errors"
	"strconv"
)

// Line is one parsed router line. Its byte slices point into the input: they
// are valid until the input is reused.
type Line struct {
	Unix    int64 // the line's timestamp, whole seconds
	Error   bool  // at=error
	Code    []byte
	Method  []byte
	Path    []byte
	Host    []byte
	Fwd     []byte // the first address of fwd: the client
	Status  int
	Connect int  // ms; 0 when empty
	Service int  // ms; 0 when empty
	Timed   bool // service= has a value: the line has a response time
	// TimeErr is ErrBadConnect or ErrBadService when a time did not read:
	// the line is still a request (counted; an unread time must never
	// read as lost traffic, a rate collapse), only untimed.
	TimeErr error
	Bytes   int64
}

// Errors the parser reports; they never hold input, so they do not allocate.
var (
	ErrNotRouter    = errors.New("not a router line")
	ErrBadTimestamp = errors.New("bad timestamp")
	ErrMalformed    = errors.New("malformed key=value")
	ErrBadConnect   = errors.New("bad connect= time")
	ErrBadService   = errors.New("bad service= time")
)

// maxMillis bounds connect= and service= (an hour): a longer time, like a
// negative one or one without "ms", is a corrupt line, not a slow request.
const maxMillis = 3_600_000

// ParseLine parses one line as a log session streams it
// ("2023-07-20T12:30:31.123456+00:00 heroku[router]: at=info method=GET ...")
// or as a drain frame carries it ("<158>1 2023-07-20T12:30:31+00:00 host
// heroku router - at=info ..."). It allocates nothing.
func ParseLine(b []byte, out *Line) error {
	*out = Line{}
	h, ok := header(b)
	if !ok || string(h.source) != "heroku" || string(h.proc) != "router" {
		return ErrNotRouter
	}
	u, err := parseTimestamp(h.ts)
	if err != nil {
		return err
	}
	out.Unix = u
	return parseFields(h.msg, out)
}

// logHeader is who wrote a log line, when, and what: source "heroku" and
// process "router" for the router, "app" and "api" for Heroku's API,
// "heroku" and "logplex" for logplex's own reports. Its slices point into
// the line.
type logHeader struct {
	ts, source, proc, msg []byte
}

// header reads a log line's header, as a log session streams it
// ("TIMESTAMP SOURCE[PROC]: MSG") or as a drain frame carries it
// ("<PRI>1 TIMESTAMP HOST SOURCE PROC MSGID MSG"): the fields where they
// stand, never the words anywhere in the line, where an app's own message
// may have them. It allocates nothing.
func header(b []byte) (logHeader, bool) {
	var h logHeader
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > 0 && b[0] == '<' {
		i := bytes.IndexByte(b, '>')
		if i < 0 {
			return h, false
		}
		_, rest, ok := cut(b[i+1:]) // the syslog version
		if !ok {
			return h, false
		}
		if h.ts, rest, ok = cut(rest); !ok {
			return h, false
		}
		if _, rest, ok = cut(rest); !ok { // the host (a drain's token)
			return h, false
		}
		if h.source, rest, ok = cut(rest); !ok {
			return h, false
		}
		h.proc, rest, ok = cut(rest)
		if ok {
			_, h.msg, _ = cut(rest) // after the MSGID, "-"
		}
		return h, true
	}
	ts, rest, ok := cut(b)
	if !ok {
		return h, false
	}
	tag, msg, _ := cut(rest)
	open := bytes.IndexByte(tag, '[')
	if open <= 0 || !bytes.HasSuffix(tag, []byte("]:")) {
		return h, false
	}
	h.ts, h.source, h.proc, h.msg = ts, tag[:open], tag[open+1:len(tag)-2], msg
	return h, true
}

func cut(b []byte) (before, after []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil, false
	}
	return b[:i], b[i+1:], true
}

// parseFields reads key=value pairs: values bare, "quoted" (with \" escapes
// left as they are) or empty.
func parseFields(b []byte, out *Line) error {
	seenAt, badConnect, badService := false, false, false
	for {
		for len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
		if len(b) == 0 {
			break
		}
		eq := bytes.IndexByte(b, '=')
		sp := bytes.IndexByte(b, ' ')
		if eq <= 0 || (sp >= 0 && sp < eq) {
			return ErrMalformed
		}
		key := b[:eq]
		b = b[eq+1:]
		var val []byte
		if len(b) > 0 && b[0] == '"' {
			end := 1
			for end < len(b) && b[end] != '"' {
				if b[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(b) {
				return ErrMalformed
			}
			val, b = b[1:end], b[end+1:]
		} else {
			end := bytes.IndexByte(b, ' ')
			if end < 0 {
				end = len(b)
			}
			val, b = b[:end], b[end:]
		}
		switch string(key) { // the compiler does not allocate for this switch
		case "at":
			seenAt = true
			out.Error = string(val) == "error"
		case "code":
			out.Code = val
		case "method":
			out.Method = val
		case "path":
			out.Path = val
		case "host":
			out.Host = val
		case "fwd":
			if c := bytes.IndexByte(val, ','); c >= 0 {
				val = val[:c]
			}
			out.Fwd = bytes.TrimSpace(val)
		case "status":
			out.Status, _ = atoi(val)
		case "connect":
			ms, _, ok := millis(val)
			badConnect = !ok
			out.Connect = ms
		case "service":
			ms, given, ok := millis(val)
			badService = !ok
			out.Service, out.Timed = ms, given
		case "bytes":
			n, _ := atoi(val)
			out.Bytes = int64(n)
		}
	}
	if !seenAt {
		return ErrNotRouter
	}
	// The line's last connect= and service= decide.
	switch {
	case badConnect:
		out.TimeErr = ErrBadConnect
	case badService:
		out.TimeErr = ErrBadService
	}
	return nil
}

// millis reads a router time, "12ms", up to maxMillis; empty is no time
// (given false), which Heroku writes where the request reached no dyno.
func millis(val []byte) (ms int, given, ok bool) {
	if len(val) == 0 {
		return 0, false, true
	}
	digits, hasUnit := bytes.CutSuffix(val, []byte("ms"))
	n, isNum := atoi(digits)
	if !hasUnit || !isNum || n > maxMillis {
		return 0, false, false
	}
	return n, true, true
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseTimestamp reads an RFC 3339 timestamp to whole Unix seconds without
// allocating (time.Parse allocates a zone for a numeric offset).
func parseTimestamp(b []byte) (int64, error) {
	// 2006-01-02T15:04:05[.frac](Z|+07:00)
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, ErrBadTimestamp
	}
	num := func(s []byte) int {
		n, ok := atoi(s)
		if !ok {
			return -1
		}
		return n
	}
	y, mo, d := num(b[0:4]), num(b[5:7]), num(b[8:10])
	h, mi, s := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 {
		return 0, ErrBadTimestamp
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num(rest[1:3]), num(rest[4:6])
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, ErrBadTimestamp
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, ErrBadTimestamp
	}
	return daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s-offset), nil
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d (Howard
// Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// Failed reports whether the request counts as an error: a router error
// (at=error, an H-code) or a 5xx answer.
func (l *Line) Failed() bool { return l.Error || l.Status >= 500 }

// ResponseTime is how long the request took in milliseconds, connect +
// service, and whether the line says: router errors that reach no dyno
// (H10, H14, ...) leave both empty. An empty connect= beside a service=
// counts as 0, as in Heroku's H12 example ("connect= service=30000ms"), so
// timeouts stay in the tail.
func (l *Line) ResponseTime() (ms int, ok bool) {
	if !l.Timed || l.TimeErr != nil {
		return 0, false
	}
	return l.Connect + l.Service, true
}

// String is for debugging; it allocates.
func (l *Line) String() string {
	return string(l.Method) + " " + string(l.Path) + " " + strconv.Itoa(l.Status)
}
