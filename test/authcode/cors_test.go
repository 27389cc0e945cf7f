package authcode

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// corsDo sends a request as a browser's fetch would, with Origin.
func corsDo(t *testing.T, method, rawURL, origin string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func preflight(t *testing.T, rawURL, origin, method, headers string) *http.Response {
	t.Helper()
	h := http.Header{"Access-Control-Request-Method": {method}}
	if headers != "" {
		h.Set("Access-Control-Request-Headers", headers)
	}
	resp, _ := corsDo(t, http.MethodOptions, rawURL, origin, h, "")
	return resp
}

func listHas(list, item string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(x), item) || strings.TrimSpace(x) == "*" {
			return true
		}
	}
	return false
}

// TestAuthCode_SPA_CORS is a single-page app in a browser, as oauth4webapi
// or openid-client send it: the code comes to the app's page, and the app's
// JavaScript calls /token, /userinfo and /revoke across origins, preflight
// included (SPEC §2.6). A foreign origin gets no CORS answer; the JWKS and
// metadata answer any origin; the admin API none.
func TestAuthCode_SPA_CORS(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	spa := e.config(p, "spa", "/spa/cb", oidc.ScopeOpenID, "profile", "read")
	origin := e.app.URL // http://127.0.0.1:PORT, the origin of spa's redirect URI
	const evil = "http://evil.example"

	b := e.browser()
	r := newRequest()
	code := b.authorize(r.url(spa), "alice", alicePassword, "allow").code(t, r.state)

	allowed := func(t *testing.T, what string, resp *http.Response, origin string) {
		t.Helper()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", what, got, origin)
		}
		if !listHas(resp.Header.Get("Vary"), "Origin") {
			t.Errorf("%s: Vary %q, want Origin (the answer depends on it)", what, resp.Header.Get("Vary"))
		}
	}
	refused := func(t *testing.T, what string, resp *http.Response) {
		t.Helper()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want none", what, got)
		}
	}

	for _, path := range []string{"/token", "/revoke"} {
		resp := preflight(t, e.issuer+path, origin, "POST", "content-type")
		if resp.StatusCode/100 != 2 {
			t.Errorf("preflight %s: status %d", path, resp.StatusCode)
		}
		allowed(t, "preflight "+path, resp, origin)
		if m := resp.Header.Get("Access-Control-Allow-Methods"); !listHas(m, "POST") {
			t.Errorf("preflight %s: Allow-Methods %q, want POST", path, m)
		}
		if h := resp.Header.Get("Access-Control-Allow-Headers"); !listHas(h, "content-type") {
			t.Errorf("preflight %s: Allow-Headers %q, want content-type", path, h)
		}
		refused(t, "preflight "+path+" from "+evil, preflight(t, e.issuer+path, evil, "POST", "content-type"))
		refused(t, "preflight "+path+" from null", preflight(t, e.issuer+path, "null", "POST", "content-type"))
	}
	resp := preflight(t, e.issuer+"/userinfo", origin, "GET", "authorization")
	allowed(t, "preflight /userinfo", resp, origin)
	if h := resp.Header.Get("Access-Control-Allow-Headers"); !listHas(h, "authorization") {
		t.Errorf("preflight /userinfo: Allow-Headers %q, want authorization", h)
	}
	refused(t, "preflight /userinfo from "+evil, preflight(t, e.issuer+"/userinfo", evil, "GET", "authorization"))

	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	body := url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "redirect_uri": {spa.RedirectURL}, "code_verifier": {r.verifier}}.Encode()
	resp, raw := corsDo(t, http.MethodPost, e.issuer+"/token", origin, form, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code exchange of the public client from the browser: %d %s", resp.StatusCode, raw)
	}
	allowed(t, "POST /token", resp, origin)
	tok := jsonOf(raw)
	at, _ := tok["access_token"].(string)
	rt, _ := tok["refresh_token"].(string)
	if id, _ := tok["id_token"].(string); id == "" || at == "" || rt == "" {
		t.Fatalf("token response without id_token, access_token or refresh_token: %s", raw)
	}

	resp, raw = corsDo(t, http.MethodGet, e.issuer+"/userinfo", origin, http.Header{"Authorization": {"Bearer " + at}}, "")
	if resp.StatusCode != http.StatusOK || jsonOf(raw)["sub"] == nil {
		t.Errorf("GET /userinfo: %d %s", resp.StatusCode, raw)
	}
	allowed(t, "GET /userinfo", resp, origin)
	resp, _ = corsDo(t, http.MethodGet, e.issuer+"/userinfo", evil, http.Header{"Authorization": {"Bearer " + at}}, "")
	refused(t, "GET /userinfo from "+evil, resp)

	resp, raw = corsDo(t, http.MethodPost, e.issuer+"/token", origin, form, url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh of the public client from the browser: %d %s", resp.StatusCode, raw)
	}
	allowed(t, "POST /token (refresh)", resp, origin)
	rt, _ = jsonOf(raw)["refresh_token"].(string)

	resp, raw = corsDo(t, http.MethodPost, e.issuer+"/token", evil, form, url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {"authd_rt_x"}}.Encode())
	refused(t, "POST /token from "+evil, resp)

	resp, raw = corsDo(t, http.MethodPost, e.issuer+"/revoke", origin, form, url.Values{"client_id": {"spa"}, "token": {rt}, "token_type_hint": {"refresh_token"}}.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /revoke: %d %s", resp.StatusCode, raw)
	}
	allowed(t, "POST /revoke", resp, origin)

	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, _ := corsDo(t, http.MethodGet, e.issuer+path, evil, nil, "")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != evil {
			t.Errorf("GET %s from any origin: Access-Control-Allow-Origin %q, want * (or the origin)", path, got)
		}
	}
	for _, path := range []string{"/admin/api/users", "/authorize", "/logout"} {
		refused(t, "preflight "+path, preflight(t, e.issuer+path, origin, "GET", "authorization"))
		resp, _ := corsDo(t, http.MethodGet, e.issuer+path, origin, nil, "")
		refused(t, "GET "+path, resp)
	}
}
