package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// idToken signs an ID token with the server's keys, as the code grant
// would issue one.
func (e *testEnv) idToken(claims map[string]any) string {
	e.t.Helper()
	b, _ := json.Marshal(claims)
	tok, err := e.keys.SignIDToken(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// TestLogout: logout always ends the sign-in session and expires the
// cookie; it redirects, with state, only to a redirect URI registered by
// the client of a valid id_token_hint of this issuer (expired accepted),
// and otherwise shows the signed-out page.
func TestLogout(t *testing.T) {
	e := newAuthEnv(t)
	e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
	e.addClient("other", "", func(c *storage.Client) {
		c.Grants = []string{grantAuthorizationCode}
		c.RedirectURIs = []string{"https://other.example/bye"}
	})
	now := e.clock.Now().Unix()
	valid := e.idToken(map[string]any{"iss": e.url, "sub": "u", "aud": "app", "iat": now, "exp": now + 60})
	expired := e.idToken(map[string]any{"iss": e.url, "sub": "u", "aud": "app", "iat": now - 7200, "exp": now - 3600})
	arrayAud := e.idToken(map[string]any{"iss": e.url, "sub": "u", "aud": []string{"app"}, "iat": now, "exp": now + 60})
	otherIss := e.idToken(map[string]any{"iss": "https://evil.example", "sub": "u", "aud": "app", "iat": now, "exp": now + 60})
	alice, _ := e.store.GetUser(context.Background(), aliceName)
	accessToken := e.mint(alice.ID, aliceName, "app", e.url)

	tests := []struct {
		name     string
		params   url.Values
		redirect string // "" for the signed-out page
	}{
		{"no parameters", nil, ""},
		{"valid hint", url.Values{"id_token_hint": {valid}, "post_logout_redirect_uri": {appRedirect}, "state": {"s-9"}}, appRedirect + "?state=s-9"},
		{"valid hint, no state", url.Values{"id_token_hint": {valid}, "post_logout_redirect_uri": {loopbackCB}}, loopbackCB},
		{"expired hint", url.Values{"id_token_hint": {expired}, "post_logout_redirect_uri": {appRedirect}}, appRedirect},
		{"aud array", url.Values{"id_token_hint": {arrayAud}, "post_logout_redirect_uri": {appRedirect}}, appRedirect},
		{"client_id matches", url.Values{"id_token_hint": {valid}, "client_id": {"app"}, "post_logout_redirect_uri": {appRedirect}}, appRedirect},
		{"client_id differs", url.Values{"id_token_hint": {valid}, "client_id": {"other"}, "post_logout_redirect_uri": {"https://other.example/bye"}}, ""},
		{"uri without hint", url.Values{"post_logout_redirect_uri": {appRedirect}}, ""},
		{"uri not registered", url.Values{"id_token_hint": {valid}, "post_logout_redirect_uri": {"https://evil.example/"}}, ""},
		{"uri of another client", url.Values{"id_token_hint": {valid}, "post_logout_redirect_uri": {"https://other.example/bye"}}, ""},
		{"loopback other port", url.Values{"id_token_hint": {valid}, "post_logout_redirect_uri": {"http://127.0.0.1:5000/cb"}}, ""},
		{"uri prefix", url.Values{"id_token_hint": {valid}, "post_logout_redirect_uri": {appRedirect + "/x"}}, ""},
		{"another issuer", url.Values{"id_token_hint": {otherIss}, "post_logout_redirect_uri": {appRedirect}}, ""},
		{"access token as hint", url.Values{"id_token_hint": {accessToken}, "post_logout_redirect_uri": {appRedirect}}, ""},
		{"garbage hint", url.Values{"id_token_hint": {"a.b.c"}, "post_logout_redirect_uri": {appRedirect}}, ""},
		{"tampered hint", url.Values{"id_token_hint": {valid[:len(valid)-4] + "AAAA"}, "post_logout_redirect_uri": {appRedirect}}, ""},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tt := range tests {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				b := e.signedInBrowser()
				var p page
				if method == http.MethodGet {
					p = b.get("/logout?" + tt.params.Encode())
				} else {
					p = b.post("/logout", tt.params)
				}
				if tt.redirect == "" {
					if p.Status != 200 || p.Location != "" || !strings.Contains(p.Body, "Signed out") {
						t.Fatalf("want the signed-out page, got %d %q %s", p.Status, p.Location, p.Body)
					}
				} else if p.Status != http.StatusSeeOther || p.Location != tt.redirect {
					t.Fatalf("want 303 to %s, got %d %q", tt.redirect, p.Status, p.Location)
				}
				checkPageHeaders(t, p.Header)
				expired := false
				for _, c := range (&http.Response{Header: p.Header}).Cookies() {
					if c.Name == sessionCookieHTTP && c.MaxAge < 0 {
						expired = true
					}
				}
				if !expired {
					t.Errorf("session cookie not expired: %q", p.Header.Values("Set-Cookie"))
				}
				if q := b.authorize(map[string]string{"prompt": "none"}).redirected(t, appRedirect+"?"); q.Get("error") != "login_required" {
					t.Errorf("session survived logout: %v", q)
				}
			})
		}
	}
	t.Run("session record deleted", func(t *testing.T) {
		b := e.ua()
		p := b.signIn(b.authorize(nil), aliceName, alicePassword)
		var v string
		for _, c := range (&http.Response{Header: p.Header}).Cookies() {
			if c.Name == sessionCookieHTTP {
				v = c.Value
			}
		}
		b.get("/logout")
		if _, err := e.store.GetLoginSession(context.Background(), hashToken(v)); err == nil {
			t.Errorf("session record kept")
		}
		// Even a stolen copy of the cookie no longer works.
		b2 := e.ua()
		u, _ := url.Parse(e.url)
		b2.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookieHTTP, Value: v}})
		if p := b2.authorize(nil); !p.isSignIn() {
			t.Errorf("the old cookie still signs in: %d %q", p.Status, p.Location)
		}
		if !strings.Contains(e.logBuf.String(), "event=logout") {
			t.Errorf("no logout log line")
		}
	})
	t.Run("no session", func(t *testing.T) {
		e.clock.Advance(time.Second)
		if p := e.ua().get("/logout"); p.Status != 200 || !strings.Contains(p.Body, "Signed out") {
			t.Errorf("got %d", p.Status)
		}
	})
}
