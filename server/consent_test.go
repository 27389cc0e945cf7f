package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestConsent_Remembered: an allowed (user, client, scopes) is not asked
// again for those scopes or fewer; a wider scope asks again, and allowing
// it remembers the union; prompt=consent always asks, first-party clients
// included; a client registered again under the same id inherits nothing.
func TestConsent_Remembered(t *testing.T) {
	e := newAuthEnv(t)
	b := e.ua()
	p := b.follow(b.signIn(b.authorize(map[string]string{"scope": "openid read"}), aliceName, alicePassword))
	b.decide(p, "allow").redirected(t, appRedirect+"?code=")

	// Same and narrower scope: no page.
	b.authorize(map[string]string{"scope": "openid read"}).redirected(t, appRedirect+"?code=")
	b.authorize(map[string]string{"scope": "read"}).redirected(t, appRedirect+"?code=")
	b.authorize(map[string]string{"scope": "openid read", "prompt": "none"}).redirected(t, appRedirect+"?code=")

	// Wider: asked again, listing what is asked.
	p = b.authorize(map[string]string{"scope": "read profile"})
	if !p.isConsent() || !strings.Contains(p.Body, "See your username") {
		t.Fatalf("wider scope: got %d %q %s", p.Status, p.Location, p.Body)
	}
	if q := b.authorize(map[string]string{"scope": "read profile", "prompt": "none"}).redirected(t, appRedirect+"?"); q.Get("error") != "consent_required" {
		t.Errorf("prompt=none, wider scope: %v", q)
	}
	b.decide(p, "allow").redirected(t, appRedirect+"?code=")
	alice, _ := e.store.GetUser(context.Background(), aliceName)
	c, err := e.store.GetConsent(context.Background(), alice.ID, "app")
	if err != nil || !slices.Equal(c.Scopes, []string{"openid", "read", "profile"}) {
		t.Fatalf("consent %+v %v: want the union", c, err)
	}
	b.authorize(map[string]string{"scope": "openid profile"}).redirected(t, appRedirect+"?code=")

	// prompt=consent asks though remembered; once allowed, a code.
	p = b.authorize(map[string]string{"scope": "read", "prompt": "consent"})
	if !p.isConsent() {
		t.Fatalf("prompt=consent: got %d %q", p.Status, p.Location)
	}
	b.decide(p, "allow").redirected(t, appRedirect+"?code=")

	// A first-party client with prompt=consent is asked too.
	e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
	e.srv.forgetClient("app")
	if p := b.authorize(map[string]string{"prompt": "consent"}); !p.isConsent() {
		t.Errorf("first party, prompt=consent: got %d %q", p.Status, p.Location)
	}

	// Deleted and registered again: asked again.
	if err := e.store.DeleteClient(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	e.addClient("app", "", func(c *storage.Client) {
		c.Grants = []string{grantAuthorizationCode}
		c.Scopes = []string{"openid", "read"}
		c.RedirectURIs = []string{appRedirect}
	})
	e.srv.forgetClient("app")
	if p := b.authorize(map[string]string{"scope": "read"}); !p.isConsent() {
		t.Errorf("new client instance: got %d %q", p.Status, p.Location)
	}
}

// TestConsent_Deny: deny redirects with access_denied and state, and
// stores nothing; a decision that is neither is the page again.
func TestConsent_Deny(t *testing.T) {
	e := newAuthEnv(t)
	b := e.ua()
	p := b.follow(b.signIn(b.authorize(nil), aliceName, alicePassword))
	if other := b.decide(p, "maybe"); other.Status != 400 || !other.isConsent() || !strings.Contains(other.Body, msgChoose) {
		t.Errorf("decision maybe: %d %s", other.Status, other.Body)
	}
	q := b.decide(p, "deny").redirected(t, appRedirect+"?")
	if q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Get("iss") != e.url || q.Get("code") != "" {
		t.Errorf("deny: %v", q)
	}
	alice, _ := e.store.GetUser(context.Background(), aliceName)
	if _, err := e.store.GetConsent(context.Background(), alice.ID, "app"); err == nil {
		t.Errorf("consent stored after deny")
	}
	if !strings.Contains(e.logBuf.String(), "event=consent_denied") {
		t.Errorf("no consent_denied log line")
	}
}

// TestConsent_NeedsSession: a consent form posted after the session ended
// shows the sign-in page; nothing is stored.
func TestConsent_NeedsSession(t *testing.T) {
	e := newAuthEnv(t)
	b := e.ua()
	p := b.follow(b.signIn(b.authorize(nil), aliceName, alicePassword))
	e.clock.Advance(e.cfg.LoginSessionIdleTTL + time.Second)
	got := b.decide(p, "allow")
	if !got.isSignIn() || got.Location != "" {
		t.Fatalf("got %d %q %s", got.Status, got.Location, got.Body)
	}
	alice, _ := e.store.GetUser(context.Background(), aliceName)
	if _, err := e.store.GetConsent(context.Background(), alice.ID, "app"); err == nil {
		t.Errorf("consent stored without a session")
	}
}

// TestConsent_Words: the consent page names scopes in words.
func TestConsent_Words(t *testing.T) {
	got := describeScopes([]string{"openid", "profile", AdminScope, "read:files"})
	want := []string{"Confirm your identity", "See your username", "Administer this authd server", "read:files"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}
