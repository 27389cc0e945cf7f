package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// verifierPattern is RFC 7636 §4.1's code_verifier ABNF.
var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// FuzzCodeGrant drives the authorization_code grant's parameter handling
// with arbitrary code, code_verifier and redirect_uri values (and a raw
// tail of the body): never a 5xx but 503, never a panic, always a JSON
// OAuth answer; a malformed verifier is invalid_grant (SPEC 2.6: it
// matches no challenge) before any storage access; a token is issued only for the one good code with its verifier
// and redirect URI.
func FuzzCodeGrant(f *testing.F) {
	e := newCodeEnv(f)
	code, verifier := e.newCode(e.spa, nil)
	for _, s := range []struct{ code, verifier, redirect, tail string }{
		{code, verifier, spaRedirect, ""},
		{code, verifier, "", ""},
		{code, strings.Repeat("a", 43), spaRedirect, ""},
		{code, strings.Repeat("a", 42), spaRedirect, ""},
		{code, strings.Repeat("~", 128), spaRedirect, ""},
		{code, strings.Repeat("a", 129), spaRedirect, ""},
		{code, verifier[:50] + "%", spaRedirect, ""},
		{"", verifier, spaRedirect, ""},
		{strings.Repeat("c", maxCodeLen+1), verifier, spaRedirect, ""},
		{code, verifier, spaRedirect + "/", ""},
		{code, verifier, "http://127.0.0.1/cb", "&resource=x"},
		{code, verifier, spaRedirect, "&code=" + code},
		{code, verifier, spaRedirect, "&code_verifier=%00"},
		{"\x00", "\xff", "\r\n", "&&&"},
	} {
		f.Add(s.code, s.verifier, s.redirect, s.tail)
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, c, v, redirect, tail string) {
		body := url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {"spa"}, "code": {c}, "code_verifier": {v}, "redirect_uri": {redirect}}.Encode() + tail
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != 503 {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if w.Code != 200 && !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("status %d without an OAuth error body: %q", w.Code, w.Body.String())
		}
		if w.Code == 200 && (c != code || v != verifier || redirect != spaRedirect) {
			t.Fatalf("a token for code %q verifier %q redirect_uri %q", c, v, redirect)
		}
		if v != "" && c != "" && tail == "" && !verifierPattern.MatchString(v) && cleanText(v) {
			if w.Code != 400 || !strings.Contains(w.Body.String(), `"invalid_grant"`) {
				t.Fatalf("malformed verifier %q: %d %s, want invalid_grant", v, w.Code, w.Body.String())
			}
		}
		if validCodeVerifier(v) != verifierPattern.MatchString(v) {
			t.Fatalf("validCodeVerifier(%q) = %v, want %v", v, validCodeVerifier(v), !validCodeVerifier(v))
		}
	})
}

// FuzzRequestOrigin: the Origin header parser never panics, and what it
// accepts is an http(s) origin in the normal form it compares (lower case,
// no default port, no path), stable when parsed again.
func FuzzRequestOrigin(f *testing.F) {
	for _, s := range []string{"https://a.example", "http://127.0.0.1:8080", "http://[::1]:1", "HTTPS://A.EXAMPLE:443", "null", "", "https://a.example/",
		"https://u@a.example", "https://a.example?", "https://a.example#", "com.example.app:", "http://[::1", "https://a.example:99999", "http://%41.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		origin, loopback, ok := requestOrigin(h)
		if !ok {
			return
		}
		if !strings.HasPrefix(origin, "http://") && !strings.HasPrefix(origin, "https://") {
			t.Fatalf("requestOrigin(%q) = %q: not http(s)", h, origin)
		}
		if origin != strings.ToLower(origin) || strings.HasSuffix(origin, ":443") && strings.HasPrefix(origin, "https:") || strings.Contains(strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://"), "/") {
			t.Fatalf("requestOrigin(%q) = %q: not in normal form", h, origin)
		}
		again, loopback2, ok2 := requestOrigin(origin)
		if !ok2 || again != origin || loopback2 != loopback {
			t.Fatalf("requestOrigin(%q) = %q %q, parsed again %q %q %v", h, origin, loopback, again, loopback2, ok2)
		}
	})
}

// FuzzUserInfo drives /userinfo with arbitrary methods' headers and bodies:
// never a 5xx but 503, never a panic, never a 200 without the one good
// token, and every refusal a JSON error with a Bearer challenge on 401.
func FuzzUserInfo(f *testing.F) {
	e := newCodeEnv(f)
	code, verifier := e.newCode(e.spa, nil)
	good := e.redeem(e.spa, "", code, verifier).str("access_token")
	for _, s := range []struct{ auth, ct, body string }{
		{"Bearer " + good, "", ""},
		{"", "application/x-www-form-urlencoded", "access_token=" + good},
		{"Bearer " + good, "application/x-www-form-urlencoded", "access_token=" + good},
		{"Bearer", "", ""},
		{"Bearer  ", "", ""},
		{"Basic YTpi", "", ""},
		{"", "application/x-www-form-urlencoded", "access_token=x&access_token=y"},
		{"", "application/x-www-form-urlencoded; charset=latin1", "access_token=x"},
		{"bearer a.b.c", "text/plain", "%zz"},
	} {
		f.Add(s.auth, s.ct, s.body)
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, auth, ct, body string) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req := httptest.NewRequest(method, "/userinfo", strings.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 && w.Code != 503 {
				t.Fatalf("%s: status %d for %q %q %q", method, w.Code, auth, ct, body)
			}
			if w.Code == 200 && !strings.Contains(auth+body, good) {
				t.Fatalf("%s: 200 without the good token: %q %q", method, auth, body)
			}
			if w.Code != 200 && !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("%s: status %d without an error body", method, w.Code)
			}
			if w.Code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("%s: 401 without a Bearer challenge", method)
			}
		}
	})
}
