package server

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
)

// userInfo is the UserInfo response (OpenID Connect Core 1.0 §5.3.2).
type userInfo struct {
	Subject           string `json:"sub"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// handleUserInfo implements the UserInfo endpoint (OpenID Connect Core 1.0
// §5.3, SPEC 2.7) for GET and POST. The access token comes as a bearer
// token in the Authorization header (RFC 6750 §2.1) or, on a POST, in a
// form-encoded body's access_token parameter (§2.2); never in the URL
// (SPEC 2.1: credentials never travel in URLs), and never by two methods
// at once (§2: invalid_request). It is verified as introspection does:
// signature, issuer, expiry, the deny list, and whether its user and
// client are still the ones it was issued to (tokenCurrent). A missing
// token is 401 with a bare Bearer challenge; one that is not accepted 401
// error="invalid_token"; a user's token without openid, or a client's own
// token, 403 error="insufficient_scope".
func (s *Server) handleUserInfo(c *gin.Context) {
	ctx := c.Request.Context()
	tok, e := s.userInfoToken(c.Request)
	if e != nil {
		s.bearerError(c, e)
		return
	}
	ac, err := s.verifyAccessToken(ctx, tok)
	if errors.Is(err, errTokenInvalid) {
		s.bearerError(c, httpapi.InvalidToken("the access token is invalid, expired or revoked"))
		return
	}
	if err != nil {
		s.writeError(c, serverError(err))
		return
	}
	current, err := s.tokenCurrent(ctx, ac)
	if err != nil {
		s.writeError(c, serverError(err))
		return
	}
	if !current {
		s.bearerError(c, httpapi.InvalidToken("the access token is invalid, expired or revoked"))
		return
	}
	if !ac.HasScope(ScopeOpenID) || (ac.SessionGen == nil && ac.Subject == ac.ClientID) {
		s.bearerError(c, &Error{Code: "insufficient_scope", Description: "the access token was not issued for a user with scope openid", Status: http.StatusForbidden})
		return
	}
	info := userInfo{Subject: ac.Subject}
	if ac.HasScope(ScopeProfile) {
		info.PreferredUsername = ac.Username
	}
	body, err := json.Marshal(info)
	if err != nil {
		s.writeError(c, serverError(err))
		return
	}
	httpapi.NoStore(c)
	c.Data(http.StatusOK, "application/json", body)
}

// errNoBearer is the 401 answer to a request without an access token: RFC
// 6750 §3.1 gives it no error code in the challenge.
var errNoBearer = &Error{Code: "unauthorized", Description: "a bearer access token is required", Status: http.StatusUnauthorized}

// userInfoToken extracts the access token of a UserInfo request (see
// handleUserInfo for where it may be).
func (s *Server) userInfoToken(r *http.Request) (string, *Error) {
	if q := r.URL.Query(); q.Has("access_token") {
		return "", invalidRequest("the access token must not be sent in the URL")
	}
	vals := r.Header.Values("Authorization")
	if len(vals) > 1 {
		return "", invalidRequest("more than one Authorization header")
	}
	var fromBody string
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/x-www-form-urlencoded" {
			f, e := readForm(r)
			if e != nil {
				return "", e
			}
			fromBody = f.get("access_token")
		}
	}
	if len(vals) == 0 {
		if fromBody == "" {
			return "", errNoBearer
		}
		return fromBody, nil
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		if fromBody != "" {
			return "", invalidRequest("the access token was sent by more than one method")
		}
		return "", errNoBearer
	}
	if fromBody != "" {
		return "", invalidRequest("the access token was sent by more than one method")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", httpapi.InvalidToken("the access token is malformed")
	}
	return tok, nil
}

// bearerError renders e with the WWW-Authenticate challenge of RFC 6750
// §3: a bare one for a missing token, with error="invalid_token" for one
// that is not accepted, with error="insufficient_scope" and the scope
// needed for one without openid.
func (s *Server) bearerError(c *gin.Context, e *Error) {
	switch {
	case e == errNoBearer:
		c.Header("WWW-Authenticate", `Bearer realm="authd"`)
	case e.Code == "invalid_token":
		c.Header("WWW-Authenticate", `Bearer realm="authd", error="invalid_token", error_description="`+e.Description+`"`)
	case e.Code == "insufficient_scope":
		c.Header("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="`+ScopeOpenID+`"`)
	case e.Status == http.StatusBadRequest:
		c.Header("WWW-Authenticate", `Bearer realm="authd", error="invalid_request"`)
	}
	s.writeError(c, e)
}
