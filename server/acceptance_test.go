package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// Tests of issue 12, class D: a token accepted only where it was meant to
// be (SPEC 2.1, 2.4, 2.5), and the operator's tools of class C that narrow
// a client or demote an admin without deleting them.

const (
	apiAudience = "https://api.example"
	ccSecret    = "svc-secret-that-is-long-enough-1234567890"
)

func withAudience(aud string) envOption {
	return func(c *Config) { c.Audience = aud }
}

// claimsOf decodes the payload of a JWT without verifying it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// mint signs an access token with the server's active key, as issue does,
// with whatever client, audience and scope a test needs: the admin API
// must judge a token by its claims, not by how it was obtained.
func (e *testEnv) mint(sub, username, clientID, aud string, scope ...string) string {
	e.t.Helper()
	ctx := e.t.Context()
	// The client as stored (its instance makes the token current), or one
	// that never existed.
	cl, err := e.srv.store.GetClient(ctx, clientID)
	if err != nil {
		cl = storage.Client{ID: clientID}
	}
	// A user as stored (its session generation makes the token current),
	// or one that never existed; none for a client's own token.
	var u *storage.User
	if sub != clientID {
		su, err := e.srv.store.GetUserByID(ctx, sub)
		if err != nil {
			su = storage.User{ID: sub, Username: username}
		}
		u = &su
	}
	r, er := e.srv.issue(u, cl, aud, scope, e.clock.Now(), e.clock.Now())
	if er != nil {
		e.t.Fatal(er)
	}
	return r.AccessToken
}

// TestGrant_AdminScopeOnlyThroughConsole: authd:admin is granted only
// through the built-in authd-console client (SPEC 2.1), even to an admin
// user logging in through another client registered with that scope.
func TestGrant_AdminScopeOnlyThroughConsole(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	e.addClient("spa", "", func(c *storage.Client) { c.Scopes = []string{"read", AdminScope} })
	e.addClient("app", appSecret, func(c *storage.Client) { c.Scopes = []string{"read", AdminScope} })

	tests := []struct {
		name, client, secret, scope string
		status                      int
		wantScope, err              string
	}{
		{"public client asking for admin", "spa", "", AdminScope, 400, "", "invalid_scope"},
		{"public client asking for read and admin", "spa", "", "read " + AdminScope, 400, "", "invalid_scope"},
		{"public client, no scope", "spa", "", "", 200, "read", ""},
		{"confidential client asking for admin", "app", appSecret, AdminScope, 400, "", "invalid_scope"},
		{"confidential client, no scope", "app", appSecret, "", 200, "read", ""},
		{"console", ConsoleClientID, "", AdminScope, 200, AdminScope, ""},
		{"console, no scope", ConsoleClientID, "", "", 200, AdminScope, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"password"}, "username": {"root"}, "password": {"root-password"}}
			if tt.scope != "" {
				form.Set("scope", tt.scope)
			}
			id := tt.client
			if tt.secret == "" {
				form.Set("client_id", tt.client)
				id = ""
			}
			r := e.token(form, id, tt.secret)
			if r.Status != tt.status || r.str("error") != tt.err {
				t.Fatalf("got %d %s, want %d %q", r.Status, r.Raw, tt.status, tt.err)
			}
			if r.Status != 200 {
				return
			}
			if r.str("scope") != tt.wantScope {
				t.Errorf("scope %q, want %q", r.str("scope"), tt.wantScope)
			}
			if got := claimsOf(t, r.str("access_token"))["scope"]; got != tt.wantScope {
				t.Errorf("access token scope %q, want %q", got, tt.wantScope)
			}
		})
	}
}

// TestToken_ConsoleAudienceIsIssuer: tokens issued to authd-console carry
// aud = the issuer whatever --audience says, at login and at refresh, and
// the console cannot pick another resource (SPEC 2.5).
func TestToken_ConsoleAudienceIsIssuer(t *testing.T) {
	e := newEnv(t, withAudience(apiAudience))
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	e.addClient("app", appSecret, nil)

	login := e.consoleLogin("root", "root-password", AdminScope)
	if login.Status != 200 {
		t.Fatalf("console login: %d %s", login.Status, login.Raw)
	}
	if aud := claimsOf(t, login.str("access_token"))["aud"]; aud != e.url {
		t.Errorf("console token aud %v, want the issuer %s", aud, e.url)
	}
	r := e.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {ConsoleClientID}, "refresh_token": {login.str("refresh_token")}}, "", "")
	if r.Status != 200 {
		t.Fatalf("console refresh: %d %s", r.Status, r.Raw)
	}
	if aud := claimsOf(t, r.str("access_token"))["aud"]; aud != e.url {
		t.Errorf("console token aud after refresh %v, want the issuer %s", aud, e.url)
	}
	r = e.token(url.Values{"grant_type": {"password"}, "client_id": {ConsoleClientID}, "username": {"root"}, "password": {"root-password"}, "resource": {apiAudience}}, "", "")
	if r.Status != 400 || r.str("error") != "invalid_target" {
		t.Errorf("console with resource %s: %d %s, want invalid_target", apiAudience, r.Status, r.Raw)
	}
	// Other clients keep the server's default audience.
	r = e.login("app", appSecret, "root", "root-password")
	if aud := claimsOf(t, r.str("access_token"))["aud"]; aud != apiAudience {
		t.Errorf("app token aud %v, want the default %s", aud, apiAudience)
	}
}

// TestAdminAPI_TokenAcceptance: the admin API's bearer check in the order
// of SPEC 2.5, for tokens of every kind authd can sign.
func TestAdminAPI_TokenAcceptance(t *testing.T) {
	e := newEnv(t, withAudience(apiAudience))
	root := e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	demoted := e.addUser("demoted", "demoted-password", func(u *storage.User) { u.Admin = true })
	plain := e.addUser("plain", "plain-password", nil)
	e.addClient("spa", "", func(c *storage.Client) { c.Scopes = []string{"read", AdminScope} })
	e.addClient("svc", ccSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Scopes = []string{"read"}
	})

	cc := e.token(url.Values{"grant_type": {"client_credentials"}}, "svc", ccSecret)
	if cc.Status != 200 {
		t.Fatalf("client credentials: %d %s", cc.Status, cc.Raw)
	}
	console := e.consoleLogin("root", "root-password", AdminScope)
	if console.Status != 200 {
		t.Fatalf("console login: %d %s", console.Status, console.Raw)
	}
	demotedTok := e.mint(demoted.ID, demoted.Username, ConsoleClientID, e.url, AdminScope)
	if _, err := e.store.UpdateUser(context.Background(), "demoted", func(u storage.User) (storage.User, error) {
		u.Admin = false
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	expired := e.mint(root.ID, root.Username, ConsoleClientID, e.url, AdminScope)

	tests := []struct {
		name   string
		token  string
		status int
		// challenge is the error of the WWW-Authenticate header, "" for
		// a plain Bearer challenge.
		challenge string
	}{
		{"console token of an admin", console.str("access_token"), 200, ""},
		{"minted like the console", e.mint(root.ID, root.Username, ConsoleClientID, e.url, AdminScope), 200, ""},
		{"client credentials token", cc.str("access_token"), 403, "insufficient_scope"},
		{"user token without the scope", e.mint(plain.ID, plain.Username, "spa", apiAudience, "read"), 403, "insufficient_scope"},
		{"admin's console token without the scope", e.mint(root.ID, root.Username, ConsoleClientID, e.url, "read"), 403, "insufficient_scope"},
		{"admin token of another client", e.mint(root.ID, root.Username, "spa", e.url, AdminScope), 401, "invalid_token"},
		{"admin token of another client and aud", e.mint(root.ID, root.Username, "spa", apiAudience, AdminScope), 401, "invalid_token"},
		{"console token for another aud", e.mint(root.ID, root.Username, ConsoleClientID, apiAudience, AdminScope), 401, "invalid_token"},
		{"client subject with the scope", e.mint("svc", "", "svc", e.url, AdminScope), 401, "invalid_token"},
		{"client subject with the scope, console", e.mint("svc", "", ConsoleClientID, e.url, AdminScope), 401, "invalid_token"},
		{"user who is not an admin", e.mint(plain.ID, plain.Username, ConsoleClientID, e.url, AdminScope), 401, "invalid_token"},
		{"admin demoted since", demotedTok, 401, "invalid_token"},
		{"unknown user", e.mint("nobody", "nobody", ConsoleClientID, e.url, AdminScope), 401, "invalid_token"},
		{"garbage", "a.b.c", 401, "invalid_token"},
		{"expired", expired, 401, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "expired" {
				e.clock.Advance(16 * time.Minute)
				defer e.clock.Advance(-16 * time.Minute)
			}
			r := e.adminCall("GET", "/admin/api/users", tt.token, "")
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			ch := r.Header.Get("WWW-Authenticate")
			if tt.status == 200 {
				if ch != "" {
					t.Errorf("WWW-Authenticate %q on success", ch)
				}
				return
			}
			if !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, `error="`+tt.challenge+`"`) {
				t.Errorf("WWW-Authenticate %q, want Bearer with error=%q", ch, tt.challenge)
			}
			var eb struct {
				Error string `json:"error"`
			}
			r.json(t, &eb)
			if eb.Error != tt.challenge {
				t.Errorf("error %q, want %q", eb.Error, tt.challenge)
			}
		})
	}
}

// TestAdminAPI_ReplayFromAnotherClient is the attack of issue 12 end to end:
// a public client registered with authd:admin, an admin logging in through
// it, and the token replayed against the admin API. Neither step may work.
func TestAdminAPI_ReplayFromAnotherClient(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	e.addClient("spa", "", func(c *storage.Client) {
		c.Scopes = []string{"read", AdminScope}
		c.Audiences = []string{apiAudience}
	})
	r := e.token(url.Values{"grant_type": {"password"}, "client_id": {"spa"}, "username": {"root"}, "password": {"root-password"}}, "", "")
	if r.Status != 200 {
		t.Fatalf("login through spa: %d %s", r.Status, r.Raw)
	}
	if strings.Contains(r.str("scope"), AdminScope) {
		t.Errorf("spa was granted %q", r.str("scope"))
	}
	if a := e.adminCall("GET", "/admin/api/users", r.str("access_token"), ""); a.Status == 200 {
		t.Errorf("the admin API accepted a token of spa: %d %s", a.Status, a.Body)
	}
}

// TestIntrospect_WhoSees: an access token is reported active only to the
// client it was issued to and to resource servers registered with one of
// its audiences (not the server's default); a refresh token only to its
// client (SPEC 2.4).
func TestIntrospect_WhoSees(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "pw", nil)
	e.addClient("app", appSecret, nil)
	e.addClient("web", "web-secret-that-is-long-enough-12345", func(c *storage.Client) { c.Audiences = []string{apiAudience} })
	rsClient := func(id string, auds ...string) {
		e.addClient(id, rsSecret, func(c *storage.Client) {
			c.Grants = []string{GrantClientCredentials}
			c.Audiences = auds
		})
	}
	rsClient("foreign")
	rsClient("rs-api", apiAudience)
	rsClient("rs-other", "https://other.example")
	rsClient("rs-default", e.url)

	appLogin := e.login("app", appSecret, "alice", "pw")
	webLogin := e.login("web", "web-secret-that-is-long-enough-12345", "alice", "pw")
	if appLogin.Status != 200 || webLogin.Status != 200 {
		t.Fatalf("logins: %s / %s", appLogin.Raw, webLogin.Raw)
	}

	tests := []struct {
		name, token, client, secret string
		active                      bool
	}{
		{"own access token", appLogin.str("access_token"), "app", appSecret, true},
		{"foreign client, default aud", appLogin.str("access_token"), "foreign", rsSecret, false},
		{"resource server of the default aud", appLogin.str("access_token"), "rs-default", rsSecret, false},
		{"resource server of another aud", appLogin.str("access_token"), "rs-api", rsSecret, false},
		{"resource server of the token's aud", webLogin.str("access_token"), "rs-api", rsSecret, true},
		{"own access token with an aud", webLogin.str("access_token"), "web", "web-secret-that-is-long-enough-12345", true},
		{"foreign client, api aud", webLogin.str("access_token"), "foreign", rsSecret, false},
		{"other resource server", webLogin.str("access_token"), "rs-other", rsSecret, false},
		{"another user client", webLogin.str("access_token"), "app", appSecret, false},
		{"own refresh token", appLogin.str("refresh_token"), "app", appSecret, true},
		{"refresh token to its resource server", webLogin.str("refresh_token"), "rs-api", rsSecret, false},
		{"refresh token to a foreign client", appLogin.str("refresh_token"), "foreign", rsSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.introspect(tt.token, tt.client, tt.secret)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			if !tt.active {
				if r.Raw != `{"active":false}` {
					t.Errorf("got %s, want exactly {\"active\":false}", r.Raw)
				}
				return
			}
			if r.Body["active"] != true || r.str("username") != "alice" {
				t.Errorf("got %s, want active", r.Raw)
			}
		})
	}
}

// TestEndpoints_TwoAuthorizationHeaders: two Authorization headers on the
// token, revocation and introspection endpoints are invalid_request (SPEC
// 2.1), never answered with the first.
func TestEndpoints_TwoAuthorizationHeaders(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "pw", nil)
	e.addClient("app", appSecret, nil)
	e.addClient("svc", ccSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	login := e.login("app", appSecret, "alice", "pw")
	if login.Status != 200 {
		t.Fatalf("login: %d %s", login.Status, login.Raw)
	}
	good := basicAuth("svc", ccSecret)
	tests := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"token, same Basic twice", "/token", url.Values{"grant_type": {"client_credentials"}}, []string{good, good}},
		{"token, Basic then wrong", "/token", url.Values{"grant_type": {"client_credentials"}}, []string{good, basicAuth("svc", "wrong")}},
		{"token, Basic then Bearer", "/token", url.Values{"grant_type": {"client_credentials"}}, []string{good, "Bearer x"}},
		{"token, empty then Basic", "/token", url.Values{"grant_type": {"client_credentials"}}, []string{"", good}},
		{"token, public client with two", "/token", url.Values{"grant_type": {"password"}, "client_id": {ConsoleClientID}, "username": {"alice"}, "password": {"pw"}}, []string{"Bearer a", "Bearer b"}},
		{"revoke", "/revoke", url.Values{"token": {login.str("refresh_token")}}, []string{basicAuth("app", appSecret), basicAuth("app", appSecret)}},
		{"introspect", "/introspect", url.Values{"token": {login.str("access_token")}}, []string{basicAuth("app", appSecret), basicAuth("app", appSecret)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+tt.path, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header["Authorization"] = tt.headers
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, resp)
			if r.Status != 400 || r.str("error") != "invalid_request" {
				t.Fatalf("got %d %s, want 400 invalid_request", r.Status, r.Raw)
			}
		})
	}
	// Nothing was revoked by the refused revocation.
	if r := e.refresh("app", appSecret, login.str("refresh_token")); r.Status != 200 {
		t.Errorf("refresh after the refused revocation: %d %s", r.Status, r.Raw)
	}
}

// TestForm_TwoContentTypes: a second Content-Type header is refused rather
// than the first believed; the class of TestEndpoints_TwoAuthorizationHeaders.
func TestForm_TwoContentTypes(t *testing.T) {
	e := newEnv(t)
	e.addClient("svc", ccSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	req, _ := http.NewRequest(http.MethodPost, e.url+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header["Content-Type"] = []string{"application/x-www-form-urlencoded", "application/json"}
	req.Header.Set("Authorization", basicAuth("svc", ccSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r := decode(t, resp); r.Status != 400 || r.str("error") != "invalid_request" {
		t.Fatalf("got %d %s, want 400 invalid_request", r.Status, r.Raw)
	}
}

// TestAdminAPI_RepeatedInput: a header or query parameter given twice is
// refused rather than the first believed (the class of two Authorization
// headers on /token).
func TestAdminAPI_RepeatedInput(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "pw", nil)
	tests := []struct {
		name   string
		method string
		target string
		header http.Header
		body   string
		status int
		want   string
	}{
		{"two Content-Type headers", "POST", "/admin/api/users",
			http.Header{"Content-Type": {"application/json", "text/plain"}}, `{"username":"bob","password":"bob-password"}`, 400, "more than one Content-Type"},
		{"two user parameters", "GET", "/admin/api/sessions?user=alice&user=bob", nil, "", 400, "repeated"},
		{"two Authorization headers", "GET", "/admin/api/users",
			http.Header{"Authorization": {"Bearer a.b.c", "Bearer d.e.f"}}, "", 400, "more than one Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.url+tt.target, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			var r adminResp
			if tt.header.Get("Authorization") != "" {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r = decodeAdmin(t, resp)
			} else {
				// Over the control socket's handler, which needs no token.
				rec := httptest.NewRecorder()
				req.RequestURI = tt.target
				e.srv.AdminHandler().ServeHTTP(rec, req)
				r = adminResp{Status: rec.Code, Body: rec.Body.String()}
			}
			if r.Status != tt.status || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("got %d %s, want %d containing %q", r.Status, r.Body, tt.status, tt.want)
			}
		})
	}
	if r := e.direct("GET", "/admin/api/users/bob", ""); r.Status != 404 {
		t.Errorf("the refused creation created bob: %d", r.Status)
	}
}

func decodeAdmin(t *testing.T, resp *http.Response) adminResp {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return adminResp{Status: resp.StatusCode, Header: resp.Header, Body: b.String()}
}
