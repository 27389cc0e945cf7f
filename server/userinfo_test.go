package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// userInfoResult is a decoded /userinfo answer.
type userInfoResult struct {
	tokenResult
	challenge string
}

// userInfo calls /userinfo with method, an optional bearer token in the
// Authorization header and an optional form body.
func (e *testEnv) userInfo(method, bearer string, body url.Values) userInfoResult {
	e.t.Helper()
	var req *http.Request
	if body != nil {
		req, _ = http.NewRequest(method, e.url+"/userinfo", strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, e.url+"/userinfo", nil)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	r := decode(e.t, resp)
	return userInfoResult{r, r.Header.Get("WWW-Authenticate")}
}

// TestUserInfo: the UserInfo endpoint's 200, 401 and 403 answers (SPEC
// 2.7, RFC 6750 §3).
func TestUserInfo(t *testing.T) {
	t.Parallel()
	e := newCodeEnv(t)
	code, verifier := e.newCode(e.spa, nil)
	full := e.redeem(e.spa, "", code, verifier)
	code, verifier = e.newCode(e.spa, func(c *storage.AuthCode) { c.Scope = []string{ScopeOpenID} })
	openidOnly := e.redeem(e.spa, "", code, verifier)
	code, verifier = e.newCode(e.spa, func(c *storage.AuthCode) { c.Scope = []string{"read"} })
	noOpenID := e.redeem(e.spa, "", code, verifier)
	for _, r := range []tokenResult{full, openidOnly, noOpenID} {
		if r.Status != 200 {
			t.Fatalf("exchange: %d %s", r.Status, r.Raw)
		}
	}
	e.addClient("cc", appSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Scopes = []string{ScopeOpenID}
	})
	cc := e.token(url.Values{"grant_type": {GrantClientCredentials}}, "cc", appSecret)
	if cc.Status != 200 {
		t.Fatalf("client credentials: %d %s", cc.Status, cc.Raw)
	}
	at := full.str("access_token")

	t.Run("200", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := e.userInfo(method, at, nil)
			if r.Status != 200 || r.str("sub") != e.user.ID || r.str("preferred_username") != "alice" || len(r.Body) != 2 {
				t.Errorf("%s: %d %s, want 200 with sub and preferred_username only", method, r.Status, r.Raw)
			}
			if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: Cache-Control %q Content-Type %q", method, r.Header.Get("Cache-Control"), r.Header.Get("Content-Type"))
			}
		}
		r := e.userInfo(http.MethodGet, openidOnly.str("access_token"), nil)
		if r.Status != 200 || r.str("sub") != e.user.ID || len(r.Body) != 1 {
			t.Errorf("without profile: %d %s, want sub only", r.Status, r.Raw)
		}
		// RFC 6750 §2.2: the token in a form body of a POST.
		r = e.userInfo(http.MethodPost, "", url.Values{"access_token": {at}})
		if r.Status != 200 || r.str("sub") != e.user.ID {
			t.Errorf("token in the POST body: %d %s", r.Status, r.Raw)
		}
	})

	idToken := full.str("id_token")
	refused := []struct {
		name      string
		method    string
		bearer    string
		body      url.Values
		header    string // a raw Authorization header instead of bearer
		status    int
		code      string
		challenge string
	}{
		{name: "no token", method: http.MethodGet, status: 401, code: "unauthorized", challenge: `Bearer realm="authd"`},
		{name: "Basic instead of Bearer", method: http.MethodGet, header: basicAuth("spa", ""), status: 401, code: "unauthorized", challenge: `Bearer realm="authd"`},
		{name: "garbage", method: http.MethodGet, bearer: "not-a-token", status: 401, code: "invalid_token", challenge: `error="invalid_token"`},
		{name: "tampered", method: http.MethodGet, bearer: at[:len(at)-4] + "AAAA", status: 401, code: "invalid_token", challenge: `error="invalid_token"`},
		{name: "an ID token", method: http.MethodGet, bearer: idToken, status: 401, code: "invalid_token", challenge: `error="invalid_token"`},
		{name: "a refresh token", method: http.MethodGet, bearer: full.str("refresh_token"), status: 401, code: "invalid_token", challenge: `error="invalid_token"`},
		{name: "without openid", method: http.MethodGet, bearer: noOpenID.str("access_token"), status: 403, code: "insufficient_scope", challenge: `error="insufficient_scope", scope="openid"`},
		{name: "a client's own token", method: http.MethodGet, bearer: cc.str("access_token"), status: 403, code: "insufficient_scope", challenge: `error="insufficient_scope"`},
		{name: "header and body", method: http.MethodPost, bearer: at, body: url.Values{"access_token": {at}}, status: 400, code: "invalid_request", challenge: `error="invalid_request"`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			var r userInfoResult
			if tc.header != "" {
				req, _ := http.NewRequest(tc.method, e.url+"/userinfo", nil)
				req.Header.Set("Authorization", tc.header)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res := decode(t, resp)
				r = userInfoResult{res, res.Header.Get("WWW-Authenticate")}
			} else {
				r = e.userInfo(tc.method, tc.bearer, tc.body)
			}
			if r.Status != tc.status || r.str("error") != tc.code || !strings.Contains(r.challenge, tc.challenge) {
				t.Errorf("got %d %s WWW-Authenticate %q, want %d %s with %q", r.Status, r.Raw, r.challenge, tc.status, tc.code, tc.challenge)
			}
			if strings.Contains(r.Raw, e.user.ID) {
				t.Errorf("a refused request learnt the subject: %s", r.Raw)
			}
		})
	}

	t.Run("token in the URL", func(t *testing.T) {
		resp, err := http.Get(e.url + "/userinfo?access_token=" + url.QueryEscape(at))
		if err != nil {
			t.Fatal(err)
		}
		if r := decode(t, resp); r.Status != 400 || r.str("error") != "invalid_request" {
			t.Errorf("token in the query: %d %s, want 400 invalid_request", r.Status, r.Raw)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		code, verifier := e.newCode(e.web, nil)
		r := e.redeem(e.web, webSecret, code, verifier)
		if rv := decode(t, e.post("/revoke", url.Values{"token": {r.str("access_token")}}, "web", webSecret)); rv.Status != 200 {
			t.Fatalf("revoke: %d %s", rv.Status, rv.Raw)
		}
		if u := e.userInfo(http.MethodGet, r.str("access_token"), nil); u.Status != 401 || u.str("error") != "invalid_token" {
			t.Errorf("revoked token: %d %s, want 401 invalid_token", u.Status, u.Raw)
		}
	})

	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(e.srv.cfg.AccessTTL)
		defer e.clock.Advance(-e.srv.cfg.AccessTTL)
		if r := e.userInfo(http.MethodGet, at, nil); r.Status != 401 || r.str("error") != "invalid_token" {
			t.Errorf("expired token: %d %s, want 401 invalid_token", r.Status, r.Raw)
		}
	})
}

// TestUserInfo_UserNoLongerCurrent: a token of a user who was disabled, or
// whose password changed, since it was issued is invalid_token, as at
// introspection (server/current.go).
func TestUserInfo_UserNoLongerCurrent(t *testing.T) {
	t.Parallel()
	for _, change := range []struct {
		name string
		fn   func(*storage.User, time.Time)
	}{
		{"disabled", func(u *storage.User, now time.Time) { u.Disabled = true; u.EndSessions(now, "disabled") }},
		{"password changed", func(u *storage.User, now time.Time) { u.EndSessions(now, "password changed") }},
	} {
		t.Run(change.name, func(t *testing.T) {
			t.Parallel()
			e := newCodeEnv(t)
			code, verifier := e.newCode(e.spa, nil)
			r := e.redeem(e.spa, "", code, verifier)
			if u := e.userInfo(http.MethodGet, r.str("access_token"), nil); u.Status != 200 {
				t.Fatalf("before: %d %s", u.Status, u.Raw)
			}
			if _, err := e.store.UpdateUser(t.Context(), "alice", func(u storage.User) (storage.User, error) {
				change.fn(&u, e.clock.Now())
				return u, nil
			}); err != nil {
				t.Fatal(err)
			}
			// Past the user cache's TTL (a change through another server).
			e.clock.Advance(userCacheTTL)
			if u := e.userInfo(http.MethodGet, r.str("access_token"), nil); u.Status != 401 || u.str("error") != "invalid_token" {
				t.Errorf("after: %d %s, want 401 invalid_token", u.Status, u.Raw)
			}
		})
	}
}

// TestOpenIDConfiguration: the discovery document holds every field of the
// RFC 8414 one and the OpenID fields of SPEC 2.7 with their values; the
// RFC 8414 document gains the code flow's fields but none of OpenID's.
func TestOpenIDConfiguration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var oidc, oauth map[string]any
	if err := json.Unmarshal([]byte(e.get("/.well-known/openid-configuration")), &oidc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(e.get("/.well-known/oauth-authorization-server")), &oauth); err != nil {
		t.Fatal(err)
	}
	for k, v := range oauth {
		if got, _ := json.Marshal(oidc[k]); string(got) != string(mustMarshal(t, v)) {
			t.Errorf("openid-configuration %s = %s, want the RFC 8414 document's %s", k, got, mustMarshal(t, v))
		}
	}
	want := map[string]string{
		"issuer":                                         `"` + e.url + `"`,
		"authorization_endpoint":                         `"` + e.url + `/authorize"`,
		"token_endpoint":                                 `"` + e.url + `/token"`,
		"userinfo_endpoint":                              `"` + e.url + `/userinfo"`,
		"jwks_uri":                                       `"` + e.url + `/.well-known/jwks.json"`,
		"end_session_endpoint":                           `"` + e.url + `/logout"`,
		"response_types_supported":                       `["code"]`,
		"subject_types_supported":                        `["public"]`,
		"id_token_signing_alg_values_supported":          `["RS256"]`,
		"code_challenge_methods_supported":               `["S256"]`,
		"authorization_response_iss_parameter_supported": `true`,
		"grant_types_supported":                          `["authorization_code","password","refresh_token","client_credentials"]`,
		"token_endpoint_auth_methods_supported":          `["client_secret_basic","client_secret_post","none"]`,
	}
	for k, v := range want {
		if got := string(mustMarshal(t, oidc[k])); got != v {
			t.Errorf("openid-configuration %s = %s, want %s", k, got, v)
		}
	}
	for _, k := range []string{"scopes_supported", "claims_supported"} {
		list, _ := oidc[k].([]any)
		if len(list) == 0 {
			t.Errorf("openid-configuration has no %s", k)
		}
	}
	if !strings.Contains(string(mustMarshal(t, oidc["scopes_supported"])), `"openid"`) {
		t.Errorf("scopes_supported %v lacks openid", oidc["scopes_supported"])
	}
	for _, k := range []string{"userinfo_endpoint", "end_session_endpoint", "id_token_signing_alg_values_supported", "subject_types_supported"} {
		if _, ok := oauth[k]; ok {
			t.Errorf("the RFC 8414 document has the OpenID field %s", k)
		}
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
