package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Handlers return it;
// writeError renders it in one place. Cause is for the log only and never
// reaches the client.
type Error struct {
	Code        string
	Description string
	Status      int
	// RetryAfter sets the Retry-After header (429, 503).
	RetryAfter time.Duration
	// BasicChallenge adds WWW-Authenticate: Basic realm="authd" (401 when the
	// client tried Basic authentication).
	BasicChallenge bool
	Cause          error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Cause)
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

func oauthErr(status int, code, desc string) *Error {
	return &Error{Code: code, Description: desc, Status: status}
}

func invalidRequest(desc string) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_request", desc)
}

func invalidGrant(desc string) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_grant", desc)
}

func invalidScope(desc string) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_scope", desc)
}

func invalidClient(desc string, basic bool) *Error {
	return &Error{Code: "invalid_client", Description: desc, Status: http.StatusUnauthorized, BasicChallenge: basic}
}

func unauthorizedClient(desc string) *Error {
	return oauthErr(http.StatusBadRequest, "unauthorized_client", desc)
}

func serverError(cause error) *Error {
	// Storage failures: 503 so that clients retry; never a 500 page.
	return &Error{Code: "temporarily_unavailable", Description: "the server cannot handle the request now; retry later", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Cause: cause}
}

func retryAfterSeconds(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
