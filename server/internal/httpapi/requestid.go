package httpapi

import (
	"context"

	"github.com/gin-gonic/gin"
)

// RequestIDHeader carries a request's id, in the request (when the client
// sends a well-formed one) and always in the response.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request it serves, for a
// handler mounted as a plain http.Handler (the admin API under the public
// router), which cannot see the router's response before it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// SetRequestID gives the request being served its id: the server's request
// log calls it first thing, before any handler runs.
func SetRequestID(c *gin.Context, id string) {
	c.Writer.Header()[RequestIDHeader] = []string{id}
}

// RequestID returns the id of the request c serves: the one its context
// carries (WithRequestID), else the one SetRequestID gave it, else "".
//
// Within a router the id is read from the response being built rather than
// put in the request's context: a context value costs every request three
// allocations (the value, the context, the request's copy), about a sixth
// of a JWKS request's CPU time, for an id only read when something fails.
func RequestID(c *gin.Context) string {
	if id, ok := c.Request.Context().Value(requestIDKey{}).(string); ok {
		return id
	}
	if v := c.Writer.Header()[RequestIDHeader]; len(v) > 0 {
		return v[0]
	}
	return ""
}
