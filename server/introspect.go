package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// introspection is the RFC 7662 §2.2 answer for an active token.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	JTI       string `json:"jti,omitempty"`
}

var inactive = []byte(`{"active":false}`)

// handleIntrospect implements RFC 7662 for confidential clients. Access
// tokens are verified as a resource server would and reported only to their
// client or to a resource server of their audience (mayIntrospect); refresh
// tokens only to the client they were issued to. Anything not active is
// {"active":false} and nothing else.
func (s *Server) handleIntrospect(c *gin.Context) {
	ctx := c.Request.Context()
	f, cl, e := s.clientForm(c.Request)
	if e != nil {
		s.writeError(c, e)
		return
	}
	if cl.Public {
		s.writeError(c, invalidClient("introspection requires a confidential client", false))
		return
	}
	token := f.get("token")
	if token == "" {
		s.writeError(c, invalidRequest("missing token"))
		return
	}
	var ans *introspection
	var err error
	if strings.HasPrefix(token, refreshPrefix) {
		ans, err = s.introspectRefresh(ctx, token, cl)
	} else {
		ans, err = s.introspectAccess(ctx, token, cl)
	}
	if err != nil {
		s.writeError(c, serverError(err))
		return
	}
	httpapi.NoStore(c)
	if ans == nil {
		c.Data(http.StatusOK, "application/json", inactive)
		return
	}
	body, _ := json.Marshal(ans)
	c.Data(http.StatusOK, "application/json", body)
}

func (s *Server) introspectAccess(ctx context.Context, token string, cl storage.Client) (*introspection, error) {
	ac, err := s.verifyAccessToken(ctx, token)
	if errors.Is(err, errTokenInvalid) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.mayIntrospect(cl, ac) {
		return nil, nil
	}
	if current, err := s.tokenCurrent(ctx, ac); err != nil || !current {
		return nil, err
	}
	ans := &introspection{
		Active: true, Scope: strings.Join(ac.Scope, " "), ClientID: ac.ClientID, Username: ac.Username,
		TokenType: "Bearer", Exp: ac.Exp.Unix(), Iat: ac.IssuedAt.Unix(), Sub: ac.Subject, Iss: ac.Issuer, JTI: ac.JTI,
	}
	if !ac.NotBefore.IsZero() {
		ans.Nbf = ac.NotBefore.Unix()
	}
	if len(ac.Audience) == 1 {
		ans.Aud = ac.Audience[0]
	} else if len(ac.Audience) > 1 {
		ans.Aud = ac.Audience
	}
	return ans, nil
}

// mayIntrospect reports whether cl may learn that the access token ac is
// active (SPEC 2.4): cl is the client it was issued to, or a resource server
// registered with one of its audiences. The server's default audience and
// the issuer (the admin API's audience) name no resource server, so a
// client registered with either sees nothing through it.
func (s *Server) mayIntrospect(cl storage.Client, ac *AccessClaims) bool {
	if ac.ClientID == cl.ID {
		return true
	}
	for _, aud := range ac.Audience {
		if aud != s.cfg.Audience && aud != s.cfg.Issuer && slices.Contains(cl.Audiences, aud) {
			return true
		}
	}
	return false
}

func (s *Server) introspectRefresh(ctx context.Context, token string, cl storage.Client) (*introspection, error) {
	hash, ok := refreshTokenHash(token)
	if !ok {
		return nil, nil
	}
	tok, fam, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if fam.ClientID != cl.ID || tok.Spent() || !now.Before(tok.IdleExpiresAt) {
		return nil, nil
	}
	u, err := s.store.GetUserByID(ctx, fam.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fam.State(&u, &cl, now) != storage.FamilyLive {
		return nil, nil
	}
	return &introspection{
		Active: true, Scope: strings.Join(fam.Scope, " "), ClientID: fam.ClientID, Username: u.Username,
		Exp: minTime(tok.IdleExpiresAt, fam.ExpiresAt).Unix(), Iat: tok.IssuedAt.Unix(), Sub: u.ID, Iss: s.cfg.Issuer,
	}, nil
}
