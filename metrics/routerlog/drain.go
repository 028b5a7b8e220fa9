package routerlog

import (
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
)

// ErrFrame is a body that is not a run of octet-counted frames.
var ErrFrame = errors.New("malformed octet-counted frame")

// SplitFrames calls fn with each frame of an application/logplex-1 body:
// "<length> <syslog message>" repeated, the length in decimal. It returns
// the frames read and ErrFrame (with what came before it delivered) when the
// body stops making sense. It allocates nothing.
func SplitFrames(body []byte, fn func(frame []byte)) (int, error) {
	n := 0
	for len(body) > 0 {
		for len(body) > 0 && (body[0] == '\n' || body[0] == '\r') {
			body = body[1:]
		}
		if len(body) == 0 {
			break
		}
		sp := 0
		for sp < len(body) && sp < 8 && body[sp] >= '0' && body[sp] <= '9' {
			sp++
		}
		if sp == 0 || sp >= len(body) || body[sp] != ' ' {
			return n, ErrFrame
		}
		size, _ := atoi(body[:sp])
		body = body[sp+1:]
		if size <= 0 || size > len(body) {
			return n, ErrFrame
		}
		fn(body[:size])
		n++
		body = body[size:]
	}
	return n, nil
}

// Drain is an HTTPS log drain endpoint (heroku drains:add
// https://user:pass@host/drain): it checks the drain's credentials and
// feeds the router lines into the aggregator.
//
// Its answers make Logplex retry only when retrying helps: 2xx once the
// batch is read (garbage frames are counted and skipped: sending them again
// would not mend them), 401 for wrong credentials, 415/405/413 for requests
// that are not drain batches, 503 when the body could not be read whole.
type Drain struct {
	Agg *Aggregator
	// User and Password, when set, are the basic-auth credentials in the
	// drain URL; Token, when set, must equal the Logplex-Drain-Token header.
	User, Password, Token string
	Logger                *slog.Logger
}

// maxBatch bounds one drain request; Logplex sends far smaller batches.
const maxBatch = 4 << 20

func (d *Drain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "drains POST", http.StatusMethodNotAllowed)
		return
	}
	if !d.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="relwatch drain"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/logplex-1" {
		http.Error(w, "want Content-Type application/logplex-1", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatch))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "batch too large", http.StatusRequestEntityTooLarge)
			return
		}
		// A body cut short: sending it again may well work.
		http.Error(w, "could not read the batch", http.StatusServiceUnavailable)
		return
	}
	frames, ferr := SplitFrames(body, func(frame []byte) {
		if lostLine(d.Agg, frame) {
			return
		}
		if sec := d.Agg.Add(frame); sec != 0 {
			d.Agg.Heard(sec)
		}
	})
	if ferr != nil {
		d.Agg.Malformed()
	}
	if want := r.Header.Get("Logplex-Msg-Count"); want != "" {
		if n, err := strconv.Atoi(want); err == nil && n != frames && d.Logger != nil {
			d.Logger.Warn("drain batch frame count differs from Logplex-Msg-Count", "want", n, "got", frames, "frame_id", r.Header.Get("Logplex-Frame-Id"))
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Drain) authorized(r *http.Request) bool {
	ok := true
	if d.User != "" || d.Password != "" {
		u, p, has := r.BasicAuth()
		ok = has && subtle.ConstantTimeCompare([]byte(u), []byte(d.User)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(d.Password)) == 1
	}
	if d.Token != "" {
		ok = ok && subtle.ConstantTimeCompare([]byte(r.Header.Get("Logplex-Drain-Token")), []byte(d.Token)) == 1
	}
	return ok
}
