package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2); the admin API
// answers with the same shape. Handlers return it; WriteError renders it
// in one place. Cause is for the log only and never reaches the client.
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

// ServerError is the answer to a failure of the server's own (storage,
// keys): 503 so that clients retry; never a 500 page.
func ServerError(cause error) *Error {
	return &Error{Code: "temporarily_unavailable", Description: "the server cannot handle the request now; retry later", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Cause: cause}
}

// WriteError renders e (RFC 6749 §5.2) and aborts the request. The cause
// of a 5xx answer goes to log, with the request id, never to the client.
func WriteError(c *gin.Context, log *slog.Logger, e *Error) {
	if e.Status >= 500 {
		log.Error("request failed", "path", c.Request.URL.Path, "request_id", RequestID(c), "error", e.Error())
	}
	NoStore(c)
	if e.BasicChallenge {
		c.Header("WWW-Authenticate", `Basic realm="authd"`)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
	c.Data(e.Status, "application/json", body)
	c.Abort()
}

func retryAfterSeconds(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}

// NoStore forbids caching of the answer (RFC 6749 §5.1). It is also a
// gin middleware: it sets the headers and lets the chain go on.
func NoStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

// InvalidToken is the 401 answer for a bearer access token that is not
// accepted (RFC 6750 §3.1).
func InvalidToken(desc string) *Error {
	return &Error{Code: "invalid_token", Description: desc, Status: http.StatusUnauthorized}
}
