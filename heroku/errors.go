package heroku

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// APIError is an answer from Heroku that was not a success: the HTTP status
// and Heroku's error id ("unauthorized", "not_found", "rate_limit", ...).
type APIError struct {
	Op         string
	Status     int
	ID         string
	Message    string
	RetryAfter time.Duration // from Retry-After, when Heroku sent one
	RequestID  string        // Heroku's Request-Id for the exchange, when it sent one
}

// RetryIn implements wait.Hint: Heroku's Retry-After.
func (e *APIError) RetryIn() time.Duration { return e.RetryAfter }

// HTTPStatus is Heroku's answer's status, for callers that know no heroku
// types (a log session's start).
func (e *APIError) HTTPStatus() int { return e.Status }

func (e *APIError) Error() string {
	id := e.ID
	if id == "" {
		id = "no error id"
	}
	return fmt.Sprintf("%s: Heroku answered %d %s: %s%s", e.Op, e.Status, id, e.Message, requestIDSuffix(e.RequestID))
}

// BadAnswerError is a success status from Heroku whose body could not be
// read: cut short, not JSON, or JSON of another shape. Heroku answered 2xx,
// so it may well have acted: a caller must look (read the state again)
// before it decides anything, as after a lost answer.
type BadAnswerError struct {
	Op        string
	Status    int
	Problem   string // what was wrong with the body: "was cut short", "is not valid JSON", ...
	RequestID string // Heroku's Request-Id for the exchange, when it sent one
	Err       error  // the decoder's or the connection's error
}

func (e *BadAnswerError) Error() string {
	return fmt.Sprintf("%s: Heroku answered %d %s, but the body %s (%v)%s",
		e.Op, e.Status, http.StatusText(e.Status), e.Problem, e.Err, requestIDSuffix(e.RequestID))
}

func (e *BadAnswerError) Unwrap() error { return e.Err }

func requestIDSuffix(id string) string {
	if id == "" {
		return ""
	}
	return "; Request-Id " + id
}

// TransportError is a request that got no answer from Heroku: a refused or
// dropped connection, a timeout. Whether the server acted on it is unknown.
type TransportError struct {
	Op  string
	Err error
}

func (e *TransportError) Error() string { return e.Op + ": no answer from Heroku: " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable reports whether trying the same request again may succeed: a
// 429, a 5xx, a timeout, a lost connection or a success whose body could not
// be read may; a 401, 403, 404 or 422 will not, and neither will a request
// whose context is done. A caller that changes something (a rollback) must
// read the state before it tries again: the first request may have acted.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	var te *TransportError
	var be *BadAnswerError
	return errors.As(err, &te) || errors.As(err, &be)
}

// IsNotFound reports whether Heroku answered 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsUnauthorized reports whether Heroku refused the token (401 or 403).
func IsUnauthorized(err error) bool {
	return hasStatus(err, http.StatusUnauthorized) || hasStatus(err, http.StatusForbidden)
}

// IsRateLimited reports whether Heroku answered 429 rate_limit.
func IsRateLimited(err error) bool { return hasStatus(err, http.StatusTooManyRequests) }

func hasStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}
