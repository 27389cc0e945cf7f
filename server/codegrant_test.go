package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/authd/authd/storage"
)

const (
	spaRedirect = "https://spa.example/cb"
	webRedirect = "https://web.example/cb"
	webSecret   = "web-secret-that-is-long-enough-1234567"
	testNonce   = "n-0S6_WzA2Mj"
	testSID     = "sid-4f2a"
	// testCodeTTL is the 60 s a code may be exchanged (SPEC 2.6).
	testCodeTTL = 60 * time.Second
)

// codeEnv is a server with two clients of the authorization code flow: a
// public single-page app "spa" and a confidential web app "web", both with
// refresh tokens and scopes openid, profile and read; and alice, a user
// restricted by --scope to read (openid and profile are no permissions of
// the user: she gets them all the same).
type codeEnv struct {
	*testEnv
	user     storage.User
	spa, web storage.Client
	authTime time.Time
}

func newCodeEnv(t testing.TB, opts ...envOption) *codeEnv {
	t.Helper()
	e := &codeEnv{testEnv: newEnv(t, opts...)}
	codeClient := func(uris ...string) func(*storage.Client) {
		return func(c *storage.Client) {
			c.Grants = []string{GrantAuthorizationCode, GrantRefreshToken}
			c.Scopes = []string{ScopeOpenID, ScopeProfile, "read"}
			c.RedirectURIs = uris
		}
	}
	e.addClient("spa", "", codeClient(spaRedirect, "http://127.0.0.1/cb"))
	e.addClient("web", webSecret, codeClient(webRedirect))
	e.user = e.addUser("alice", "alice-pw", func(u *storage.User) { u.Scopes = []string{"read"} })
	e.spa, e.web = e.storedClient("spa"), e.storedClient("web")
	e.authTime = e.clock.Now().Add(-2 * time.Minute)
	return e
}

func (e *codeEnv) storedClient(id string) storage.Client {
	e.t.Helper()
	c, err := e.store.GetClient(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// newCode stores a code of alice for client cl, as /authorize would issue
// it, changed by mod, and returns the code and its PKCE verifier.
func (e *codeEnv) newCode(cl storage.Client, mod func(*storage.AuthCode)) (code, verifier string) {
	e.t.Helper()
	code, verifier = "ac_"+newID()+newID(), newID()+newID()+newID()
	now := e.clock.Now()
	c := storage.AuthCode{
		Hash: hashToken(code), ClientID: cl.ID, ClientInstance: cl.Instance,
		UserID: e.user.ID, UserGen: e.user.SessionGen,
		RedirectURI: cl.RedirectURIs[0], RedirectURIGiven: true, CodeChallenge: pkceS256(verifier),
		Scope: []string{ScopeOpenID, ScopeProfile, "read"}, Audience: e.srv.cfg.Audience, Nonce: testNonce,
		AuthTime: e.authTime, LoginSessionID: testSID, IssuedAt: now, ExpiresAt: now.Add(testCodeTTL), ForgetAt: now.Add(10 * time.Minute),
	}
	if mod != nil {
		mod(&c)
	}
	if err := e.srv.store.CreateCode(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	if !cl.FirstParty {
		// /authorize issues a third party's code only under the user's
		// consent, which the exchange checks (codeConsentHeld). A code
		// of a user who does not exist has none.
		now := e.clock.Now()
		_ = e.srv.store.PutConsent(context.Background(), storage.Consent{UserID: c.UserID, ClientID: cl.ID, ClientInstance: cl.Instance,
			Scopes: c.Scope, GrantedAt: now, UpdatedAt: now})
	}
	return code, verifier
}

// exchange posts an authorization_code token request with params; the
// client authenticates with Basic when it has a secret, else with
// client_id.
func (e *codeEnv) exchange(clientID, secret string, params url.Values) tokenResult {
	e.t.Helper()
	f := url.Values{"grant_type": {GrantAuthorizationCode}}
	for k, v := range params {
		f[k] = v
	}
	if secret == "" {
		if _, ok := f["client_id"]; !ok {
			f.Set("client_id", clientID)
		}
		return e.token(f, "", "")
	}
	return e.token(f, clientID, secret)
}

// redeem exchanges code with verifier at the client's first redirect URI.
func (e *codeEnv) redeem(cl storage.Client, secret, code, verifier string) tokenResult {
	e.t.Helper()
	return e.exchange(cl.ID, secret, url.Values{"code": {code}, "code_verifier": {verifier}, "redirect_uri": {cl.RedirectURIs[0]}})
}

// TestCodeGrant_Errors: every way a code exchange can be wrong gets its
// OAuth error and a description that says which; a wrong request about a
// good code changes nothing (the code is then exchanged).
func TestCodeGrant_Errors(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	e.addClient("pwonly", appSecret, func(c *storage.Client) {
		c.Scopes = []string{ScopeOpenID, "read"}
		c.RedirectURIs = []string{"https://pwonly.example/cb"}
	})
	pwonly := e.storedClient("pwonly")
	disabled := e.addUser("dis", "pw", func(u *storage.User) { u.Disabled = true })
	narrowed := e.addUser("narrow", "pw", func(u *storage.User) { u.Scopes = []string{"write"} })

	type params struct{ code, verifier string }
	longVerifier := strings.Repeat("a", 129)
	cases := []struct {
		name   string
		client storage.Client // the client the code is issued to (spa when zero)
		mod    func(*storage.AuthCode)
		// req builds the request from a good code and verifier; the
		// presenting client is spa unless as is set.
		req    func(p params) url.Values
		as     string
		secret string
		status int
		code   string
		desc   string
		// intact: the code is still good afterwards.
		intact bool
	}{
		{name: "missing code", req: func(p params) url.Values { return url.Values{"code_verifier": {p.verifier}} },
			status: 400, code: "invalid_request", desc: "missing code", intact: true},
		{name: "missing verifier", req: func(p params) url.Values { return url.Values{"code": {p.code}, "redirect_uri": {spaRedirect}} },
			status: 400, code: "invalid_grant", desc: "code_verifier", intact: true},
		{name: "short verifier", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {p.verifier[:42]}, "redirect_uri": {spaRedirect}}
		},
			status: 400, code: "invalid_grant", desc: "43 to 128", intact: true},
		{name: "long verifier", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {longVerifier}, "redirect_uri": {spaRedirect}}
		},
			status: 400, code: "invalid_grant", desc: "43 to 128", intact: true},
		{name: "verifier with a character outside the unreserved set", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {p.verifier[:50] + "+"}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_grant", desc: "43 to 128", intact: true},
		{name: "verifier with a space", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {p.verifier[:50] + " x"}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_grant", desc: "43 to 128", intact: true},
		{name: "wrong verifier", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {strings.Repeat("w", 43)}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_grant", desc: "PKCE verification failed", intact: true},
		{name: "the challenge as verifier", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {pkceS256(p.verifier)}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_grant", desc: "PKCE verification failed", intact: true},
		{name: "missing redirect_uri", req: func(p params) url.Values { return url.Values{"code": {p.code}, "code_verifier": {p.verifier}} },
			status: 400, code: "invalid_grant", desc: "redirect_uri is required", intact: true},
		{name: "mismatched redirect_uri", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {p.verifier}, "redirect_uri": {spaRedirect + "/"}}
		}, status: 400, code: "invalid_grant", desc: "redirect_uri does not match", intact: true},
		{name: "another registered redirect_uri", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {p.verifier}, "redirect_uri": {"http://127.0.0.1/cb"}}
		}, status: 400, code: "invalid_grant", desc: "redirect_uri does not match", intact: true},
		{name: "redirect_uri not sent to /authorize but mismatched here", mod: func(c *storage.AuthCode) { c.RedirectURIGiven = false },
			req: func(p params) url.Values {
				return url.Values{"code": {p.code}, "code_verifier": {p.verifier}, "redirect_uri": {"https://evil.example/cb"}}
			}, status: 400, code: "invalid_grant", desc: "redirect_uri does not match", intact: true},
		{name: "unknown code", req: func(p params) url.Values {
			return url.Values{"code": {"ac_unknown"}, "code_verifier": {p.verifier}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_grant", desc: "authorization code invalid", intact: true},
		{name: "code too long", req: func(p params) url.Values {
			return url.Values{"code": {strings.Repeat("c", maxCodeLen+1)}, "code_verifier": {p.verifier}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_grant", desc: "authorization code invalid", intact: true},
		{name: "expired", mod: func(c *storage.AuthCode) { c.ExpiresAt = c.IssuedAt }, status: 400, code: "invalid_grant", desc: "authorization code expired"},
		{name: "another client's code", client: e.web, status: 400, code: "invalid_grant", desc: "issued to another client"},
		{name: "code of another instance of the client", mod: func(c *storage.AuthCode) { c.ClientInstance = "an-earlier-instance" },
			status: 400, code: "invalid_grant", desc: "issued to another client"},
		{name: "user disabled", mod: func(c *storage.AuthCode) { c.UserID = disabled.ID }, status: 400, code: "invalid_grant", desc: "the user is disabled"},
		{name: "user deleted", mod: func(c *storage.AuthCode) { c.UserID = newID() }, status: 400, code: "invalid_grant", desc: "the user no longer exists"},
		{name: "user's sessions ended since", mod: func(c *storage.AuthCode) { c.UserGen = e.user.SessionGen + 1 }, status: 400, code: "invalid_grant", desc: "sessions have ended"},
		{name: "none of the scope granted any more", mod: func(c *storage.AuthCode) { c.UserID, c.Scope = narrowed.ID, []string{"read"} },
			status: 400, code: "invalid_grant", desc: "none of its scope"},
		{name: "client without the grant", client: pwonly, as: "pwonly", secret: appSecret,
			status: 400, code: "unauthorized_client", desc: "may not use this grant type"},
		{name: "public client with a secret", secret: "a-secret", status: 401, code: "invalid_client", intact: true},
		{name: "confidential client without its secret", client: e.web, as: "web", status: 401, code: "invalid_client", intact: true},
		{name: "confidential client with a wrong secret", client: e.web, as: "web", secret: "wrong", status: 401, code: "invalid_client", intact: true},
		{name: "resource other than the authorization request's", req: func(p params) url.Values {
			return url.Values{"code": {p.code}, "code_verifier": {p.verifier}, "redirect_uri": {spaRedirect}, "resource": {"https://other.example"}}
		}, status: 400, code: "invalid_target", intact: true},
		{name: "repeated code", req: func(p params) url.Values {
			return url.Values{"code": {p.code, p.code}, "code_verifier": {p.verifier}, "redirect_uri": {spaRedirect}}
		}, status: 400, code: "invalid_request", desc: "repeated", intact: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := tc.client
			if cl.ID == "" {
				cl = e.spa
			}
			code, verifier := e.newCode(cl, tc.mod)
			p := params{code, verifier}
			req := url.Values{"code": {code}, "code_verifier": {verifier}, "redirect_uri": {cl.RedirectURIs[0]}}
			if tc.req != nil {
				req = tc.req(p)
			}
			as := tc.as
			if as == "" {
				as = "spa"
			}
			if tc.secret == "" {
				req.Set("client_id", as)
			}
			var r tokenResult
			if tc.secret == "" {
				r = e.exchange(as, "", req)
			} else {
				r = e.exchange(as, tc.secret, req)
			}
			if r.Status != tc.status || r.str("error") != tc.code || !strings.Contains(r.str("error_description"), tc.desc) {
				t.Fatalf("got %d %s, want %d %s with a description holding %q", r.Status, r.Raw, tc.status, tc.code, tc.desc)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
			}
			if tc.intact {
				secret := ""
				if cl.ID == "web" {
					secret = webSecret
				}
				if r := e.redeem(cl, secret, code, verifier); r.Status != 200 {
					t.Errorf("the good exchange after the bad request: %d %s; the bad request changed the code", r.Status, r.Raw)
				}
			}
		})
	}
}

// TestCodeGrant_URLQueryRefused: the code and verifier never travel in the
// URL (SPEC 2.1).
func TestCodeGrant_URLQueryRefused(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	code, verifier := e.newCode(e.spa, nil)
	q := url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "code_verifier": {verifier}, "client_id": {"spa"}, "redirect_uri": {spaRedirect}}
	resp, err := http.Post(e.url+"/token?"+q.Encode(), "application/x-www-form-urlencoded", strings.NewReader(q.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if r := decode(t, resp); r.Status != 400 || r.str("error") != "invalid_request" {
		t.Fatalf("parameters in the URL: %d %s, want 400 invalid_request", r.Status, r.Raw)
	}
	if r := e.redeem(e.spa, "", code, verifier); r.Status != 200 {
		t.Errorf("the code after the refused request: %d %s", r.Status, r.Raw)
	}
}

// idClaims are the claims of an ID token as a relying party reads them.
type idClaims struct {
	jwt.Claims
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce"`
	AZP               string `json:"azp"`
	ATHash            string `json:"at_hash"`
	SID               string `json:"sid"`
	PreferredUsername string `json:"preferred_username"`
	Scope             any    `json:"scope"`
}

// verifyIDToken checks an ID token the way a relying party does, with
// go-jose against the JWKS: RS256, typ JWT, a kid of the JWKS, our issuer,
// the client as audience, not expired at now.
func (e *codeEnv) verifyIDToken(t *testing.T, raw, clientID string) idClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse ID token: %v", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		t.Errorf("ID token typ %q, want JWT", typ)
	}
	rs := e.resourceServer(e.srv.cfg.Audience)
	keys := rs.jwks.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("ID token kid %q not in the JWKS", h.KeyID)
	}
	var c idClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("ID token signature: %v", err)
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: e.url, AnyAudience: jwt.Audience{clientID}, Time: e.clock.Now()}, 0); err != nil {
		t.Fatalf("ID token claims: %v", err)
	}
	return c
}

// wantATHash is at_hash recomputed from the access token (OpenID Connect
// Core 1.0 §3.1.3.6).
func wantATHash(at string) string {
	sum := sha256.Sum256([]byte(at))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// TestCodeGrant_OAuth2Client: a stock OAuth 2.0 client (golang.org/x/oauth2,
// Exchange with VerifierOption) exchanges a code; the ID token's claims are
// checked one by one after verifying it against the JWKS; the refresh token
// starts a family that records the sign-in session, and a refresh returns
// an ID token without nonce.
func TestCodeGrant_OAuth2Client(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	code, verifier := e.newCode(e.spa, nil)
	conf := &oauth2.Config{ClientID: "spa", RedirectURL: spaRedirect,
		Endpoint: oauth2.Endpoint{TokenURL: e.url + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	now := e.clock.Now()
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v: want a Bearer token and a refresh token", tok)
	}
	if got := tok.Extra("scope"); got != "openid profile read" {
		t.Errorf("scope %q, want %q (openid and profile for a user restricted to read)", got, "openid profile read")
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		t.Fatal("no id_token for scope openid")
	}
	c := e.verifyIDToken(t, rawID, "spa")
	checks := []struct {
		name      string
		got, want any
	}{
		{"sub", c.Subject, e.user.ID},
		{"aud", []string(c.Audience), []string{"spa"}},
		{"azp", c.AZP, "spa"},
		{"iat", c.IssuedAt.Time().Unix(), now.Unix()},
		{"exp", c.Expiry.Time().Unix(), now.Add(e.srv.cfg.AccessTTL).Unix()},
		{"auth_time", c.AuthTime, e.authTime.Unix()},
		{"nonce", c.Nonce, testNonce},
		{"at_hash", c.ATHash, wantATHash(tok.AccessToken)},
		{"sid", c.SID, testSID},
		{"preferred_username", c.PreferredUsername, "alice"},
		{"scope (not an ID token claim)", c.Scope, nil},
	}
	for _, ch := range checks {
		if !equalAny(ch.got, ch.want) {
			t.Errorf("ID token %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	// The access token says the same user, and auth_time of the sign-in.
	at, err := e.resourceServer(e.srv.cfg.Audience).verify(tok.AccessToken, now)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if at.Subject != e.user.ID || at.AuthTime != e.authTime.Unix() || at.ClientID != "spa" {
		t.Errorf("access token sub %q auth_time %d client_id %q", at.Subject, at.AuthTime, at.ClientID)
	}
	// The family records the sign-in: its ID tokens carry its sid.
	hash, _ := refreshTokenHash(tok.RefreshToken)
	_, fam, err := e.store.GetRefreshToken(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	if fam.LoginSessionID != testSID || !fam.AuthTime.Equal(e.authTime) || fam.UserID != e.user.ID || fam.ClientInstance != e.spa.Instance {
		t.Errorf("family %+v: want sid %s, auth_time %v, alice, spa's instance", fam, testSID, e.authTime)
	}

	e.clock.Advance(time.Minute)
	r := e.refresh("spa", "", tok.RefreshToken)
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	rc := e.verifyIDToken(t, r.str("id_token"), "spa")
	if rc.Nonce != "" {
		t.Errorf("refresh's ID token has nonce %q, want none", rc.Nonce)
	}
	if rc.SID != testSID || rc.AuthTime != e.authTime.Unix() || rc.Subject != e.user.ID || rc.ATHash != wantATHash(r.str("access_token")) ||
		rc.IssuedAt.Time().Unix() != e.clock.Now().Unix() || rc.PreferredUsername != "alice" {
		t.Errorf("refresh's ID token %+v", rc)
	}
	// Narrowed to read: no openid, no ID token.
	r = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "scope": {"read"}, "client_id": {"spa"}}, "", "")
	if r.Status != 200 || r.str("id_token") != "" {
		t.Errorf("refresh narrowed to read: %d %s, want 200 without id_token", r.Status, r.Raw)
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y, ok := b.([]string)
		return ok && strings.Join(x, "\x00") == strings.Join(y, "\x00")
	}
	return a == b
}

// TestCodeGrant_NoIDToken: no ID token without openid; none from the
// password grant or its refreshes, whatever the scope; no
// preferred_username in the ID token without profile.
func TestCodeGrant_NoIDToken(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	code, verifier := e.newCode(e.spa, func(c *storage.AuthCode) { c.Scope = []string{"read"} })
	r := e.redeem(e.spa, "", code, verifier)
	if r.Status != 200 || r.str("id_token") != "" || r.str("scope") != "read" {
		t.Fatalf("code without openid: %d %s, want 200 without id_token", r.Status, r.Raw)
	}
	if r = e.refresh("spa", "", r.str("refresh_token")); r.Status != 200 || r.str("id_token") != "" {
		t.Errorf("its refresh: %d %s, want 200 without id_token", r.Status, r.Raw)
	}

	code, verifier = e.newCode(e.spa, func(c *storage.AuthCode) { c.Scope = []string{ScopeOpenID} })
	r = e.redeem(e.spa, "", code, verifier)
	if r.Status != 200 {
		t.Fatalf("code with openid only: %d %s", r.Status, r.Raw)
	}
	if c := e.verifyIDToken(t, r.str("id_token"), "spa"); c.PreferredUsername != "" {
		t.Errorf("preferred_username %q without profile", c.PreferredUsername)
	}

	e.addClient("pw", appSecret, func(c *storage.Client) { c.Scopes = []string{ScopeOpenID, ScopeProfile, "read"} })
	r = e.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"openid profile read"}}, "pw", appSecret)
	if r.Status != 200 || r.str("id_token") != "" || r.str("scope") != "openid profile read" {
		t.Fatalf("password grant with openid: %d %s, want 200 with openid and without id_token", r.Status, r.Raw)
	}
	if r = e.refresh("pw", appSecret, r.str("refresh_token")); r.Status != 200 || r.str("id_token") != "" {
		t.Errorf("password grant's refresh: %d %s, want 200 without id_token", r.Status, r.Raw)
	}
}

// TestCodeGrant_NoRefreshGrant: a client without the refresh_token grant
// gets no refresh token, and its code's replay still denies the access
// token.
func TestCodeGrant_NoRefreshGrant(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	e.addClient("norefresh", appSecret, func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode}
		c.Scopes = []string{ScopeOpenID, "read"}
		c.RedirectURIs = []string{"https://norefresh.example/cb"}
	})
	cl := e.storedClient("norefresh")
	code, verifier := e.newCode(cl, func(c *storage.AuthCode) { c.Scope = []string{"read"} })
	r := e.redeem(cl, appSecret, code, verifier)
	if r.Status != 200 || r.str("refresh_token") != "" {
		t.Fatalf("exchange: %d %s, want 200 without refresh_token", r.Status, r.Raw)
	}
	if a := e.introspect(r.str("access_token"), "norefresh", appSecret); a.Body["active"] != true {
		t.Fatalf("access token inactive before the replay: %s", a.Raw)
	}
	if rr := e.redeem(cl, appSecret, code, verifier); rr.str("error") != "invalid_grant" {
		t.Fatalf("replay: %d %s", rr.Status, rr.Raw)
	}
	if a := e.introspect(r.str("access_token"), "norefresh", appSecret); a.Body["active"] != false {
		t.Errorf("access token after the replay: %s, want inactive", a.Raw)
	}
}

// TestCodeGrant_Replay: a code presented a second time is invalid_grant,
// revokes the family issued from the first exchange (its refresh token is
// then invalid_grant) and denies its access token (introspection
// inactive); the event is logged as a security event and counted; a later
// replay keeps the first revocation.
func TestCodeGrant_Replay(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	code, verifier := e.newCode(e.web, nil)
	first := e.redeem(e.web, webSecret, code, verifier)
	if first.Status != 200 {
		t.Fatalf("exchange: %d %s", first.Status, first.Raw)
	}
	if a := e.introspect(first.str("access_token"), "web", webSecret); a.Body["active"] != true {
		t.Fatalf("access token inactive before the replay: %s", a.Raw)
	}
	e.clock.Advance(5 * time.Second)
	r := e.redeem(e.web, webSecret, code, verifier)
	if r.Status != 400 || r.str("error") != "invalid_grant" || !strings.Contains(r.str("error_description"), "already used") {
		t.Fatalf("replay: %d %s, want invalid_grant saying the code was already used", r.Status, r.Raw)
	}
	if rr := e.refresh("web", webSecret, first.str("refresh_token")); rr.Status != 400 || rr.str("error") != "invalid_grant" {
		t.Errorf("refresh token of the replayed code: %d %s, want invalid_grant", rr.Status, rr.Raw)
	}
	if a := e.introspect(first.str("access_token"), "web", webSecret); a.Body["active"] != false {
		t.Errorf("access token of the replayed code: %s, want inactive", a.Raw)
	}
	hash, _ := refreshTokenHash(first.str("refresh_token"))
	_, fam, err := e.store.GetRefreshToken(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	if fam.RevokeReason != "authorization code replayed" || !fam.RevokedAt.Equal(e.clock.Now()) {
		t.Errorf("family revoked at %v for %q, want now for a replayed code", fam.RevokedAt, fam.RevokeReason)
	}
	if log := e.logBuf.String(); !strings.Contains(log, "event=code_replay") || !strings.Contains(log, "security=true") {
		t.Errorf("no security event code_replay in the log:\n%s", log)
	}
	if m := e.get("/metrics"); !strings.Contains(m, "\nauthd_code_replay_detected_total 1\n") {
		t.Errorf("authd_code_replay_detected_total is not 1")
	}
	if m := e.get("/metrics"); !strings.Contains(m, `authd_tokens_issued_total{grant_type="authorization_code"} 1`) {
		t.Errorf("the exchange is not counted in authd_tokens_issued_total")
	}
	// A third presentation: still a replay; the first revocation stays.
	revokedAt := fam.RevokedAt
	e.clock.Advance(5 * time.Second)
	if r := e.redeem(e.web, webSecret, code, verifier); r.str("error") != "invalid_grant" {
		t.Errorf("third presentation: %d %s", r.Status, r.Raw)
	}
	if _, fam, _ = e.store.GetRefreshToken(t.Context(), hash); !fam.RevokedAt.Equal(revokedAt) {
		t.Errorf("family revoked at %v after the third presentation, want the first revocation's %v kept", fam.RevokedAt, revokedAt)
	}
}

// TestCodeGrant_ReplayRace: two presentations of one code at once: exactly
// one exchange, the other is a replay, and when both have answered the
// tokens of the exchange are dead.
func TestCodeGrant_ReplayRace(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	for round := range 10 {
		code, verifier := e.newCode(e.web, nil)
		var wg sync.WaitGroup
		results := make([]tokenResult, 2)
		for i := range results {
			wg.Go(func() {
				req := url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {webRedirect}}
				results[i] = decodeNoFatal(e.postNoFatal("/token", req, "web", webSecret))
			})
		}
		wg.Wait()
		var ok *tokenResult
		for i, r := range results {
			switch {
			case r.Status == 200 && ok == nil:
				ok = &results[i]
			case r.Status == 400 && r.str("error") == "invalid_grant":
			default:
				t.Fatalf("round %d: answers %d %s and %d %s, want one 200 and one invalid_grant", round, results[0].Status, results[0].Raw, results[1].Status, results[1].Raw)
			}
		}
		if ok == nil {
			t.Fatalf("round %d: no exchange succeeded: %s, %s", round, results[0].Raw, results[1].Raw)
		}
		if r := e.refresh("web", webSecret, ok.str("refresh_token")); r.str("error") != "invalid_grant" {
			t.Errorf("round %d: refresh token of the raced code: %d %s, want invalid_grant", round, r.Status, r.Raw)
		}
		if a := e.introspect(ok.str("access_token"), "web", webSecret); a.Body["active"] != false {
			t.Errorf("round %d: access token of the raced code: %s, want inactive", round, a.Raw)
		}
	}
}

// postNoFatal is post for goroutines other than the test's.
func (e *testEnv) postNoFatal(path string, form url.Values, basicID, basicSecret string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.Header.Set("Authorization", basicAuth(basicID, basicSecret))
	}
	return http.DefaultClient.Do(req)
}

func decodeNoFatal(resp *http.Response, err error) tokenResult {
	if err != nil {
		return tokenResult{Raw: err.Error()}
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	r := tokenResult{Status: resp.StatusCode, Header: resp.Header, Raw: b.String()}
	_ = json.Unmarshal([]byte(r.Raw), &r.Body)
	return r
}

// TestCodeGrant_UserChanges: a code of a user whose sessions ended (a
// password change, disable, session revocation) after it was issued is
// refused.
func TestCodeGrant_UserChanges(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	code, verifier := e.newCode(e.spa, nil)
	if _, err := e.store.UpdateUser(t.Context(), "alice", func(u storage.User) (storage.User, error) {
		u.EndSessions(e.clock.Now(), "password changed")
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.redeem(e.spa, "", code, verifier); r.str("error") != "invalid_grant" || !strings.Contains(r.str("error_description"), "sessions have ended") {
		t.Errorf("code after the user's password change: %d %s", r.Status, r.Raw)
	}
}

// TestScope_OpenIDForRestrictedUser: openid and profile are granted to a
// user restricted by --scope when the client has them (SPEC 2.7), through
// the password grant too; other scopes still follow the user's.
func TestScope_OpenIDForRestrictedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addClient("app", appSecret, func(c *storage.Client) { c.Scopes = []string{ScopeOpenID, ScopeProfile, "read", "write"} })
	e.addUser("bob", "pw", func(u *storage.User) { u.Scopes = []string{"read"} })
	cases := []struct {
		scope, want, err string
	}{
		{"openid", "openid", ""},
		{"openid profile read", "openid profile read", ""},
		{"", "openid profile read", ""},
		{"openid write", "", "invalid_scope"},
	}
	for _, tc := range cases {
		f := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw"}}
		if tc.scope != "" {
			f.Set("scope", tc.scope)
		}
		r := e.token(f, "app", appSecret)
		if r.str("scope") != tc.want || r.str("error") != tc.err {
			t.Errorf("scope %q: %d %s, want scope %q error %q", tc.scope, r.Status, r.Raw, tc.want, tc.err)
		}
	}
	// A client without openid among its scopes gets none.
	e.addClient("plain", appSecret, func(c *storage.Client) { c.Scopes = []string{"read"} })
	if r := e.token(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw"}, "scope": {"openid"}}, "plain", appSecret); r.str("error") != "invalid_scope" {
		t.Errorf("openid through a client without it: %d %s, want invalid_scope", r.Status, r.Raw)
	}
}
