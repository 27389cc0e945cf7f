package admin

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
)

// authenticate authenticates the bearer access token of a request (RFC
// 6750 §2.1 and §3) in the order of SPEC §2.5: a missing or malformed
// Authorization header is refused here; what the token is worth, tokens
// decides (Tokens.Accept). A 401 carries the WWW-Authenticate
// challenge of RFC 6750 §3, a 403 insufficient_scope the scope needed.
func (h *handler) authenticate(tokens Tokens) gin.HandlerFunc {
	return func(c *gin.Context) {
		tok, e := bearerToken(c.Request)
		if e == nil {
			var user string
			if user, e = tokens.Accept(c.Request.Context(), tok); e == nil {
				c.Set(actorKey, user)
				c.Next()
				return
			}
		}
		switch {
		case e.Status == http.StatusUnauthorized:
			challenge := `Bearer realm="authd"`
			if e.Code == "invalid_token" {
				challenge += `, error="invalid_token", error_description="` + e.Description + `"`
			}
			c.Header("WWW-Authenticate", challenge)
		case e.Code == "insufficient_scope":
			c.Header("WWW-Authenticate", `Bearer realm="authd", error="insufficient_scope", scope="`+httpapi.AdminScope+`"`)
		}
		h.writeError(c, e)
	}
}

// bearerToken extracts the token of an Authorization: Bearer header (RFC
// 6750 §2.1). Tokens in the query or the body are not accepted.
func bearerToken(r *http.Request) (string, *Error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", newErr(http.StatusUnauthorized, "unauthorized", "a bearer access token with scope "+httpapi.AdminScope+" is required")
	}
	if len(vals) > 1 {
		return "", newErr(http.StatusBadRequest, "invalid_request", "more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", newErr(http.StatusUnauthorized, "unauthorized", "a bearer access token with scope "+httpapi.AdminScope+" is required")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || !b64Token(tok) {
		return "", httpapi.InvalidToken("the access token is malformed")
	}
	return tok, nil
}

// b64Token reports whether s matches b64token of RFC 6750 §2.1.
func b64Token(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
			b == '-' || b == '.' || b == '_' || b == '~' || b == '+' || b == '/') {
			return false
		}
	}
	return true
}
