package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authd/authd/storage"
)

// Hostile cases found by the attack review of the authorization code flow
// (issue 14): each test names the hole it closes.

// TestAuthorize_IssuerOriginRedirectExact: a redirect URI registered on
// the issuer's own origin, the console's ISSUER/admin/ above all, is
// matched exactly even when the issuer is a loopback IP. RFC 8252 §7.3's
// any-port rule is for native apps listening on a port of their own; on
// the issuer's origin it let any process on another local port receive
// the console's code (first party: no consent page) and exchange it for an
// authd:admin token, and let a page on any local port call /token with
// CORS. The test environment's issuer is http://127.0.0.1:PORT.
func TestAuthorize_IssuerOriginRedirectExact(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	if !strings.HasPrefix(e.url, "http://127.0.0.1:") {
		t.Fatalf("issuer %s: the test needs a loopback IP issuer", e.url)
	}
	if err := e.srv.EnsureBuiltins(context.Background()); err != nil {
		t.Fatal(err)
	}
	console := ConsoleRedirectURI(e.url)
	u, _ := url.Parse(e.url)
	otherPort := "1"
	if u.Port() == otherPort {
		otherPort = "2"
	}
	foreign := "http://127.0.0.1:" + otherPort + "/admin/"
	b := e.signedInBrowser()
	over := map[string]string{"client_id": ConsoleClientID, "scope": AdminScope, "nonce": ""}

	for _, ru := range []string{foreign, "http://127.0.0.1/admin/"} {
		over["redirect_uri"] = ru
		p := b.authorize(over)
		if p.Status != http.StatusBadRequest || p.Location != "" {
			t.Errorf("console with redirect_uri %s: %d Location %q, want the error page (400) and no redirect", ru, p.Status, p.Location)
		}
	}
	// The registered URI itself still works: alice is no admin, so the
	// answer is an invalid_scope redirect to the console, not an error page.
	over["redirect_uri"] = console
	if p := b.authorize(over); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, console+"?") {
		t.Errorf("console with its own redirect URI: %d Location %q, want a 303 to %s", p.Status, p.Location, console)
	}
	// Native apps on the loopback IP keep any port.
	if p := b.authorize(map[string]string{"redirect_uri": "http://127.0.0.1:" + otherPort + "/cb"}); p.Status == http.StatusBadRequest {
		t.Errorf("app's loopback URI on another port: %d, want it accepted", p.Status)
	}

	// CORS: the console's origin is the issuer's, not every local port
	// (a server without newAuthEnv's app, whose http://127.0.0.1/cb
	// rightly allows every local port).
	e2 := newEnv(t)
	if err := e2.srv.EnsureBuiltins(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, route := range []struct{ method, path string }{{"POST", "/token"}, {"POST", "/revoke"}, {"GET", "/userinfo"}} {
		if got := corsHeaders(e2.corsRequest(route.method, route.path, "http://127.0.0.1:"+otherPort, "").Header); got != "" {
			t.Errorf("%s %s from another local port: CORS headers %s, want none (the console's origin is the issuer's)", route.method, route.path, got)
		}
		if got := corsHeaders(e2.corsRequest(http.MethodOptions, route.path, "http://127.0.0.1:"+otherPort, route.method).Header); got != "" {
			t.Errorf("preflight of %s %s from another local port: CORS headers %s, want none", route.method, route.path, got)
		}
	}
}

// TestCodeGrant_ConsentRevokedBeforeExchange: a code issued under a
// consent that the user (or an operator) revoked before the client
// exchanged it is invalid_grant and leaves no live family or usable access
// token. Revoking ends the client's families (SPEC 2.5); without this
// check, a code obtained up to 60 s earlier started a new, live one.
func TestCodeGrant_ConsentRevokedBeforeExchange(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ctx := context.Background()
	b := e.ua()
	p := b.follow(b.signIn(b.authorize(map[string]string{"scope": "openid read"}), aliceName, alicePassword))
	code := b.decide(p, "allow").redirected(t, appRedirect+"?code=").Get("code")
	alice, err := e.store.GetUser(ctx, aliceName)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeConsent(ctx, alice.ID, "app", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	r := e.token(url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {"app"}, "code": {code},
		"code_verifier": {testVerifier}, "redirect_uri": {appRedirect}}, "", "")
	if r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" || r.str("access_token") != "" || r.str("refresh_token") != "" {
		t.Fatalf("code exchanged after its consent was revoked: %d %s, want invalid_grant and no tokens", r.Status, r.Raw)
	}
	fams, err := storage.ListAllFamilies(ctx, e.store, storage.FamilyFilter{UserID: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.ClientID == "app" && !f.Revoked() {
			t.Errorf("family %s of app is live after the consent was revoked", f.ID)
		}
	}
	if c := e.codeOf(code); c.AccessTokenID != "" {
		if denied, err := e.store.AccessTokenDenied(ctx, c.AccessTokenID); err != nil || !denied {
			t.Errorf("the access token signed for the exchange is not denied (%v, %v)", denied, err)
		}
	}

	// With the consent given again (the page is shown again), a new code
	// is exchanged as usual.
	p = b.authorize(map[string]string{"scope": "openid read"})
	code = b.decide(p, "allow").redirected(t, appRedirect+"?code=").Get("code")
	r = e.token(url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {"app"}, "code": {code},
		"code_verifier": {testVerifier}, "redirect_uri": {appRedirect}}, "", "")
	if r.Status != http.StatusOK || r.str("refresh_token") == "" {
		t.Errorf("code under a consent given again: %d %s", r.Status, r.Raw)
	}
}

// countingLogins counts the sign-in session deletions the server asks of
// its storage.
type countingLogins struct {
	storage.Storage
	deletes atomic.Int64
}

func (c *countingLogins) DeleteLoginSession(ctx context.Context, hash string) error {
	c.deletes.Add(1)
	return c.Storage.DeleteLoginSession(ctx, hash)
}

// TestLogout_UnknownCookieWritesNothing: /logout with a session cookie of
// the right form that names no session (anyone can make one up) answers
// the signed-out page without a storage write; a write per request was a
// durable commit that any unauthenticated flood could queue. A real
// session is still ended.
func TestLogout_UnknownCookieWritesNothing(t *testing.T) {
	t.Parallel()
	var counter *countingLogins
	e := newWrappedEnv(t, func(s storage.Storage) storage.Storage {
		counter = &countingLogins{Storage: s}
		return counter
	})
	e.addUser(aliceName, alicePassword, nil)
	forged := strings.Repeat("A", cookieValueLen)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, e.url+"/logout", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookieHTTP, Value: forged})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /logout with an unknown session cookie: %d, want the signed-out page", method, resp.StatusCode)
		}
	}
	if n := counter.deletes.Load(); n != 0 {
		t.Errorf("/logout with an unknown session cookie: %d storage deletions, want none", n)
	}

	b := e.signedInBrowser()
	if p := b.get("/logout"); p.Status != http.StatusOK {
		t.Fatalf("logout: %d", p.Status)
	}
	if n := counter.deletes.Load(); n != 1 {
		t.Errorf("/logout of a live session: %d storage deletions, want 1", n)
	}
	if p := b.authorize(map[string]string{"client_id": "fp", "redirect_uri": "https://fp.example/cb", "prompt": "none"}); p.redirected(t, "https://fp.example/cb?").Get("error") != "login_required" {
		t.Errorf("after logout: %q, want login_required", p.Location)
	}
}
