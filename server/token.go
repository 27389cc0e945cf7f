package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/account"
	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

// Grant types.
const (
	GrantPassword          = httpapi.GrantPassword
	GrantRefreshToken      = httpapi.GrantRefreshToken
	GrantClientCredentials = httpapi.GrantClientCredentials
	GrantAuthorizationCode = httpapi.GrantAuthorizationCode
)

// refreshPrefix marks authd refresh tokens so that secret scanners find
// leaked ones.
const refreshPrefix = "authd_rt_"

// tokenResponse is the success body of RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	// IDToken is the OpenID Connect ID token (idtoken.go).
	IDToken string `json:"id_token,omitempty"`
}

// accessTokenClaims are the RFC 9068 claims authd issues.
type accessTokenClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	NotBefore         int64  `json:"nbf"`
	JTI               string `json:"jti"`
	ClientID          string `json:"client_id"`
	Scope             string `json:"scope"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Private claims (RFC 9068 §2.2 allows them) that tell whether the
	// token is still current (tokenCurrent): the user's SessionGen at issue
	// (user tokens only) and the client's Instance.
	SessionGen     *uint64 `json:"authd_gen,omitempty"`
	ClientInstance string  `json:"authd_ci,omitempty"`
}

func (s *Server) handleToken(c *gin.Context) {
	ctx := c.Request.Context()
	f, e := readForm(c.Request)
	if e != nil {
		s.tokenError(c, e)
		return
	}
	grant := f.get("grant_type")
	switch grant {
	case "":
		s.tokenError(c, invalidRequest("missing grant_type"))
		return
	case GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantAuthorizationCode:
	default:
		s.tokenError(c, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "the grant type is not supported"))
		return
	}
	if e := checkTokenParams(grant, f); e != nil {
		s.tokenError(c, e)
		return
	}
	cl, e := s.authenticateClient(ctx, c.Request, f)
	if e != nil {
		s.tokenError(c, e)
		return
	}
	if !slices.Contains(cl.Grants, grant) {
		s.tokenError(c, unauthorizedClient("the client may not use this grant type"))
		return
	}
	var resp *tokenResponse
	switch grant {
	case GrantPassword:
		resp, e = s.passwordGrant(ctx, c.Request, f, cl)
	case GrantRefreshToken:
		resp, e = s.refreshGrant(ctx, f, cl)
	case GrantClientCredentials:
		resp, e = s.clientCredentialsGrant(ctx, f, cl)
	case GrantAuthorizationCode:
		resp, e = s.authorizationCodeGrant(ctx, f, cl)
	}
	if e != nil {
		s.tokenError(c, e)
		return
	}
	s.metrics.tokensIssued.WithLabelValues(grant).Inc()
	body, err := json.Marshal(resp)
	if err != nil {
		s.tokenError(c, serverError(err))
		return
	}
	httpapi.NoStore(c)
	c.Data(http.StatusOK, "application/json", body)
}

func (s *Server) tokenError(c *gin.Context, e *Error) {
	s.metrics.tokenErrors.WithLabelValues(e.Code).Inc()
	s.writeError(c, e)
}

// passwordGrant implements RFC 6749 §4.3 with the defences of SPEC §2.1:
// throttling per username and address, bounded hashing, and equal time and
// answer for unknown users, disabled users and wrong passwords, all in
// checkPassword, which the sign-in page shares.
func (s *Server) passwordGrant(ctx context.Context, r *http.Request, f form, cl storage.Client) (*tokenResponse, *Error) {
	username, pw := f.get("username"), f.get("password")
	if username == "" || pw == "" {
		return nil, invalidRequest("username and password are required")
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok {
		return nil, invalidScope("malformed scope")
	}
	aud, e := s.audience(cl, f.get("resource"), "")
	if e != nil {
		return nil, e
	}
	addr := s.clientIP(r)
	u, e := s.checkPassword(ctx, username, pw, addr, cl.ID)
	if e != nil {
		return nil, e
	}

	scope, e := grantScope(cl, u, requested)
	if e != nil {
		return nil, e
	}
	now := s.now()
	// Sign while the session is committed: the two take about the same
	// time, and the answer waits for both.
	signed := s.issueAsync(&u, cl, aud, scope, now, now)
	var rt string
	if slices.Contains(cl.Grants, GrantRefreshToken) {
		var hash string
		var err error
		if rt, hash, err = newRefreshToken(); err != nil {
			return nil, serverError(err)
		}
		fam := storage.Family{
			ID: newID(), UserID: u.ID, ClientID: cl.ID, Scope: scope, Audience: aud,
			UserGen: u.SessionGen, AuthTime: now, CreatedAt: now, LastUsedAt: now,
			ExpiresAt: now.Add(s.cfg.RefreshTTL), ClientInstance: cl.Instance,
		}
		tok := storage.RefreshToken{Hash: hash, FamilyID: fam.ID, IssuedAt: now, IdleExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), fam.ExpiresAt)}
		fam.IdleExpiresAt = tok.IdleExpiresAt
		if err := s.store.CreateFamily(ctx, fam, tok); err != nil {
			<-signed
			return nil, serverError(err)
		}
	}
	at := <-signed
	if at.e != nil {
		return nil, at.e
	}
	resp := at.resp
	resp.RefreshToken = rt
	s.log.Info("login ok", "event", "login_ok", "username", u.Username, "user_id", u.ID, "client_id", cl.ID, "client_ip", addr.String())
	return resp, nil
}

// checkPassword is authd's one check of a user's credentials, shared by the
// password grant and the sign-in page (SPEC 2.1, 2.6) so that both count
// failures in one throttle (per username and address, per address) and
// take the same time for unknown users, disabled users and wrong
// passwords: throttle → bounded hashing → verify → failure or success
// accounting (and the rehash of an old hash). clientID is only logged.
//
// The answers: invalid_grant "invalid username or password" for wrong
// credentials (whether the user exists is never said), slow_down 429 with
// RetryAfter when throttled, temporarily_unavailable 503 when no hashing
// slot freed in time, invalid_request for a password over the length
// limit, the 503 of serverError for a storage failure.
func (s *Server) checkPassword(ctx context.Context, username, pw string, addr netip.Addr, clientID string) (storage.User, *Error) {
	if len(pw) > password.MaxPasswordLen {
		return storage.User{}, invalidRequest("password too long")
	}
	// A name that no user can have (the rule of creation) is refused
	// without a hash: that it is not a username is no secret.
	username, err := account.NormalizeUsername(username)
	if err != nil {
		return storage.User{}, invalidGrant("invalid username or password")
	}

	d := s.throttle.Check(username, addr)
	if d.Block {
		s.metrics.loginsThrottled.Inc()
		// Debug: a blocked attacker sends thousands of these; the metric
		// and the request line (429) tell the story.
		s.log.Debug("login throttled", "event", "login_throttled", "username", username, "client_ip", addr.String(), "client_id", clientID)
		return storage.User{}, &Error{Code: "slow_down", Description: "too many failed attempts; retry later", Status: http.StatusTooManyRequests, RetryAfter: d.RetryAfter}
	}
	if d.Delay > 0 {
		s.metrics.loginsThrottled.Inc()
		if err := s.sleep(ctx, d.Delay); err != nil {
			return storage.User{}, serverError(err)
		}
	}
	// Wait for a hashing slot in turns with other addresses, not behind a
	// burst from one.
	ctx = password.FromAddress(ctx, addr)
	if d.Suspect {
		// Hash after everyone without failures on record.
		ctx = password.Deprioritize(ctx)
	}

	fail := func() (storage.User, *Error) {
		s.throttle.Failure(username, addr)
		s.metrics.loginsRejected.Inc()
		s.log.Info("login failed", "event", "login_failed", "username", username, "client_ip", addr.String(), "client_id", clientID)
		return storage.User{}, invalidGrant("invalid username or password")
	}
	busy := func(err error) (storage.User, *Error) {
		if errors.Is(err, password.ErrBusy) {
			s.metrics.loginsOverloaded.Inc()
			return storage.User{}, &Error{Code: "temporarily_unavailable", Description: "the server is busy; retry later", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Cause: err}
		}
		return storage.User{}, serverError(err)
	}

	u, err := s.store.GetUser(ctx, username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, serverError(err)
	}
	if err != nil || u.Disabled {
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return busy(err)
		}
		return fail()
	}
	match, rehash, err := s.hasher.Verify(ctx, u.PasswordHash, pw)
	if errors.Is(err, password.ErrMalformedHash) {
		// A damaged stored hash is the operator's problem to fix; the
		// client sees a wrong password.
		s.log.Error("stored password hash is malformed", "user_id", u.ID, "error", err)
		return fail()
	}
	if err != nil {
		return busy(err)
	}
	if !match {
		return fail()
	}
	s.throttle.Success(username, addr)
	if rehash {
		s.rehash(ctx, u, pw)
	}
	return u, nil
}

// rehash replaces a hash made with older parameters (or an imported bcrypt
// hash) after a successful login. Failure is logged, not fatal: the old
// hash still works.
func (s *Server) rehash(ctx context.Context, u storage.User, pw string) {
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		s.log.Warn("password rehash skipped", "user_id", u.ID, "error", err)
		return
	}
	old := u.PasswordHash
	_, err = s.store.UpdateUser(ctx, u.Username, func(cur storage.User) (storage.User, error) {
		if cur.PasswordHash == old {
			cur.PasswordHash = h
			cur.UpdatedAt = s.now()
		}
		return cur, nil
	})
	if err != nil {
		s.log.Warn("password rehash not stored", "user_id", u.ID, "error", err)
		return
	}
	s.log.Info("password hash upgraded", "event", "password_rehash", "user_id", u.ID)
}

// rotation outcomes of the refresh compare-and-swap.
type rotationOutcome int

const (
	rotated rotationOutcome = iota + 1
	retried                 // within the grace: same successor again
	reused                  // spent token replayed: family revoked
)

// refreshGrant implements RFC 6749 §6 with rotation, families and reuse
// detection (SPEC §2.1, RFC 9700 §4.14.2). Everything it decides on, the
// token, its family, the user and the client, is read inside the rotation's
// compare-and-swap, so a password change, disable, deletion or narrowing
// that commits before the rotation is seen by it.
func (s *Server) refreshGrant(ctx context.Context, f form, cl storage.Client) (*tokenResponse, *Error) {
	presented := f.get("refresh_token")
	if presented == "" {
		return nil, invalidRequest("missing refresh_token")
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok {
		return nil, invalidScope("malformed scope")
	}
	hash, ok := refreshTokenHash(presented)
	if !ok {
		return nil, invalidGrant("refresh token invalid")
	}
	tok0, fam0, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("refresh token invalid")
	}
	if err != nil {
		return nil, serverError(err)
	}
	if fam0.ClientID != cl.ID {
		return nil, invalidGrant("refresh token was issued to another client")
	}
	if requested != nil && !subset(requested, fam0.Scope) {
		return nil, invalidScope("the requested scope exceeds the scope originally granted")
	}
	aud, e := s.audience(cl, f.get("resource"), fam0.Audience)
	if e != nil {
		return nil, e
	}

	successor := deriveSuccessor(s.rtKey, presented)
	succHash := hashToken(successor)
	now := s.now()
	// In the usual case, an unused token of a live family, sign while the
	// rotation is committed, with the user and client as read now; the
	// compare-and-swap below decides, and the token is signed again if
	// what it decided with differs.
	var signed <-chan issued
	var pre accessGrant
	if !tok0.Spent() && now.Before(tok0.IdleExpiresAt) {
		if u0, err := s.store.GetUserByID(ctx, fam0.UserID); err == nil && fam0.State(&u0, &cl, now) == storage.FamilyLive {
			if scope, e := refreshScope(requested, fam0.Scope, u0, cl); e == nil {
				pre = accessGrant{u0, cl, scope}
				signed = s.issueAsyncWith("", familyIDToken(fam0, scope), &u0, cl, aud, scope, fam0.AuthTime, now)
			}
		}
	}
	var outcome rotationOutcome
	var famNow storage.Family
	var grant accessGrant
	err = s.store.UpdateRefresh(ctx, hash, func(st storage.RefreshState) (storage.RefreshChange, error) {
		tok, fam := st.Token, st.Family
		outcome, famNow, grant = 0, fam, accessGrant{}
		if fam.ClientID != cl.ID {
			return storage.RefreshChange{}, invalidGrant("refresh token was issued to another client")
		}
		if e := familyError(fam.State(st.User, st.Client, now)); e != nil {
			return storage.RefreshChange{}, e
		}
		// Live: the user and the client exist. The client's grants and
		// audiences are read here too, so that narrowing them takes effect
		// at the next refresh, whatever this server's client cache holds.
		grant.user, grant.client = *st.User, *st.Client
		if !slices.Contains(grant.client.Grants, GrantRefreshToken) {
			return storage.RefreshChange{}, unauthorizedClient("the client may not use this grant type")
		}
		if len(grant.client.Audiences) > 0 && !slices.Contains(grant.client.Audiences, aud) {
			if f.get("resource") != "" {
				return storage.RefreshChange{}, oauthErr(http.StatusBadRequest, "invalid_target", "the requested resource is not allowed for this client")
			}
			return storage.RefreshChange{}, invalidGrant("refresh token revoked: its audience is no longer allowed for the client")
		}
		if !tok.Spent() {
			if !now.Before(tok.IdleExpiresAt) {
				return storage.RefreshChange{}, invalidGrant("refresh token expired")
			}
			scope, e := refreshScope(requested, fam.Scope, grant.user, grant.client)
			if e != nil {
				return storage.RefreshChange{}, e
			}
			grant.scope = scope
			outcome = rotated
			tok.SpentAt, tok.SuccessorHash = now, succHash
			next := storage.RefreshToken{Hash: succHash, FamilyID: fam.ID, IssuedAt: now, IdleExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), fam.ExpiresAt)}
			fam.LastUsedAt, fam.IdleExpiresAt = now, next.IdleExpiresAt
			famNow = fam
			return storage.RefreshChange{Token: &tok, Family: &fam, Insert: &next}, nil
		}
		grace := s.cfg.RefreshReuseGrace
		if grace > 0 && now.Sub(tok.SpentAt) <= grace && tok.SuccessorHash == succHash && st.Successor != nil && !st.Successor.Spent() {
			scope, e := refreshScope(requested, fam.Scope, grant.user, grant.client)
			if e != nil {
				return storage.RefreshChange{}, e
			}
			grant.scope = scope
			outcome = retried
			return storage.RefreshChange{}, nil
		}
		outcome = reused
		fam.RevokedAt, fam.RevokeReason = now, "refresh token reuse detected"
		famNow = fam
		return storage.RefreshChange{Family: &fam}, nil
	})
	var preIssued issued
	if signed != nil {
		preIssued = <-signed
	}
	var oe *Error
	if errors.As(err, &oe) {
		return nil, oe
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("refresh token invalid")
	}
	if err != nil {
		return nil, serverError(err)
	}
	if outcome == reused {
		s.metrics.refreshReuse.Inc()
		s.log.Warn("refresh token reuse detected; family revoked", "event", "refresh_reuse", "security", true, "family_id", famNow.ID, "user_id", famNow.UserID, "client_id", cl.ID)
		return nil, invalidGrant("refresh token revoked: reuse detected")
	}

	resp, e := preIssued.resp, preIssued.e
	if signed == nil || !pre.same(grant) {
		resp, e = s.issueWith("", familyIDToken(famNow, grant.scope), &grant.user, grant.client, aud, grant.scope, famNow.AuthTime, now)
	}
	if e != nil {
		return nil, e
	}
	resp.RefreshToken = successor
	if outcome == retried {
		s.log.Info("refresh retried within grace", "event", "refresh_retry", "family_id", famNow.ID, "client_id", cl.ID)
	} else {
		s.log.Info("refresh", "event", "refresh", "family_id", famNow.ID, "user_id", grant.user.ID, "client_id", cl.ID)
	}
	return resp, nil
}

// accessGrant is what a refresh's access token says: whose it is and its
// scope.
type accessGrant struct {
	user   storage.User
	client storage.Client
	scope  []string
}

// same reports whether a token signed for g says what one for h would.
func (g accessGrant) same(h accessGrant) bool {
	return g.user.ID == h.user.ID && g.user.Username == h.user.Username && g.user.SessionGen == h.user.SessionGen &&
		g.client.ID == h.client.ID && g.client.Instance == h.client.Instance && slices.Equal(g.scope, h.scope)
}

// familyError is the refresh grant's answer for a family in state st (SPEC
// §2.1: invalid_grant, with a description that says which), nil while live.
func familyError(st storage.FamilyState) *Error {
	switch st {
	case storage.FamilyLive:
		return nil
	case storage.FamilyExpired:
		return invalidGrant("refresh token expired")
	case storage.FamilyUserDeleted:
		return invalidGrant("refresh token revoked: the user no longer exists")
	case storage.FamilyUserDisabled:
		return invalidGrant("refresh token revoked: the user is disabled")
	case storage.FamilyClientDeleted:
		return invalidGrant("refresh token revoked: the client no longer exists")
	}
	return invalidGrant("refresh token revoked")
}

// clientCredentialsGrant implements RFC 6749 §4.4: confidential clients
// only, sub is the client id, no refresh token.
func (s *Server) clientCredentialsGrant(ctx context.Context, f form, cl storage.Client) (*tokenResponse, *Error) {
	if cl.Public {
		return nil, unauthorizedClient("public clients may not use client_credentials")
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok {
		return nil, invalidScope("malformed scope")
	}
	scope := cl.Scopes
	if requested != nil {
		if !subset(requested, cl.Scopes) || slices.Contains(requested, AdminScope) {
			return nil, invalidScope("the requested scope is invalid, unknown, or exceeds what was granted")
		}
		scope = requested
	}
	scope = slices.DeleteFunc(slices.Clone(scope), func(s string) bool { return s == AdminScope })
	aud, e := s.audience(cl, f.get("resource"), "")
	if e != nil {
		return nil, e
	}
	now := s.now()
	resp, e := s.issue(nil, cl, aud, scope, time.Time{}, now)
	if e != nil {
		return nil, e
	}
	s.log.Info("client credentials", "event", "client_credentials", "client_id", cl.ID)
	return resp, nil
}

// audience picks the aud of an access token: the RFC 8707 resource when
// given (it must be one of the client's audiences), else fallback while the
// client may still use it (a refresh keeps its family's audience), else the
// client's first audience, else the server's default. Tokens of the
// built-in console are always for the issuer (SPEC 2.5): the admin API
// accepts no other.
func (s *Server) audience(cl storage.Client, resource, fallback string) (string, *Error) {
	allowed := func(aud string) bool {
		if cl.ID == ConsoleClientID {
			return aud == s.cfg.Issuer
		}
		return slices.Contains(cl.Audiences, aud) || (len(cl.Audiences) == 0 && aud == s.cfg.Audience)
	}
	if resource != "" {
		if allowed(resource) {
			return resource, nil
		}
		return "", oauthErr(http.StatusBadRequest, "invalid_target", "the requested resource is not allowed for this client")
	}
	if cl.ID == ConsoleClientID {
		return s.cfg.Issuer, nil
	}
	if fallback != "" && allowed(fallback) {
		return fallback, nil
	}
	if len(cl.Audiences) > 0 {
		return cl.Audiences[0], nil
	}
	return s.cfg.Audience, nil
}

// issued is the result of issue, delivered by issueAsync.
type issued struct {
	resp *tokenResponse
	e    *Error
}

// issueAsync signs an access token in the background; the channel delivers
// the result once and never blocks the signer. u is not kept.
func (s *Server) issueAsync(u *storage.User, cl storage.Client, aud string, scope []string, authTime, now time.Time) <-chan issued {
	return s.issueAsyncWith("", nil, u, cl, aud, scope, authTime, now)
}

// issueAsyncWith is issueAsync with issueWith's jti and ID token.
func (s *Server) issueAsyncWith(jti string, id *idTokenSpec, u *storage.User, cl storage.Client, aud string, scope []string, authTime, now time.Time) <-chan issued {
	ch := make(chan issued, 1)
	if u != nil {
		cp := *u
		u = &cp
	}
	go func() {
		r, e := s.issueWith(jti, id, u, cl, aud, scope, authTime, now)
		ch <- issued{r, e}
	}()
	return ch
}

// issue signs an access token of user u through client cl, or of cl
// itself (client_credentials) when u is nil.
func (s *Server) issue(u *storage.User, cl storage.Client, aud string, scope []string, authTime, now time.Time) (*tokenResponse, *Error) {
	return s.issueWith("", nil, u, cl, aud, scope, authTime, now)
}

// issueWith is issue with the access token's jti decided by the caller
// (a new one when empty) and, when id is not nil, an ID token of user u
// signed after the access token (its at_hash needs it; idtoken.go).
func (s *Server) issueWith(jti string, id *idTokenSpec, u *storage.User, cl storage.Client, aud string, scope []string, authTime, now time.Time) (*tokenResponse, *Error) {
	if jti == "" {
		jti = newID()
	}
	claims := accessTokenClaims{
		Issuer: s.cfg.Issuer, Subject: cl.ID, Audience: aud,
		Expiry: now.Add(s.cfg.AccessTTL).Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		JTI: jti, ClientID: cl.ID, Scope: strings.Join(scope, " "),
		ClientInstance: cl.Instance,
	}
	if u != nil {
		gen := u.SessionGen
		claims.Subject, claims.PreferredUsername, claims.SessionGen = u.ID, u.Username, &gen
	}
	if !authTime.IsZero() {
		claims.AuthTime = authTime.Unix()
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, serverError(err)
	}
	at, err := s.keys.Sign(payload)
	if err != nil {
		return nil, serverError(err)
	}
	resp := &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTTL / time.Second), Scope: claims.Scope}
	if id != nil && u != nil {
		if resp.IDToken, err = s.signIDToken(*id, *u, cl, scope, at, now); err != nil {
			return nil, serverError(err)
		}
	}
	return resp, nil
}

// newRefreshToken returns a fresh refresh token (256 bits of randomness)
// and its storage hash.
func newRefreshToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = refreshPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token), nil
}

// deriveSuccessor computes the token that replaces presented: HMAC of the
// presented token under a server-held key. Only someone who holds the
// presented token (and the server) can compute it, so the server stores
// nothing but hashes and yet can answer a retried rotation with the same
// successor.
func deriveSuccessor(key []byte, presented string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(presented))
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// refreshTokenLen is the length of every refresh token authd issues.
var refreshTokenLen = len(refreshPrefix) + base64.RawURLEncoding.EncodedLen(32)

// refreshTokenHash checks a presented refresh token's form and returns its
// storage hash. It is a parser of untrusted input (FuzzRefreshTokenHash).
func refreshTokenHash(t string) (string, bool) {
	if len(t) != refreshTokenLen || !strings.HasPrefix(t, refreshPrefix) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(t[len(refreshPrefix):]); err != nil {
		return "", false
	}
	return hashToken(t), true
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// newID returns 128 random bits, base64url.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sleep waits d or until ctx ends.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	if s.sleepFn != nil {
		return s.sleepFn(ctx, d)
	}
	return sleepCtx(ctx, d)
}
