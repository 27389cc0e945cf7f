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
// OAuth answer; a malformed verifier is invalid_request before any storage
// access; a token is issued only for the one good code with its verifier
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
			if w.Code != 400 || !strings.Contains(w.Body.String(), `"invalid_request"`) {
				t.Fatalf("malformed verifier %q: %d %s, want invalid_request", v, w.Code, w.Body.String())
			}
		}
		if validCodeVerifier(v) != verifierPattern.MatchString(v) {
			t.Fatalf("validCodeVerifier(%q) = %v, want %v", v, validCodeVerifier(v), !validCodeVerifier(v))
		}
	})
}
