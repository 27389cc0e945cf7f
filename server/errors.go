package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Handlers return it;
// writeError renders it in one place (httpapi.Error).
type Error = httpapi.Error

// writeError renders an OAuth error (RFC 6749 §5.2). The cause goes to the
// log, never to the client.
func (s *Server) writeError(c *gin.Context, e *Error) { httpapi.WriteError(c, s.log, e) }

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

// serverError is the 503 answer to a storage or key failure
// (httpapi.ServerError).
func serverError(cause error) *Error { return httpapi.ServerError(cause) }
