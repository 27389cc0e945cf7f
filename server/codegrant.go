package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"

	"github.com/authd/authd/storage"
)

// PKCE code verifier bounds (RFC 7636 §4.1).
const (
	minVerifierLen = 43
	maxVerifierLen = 128
)

// maxCodeLen bounds a presented authorization code: longer ones name no
// code, and are not hashed.
const maxCodeLen = 256

// validCodeVerifier reports whether v is a PKCE code verifier: 43 to 128
// characters of RFC 7636's unreserved set [A-Za-z0-9-._~] (§4.1).
func validCodeVerifier(v string) bool {
	if len(v) < minVerifierLen || len(v) > maxVerifierLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~') {
			return false
		}
	}
	return true
}

// checkCodeParams checks the parameters of an authorization_code token
// request that need no storage (checkTokenParams): a missing code is
// invalid_request; a missing or malformed code_verifier is invalid_grant,
// as SPEC 2.6 says of a missing or mismatched one (a malformed verifier
// matches no challenge), decided here without a storage read.
func checkCodeParams(f form) *Error {
	if f.get("code") == "" {
		return invalidRequest("missing code")
	}
	v := f.get("code_verifier")
	if v == "" {
		return invalidGrant("missing code_verifier: PKCE is required")
	}
	if !validCodeVerifier(v) {
		return invalidGrant("code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636)")
	}
	return nil
}

// pkceS256 is the S256 code challenge of verifier (RFC 7636 §4.2).
func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// codeOutcome is what the redeem's compare-and-swap decided.
type codeOutcome int

const (
	codeExchanged codeOutcome = iota + 1
	codeReplayed              // a spent code presented again: its family revoked
)

// codeSigning is a token response being signed for one decision of the
// redeem's function: the grant it says and the channel that delivers it.
type codeSigning struct {
	grant accessGrant
	aud   string
	ch    <-chan issued
}

// authorizationCodeGrant implements RFC 6749 §4.1.3 with PKCE (RFC 7636
// §4.6) and the rules of SPEC 2.6. Everything it decides on, the code, its
// user and its client, is read inside the one compare-and-swap of
// storage.RedeemCode, which spends the code and creates the family with its
// first refresh token in the same commit. A spent code presented again
// (RFC 6749 §4.1.2) revokes the family its exchange created in that
// commit, and the access token it issued is denied after it.
func (s *Server) authorizationCodeGrant(ctx context.Context, f form, cl storage.Client) (*tokenResponse, *Error) {
	if e := checkCodeParams(f); e != nil {
		return nil, e
	}
	code, verifier := f.get("code"), f.get("code_verifier")
	redirectURI, resource := f.get("redirect_uri"), f.get("resource")
	if len(code) > maxCodeLen {
		return nil, invalidGrant("authorization code invalid")
	}
	hash := hashToken(code)
	challenge := pkceS256(verifier)
	now := s.now()

	// Decided before the commit, so that the code records them: the
	// access token's jti and expiry (a replay denies it) and the family
	// with its first refresh token.
	jti := newID()
	atExp := now.Add(s.cfg.AccessTTL)
	var rt, rtHash string
	if slices.Contains(cl.Grants, GrantRefreshToken) {
		var err error
		if rt, rtHash, err = newRefreshToken(); err != nil {
			return nil, serverError(err)
		}
	}
	famID := newID()

	var (
		outcome codeOutcome
		spent   storage.AuthCode
		revoked storage.Family
		signing *codeSigning
		last    *codeSigning
	)
	err := s.store.RedeemCode(ctx, hash, func(st storage.CodeState) (storage.CodeChange, error) {
		c := st.Code
		outcome, spent, revoked, last = 0, c, storage.Family{}, nil
		if c.ClientID != cl.ID || c.ClientInstance != cl.Instance {
			return storage.CodeChange{}, invalidGrant("authorization code was issued to another client")
		}
		if c.Spent() {
			outcome = codeReplayed
			if st.Family == nil || st.Family.Revoked() {
				// Nothing to revoke, or revoked before: the first
				// revocation and its reason are kept.
				return storage.CodeChange{}, nil
			}
			fam := *st.Family
			fam.RevokedAt, fam.RevokeReason = now, "authorization code replayed"
			revoked = fam
			return storage.CodeChange{Family: &fam}, nil
		}
		if !now.Before(c.ExpiresAt) {
			return storage.CodeChange{}, invalidGrant("authorization code expired")
		}
		switch {
		case c.RedirectURIGiven && redirectURI == "":
			return storage.CodeChange{}, invalidGrant("redirect_uri is required: it was sent in the authorization request")
		case redirectURI != "" && redirectURI != c.RedirectURI:
			return storage.CodeChange{}, invalidGrant("redirect_uri does not match the authorization request")
		}
		if subtle.ConstantTimeCompare([]byte(challenge), []byte(c.CodeChallenge)) != 1 {
			return storage.CodeChange{}, invalidGrant("PKCE verification failed: code_verifier does not match the code_challenge")
		}
		switch u := st.User; {
		case u == nil || u.ID != c.UserID:
			return storage.CodeChange{}, invalidGrant("authorization code revoked: the user no longer exists")
		case u.Disabled:
			return storage.CodeChange{}, invalidGrant("authorization code revoked: the user is disabled")
		case u.SessionGen != c.UserGen:
			return storage.CodeChange{}, invalidGrant("authorization code revoked: the user's sessions have ended")
		}
		client := st.Client
		if client == nil || client.ID != c.ClientID || client.Instance != c.ClientInstance {
			return storage.CodeChange{}, invalidGrant("authorization code revoked: the client no longer exists")
		}
		// The client as committed decides, whatever this server's client
		// cache holds: its grants, audiences and scopes now.
		if !slices.Contains(client.Grants, GrantAuthorizationCode) {
			return storage.CodeChange{}, unauthorizedClient("the client may not use this grant type")
		}
		aud, e := s.codeAudience(*client, c.Audience, resource)
		if e != nil {
			return storage.CodeChange{}, e
		}
		scope, e := codeScope(c.Scope, *st.User, *client)
		if e != nil {
			return storage.CodeChange{}, e
		}
		g := accessGrant{user: *st.User, client: *client, scope: scope}
		// Sign while the commit runs. The function may run again (a lost
		// race, a retried batch): the tokens are signed again only if
		// what they say has changed.
		if signing == nil || !signing.grant.same(g) || signing.aud != aud {
			signing = &codeSigning{grant: g, aud: aud, ch: s.issueAsyncWith(jti,
				idTokenFor(scope, idTokenSpec{authTime: c.AuthTime, nonce: c.Nonce, sid: c.LoginSessionID}),
				&g.user, g.client, aud, scope, c.AuthTime, now)}
		}
		last = signing
		outcome = codeExchanged

		c.SpentAt, c.AccessTokenID, c.AccessTokenExpiresAt = now, jti, atExp
		change := storage.CodeChange{Code: &c}
		if rtHash != "" && slices.Contains(client.Grants, GrantRefreshToken) {
			fam := storage.Family{
				ID: famID, UserID: g.user.ID, ClientID: client.ID, Scope: scope, Audience: aud,
				UserGen: g.user.SessionGen, AuthTime: c.AuthTime, CreatedAt: now, LastUsedAt: now,
				ExpiresAt: now.Add(s.cfg.RefreshTTL), ClientInstance: client.Instance,
				LoginSessionID: c.LoginSessionID,
			}
			tok := storage.RefreshToken{Hash: rtHash, FamilyID: fam.ID, IssuedAt: now, IdleExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), fam.ExpiresAt)}
			fam.IdleExpiresAt = tok.IdleExpiresAt
			c.FamilyID = fam.ID
			change.Create, change.First = &fam, &tok
		}
		spent = c
		return change, nil
	})
	var signed issued
	if last != nil {
		signed = <-last.ch
	}
	var oe *Error
	if errors.As(err, &oe) {
		return nil, oe
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("authorization code invalid")
	}
	if err != nil {
		return nil, serverError(err)
	}
	if outcome == codeReplayed {
		return nil, s.codeReplayed(ctx, spent, revoked, cl)
	}
	if signed.e != nil {
		return nil, signed.e
	}
	if e := s.codeConsentHeld(ctx, spent, last.grant); e != nil {
		return nil, e
	}
	resp := signed.resp
	if spent.FamilyID != "" {
		resp.RefreshToken = rt
	}
	s.log.Info("authorization code exchanged", "event", "code_exchange", "user_id", spent.UserID, "client_id", cl.ID, "family_id", spent.FamilyID)
	return resp, nil
}

// codeReplayed finishes the answer to a spent code presented again (RFC
// 6749 §4.1.2, SPEC 2.6): the family its exchange created was revoked by
// the redeem (revoked is that family when this presentation revoked it);
// the access token it issued goes on the deny list until it expires. It is
// a security event: logged and counted like refresh-token reuse.
func (s *Server) codeReplayed(ctx context.Context, c storage.AuthCode, revoked storage.Family, cl storage.Client) *Error {
	s.metrics.codeReplays.Inc()
	s.log.Warn("authorization code replayed; the tokens issued from it are revoked", "event", "code_replay", "security", true,
		"family_id", c.FamilyID, "family_revoked_now", revoked.ID != "", "user_id", c.UserID, "client_id", cl.ID)
	if c.AccessTokenID != "" && s.now().Before(c.AccessTokenExpiresAt) {
		if err := s.store.DenyAccessToken(ctx, c.AccessTokenID, c.AccessTokenExpiresAt); err != nil {
			// The client may present the code again: it is still a
			// replay, and the denial is tried again.
			return serverError(err)
		}
	}
	return invalidGrant("authorization code already used; the tokens issued from it are revoked")
}

// codeAudience is the aud of the access tokens issued from a code: the
// audience the code recorded, while the client may still use it (the
// default when the code recorded none). A resource parameter at the token
// endpoint must name that same audience (RFC 8707 §2.2: authd's tokens
// have one).
func (s *Server) codeAudience(cl storage.Client, recorded, resource string) (string, *Error) {
	if resource != "" && recorded != "" && resource != recorded {
		return "", oauthErr(http.StatusBadRequest, "invalid_target", "the resource differs from the one of the authorization request")
	}
	if recorded == "" {
		return s.audience(cl, resource, "")
	}
	aud, e := s.audience(cl, recorded, "")
	if e != nil {
		return "", invalidGrant("authorization code revoked: its audience is no longer allowed for the client")
	}
	return aud, nil
}

// codeScope is the scope granted by a code's exchange: the code's scope ∩
// what the client and the user may have now (SPEC 2.1's rule for
// refreshes: an operator who narrowed either since the code was issued
// narrows the grant). invalid_grant when the code had a scope and none of
// it remains.
func codeScope(code []string, u storage.User, cl storage.Client) ([]string, *Error) {
	var out []string
	for _, sc := range code {
		if clientMay(cl, sc) && userMay(u, sc) {
			out = append(out, sc)
		}
	}
	if len(code) > 0 && len(out) == 0 {
		return nil, invalidGrant("authorization code revoked: none of its scope is granted any more")
	}
	return out, nil
}

// codeConsentHeld checks, after the exchange committed, that the user's
// consent to the client still covers what it granted: a code is issued
// only under a consent (unless the client is first-party), and revoking
// the consent ends the client's families for the user (SPEC 2.5), so a
// code issued before a revocation must not start a new one afterwards.
// The check runs after the commit: a revocation that commits later ends
// the new family itself; one that committed earlier is seen here, and the
// family and access token just issued are revoked before anyone holds
// them.
func (s *Server) codeConsentHeld(ctx context.Context, c storage.AuthCode, g accessGrant) *Error {
	if g.client.FirstParty {
		return nil
	}
	con, err := s.store.GetConsent(ctx, c.UserID, g.client.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return serverError(err)
	case con.ClientInstance == g.client.Instance && subset(g.scope, con.Scopes):
		return nil
	}
	now := s.now()
	if c.FamilyID != "" {
		if _, err := s.store.RevokeFamily(ctx, c.FamilyID, now, "consent revoked"); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return serverError(err)
		}
	}
	if c.AccessTokenID != "" {
		if err := s.store.DenyAccessToken(ctx, c.AccessTokenID, c.AccessTokenExpiresAt); err != nil {
			return serverError(err)
		}
	}
	s.log.Info("authorization code refused: consent revoked", "event", "code_consent_revoked", "user_id", c.UserID, "client_id", g.client.ID, "family_id", c.FamilyID)
	return invalidGrant("authorization code revoked: the user's consent to this application was withdrawn")
}
