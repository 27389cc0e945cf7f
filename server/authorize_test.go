package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestAuthorize_Flow: sign-in page, sign-in, 303 to the consent page,
// allow, 303 to the client with code, state and iss; the code is stored
// only as its hash, with everything it is bound to.
func TestAuthorize_Flow(t *testing.T) {
	if s256(testVerifier) != testChallenge {
		t.Fatalf("the test's PKCE pair is wrong: S256(%s) = %s", testVerifier, s256(testVerifier))
	}
	e := newAuthEnv(t)
	b := e.ua()
	p := b.authorize(map[string]string{"login_hint": "alice"})
	if p.Status != 200 || !p.isSignIn() {
		t.Fatalf("want the sign-in page, got %d %s", p.Status, p.Body)
	}
	if !strings.Contains(p.Body, `name="username" value="alice"`) {
		t.Errorf("login_hint does not pre-fill the username: %s", p.Body)
	}
	if !strings.Contains(p.Body, `name="password" type="password"`) {
		t.Errorf("no password input: %s", p.Body)
	}
	f := p.formOf(t)
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "login_hint", "csrf_token"} {
		if f.Get(k) == "" {
			t.Errorf("hidden input %s missing", k)
		}
	}
	p = b.signIn(p, aliceName, alicePassword)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "authorize?") {
		t.Fatalf("sign-in: want 303 to the consent page, got %d %q %s", p.Status, p.Location, p.Body)
	}
	p = b.follow(p)
	if p.Status != 200 || !p.isConsent() {
		t.Fatalf("want the consent page, got %d %s", p.Status, p.Body)
	}
	for _, words := range []string{"Confirm your identity", "read", "app"} {
		if !strings.Contains(p.Body, words) {
			t.Errorf("consent page does not say %q", words)
		}
	}
	before := e.clock.Now()
	q := b.decide(p, "allow").redirected(t, appRedirect+"?")
	code := q.Get("code")
	if !strings.HasPrefix(code, codePrefix) || len(code) < len(codePrefix)+43 {
		t.Errorf("code %q", code)
	}
	if q.Get("state") != "st-1" || q.Get("iss") != e.url {
		t.Errorf("state %q iss %q", q.Get("state"), q.Get("iss"))
	}
	ac := e.codeOf(code)
	alice, _ := e.store.GetUser(context.Background(), aliceName)
	app, _ := e.store.GetClient(context.Background(), "app")
	if ac.Hash != hashToken(code) || ac.ClientID != "app" || ac.ClientInstance != app.Instance || ac.UserID != alice.ID ||
		ac.RedirectURI != appRedirect || !ac.RedirectURIGiven || ac.CodeChallenge != testChallenge ||
		!slices.Equal(ac.Scope, []string{"openid", "read"}) || ac.Nonce != "n-1" || ac.Audience != e.url ||
		ac.LoginSessionID == "" || !ac.AuthTime.Equal(before) || !ac.ExpiresAt.Equal(before.Add(60*time.Second)) ||
		ac.ForgetAt.Before(before.Add(10*time.Minute)) || ac.Spent() {
		t.Errorf("stored code %+v", ac)
	}
	c, err := e.store.GetConsent(context.Background(), alice.ID, "app")
	if err != nil || !slices.Equal(c.Scopes, []string{"openid", "read"}) || c.ClientInstance != app.Instance {
		t.Errorf("consent %+v %v", c, err)
	}
	// The log says login ok and consent given, never the code, the
	// password or a cookie.
	logs := e.logBuf.String()
	for _, want := range []string{"event=login_ok", "event=consent_given", "event=code_issued"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for _, secret := range []string{code, alicePassword, f.Get("csrf_token")} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds a secret %q", secret)
		}
	}
}

// TestAuthorize_FirstPartySkipsConsent: a first-party client's sign-in
// answers 303 straight to the client.
func TestAuthorize_FirstPartySkipsConsent(t *testing.T) {
	e := newAuthEnv(t)
	e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
	b := e.ua()
	q := b.signIn(b.authorize(nil), aliceName, alicePassword).redirected(t, appRedirect+"?")
	if q.Get("code") == "" || q.Get("state") != "st-1" {
		t.Fatalf("redirect %v", q)
	}
}
