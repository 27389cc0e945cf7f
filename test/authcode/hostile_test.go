package authcode

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// extRedirect is the registered redirect URI of the client "ext", on a host
// the tests never reach: the tricks below are variations of it.
const extRedirect = "https://app.example/cb"

// addExt adds the first-party client ext with the single redirect URI
// extRedirect: a signed-in browser gets its code at once, so that a wrongly
// accepted redirect URI would show as a Location with a code.
func (e *env) addExt() {
	e.t.Helper()
	e.addClient(clientSpec{ID: "ext", FirstParty: true, Grants: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "read"}, RedirectURIs: []string{extRedirect}})
}

// authorizeQuery is a valid authorization request of client id to redirect,
// with set's values in place of its own (an empty value removes one).
func authorizeQuery(id, redirect string, set url.Values) url.Values {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {id},
		"redirect_uri":          {redirect},
		"scope":                 {"openid"},
		"state":                 {"st-" + randString(6)},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
	for k, v := range set {
		if len(v) == 1 && v[0] == "" {
			delete(q, k)
		} else {
			q[k] = v
		}
	}
	return q
}

// once sends one request with the browser's cookies and does not follow a
// redirect.
func (b *browser) once(method, rawURL string, form url.Values) hop {
	b.t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(b.t.Context(), method, rawURL, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(b.t.Context(), method, rawURL, nil)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range b.Header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, truncate(rawURL, 300), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return hop{Method: method, Status: resp.StatusCode, URL: req.URL, Header: resp.Header, Body: string(body)}
}

// errorPage checks that h is authd's error page: 400, HTML, no Location,
// no refresh to elsewhere.
func errorPage(t *testing.T, h hop) {
	t.Helper()
	if loc := h.Header.Get("Location"); loc != "" {
		t.Fatalf("%v: redirected to %q; want authd's error page, never a redirect", h, loc)
	}
	if h.Status != http.StatusBadRequest {
		t.Errorf("%v: status %d, want 400", h, h.Status)
	}
	if ct := h.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%v: Content-Type %q, want an HTML page", h, ct)
	}
	if low := strings.ToLower(h.Body); strings.Contains(low, "http-equiv=\"refresh\"") || strings.Contains(low, "http-equiv=refresh") {
		t.Errorf("%v: the error page refreshes to elsewhere", h)
	}
}

// TestAuthCode_RedirectURITricks: a redirect URI that is not exactly a
// registered one is answered with authd's error page, never with a
// Location, whatever else the request holds, signed in or not (SPEC §2.6,
// RFC 9700 §4.1). The registered URIs themselves (and a loopback IP URI
// with any port, RFC 8252 §7.3) are accepted, which proves the requests
// are otherwise right.
func TestAuthCode_RedirectURITricks(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	e.addExt()
	signedIn := e.signedIn(nil, "alice", alicePassword)
	anon := e.browser()

	tricks := []struct{ client, uri string }{
		{"ext", "https://evil.example/cb"},
		{"ext", "https://app.example/c"},
		{"ext", "https://app.example/cb/evil"},
		{"ext", "https://app.example/cbx"},
		{"ext", "https://app.example/cb/"},
		{"ext", "https://app.example/CB"},
		{"ext", "https://app.example//cb"},
		{"ext", "https://app.example/cb/../evil"},
		{"ext", "https://app.example/x/../cb"},
		{"ext", "https://app.example:8443/cb"},
		{"ext", "https://app.example:443/cb"},
		{"ext", "http://app.example/cb"},
		{"ext", "HTTPS://app.example/cb"},
		{"ext", "https://APP.example/cb"},
		{"ext", "https://app.example./cb"},
		{"ext", "https://app.example.evil.example/cb"},
		{"ext", "https://evil.example/app.example/cb"},
		{"ext", "https://app.example@evil.example/cb"},
		{"ext", "https://evil.example@app.example/cb"},
		{"ext", "https://evil.example%40app.example/cb"},
		{"ext", `https://app.example\@evil.example/cb`},
		{"ext", `https://evil.example\app.example/cb`},
		{"ext", "https://app.example/cb#frag"},
		{"ext", "https://app.example/cb#"},
		{"ext", "https://app.example/cb?next=https://evil.example"},
		{"ext", "https://app.example/cb?"},
		{"ext", "https://app.example/%63b"},
		{"ext", "https://app.example/cb%2F..%2Fevil"},
		{"ext", "https://app.example/cb%23x"},
		{"ext", "https://app.example/cb%00"},
		{"ext", "https%3A%2F%2Fapp.example%2Fcb"},
		{"ext", "https://app.example%2Fcb"},
		{"ext", "https://\u0430pp.example/cb"}, // Cyrillic а
		{"ext", " https://app.example/cb"},
		{"ext", "https://app.example/cb "},
		{"ext", "https://app.example/c\nb"},
		{"ext", "//evil.example/cb"},
		{"ext", "/cb"},
		{"ext", "javascript:alert(1)//https://app.example/cb"},
		{"ext", "data:text/html,<script>alert(1)</script>"},
		// A loopback IP URI allows any port, nothing else.
		{"spa", "http://localhost:4321/loop/cb"},
		{"spa", "http://127.0.0.2:4321/loop/cb"},
		{"spa", "http://[::1]:4321/loop/cb"},
		{"spa", "http://127.1:4321/loop/cb"},
		{"spa", "http://2130706433:4321/loop/cb"},
		{"spa", "http://0x7f000001:4321/loop/cb"},
		{"spa", "http://127.0.0.1.evil.example:4321/loop/cb"},
		{"spa", "http://127.0.0.1:4321@evil.example/loop/cb"},
		{"spa", "http://evil.example#@127.0.0.1:4321/loop/cb"},
		{"spa", "https://127.0.0.1:4321/loop/cb"},
		{"spa", "http://127.0.0.1:4321/loop/cb/x"},
		{"spa", "http://127.0.0.1:4321/loop/cbx"},
		{"spa", "http://127.0.0.1:4321/loop/cb?x=1"},
		{"spa", "http://127.0.0.1:4321/loop"},
		{"spa", "http://127.0.0.1:0/loop/cb#x"},
		{"web", strings.Replace(e.appURL("/cb"), "127.0.0.1", "localhost", 1)},
		{"web", e.appURL("/cb/x")},
		{"web", e.appURL("/tool/cb")}, // another client's
	}
	// The rest of the request: valid, or wrong in ways that would be
	// redirected if the redirect URI were valid.
	rests := []struct {
		name string
		set  url.Values
	}{
		{"valid", nil},
		{"response_type=token", url.Values{"response_type": {"token"}}},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}},
		{"no PKCE", url.Values{"code_challenge": {""}, "code_challenge_method": {""}}},
		{"prompt=none", url.Values{"prompt": {"none"}}},
	}
	for _, tr := range tricks {
		for _, rest := range rests {
			for _, who := range []struct {
				name string
				b    *browser
			}{{"signed in", signedIn}, {"anonymous", anon}} {
				q := authorizeQuery(tr.client, tr.uri, rest.set)
				h := who.b.once(http.MethodGet, e.issuer+"/authorize?"+q.Encode(), nil)
				t.Run(tr.client+" "+tr.uri+" "+rest.name+" "+who.name, func(t *testing.T) { errorPage(t, h) })
			}
		}
		// POST too (SPEC §2.6: form-encoded).
		h := signedIn.once(http.MethodPost, e.issuer+"/authorize", authorizeQuery(tr.client, tr.uri, nil))
		t.Run(tr.client+" "+tr.uri+" POST", func(t *testing.T) { errorPage(t, h) })
	}

	// Controls: the registered URIs work, a loopback IP URI on any port.
	for _, c := range []struct{ client, uri string }{
		{"ext", extRedirect},
		{"spa", "http://127.0.0.1:4321/loop/cb"},
		{"spa", "http://127.0.0.1:59999/loop/cb"},
		{"web", e.appURL("/cb2")},
	} {
		t.Run("control "+c.client+" "+c.uri, func(t *testing.T) {
			q := authorizeQuery(c.client, c.uri, nil)
			h := anon.once(http.MethodGet, e.issuer+"/authorize?"+q.Encode(), nil)
			if _, ok := signInForm(h); !ok || h.Status != http.StatusOK {
				t.Errorf("anonymous: want the sign-in page (200), got %v", h)
			}
			if c.client == "ext" {
				h = signedIn.once(http.MethodGet, e.issuer+"/authorize?"+q.Encode(), nil)
				loc, _ := url.Parse(h.Header.Get("Location"))
				if h.Status/100 != 3 || loc == nil || !strings.HasPrefix(loc.String(), extRedirect+"?") || loc.Query().Get("code") == "" {
					t.Errorf("signed in, first-party: want a redirect with a code to %s, got %v", extRedirect, h)
				}
			}
		})
	}
}

// TestAuthCode_ErrorPageBeforeClientKnown: errors found before the client
// and its redirect URI are known valid are shown on authd's page, never
// redirected, even to a URI that is registered for another client.
func TestAuthCode_ErrorPageBeforeClientKnown(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	e.addExt()
	b := e.browser()
	const xss = `"><script>alert(1)</script>`
	cases := []struct {
		name string
		q    url.Values
	}{
		{"unknown client", authorizeQuery("nobody", extRedirect, nil)},
		{"no client_id", authorizeQuery("ext", extRedirect, url.Values{"client_id": {""}})},
		{"two client_ids", authorizeQuery("ext", extRedirect, url.Values{"client_id": {"ext", "web"}})},
		{"empty client_id", authorizeQuery("ext", extRedirect, url.Values{"client_id": {"", ""}})},
		{"client without the grant", authorizeQuery("pw", extRedirect, nil)},
		{"client without the grant, no redirect_uri", authorizeQuery("pw", "", nil)},
		{"two registered, none given", authorizeQuery("web", "", nil)},
		{"two redirect_uris", authorizeQuery("web", "", url.Values{"redirect_uri": {e.appURL("/cb"), e.appURL("/cb2")}})},
		{"two redirect_uris, same", authorizeQuery("ext", "", url.Values{"redirect_uri": {extRedirect, extRedirect}})},
		{"long client_id", authorizeQuery(strings.Repeat("x", 8000), extRedirect, nil)},
		{"NUL in client_id", authorizeQuery("ext\x00", extRedirect, nil)},
		{"invalid UTF-8 redirect_uri", authorizeQuery("ext", "https://app.example/cb\xff", nil)},
		{"markup in client_id", authorizeQuery(xss, extRedirect, nil)},
		{"markup in redirect_uri", authorizeQuery("ext", "https://app.example/cb"+xss, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := b.once(http.MethodGet, e.issuer+"/authorize?"+tc.q.Encode(), nil)
			errorPage(t, h)
			if strings.Contains(h.Body, xss) {
				t.Errorf("the error page echoes markup unescaped")
			}
		})
	}
}

// TestAuthCode_ErrorsRedirected: once the client and its redirect URI are
// valid, errors go back to the app with error, state and iss (RFC 9207).
// Errors in the request itself come at once, before any page; a scope
// beyond the client's may come after the sign-in (where the user's own
// scopes are known), but it comes, and without a code.
func TestAuthCode_ErrorsRedirected(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	odd := "a b&c=d/é?#"
	cases := []struct {
		name     string
		set      url.Values
		codes    []string
		signInOK bool // the error may come after the sign-in page
	}{
		{"response_type=token", url.Values{"response_type": {"token"}}, []string{"unsupported_response_type"}, false},
		{"response_type=code id_token", url.Values{"response_type": {"code id_token"}}, []string{"unsupported_response_type"}, false},
		{"no response_type", url.Values{"response_type": {""}}, []string{"invalid_request", "unsupported_response_type"}, false},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, []string{"invalid_request"}, false},
		{"no code_challenge", url.Values{"code_challenge": {""}}, []string{"invalid_request"}, false},
		{"no code_challenge_method (plain by default)", url.Values{"code_challenge_method": {""}}, []string{"invalid_request"}, false},
		{"short code_challenge", url.Values{"code_challenge": {"abc"}}, []string{"invalid_request"}, false},
		{"unknown method", url.Values{"code_challenge_method": {"S512"}}, []string{"invalid_request"}, false},
		{"prompt=none without a session", url.Values{"prompt": {"none"}}, []string{"login_required"}, false},
		{"odd state", url.Values{"state": {odd}, "response_type": {"token"}}, []string{"unsupported_response_type"}, false},
		{"scope beyond the client", url.Values{"scope": {"openid write"}}, []string{"invalid_scope"}, false},
		{"authd:admin", url.Values{"scope": {"authd:admin"}}, []string{"invalid_scope"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := authorizeQuery("web", e.appURL("/cb"), tc.set)
			w := e.browser().authorize(e.issuer+"/authorize?"+q.Encode(), "alice", alicePassword, "allow")
			if w.Callback == nil {
				t.Fatalf("want a redirect to the app, got %v", w.Hops)
			}
			if (w.SignIn || w.Consent) && !tc.signInOK {
				t.Errorf("the error came after the sign-in or consent page: %v", w.Hops)
			}
			got := w.Callback
			if !slices.Contains(tc.codes, got.Get("error")) {
				t.Errorf("error = %q (%s), want one of %v", got.Get("error"), got.Get("error_description"), tc.codes)
			}
			if got.Get("state") != q.Get("state") || got.Get("iss") != e.issuer || got.Get("code") != "" {
				t.Errorf("state %q iss %q code %q, want %q %q and no code", got.Get("state"), got.Get("iss"), got.Get("code"), q.Get("state"), e.issuer)
			}
		})
	}
}

// TestAuthCode_PKCEVerifier: at /token, a missing or wrong code_verifier
// is invalid_grant (SPEC §2.6, RFC 7636 §4.6); so is the challenge sent as
// the verifier (what plain would accept).
func TestAuthCode_PKCEVerifier(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.signedIn(p, "alice", alicePassword)
	for _, tc := range []struct {
		name     string
		verifier func(r request) (string, bool)
	}{
		{"missing", func(request) (string, bool) { return "", false }},
		{"empty", func(request) (string, bool) { return "", true }},
		{"another", func(request) (string, bool) { return oauth2.GenerateVerifier(), true }},
		{"the challenge", func(r request) (string, bool) { return oauth2.S256ChallengeFromVerifier(r.verifier), true }},
		{"one character off", func(r request) (string, bool) { return offByOne(r.verifier), true }},
		{"too short", func(r request) (string, bool) { return r.verifier[:42], true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest()
			code := b.authorize(r.url(web), "", "", "").code(t, r.state)
			form := map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": web.RedirectURL}
			if v, ok := tc.verifier(r); ok {
				form["code_verifier"] = v
			}
			a := e.token("web", form)
			if a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" || a.Str("access_token") != "" {
				t.Errorf("got %d %s, want 400 invalid_grant", a.Status, a.Raw)
			}
		})
	}
}

// offByOne returns v with its last character replaced by another one
// (always another: a fixed replacement equals the last character of one
// random verifier in 64).
func offByOne(v string) string {
	last := "A"
	if strings.HasSuffix(v, last) {
		last = "B"
	}
	return v[:len(v)-1] + last
}

// TestAuthCode_CodeReplay: a code presented a second time is invalid_grant
// and revokes the family issued from it (RFC 6749 §4.1.2, SPEC §2.6).
func TestAuthCode_CodeReplay(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.signedIn(p, "alice", alicePassword)
	r := newRequest()
	code := b.authorize(r.url(web), "", "", "").code(t, r.state)
	form := map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": web.RedirectURL, "code_verifier": r.verifier}
	first := e.token("web", form)
	if first.Status != http.StatusOK || first.Str("refresh_token") == "" {
		t.Fatalf("first exchange: %d %s", first.Status, first.Raw)
	}
	again := e.token("web", map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": web.RedirectURL, "code_verifier": r.verifier})
	if again.Status != http.StatusBadRequest || again.Str("error") != "invalid_grant" {
		t.Fatalf("second exchange: %d %s, want 400 invalid_grant", again.Status, again.Raw)
	}
	rt := e.token("web", map[string]string{"grant_type": "refresh_token", "refresh_token": first.Str("refresh_token")})
	if rt.Status != http.StatusBadRequest || rt.Str("error") != "invalid_grant" {
		t.Errorf("refresh of the family issued from the replayed code: %d %s, want 400 invalid_grant", rt.Status, rt.Raw)
	}
	in := e.tokenPath("/introspect", "web", map[string]string{"token": first.Str("refresh_token")})
	if in.Status != http.StatusOK || in.Body["active"] != false {
		t.Errorf("introspection of the refresh token after the replay: %d %s, want inactive", in.Status, in.Raw)
	}
}

// TestAuthCode_CodeBinding: a code is bound to its client and redirect
// URI: presented by another client, with another or no redirect URI, or
// unknown, it is invalid_grant.
func TestAuthCode_CodeBinding(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.signedIn(p, "alice", alicePassword)
	for _, tc := range []struct {
		name   string
		client string
		edit   func(form map[string]string)
	}{
		{"another confidential client", "tool", nil},
		{"a public client", "spa", nil},
		{"another registered redirect URI", "web", func(f map[string]string) { f["redirect_uri"] = e.appURL("/cb2") }},
		{"no redirect URI", "web", func(f map[string]string) { delete(f, "redirect_uri") }},
		{"unknown code", "web", func(f map[string]string) { f["code"] = randString(32) }},
		{"code with a suffix", "web", func(f map[string]string) { f["code"] += "A" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest()
			code := b.authorize(r.url(web), "", "", "").code(t, r.state)
			form := map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": web.RedirectURL, "code_verifier": r.verifier}
			if tc.edit != nil {
				tc.edit(form)
			}
			a := e.token(tc.client, form)
			if a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
				t.Errorf("got %d %s, want 400 invalid_grant", a.Status, a.Raw)
			}
		})
	}
}

// TestAuthCode_CSRF: the sign-in and consent forms carry a token bound to
// the browser: another browser's form, or a form posted without the
// browser's cookies, signs nobody in and consents to nothing.
func TestAuthCode_CSRF(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	e.addUser("mallory", "mallory's long password")
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")

	t.Run("sign-in", func(t *testing.T) {
		attacker := e.browser()
		ra := newRequest()
		wa := attacker.authorize(ra.url(web), "", "", "")
		af, ok := signInForm(wa.Last)
		if !ok {
			t.Fatalf("no sign-in page: %v", wa.Last)
		}
		victim := e.browser()
		victim.authorize(newRequest().url(web), "", "", "") // the victim's own page and cookies
		for _, who := range []struct {
			name string
			b    *browser
		}{{"another browser's form", victim}, {"no cookies", e.browser()}} {
			hops := who.b.submit(wa.Last, af, url.Values{"username": {"mallory"}, "password": {"mallory's long password"}}, "")
			if hops[0].Status == http.StatusSeeOther || len(hops) > 1 {
				t.Errorf("%s: the forged sign-in was answered with a redirect: %v", who.name, hops)
			}
			if who.b.cookie("authd_session") != "" {
				t.Errorf("%s: the forged sign-in set a session cookie", who.name)
			}
			if w := who.b.authorize(newRequest().url(web), "", "", ""); !w.SignIn {
				t.Errorf("%s: after the forged sign-in the browser is signed in", who.name)
			}
		}
	})

	t.Run("consent", func(t *testing.T) {
		attacker := e.browser()
		wa := attacker.authorize(newRequest().url(web), "mallory", "mallory's long password", "")
		af, ok := consentForm(wa.Last)
		if !ok {
			t.Fatalf("no consent page for mallory: %v", wa.Hops)
		}
		victim := e.browser()
		tool := e.config(p, "tool", "/tool/cb", oidc.ScopeOpenID)
		r := newRequest()
		victim.authorize(r.url(tool), "alice", alicePassword, "").code(t, r.state) // signed in, no consent for web
		for _, who := range []struct {
			name string
			b    *browser
		}{{"another browser's form", victim}, {"no cookies", e.browser()}} {
			hops := who.b.submit(wa.Last, af, nil, "decision=allow")
			for _, h := range hops {
				if strings.HasPrefix(h.URL.String(), e.app.URL) || strings.Contains(h.Header.Get("Location"), "code=") {
					t.Errorf("%s: the forged consent reached the app: %v", who.name, hops)
				}
			}
		}
		if w := victim.authorize(newRequest().url(web), "", "", ""); !w.Consent {
			t.Errorf("after the forged consent, web is consented for the victim: %v", w.Hops)
		}
	})
}

// cspDirectives parses a Content-Security-Policy header.
func cspDirectives(csp string) map[string]string {
	m := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		name, val, _ := strings.Cut(d, " ")
		if name != "" {
			m[strings.ToLower(name)] = strings.TrimSpace(val)
		}
	}
	return m
}

// checkPageHeaders checks the headers SPEC §2.6 asks of the pages.
func checkPageHeaders(t *testing.T, what string, h hop, redirectOrigin string) {
	t.Helper()
	csp := cspDirectives(h.Header.Get("Content-Security-Policy"))
	if csp["frame-ancestors"] != "'none'" {
		t.Errorf("%s: Content-Security-Policy %q, want frame-ancestors 'none'", what, h.Header.Get("Content-Security-Policy"))
	}
	if fa, ok := csp["form-action"]; ok && redirectOrigin != "" && !strings.Contains(fa, redirectOrigin) && !strings.Contains(fa, "*") && !strings.Contains(fa, "http:") {
		t.Errorf("%s: form-action %q stops Chromium following the 303 to %s", what, fa, redirectOrigin)
	}
	if _, ok := csp["default-src"]; !ok {
		t.Errorf("%s: Content-Security-Policy without default-src: %q", what, h.Header.Get("Content-Security-Policy"))
	}
	if cc := h.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	if ct := h.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", what, ct)
	}
	for k := range h.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%s: CORS header %s on a page", what, k)
		}
	}
}

// TestAuthCode_PageHeaders: the sign-in, wrong-credentials, consent and
// error pages cannot be framed, are not stored, and send no CORS headers
// (even to a registered origin); /authorize answers no preflight.
func TestAuthCode_PageHeaders(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.browser()
	b.Header = http.Header{"Origin": {e.app.URL}}
	w := b.authorize(newRequest().url(web), "", "", "")
	if !w.SignIn {
		t.Fatalf("no sign-in page: %v", w.Last)
	}
	checkPageHeaders(t, "sign-in page", w.Last, e.app.URL)
	f, _ := signInForm(w.Last)
	wrong := b.submit(w.Last, f, url.Values{"username": {"alice"}, "password": {"wrong"}}, "")
	checkPageHeaders(t, "wrong credentials page", wrong[len(wrong)-1], e.app.URL)
	w = b.authorize(newRequest().url(web), "alice", alicePassword, "")
	if !w.Consent {
		t.Fatalf("no consent page: %v", w.Hops)
	}
	checkPageHeaders(t, "consent page", w.Last, e.app.URL)
	checkPageHeaders(t, "error page", b.once(http.MethodGet, e.issuer+"/authorize?client_id=nobody", nil), "")

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, e.issuer+"/authorize", nil)
	req.Header.Set("Origin", e.app.URL)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("preflight of /authorize: Access-Control-Allow-Origin %q, want none", v)
	}
}

// visibleText is the text a user reads on a page: text nodes outside
// script and style, without input values.
func visibleText(body string) string {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return body
	}
	var sb strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style") {
			return
		}
		if n.Type == html.TextNode {
			if s := strings.TrimSpace(n.Data); s != "" {
				sb.WriteString(s + "\n")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return sb.String()
}

// TestAuthCode_WrongCredentials: an unknown user, a wrong password and a
// disabled user see the same page, which does not say which.
func TestAuthCode_WrongCredentials(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	e.addUser("dora", "dora's long password")
	e.cli("", "user", "disable", "dora")
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	var pages []hop
	for _, c := range []struct{ user, password string }{
		{"alice", "not alice's password"},
		{"nobody", "not alice's password"},
		{"dora", "dora's long password"},
	} {
		b := e.browser()
		w := b.authorize(newRequest().url(web), c.user, c.password, "allow")
		if w.Callback != nil || !w.SignIn {
			t.Fatalf("%s: signed in with wrong credentials: %v", c.user, w.Hops)
		}
		if b.cookie("authd_session") != "" {
			t.Errorf("%s: a session cookie after wrong credentials", c.user)
		}
		if _, ok := signInForm(w.Last); !ok {
			t.Errorf("%s: want the sign-in page again, got %v", c.user, w.Last)
		}
		pages = append(pages, w.Last)
	}
	for i := 1; i < len(pages); i++ {
		a, b := visibleText(pages[0].Body), visibleText(pages[i].Body)
		if pages[i].Status != pages[0].Status || a != b {
			t.Errorf("the page for an unknown or disabled user differs from the wrong password's: %d %q vs %d %q", pages[0].Status, a, pages[i].Status, b)
		}
	}
	if low := strings.ToLower(visibleText(pages[1].Body)); strings.Contains(low, "unknown") || strings.Contains(low, "not found") || strings.Contains(low, "no such") || strings.Contains(low, "does not exist") {
		t.Errorf("the page says the user does not exist:\n%s", visibleText(pages[1].Body))
	}
}

// TestAuthCode_PasswordFloodThrottled: the sign-in page and the password
// grant share one throttle (SPEC §2.6: "throttled ... exactly like the
// password grant"). Five wrong passwords on the page and then wrong ones at
// /token reach the (username, address) block of ten failures, at /token
// and on the page alike, where the right password is then refused too.
func TestAuthCode_PasswordFloodThrottled(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	e.addUser("carol", "carol's long password")
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.browser()
	w := b.authorize(newRequest().url(web), "", "", "")
	page := w.Last
	for i := range 5 {
		f, ok := signInForm(page)
		if !ok {
			t.Fatalf("attempt %d: no sign-in form: %v", i+1, page)
		}
		hops := b.submit(page, f, url.Values{"username": {"carol"}, "password": {"wrong password"}}, "")
		page = hops[len(hops)-1]
	}
	blockedAt := 0
	for i := 1; i <= 6; i++ {
		a := e.token("pw", map[string]string{"grant_type": "password", "username": "carol", "password": "wrong password"})
		if a.Status == http.StatusTooManyRequests {
			blockedAt = i
			break
		}
		if a.Status != http.StatusBadRequest {
			t.Fatalf("password grant %d: %d %s", i, a.Status, a.Raw)
		}
	}
	if blockedAt == 0 {
		t.Fatalf("after five failures on the sign-in page, six more at /token were not blocked: the page does not count in the grant's throttle")
	}
	start := time.Now()
	f, ok := signInForm(page)
	if !ok {
		t.Fatalf("no sign-in form: %v", page)
	}
	h := b.submit(page, f, url.Values{"username": {"carol"}, "password": {"carol's long password"}}, "")[0]
	if h.Status != http.StatusTooManyRequests || h.Header.Get("Retry-After") == "" {
		t.Errorf("the page after the block: %d Retry-After %q, want 429 with Retry-After", h.Status, h.Header.Get("Retry-After"))
	}
	if b.cookie("authd_session") != "" {
		t.Errorf("signed in while blocked")
	}
	t.Logf("blocked at the %d. grant attempt; the blocked page answered in %v", blockedAt, time.Since(start))
}

// TestAuthCode_SessionFixation: a session cookie planted in the browser
// before the sign-in (by a sibling subdomain, or a script on plain http)
// does not become the signed-in session: the sign-in sets a new value, and
// the planted one signs nobody in.
func TestAuthCode_SessionFixation(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	planted := randString(32)
	iss, _ := url.Parse(e.issuer)
	victim := e.browser()
	victim.jar.SetCookies(iss, []*http.Cookie{{Name: "authd_session", Value: planted, Path: "/"}})
	r := newRequest()
	victim.authorize(r.url(web), "alice", alicePassword, "allow").code(t, r.state)
	if got := victim.cookie("authd_session"); got == planted || got == "" {
		t.Fatalf("after the sign-in the session cookie is %q, want a new value", truncate(got, 12))
	}
	attacker := e.browser()
	attacker.jar.SetCookies(iss, []*http.Cookie{{Name: "authd_session", Value: planted, Path: "/"}})
	if w := attacker.authorize(newRequest().url(web), "", "", ""); !w.SignIn {
		t.Fatalf("the planted cookie is signed in: %v", w.Hops)
	}
}

// TestAuthCode_LogoutRedirects: /logout redirects only to a redirect URI
// registered for the client of a valid id_token_hint of this issuer;
// anything else ends the session and shows the signed-out page, never a
// Location (SPEC §2.7). An access token is not an id_token_hint.
func TestAuthCode_LogoutRedirects(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	b := e.browser()
	r := newRequest()
	tok := e.exchange(web, r, b.authorize(r.url(web), "alice", alicePassword, "allow").code(t, r.state))
	idHint, _ := tok.Extra("id_token").(string)
	if idHint == "" {
		t.Fatal("no id_token")
	}
	parts := strings.Split(idHint, ".")
	forged := parts[0] + "." + parts[1] + "." + randString(256)
	for _, tc := range []struct{ name, hint, uri string }{
		{"unregistered URI", idHint, "https://evil.example/"},
		{"another client's URI", idHint, e.appURL("/tool/cb")},
		{"registered URI with a suffix", idHint, e.appURL("/cb/../evil")},
		{"no id_token_hint", "", e.appURL("/cb")},
		{"garbage id_token_hint", "not-a-token", e.appURL("/cb")},
		{"badly signed id_token_hint", forged, e.appURL("/cb")},
		{"access token as id_token_hint", tok.AccessToken, e.appURL("/cb")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			r := newRequest()
			b.authorize(r.url(web), "alice", alicePassword, "allow").code(t, r.state)
			q := url.Values{"post_logout_redirect_uri": {tc.uri}, "state": {"s"}}
			if tc.hint != "" {
				q.Set("id_token_hint", tc.hint)
			}
			h := b.once(http.MethodGet, e.issuer+"/logout?"+q.Encode(), nil)
			if loc := h.Header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %q, want the signed-out page", truncate(loc, 200))
			}
			if h.Status != http.StatusOK || !strings.HasPrefix(h.Header.Get("Content-Type"), "text/html") {
				t.Errorf("status %d %s, want 200 and the signed-out page", h.Status, h.Header.Get("Content-Type"))
			}
			checkPageHeaders(t, "signed-out page", h, "")
			if w := b.authorize(newRequest().url(web), "", "", ""); !w.SignIn {
				t.Errorf("the session was not ended: %v", w.Hops)
			}
		})
	}
}

// TestAuthCode_TokenConfusion: an ID token is not an access token: it opens
// neither /userinfo nor the admin API, and introspects as inactive.
func TestAuthCode_TokenConfusion(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	r := newRequest()
	tok := e.exchange(web, r, e.browser().authorize(r.url(web), "alice", alicePassword, "allow").code(t, r.state))
	id, _ := tok.Extra("id_token").(string)
	for _, path := range []string{"/userinfo", "/admin/api/users"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.issuer+path, nil)
		req.Header.Set("Authorization", "Bearer "+id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with the ID token as a bearer token: %d, want 401", path, resp.StatusCode)
		}
	}
	if a := e.tokenPath("/introspect", "web", map[string]string{"token": id}); a.Status != http.StatusOK || a.Body["active"] != false {
		t.Errorf("introspection of the ID token: %d %s, want inactive", a.Status, a.Raw)
	}
}

// TestAuthCode_CodeOfDisabledUser: a code whose user was disabled before
// the exchange gives no tokens.
func TestAuthCode_CodeOfDisabledUser(t *testing.T) {
	e := newEnv(t)
	e.fixture()
	e.addUser("eve", "eve's long password")
	var p *oidc.Provider // the endpoints of SPEC §2, no discovery
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "read")
	r := newRequest()
	code := e.browser().authorize(r.url(web), "eve", "eve's long password", "allow").code(t, r.state)
	e.cli("", "user", "disable", "eve")
	a := e.token("web", map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": web.RedirectURL, "code_verifier": r.verifier})
	if a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
		t.Errorf("exchange after the user was disabled: %d %s, want 400 invalid_grant", a.Status, a.Raw)
	}
}
