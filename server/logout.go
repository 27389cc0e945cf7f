package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"
)

// handleLogout serves GET and POST /logout, OpenID Connect RP-initiated
// logout (SPEC 2.7). It always ends the browser's sign-in session (the
// record and the cookie) first, whatever the parameters say; then it
// redirects to post_logout_redirect_uri, with state, when id_token_hint
// is an ID token this server signed (expired ones too: the app signing
// out may hold nothing fresher) for a client that registered exactly that
// URI as a redirect URI; otherwise it shows the signed-out page. A
// redirect is therefore only ever to a URI its client registered.
func (s *Server) handleLogout(c *gin.Context) {
	ctx := c.Request.Context()
	f, fe := readAuthorizeRequest(c.Request)
	ls, err := s.endSession(ctx, c)
	if err != nil {
		s.errorPage(c, serverError(err))
		return
	}
	if ls.ID != "" {
		s.log.Info("logout", "event", "logout", "session_id", ls.ID, "user_id", ls.UserID, "client_ip", s.clientIP(c.Request).String())
	}
	if fe == nil {
		if target := s.logoutRedirect(ctx, f); target != "" {
			s.redirectTo(c, target)
			return
		}
	}
	s.render(c, http.StatusOK, "signedout", pageData{Title: "Signed out"})
}

// idTokenHintClaims are the claims of an id_token_hint that logout reads.
type idTokenHintClaims struct {
	Issuer   string          `json:"iss"`
	Audience json.RawMessage `json:"aud"`
}

// audiences returns aud as a list: OpenID allows a string or an array.
func (h idTokenHintClaims) audiences() []string {
	var one string
	if json.Unmarshal(h.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(h.Audience, &many) == nil {
		return many
	}
	return nil
}

// logoutRedirect returns where logout redirects to, or "" for the
// signed-out page.
func (s *Server) logoutRedirect(ctx context.Context, f form) string {
	hint, uri := f.get("id_token_hint"), f.get("post_logout_redirect_uri")
	if hint == "" || uri == "" {
		return ""
	}
	payload, err := s.keys.VerifyIDToken(hint)
	if err != nil {
		return ""
	}
	var claims idTokenHintClaims
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Issuer != s.cfg.Issuer {
		return ""
	}
	auds := claims.audiences()
	if id := f.get("client_id"); id != "" {
		// OpenID RP-initiated logout §2: client_id, when sent, is the
		// hint's audience.
		if !slices.Contains(auds, id) {
			return ""
		}
		auds = []string{id}
	}
	for _, id := range auds {
		cl, err := s.client(ctx, id)
		if err != nil {
			continue
		}
		if slices.Contains(cl.RedirectURIs, uri) {
			if st := f.get("state"); st != "" {
				return appendQuery(uri, url.Values{"state": {st}}.Encode())
			}
			return uri
		}
	}
	return ""
}
