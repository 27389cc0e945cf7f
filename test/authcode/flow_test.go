package authcode

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authd/authd/test/internal/authdtest"
)

// idClaims are the ID token claims of SPEC §2.7 beyond go-oidc's own.
type idClaims struct {
	Sub               string `json:"sub"`
	Azp               string `json:"azp"`
	Sid               string `json:"sid"`
	Nonce             string `json:"nonce"`
	AuthTime          int64  `json:"auth_time"`
	PreferredUsername string `json:"preferred_username"`
}

// verifyID verifies the id_token of tok for client id with go-oidc and
// checks the claims every ID token of authd has.
func verifyID(t *testing.T, p *oidc.Provider, id string, tok *oauth2.Token) (*oidc.IDToken, idClaims) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("no id_token in the token response of %s", id)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: id}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("IDTokenVerifier.Verify: %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if typ := jwtPart(t, raw, 0)["typ"]; typ != "JWT" {
		t.Errorf("ID token header typ = %v, want JWT", typ)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Azp != id {
		t.Errorf("azp = %q, want %q", c.Azp, id)
	}
	if c.Sid == "" {
		t.Error("no sid in the ID token")
	}
	if c.AuthTime == 0 {
		t.Error("no auth_time in the ID token")
	}
	// The access token and the ID token name the same subject.
	if at := jwtPart(t, tok.AccessToken, 1); at["sub"] != idt.Subject {
		t.Errorf("ID token sub %q, access token sub %v", idt.Subject, at["sub"])
	}
	return idt, c
}

// TestAuthCode_GoLibraries is the flow an app written in Go goes through,
// with x/oauth2 and go-oidc: discovery, sign-in, consent, code at the app,
// exchange with the verifier, ID token verified with its nonce and at_hash,
// UserInfo, refresh (a new ID token without nonce), consent remembered,
// single sign-on with a second client (no password asked), RP-initiated
// logout back to a registered URI, after which the password is asked again.
func TestAuthCode_GoLibraries(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	ctx := e.ctx()

	p := e.provider()
	var disc struct {
		Issuer             string   `json:"issuer"`
		Authorization      string   `json:"authorization_endpoint"`
		Token              string   `json:"token_endpoint"`
		UserInfo           string   `json:"userinfo_endpoint"`
		JWKS               string   `json:"jwks_uri"`
		EndSession         string   `json:"end_session_endpoint"`
		ResponseTypes      []string `json:"response_types_supported"`
		SubjectTypes       []string `json:"subject_types_supported"`
		IDAlgs             []string `json:"id_token_signing_alg_values_supported"`
		Challenge          []string `json:"code_challenge_methods_supported"`
		Grants             []string `json:"grant_types_supported"`
		Scopes             []string `json:"scopes_supported"`
		Claims             []string `json:"claims_supported"`
		AuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
		ISSParameter       bool     `json:"authorization_response_iss_parameter_supported"`
		RevocationEndpoint string   `json:"revocation_endpoint"`
	}
	if err := p.Claims(&disc); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{
		"issuer": disc.Issuer, "authorization_endpoint": disc.Authorization, "token_endpoint": disc.Token,
		"userinfo_endpoint": disc.UserInfo, "jwks_uri": disc.JWKS, "end_session_endpoint": disc.EndSession,
		"revocation_endpoint": disc.RevocationEndpoint,
	} {
		want := map[string]string{
			"issuer": e.issuer, "authorization_endpoint": e.issuer + "/authorize", "token_endpoint": e.issuer + "/token",
			"userinfo_endpoint": e.issuer + "/userinfo", "jwks_uri": e.issuer + "/.well-known/jwks.json",
			"end_session_endpoint": e.issuer + "/logout", "revocation_endpoint": e.issuer + "/revoke",
		}[name]
		if got != want {
			t.Errorf("discovery %s = %q, want %q", name, got, want)
		}
	}
	if !slices.Equal(disc.ResponseTypes, []string{"code"}) || !slices.Equal(disc.Challenge, []string{"S256"}) ||
		!slices.Equal(disc.SubjectTypes, []string{"public"}) || !disc.ISSParameter {
		t.Errorf("discovery: response_types %v, code_challenge_methods %v, subject_types %v, iss parameter %v; want [code] [S256] [public] true",
			disc.ResponseTypes, disc.Challenge, disc.SubjectTypes, disc.ISSParameter)
	}
	if !slices.Contains(disc.Grants, "authorization_code") || !slices.Contains(disc.IDAlgs, "RS256") ||
		!slices.Contains(disc.Scopes, "openid") || !slices.Contains(disc.Claims, "sub") || len(disc.AuthMethods) == 0 {
		t.Errorf("discovery: grant_types %v, id_token algs %v, scopes %v, claims %v, auth methods %v",
			disc.Grants, disc.IDAlgs, disc.Scopes, disc.Claims, disc.AuthMethods)
	}

	// Sign in and consent.
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "profile", "read")
	r := newRequest()
	b := e.browser()
	before := time.Now().Add(-2 * time.Second)
	w := b.authorize(r.url(web), "alice", alicePassword, "allow")
	if !w.SignIn || !w.Consent {
		t.Fatalf("sign-in page shown %v, consent page shown %v; want both (web is third-party): %v", w.SignIn, w.Consent, w.Hops)
	}
	if w.SignInPost.Status != http.StatusSeeOther {
		t.Errorf("the sign-in form was answered %v, want 303 See Other", w.SignInPost)
	}
	code := w.code(t, r.state)
	if w.At != "/cb" {
		t.Errorf("the code went to %s, want /cb", w.At)
	}
	if iss := w.Callback.Get("iss"); iss != e.issuer {
		t.Errorf("iss in the authorization response = %q, want %q (RFC 9207)", iss, e.issuer)
	}

	// Exchange, verify.
	tok := e.exchange(web, r, code)
	if tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token response: type %q, refresh token %q", tok.TokenType, tok.RefreshToken)
	}
	idt, c := verifyID(t, p, "web", tok)
	if idt.Nonce != r.nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, r.nonce)
	}
	if c.PreferredUsername != "alice" {
		t.Errorf("preferred_username = %q, want alice (scope profile)", c.PreferredUsername)
	}
	if c.Sub == "alice" || c.Sub == "" {
		t.Errorf("sub = %q, want the user's stable id", c.Sub)
	}
	if at := time.Unix(c.AuthTime, 0); at.Before(before.Truncate(time.Second)) || at.After(time.Now().Add(2*time.Second)) {
		t.Errorf("auth_time %v, want the sign-in moment (after %v)", at, before)
	}
	if life := idt.Expiry.Sub(idt.IssuedAt); life < 15*time.Minute-2*time.Second || life > 15*time.Minute+2*time.Second {
		t.Errorf("ID token lifetime %v, want the access token's (15m)", life)
	}

	ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("UserInfo: %v", err)
	}
	var uc struct {
		PreferredUsername string `json:"preferred_username"`
	}
	ui.Claims(&uc)
	if ui.Subject != idt.Subject || uc.PreferredUsername != "alice" {
		t.Errorf("UserInfo sub %q preferred_username %q, want %q alice", ui.Subject, uc.PreferredUsername, idt.Subject)
	}

	// Refresh: a new refresh token and a new ID token, without nonce, of
	// the same sign-in.
	tok2, err := web.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh did not rotate the refresh token")
	}
	idt2, c2 := verifyID(t, p, "web", tok2)
	if idt2.Nonce != "" {
		t.Errorf("refreshed ID token nonce = %q, want none", idt2.Nonce)
	}
	if idt2.Subject != idt.Subject || c2.AuthTime != c.AuthTime || c2.Sid != c.Sid {
		t.Errorf("refreshed ID token sub %q auth_time %d sid %q, want %q %d %q", idt2.Subject, c2.AuthTime, c2.Sid, idt.Subject, c.AuthTime, c.Sid)
	}

	// Consent is remembered: no page at all the second time.
	r = newRequest()
	w = b.authorize(r.url(web), "", "", "")
	if w.SignIn || w.Consent {
		t.Fatalf("second authorization: sign-in %v consent %v, want neither: %v", w.SignIn, w.Consent, w.Hops)
	}
	verifyID(t, p, "web", e.exchange(web, r, w.code(t, r.state)))

	// Single sign-on: another client, no password.
	tool := e.config(p, "tool", "/tool/cb", oidc.ScopeOpenID, "profile")
	r = newRequest()
	w = b.authorize(r.url(tool), "", "", "")
	if w.SignIn || w.Consent {
		t.Fatalf("first-party client after sign-in: sign-in %v consent %v, want neither: %v", w.SignIn, w.Consent, w.Hops)
	}
	toolTok := e.exchange(tool, r, w.code(t, r.state))
	toolID, tc := verifyID(t, p, "tool", toolTok)
	if toolID.Subject != idt.Subject || tc.Sid != c.Sid || tc.AuthTime != c.AuthTime {
		t.Errorf("SSO ID token sub %q sid %q auth_time %d, want those of the sign-in %q %q %d", toolID.Subject, tc.Sid, tc.AuthTime, idt.Subject, c.Sid, c.AuthTime)
	}

	// RP-initiated logout back to a registered URI, with state.
	session := b.cookie("authd_session")
	if session == "" {
		t.Errorf("no authd_session cookie for %s after sign-in on plain http", e.issuer)
	}
	lo := url.Values{"id_token_hint": {toolTok.Extra("id_token").(string)}, "post_logout_redirect_uri": {e.appURL("/tool/cb")}, "state": {"bye"}}
	hops := b.get(e.issuer + "/logout?" + lo.Encode())
	last := hops[len(hops)-1]
	if len(hops) < 2 || last.URL.Path != "/tool/cb" || last.URL.Query().Get("state") != "bye" || !strings.HasPrefix(last.URL.String(), e.app.URL) {
		t.Fatalf("logout: want a redirect to the registered post_logout_redirect_uri with state=bye, got %v", hops)
	}
	r = newRequest()
	if w = b.authorize(r.url(web), "", "", ""); !w.SignIn {
		t.Fatalf("authorization after logout: want the sign-in page, got %v", w.Hops)
	}
	// The session is ended on the server, not only in this browser.
	if session != "" {
		b2 := e.browser()
		u, _ := url.Parse(e.issuer)
		b2.jar.SetCookies(u, []*http.Cookie{{Name: "authd_session", Value: session, Path: "/"}})
		if w = b2.authorize(newRequest().url(web), "", "", ""); !w.SignIn {
			t.Fatalf("the session cookie replayed after logout: want the sign-in page, got %v", w.Hops)
		}
	}
	// The tokens issued before the logout still refresh: logout ends the
	// browser's sign-in, not the app's grant (SPEC §2.7).
	if _, err := web.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); err != nil {
		t.Errorf("refresh after logout: %v", err)
	}
}

// TestAuthCode_Prompt: prompt=login and max_age=0 ask for the password
// again, prompt=consent asks again even a first-party client, a wider scope
// asks consent again, prompt=none answers with a code when nothing is to be
// asked and redirects with an error otherwise, login_hint fills in the
// username.
func TestAuthCode_Prompt(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	narrow := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	wide := e.config(p, "web", "/cb", oidc.ScopeOpenID, "profile", "read")
	tool := e.config(p, "tool", "/tool/cb", oidc.ScopeOpenID)

	b := e.browser()
	r := newRequest()
	w := b.authorize(r.url(narrow, oauth2.SetAuthURLParam("login_hint", "alice")), "", "", "")
	if !w.SignIn {
		t.Fatalf("want the sign-in page, got %v", w.Last)
	}
	f, _ := signInForm(w.Last)
	if u, _ := f.field("username"); u.Value != "alice" {
		t.Errorf("login_hint=alice: the username input holds %q", u.Value)
	}
	r = newRequest()
	w = b.authorize(r.url(narrow), "alice", alicePassword, "allow")
	w.code(t, r.state)

	cases := []struct {
		name            string
		opts            []oauth2.AuthCodeOption
		signIn, consent bool
	}{
		{name: "prompt=login", opts: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login")}, signIn: true},
		{name: "max_age=0", opts: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "0")}, signIn: true},
		{name: "prompt=consent", opts: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "consent")}, consent: true},
		{name: "max_age=3600 just signed in", opts: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "3600")}},
		{name: "prompt=none remembered", opts: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest()
			w := b.authorize(r.url(narrow, tc.opts...), "", "", "")
			if w.SignIn != tc.signIn || w.Consent != tc.consent {
				t.Fatalf("sign-in page %v consent page %v, want %v %v: %v", w.SignIn, w.Consent, tc.signIn, tc.consent, w.Hops)
			}
			if !tc.signIn && !tc.consent {
				w.code(t, r.state)
			}
		})
	}
	t.Run("prompt=consent first-party", func(t *testing.T) {
		r := newRequest()
		if w := b.authorize(r.url(tool, oauth2.SetAuthURLParam("prompt", "consent")), "", "", ""); !w.Consent {
			t.Fatalf("want the consent page, got %v", w.Hops)
		}
	})
	t.Run("wider scope", func(t *testing.T) {
		r := newRequest()
		w := b.authorize(r.url(wide), "", "", "")
		if !w.Consent {
			t.Fatalf("a wider scope than consented: want the consent page, got %v", w.Hops)
		}
		if !strings.Contains(w.Last.Body, "profile") && !strings.Contains(strings.ToLower(w.Last.Body), "name") {
			t.Errorf("the consent page does not mention the profile scope:\n%s", truncate(w.Last.Body, 3000))
		}
	})
	t.Run("prompt=none wider scope", func(t *testing.T) {
		r := newRequest()
		w := b.authorize(r.url(wide, oauth2.SetAuthURLParam("prompt", "none")), "", "", "")
		if w.Callback == nil || w.Callback.Get("code") != "" {
			t.Fatalf("want an error redirect to the app, got %v", w.Hops)
		}
		if got := w.Callback.Get("error"); got != "consent_required" && got != "interaction_required" {
			t.Errorf("error = %q, want consent_required (OpenID Connect Core 3.1.2.6)", got)
		}
		if w.Callback.Get("state") != r.state || w.Callback.Get("iss") != e.issuer {
			t.Errorf("error redirect without state or iss: %v", w.Callback)
		}
	})
	t.Run("deny", func(t *testing.T) {
		r := newRequest()
		w := b.authorize(r.url(wide), "", "", "deny")
		if w.Callback == nil || w.Callback.Get("error") != "access_denied" || w.Callback.Get("code") != "" {
			t.Fatalf("deny: want error=access_denied at the app, got %v", w.Hops)
		}
		if w.Callback.Get("state") != r.state || w.Callback.Get("iss") != e.issuer {
			t.Errorf("deny redirect without state or iss: %v", w.Callback)
		}
	})
}

// TestAuthCode_UserChangeEndsSignIn: a password change, a disable and a
// delete of the user end their sign-in sessions (SPEC §2.6).
func TestAuthCode_UserChangeEndsSignIn(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	for _, tc := range []struct {
		name   string
		change func(user string)
	}{
		{"password change", func(u string) { e.cli("a new long password\n", "user", "passwd", u, "--password-stdin") }},
		{"disable", func(u string) { e.cli("", "user", "disable", u) }},
		{"delete", func(u string) { e.cli("", "user", "delete", u) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "u" + strings.ReplaceAll(tc.name, " ", "")
			e.addUser(user, "the first long password")
			b := e.browser()
			r := newRequest()
			b.authorize(r.url(web), user, "the first long password", "allow").code(t, r.state)
			r = newRequest()
			if w := b.authorize(r.url(web), "", "", ""); w.SignIn {
				t.Fatalf("signed in: the sign-in page came again")
			}
			tc.change(user)
			r = newRequest()
			if w := b.authorize(r.url(web), "", "", ""); !w.SignIn {
				t.Fatalf("after the %s: want the sign-in page, got %v", tc.name, w.Hops)
			}
		})
	}
}

// TestAuthCode_SessionCookie: the sign-in cookie's attributes on plain
// http, and the cookie, codes and refresh tokens stored only as hashes: none
// of them is in the database file.
func TestAuthCode_SessionCookie(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.browser()
	r := newRequest()
	w := b.authorize(r.url(web), "alice", alicePassword, "allow")
	code := w.code(t, r.state)
	var set *http.Cookie
	for _, c := range (&http.Response{Header: w.SignInPost.Header}).Cookies() {
		if strings.HasSuffix(c.Name, "authd_session") {
			set = c
		}
	}
	if set == nil {
		t.Fatalf("the sign-in answer set no session cookie: %v", w.SignInPost.Header["Set-Cookie"])
	}
	if set.Name != "authd_session" {
		t.Errorf("cookie name %q on plain http, want authd_session (the __Host- prefix needs Secure)", set.Name)
	}
	if !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Secure || set.Path != "/" || set.Domain != "" {
		t.Errorf("cookie HttpOnly %v SameSite %v Secure %v Path %q Domain %q, want HttpOnly, Lax, not Secure on http, Path /, no Domain",
			set.HttpOnly, set.SameSite, set.Secure, set.Path, set.Domain)
	}
	if len(set.Value) < 22 {
		t.Errorf("cookie value %d characters, want at least 128 bits", len(set.Value))
	}
	if len(code) < 22 {
		t.Errorf("code of %d characters, want at least 128 bits", len(code))
	}
	tok := e.exchange(web, r, code)
	if err := e.p.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(e.db)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"session cookie": set.Value, "code": code, "refresh token": tok.RefreshToken} {
		if bytes.Contains(file, []byte(secret)) {
			t.Errorf("the %s is in the database file in plain text", name)
		}
	}
}

// TestAuthCode_UserInfoErrors: 401 with a Bearer challenge without a valid
// token, 403 insufficient_scope for a token without openid.
func TestAuthCode_UserInfoErrors(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	a := e.token("pw", map[string]string{"grant_type": "password", "username": "alice", "password": alicePassword, "scope": "read"})
	if a.Status != http.StatusOK {
		t.Fatalf("password grant: %d %s", a.Status, a.Raw)
	}
	for _, tc := range []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no token", "", http.StatusUnauthorized, "Bearer"},
		{"garbage", "Bearer not-a-token", http.StatusUnauthorized, "invalid_token"},
		{"no openid", "Bearer " + a.Str("access_token"), http.StatusForbidden, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.issuer+"/userinfo", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != tc.status || !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, tc.challenge) {
				t.Errorf("status %d WWW-Authenticate %q, want %d and a Bearer challenge with %s", resp.StatusCode, ch, tc.status, tc.challenge)
			}
		})
	}
}

// jsonOf decodes a JSON object.
func jsonOf(s string) map[string]any {
	var m map[string]any
	json.Unmarshal([]byte(s), &m)
	return m
}

// TestAuthCode_ConsentRevoke: a consent is listed and revoked with the CLI
// and with the admin API (SPEC §1, §2.5); revoking it ends that client's
// refresh tokens for the user, and the next authorization asks again.
func TestAuthCode_ConsentRevoke(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.browser()
	consent := func(how string) *oauth2.Token {
		t.Helper()
		r := newRequest()
		w := b.authorize(r.url(web), "alice", alicePassword, "allow")
		if !w.Consent {
			t.Fatalf("%s: want the consent page, got %v", how, w.Hops)
		}
		return e.exchange(web, r, w.code(t, r.state))
	}
	ended := func(how string, tok *oauth2.Token) {
		t.Helper()
		a := e.token("web", map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken})
		if a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
			t.Errorf("%s: refresh after the consent was revoked: %d %s, want invalid_grant", how, a.Status, a.Raw)
		}
	}

	tok := consent("first")
	if out := e.cli("", "consent", "list", "--user", "alice"); !strings.Contains(out, "web") {
		t.Errorf("authd consent list --user alice does not show web:\n%s", out)
	}
	e.cli("", "consent", "revoke", "--user", "alice", "--client", "web")
	if out := e.cli("", "consent", "list", "--user", "alice"); strings.Contains(out, "web") {
		t.Errorf("after revoke, authd consent list still shows web:\n%s", out)
	}
	ended("CLI", tok)

	tok = consent("after the CLI's revoke")
	st, body := e.p.ControlJSON(t, http.MethodGet, "/admin/api/consents?user=alice", nil)
	if st != http.StatusOK || !strings.Contains(string(body), `"web"`) {
		t.Errorf("GET /admin/api/consents?user=alice: %d %s, want web listed", st, body)
	}
	if st, body = e.p.ControlJSON(t, http.MethodDelete, "/admin/api/consents/alice/web", nil); st != http.StatusNoContent {
		t.Errorf("DELETE /admin/api/consents/alice/web: %d %s, want 204", st, body)
	}
	ended("admin API", tok)
	consent("after the API's revoke")
}

var (
	devAuthURLRE  = regexp.MustCompile(`https?://[^\s'"]+/authorize\?[^\s'"]+`)
	devVerifierRE = regexp.MustCompile(`code_verifier=([A-Za-z0-9._~-]{43,128})`)
)

// TestAuthCode_DevDemo: `serve --dev` prints a ready-to-open authorization
// URL of a demo public client with a loopback redirect URI, and a curl for
// the exchange with its code_verifier; following the URL as the demo user
// gives a code that the verifier exchanges (SPEC §1).
func TestAuthCode_DevDemo(t *testing.T) {
	bin := authdtest.Binary(t)
	db := filepath.Join(t.TempDir(), "authd.db")
	port := authdtest.FreePort(t)
	p := authdtest.Start(t, bin, authdtest.Options{DB: db, Port: port, Args: []string{"--dev"}})
	dev := p.DevCredentials(t)
	var out string
	var m []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out = p.Stdout()
		if m = devAuthURLRE.FindStringSubmatch(out); m != nil && devVerifierRE.MatchString(out) {
			break
		}
	}
	if m == nil {
		t.Fatalf("serve --dev printed no authorization URL:\n%s", out)
	}
	v := devVerifierRE.FindStringSubmatch(out)
	if v == nil {
		t.Fatalf("serve --dev printed no code_verifier for the exchange:\n%s", out)
	}
	auth, err := url.Parse(m[0])
	if err != nil {
		t.Fatal(err)
	}
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(v[1]) {
		t.Errorf("the printed URL's challenge %q (%s) is not S256 of the printed verifier", q.Get("code_challenge"), q.Get("code_challenge_method"))
	}
	// The URL names the issuer's host (localhost by default); this test's
	// browser goes to the same server at 127.0.0.1.
	e := &env{t: t, bin: bin, db: db, p: p, issuer: p.URL, app: httptest.NewServer(http.NotFoundHandler()), secrets: map[string]string{}}
	defer e.app.Close()
	auth.Scheme, auth.Host = "http", p.Addr
	w := e.browser().authorize(auth.String(), dev.Username, dev.Password, "allow")
	if w.Callback == nil || w.Callback.Get("code") == "" {
		t.Fatalf("the demo URL did not end at the demo app with a code: %v", w.Hops)
	}
	if !strings.HasPrefix(w.At, "http://127.0.0.1") && !strings.HasPrefix(w.At, "http://[::1]") && !strings.HasPrefix(w.At, "http://localhost") {
		t.Errorf("the demo redirect URI %s is not loopback", w.At)
	}
	e.secrets = map[string]string{} // the demo client is public
	a := e.token(q.Get("client_id"), map[string]string{"grant_type": "authorization_code", "code": w.Callback.Get("code"), "redirect_uri": q.Get("redirect_uri"), "code_verifier": v[1]})
	if a.Status != http.StatusOK || a.Str("access_token") == "" {
		t.Errorf("exchange of the demo code: %d %s", a.Status, a.Raw)
	}
}

// TestAuthCode_FamilyMachinery: a code's refresh tokens are a family like
// a password login's (SPEC §2.6): listed as a session, rotated, a retry
// within the grace gets the same successor, and outside it (grace 0) a
// spent token revokes the family.
func TestAuthCode_FamilyMachinery(t *testing.T) {
	for _, grace := range []string{"10s", "0s"} {
		t.Run("grace "+grace, func(t *testing.T) {
			e := newEnv(t, "--refresh-reuse-grace", grace)
			e.fixture()
			var p *oidc.Provider // the endpoints of SPEC §2, no discovery
			web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
			r := newRequest()
			tok := e.exchange(web, r, e.browser().authorize(r.url(web), "alice", alicePassword, "allow").code(t, r.state))
			if at := jwtPart(t, tok.AccessToken, 1); at["client_id"] != "web" || at["auth_time"] == nil {
				t.Errorf("access token client_id %v auth_time %v", at["client_id"], at["auth_time"])
			}
			if out := e.cli("", "session", "list", "--user", "alice"); !strings.Contains(out, "web") {
				t.Errorf("authd session list --user alice does not show the code's family:\n%s", out)
			}
			refresh := func(rt string) authdtest.TokenAnswer {
				return e.token("web", map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
			}
			first := refresh(tok.RefreshToken)
			if first.Status != http.StatusOK || first.Str("refresh_token") == "" || first.Str("refresh_token") == tok.RefreshToken {
				t.Fatalf("refresh: %d %s", first.Status, first.Raw)
			}
			again := refresh(tok.RefreshToken)
			if grace == "10s" {
				if again.Status != http.StatusOK || again.Str("refresh_token") != first.Str("refresh_token") {
					t.Errorf("retry within the grace: %d, want the same successor", again.Status)
				}
				return
			}
			if again.Status != http.StatusBadRequest || again.Str("error") != "invalid_grant" {
				t.Fatalf("reuse with grace 0: %d %s, want invalid_grant", again.Status, again.Raw)
			}
			if next := refresh(first.Str("refresh_token")); next.Status != http.StatusBadRequest || next.Str("error") != "invalid_grant" {
				t.Errorf("the successor after reuse: %d %s, want invalid_grant (family revoked)", next.Status, next.Raw)
			}
		})
	}
}
