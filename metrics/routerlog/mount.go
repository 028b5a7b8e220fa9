package routerlog

import (
	"net/http"
	"strings"
)

// Handle serves h at pattern (an http.ServeMux pattern outside /drain/:
// relwatch's /metrics) on the drains' listener, under the same limits: the
// header, body, write and idle timeouts and the connection cap (a body h
// leaves unread is read by net/http within the body timeout, then the
// connection is closed). Call it before Serve.
func (s *DrainServer) Handle(pattern string, h http.Handler) {
	if s.beside == nil {
		s.beside = http.NewServeMux()
	}
	s.beside.Handle(pattern, h)
}

// mounted returns the handler Handle mounted for r, and its pattern ("":
// none, the request is a drain's or nobody's).
func (s *DrainServer) mounted(r *http.Request) (http.Handler, string) {
	if s.beside == nil || strings.HasPrefix(r.URL.Path, "/drain/") {
		return nil, ""
	}
	return s.beside.Handler(r)
}
