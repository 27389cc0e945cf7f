package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
)

// AccessClaims are the verified claims of an authd access token.
type AccessClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Username  string
	ClientID  string
	Scope     []string
	JTI       string
	Exp       time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	AuthTime  time.Time
	// SessionGen is the user's SessionGen at issue (claim authd_gen), nil
	// in tokens of clients and in tokens issued before the claim existed;
	// ClientInstance the client's Instance (authd_ci). See tokenCurrent.
	SessionGen     *uint64
	ClientInstance string
}

// errTokenInvalid covers every reason an access token is not accepted.
var errTokenInvalid = errors.New("server: access token invalid")

// verifyAccessToken checks an access token as a resource server would
// (RFC 9068 §4) and more: signature by a published, unrevoked key, typ
// at+jwt, our issuer, not expired, not before nbf, and not on the deny list.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (*AccessClaims, error) {
	if len(token) > keys.MaxTokenSize || strings.Count(token, ".") != 2 {
		return nil, errTokenInvalid
	}
	payload, err := s.keys.Verify(token)
	if err != nil {
		return nil, errTokenInvalid
	}
	ac, err := parseAccessClaims(payload)
	if err != nil {
		return nil, errTokenInvalid
	}
	now := s.now()
	if ac.Issuer != s.cfg.Issuer || !now.Before(ac.Exp) || now.Add(time.Minute).Before(ac.NotBefore) {
		return nil, errTokenInvalid
	}
	denied, err := s.store.AccessTokenDenied(ctx, ac.JTI)
	if err != nil {
		return nil, err
	}
	if denied {
		return nil, errTokenInvalid
	}
	return ac, nil
}

// parseAccessClaims decodes the claims of a verified payload. exp, iat and
// jti are required.
func parseAccessClaims(payload []byte) (*AccessClaims, error) {
	var raw struct {
		Iss      string          `json:"iss"`
		Sub      string          `json:"sub"`
		Aud      json.RawMessage `json:"aud"`
		Exp      json.RawMessage `json:"exp"`
		Iat      json.RawMessage `json:"iat"`
		Nbf      json.RawMessage `json:"nbf"`
		AuthTime json.RawMessage `json:"auth_time"`
		JTI      string          `json:"jti"`
		ClientID string          `json:"client_id"`
		Scope    string          `json:"scope"`
		Username string          `json:"preferred_username"`
		Gen      *uint64         `json:"authd_gen"`
		Instance string          `json:"authd_ci"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, err
	}
	if len(raw.Exp) == 0 || len(raw.Iat) == 0 || raw.JTI == "" || raw.Sub == "" {
		return nil, errTokenInvalid
	}
	ac := &AccessClaims{Issuer: raw.Iss, Subject: raw.Sub, JTI: raw.JTI, ClientID: raw.ClientID, Username: raw.Username,
		SessionGen: raw.Gen, ClientInstance: raw.Instance}
	var err error
	if ac.Exp, err = unixTime(raw.Exp); err != nil {
		return nil, err
	}
	if ac.IssuedAt, err = unixTime(raw.Iat); err != nil {
		return nil, err
	}
	if len(raw.Nbf) > 0 {
		if ac.NotBefore, err = unixTime(raw.Nbf); err != nil {
			return nil, err
		}
	}
	if len(raw.AuthTime) > 0 {
		if ac.AuthTime, err = unixTime(raw.AuthTime); err != nil {
			return nil, err
		}
	}
	if len(raw.Aud) > 0 {
		var one string
		if json.Unmarshal(raw.Aud, &one) == nil {
			ac.Audience = []string{one}
		} else if err := json.Unmarshal(raw.Aud, &ac.Audience); err != nil {
			return nil, err
		}
	}
	// Signed by us, so not held to the limits of a request's scope
	// parameter: a client registered before them may hold more.
	ac.Scope = strings.Fields(raw.Scope)
	return ac, nil
}

// unixTime decodes an RFC 7519 NumericDate: a JSON number (never a
// string), whole seconds kept.
func unixTime(raw json.RawMessage) (time.Time, error) {
	var f float64
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil || f < 0 || f > 1<<40 {
		return time.Time{}, errTokenInvalid
	}
	return time.Unix(int64(f), 0), nil
}

// HasScope reports whether the token carries scope.
func (ac *AccessClaims) HasScope(scope string) bool { return slices.Contains(ac.Scope, scope) }

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
	f, e := readForm(c.Request)
	if e != nil {
		s.writeError(c, e)
		return
	}
	cl, e := s.authenticateClient(ctx, c.Request, f)
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
	noStore(c)
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

// handleRevoke implements RFC 7009. Revoking a refresh token revokes its
// family; revoking an access token denies its jti until it expires. Unknown
// tokens and tokens of other clients: 200 and nothing changes (§2.2).
func (s *Server) handleRevoke(c *gin.Context) {
	ctx := c.Request.Context()
	f, e := readForm(c.Request)
	if e != nil {
		s.writeError(c, e)
		return
	}
	cl, e := s.authenticateClient(ctx, c.Request, f)
	if e != nil {
		s.writeError(c, e)
		return
	}
	token := f.get("token")
	if token == "" {
		s.writeError(c, invalidRequest("missing token"))
		return
	}
	var err error
	if strings.HasPrefix(token, refreshPrefix) {
		err = s.revokeRefresh(ctx, token, cl)
	} else {
		err = s.revokeAccess(ctx, token, cl)
	}
	if err != nil {
		s.writeError(c, serverError(err))
		return
	}
	noStore(c)
	c.Status(http.StatusOK)
}

func (s *Server) revokeRefresh(ctx context.Context, token string, cl storage.Client) error {
	hash, ok := refreshTokenHash(token)
	if !ok {
		return nil
	}
	_, fam, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if fam.ClientID != cl.ID || fam.Revoked() {
		return nil
	}
	if _, err := s.store.RevokeFamily(ctx, fam.ID, s.now(), "revoked by client"); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	s.metrics.revocations.WithLabelValues("refresh_token").Inc()
	s.log.Info("refresh token revoked", "event", "revocation", "token_type", "refresh_token", "family_id", fam.ID, "client_id", cl.ID)
	return nil
}

func (s *Server) revokeAccess(ctx context.Context, token string, cl storage.Client) error {
	ac, err := s.verifyAccessToken(ctx, token)
	if errors.Is(err, errTokenInvalid) {
		return nil
	}
	if err != nil {
		return err
	}
	if ac.ClientID != cl.ID {
		return nil
	}
	if err := s.store.DenyAccessToken(ctx, ac.JTI, ac.Exp); err != nil {
		return err
	}
	s.metrics.revocations.WithLabelValues("access_token").Inc()
	s.log.Info("access token revoked", "event", "revocation", "token_type", "access_token", "jti", ac.JTI, "client_id", cl.ID)
	return nil
}
