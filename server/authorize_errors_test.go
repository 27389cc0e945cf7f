package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/storage"
)

// checkPageHeaders checks the security headers every page and answer of
// /authorize carries.
func checkPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "form-action") {
		t.Errorf("CSP %q has a form-action rule, which stops the redirect to the client", csp)
	}
	for k, want := range map[string]string{
		"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s on a page", k)
		}
	}
}

// TestAuthorize_ErrorPage: until the client and its redirect URI are known
// valid, every error is authd's HTML error page, status 400, never a
// redirect, and never a Location naming anything the request sent.
func TestAuthorize_ErrorPage(t *testing.T) {
	e := newAuthEnv(t)
	e.addClient("two", "", func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode}
		c.RedirectURIs = []string{"https://two.example/a", "https://two.example/b"}
	})
	attacker := "evil.example"
	tests := []struct {
		name  string
		query string // raw query
		code  string
	}{
		{"no parameters", "", "invalid_request"},
		{"missing client_id", authQuery(map[string]string{"client_id": ""}), "invalid_request"},
		{"unknown client", authQuery(map[string]string{"client_id": "nobody", "redirect_uri": "https://evil.example/cb"}), "invalid_request"},
		{"client_id repeated", authQuery(nil) + "&client_id=app", "invalid_request"},
		{"redirect_uri repeated", authQuery(nil) + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", "invalid_request"},
		{"scope repeated", authQuery(nil) + "&scope=read", "invalid_request"},
		{"malformed encoding", authQuery(nil) + "&x=%zz", "invalid_request"},
		{"control character", authQuery(nil) + "&state=a%00b", "invalid_request"},
		{"semicolon", authQuery(nil) + ";x=1", "invalid_request"},
		{"oversize", authQuery(map[string]string{"state": strings.Repeat("s", maxAuthorizeQuery)}), "invalid_request"},
		{"redirect omitted, two registered", authQuery(map[string]string{"client_id": "two", "redirect_uri": ""}), "invalid_request"},
		{"redirect unregistered", authQuery(map[string]string{"redirect_uri": "https://evil.example/cb"}), "invalid_request"},
		{"redirect prefix", authQuery(map[string]string{"redirect_uri": "https://app.example/c"}), "invalid_request"},
		{"redirect suffix", authQuery(map[string]string{"redirect_uri": "https://app.example/cb.evil.example"}), "invalid_request"},
		{"redirect path", authQuery(map[string]string{"redirect_uri": "https://app.example/cb/../evil"}), "invalid_request"},
		{"redirect port", authQuery(map[string]string{"redirect_uri": "https://app.example:8443/cb"}), "invalid_request"},
		{"redirect scheme", authQuery(map[string]string{"redirect_uri": "http://app.example/cb"}), "invalid_request"},
		{"redirect userinfo", authQuery(map[string]string{"redirect_uri": "https://app.example@evil.example/cb"}), "invalid_request"},
		{"redirect userinfo loopback", authQuery(map[string]string{"redirect_uri": "http://127.0.0.1:80@evil.example/cb"}), "invalid_request"},
		{"redirect fragment", authQuery(map[string]string{"redirect_uri": "https://app.example/cb#evil.example"}), "invalid_request"},
		{"redirect percent-encoded", authQuery(map[string]string{"redirect_uri": "https://app.example/%63b"}), "invalid_request"},
		{"redirect encoded host", authQuery(map[string]string{"redirect_uri": "https://app.example%2F@evil.example/cb"}), "invalid_request"},
		{"redirect trailing slash", authQuery(map[string]string{"redirect_uri": "https://app.example/cb/"}), "invalid_request"},
		{"redirect host case", authQuery(map[string]string{"redirect_uri": "https://APP.example/cb"}), "invalid_request"},
		{"redirect query added", authQuery(map[string]string{"redirect_uri": "https://app.example/cb?next=https://evil.example"}), "invalid_request"},
		{"redirect of another client", authQuery(map[string]string{"redirect_uri": "https://two.example/a"}), "invalid_request"},
		{"redirect localhost", authQuery(map[string]string{"redirect_uri": "http://localhost/cb"}), "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.ua()
			p := b.get("/authorize?" + tt.query)
			if p.Status != 400 || p.Location != "" {
				t.Fatalf("got %d Location %q, want the error page (400, no redirect)", p.Status, p.Location)
			}
			if ct := p.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(p.Body, "<code>"+tt.code+"</code>") {
				t.Errorf("page does not name %s: %s", tt.code, p.Body)
			}
			if strings.Contains(p.Body, "<form") {
				t.Errorf("error page has a form")
			}
			checkPageHeaders(t, p.Header)
			if strings.Contains(p.Body, "https://"+attacker) || strings.Contains(p.Body, "href=\"http") {
				t.Errorf("error page links elsewhere: %s", p.Body)
			}
		})
	}
	t.Run("POST with a query string", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/authorize?client_id=app", strings.NewReader(authQuery(nil)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p := e.ua().do(req); p.Status != 400 || p.Location != "" {
			t.Fatalf("got %d %q", p.Status, p.Location)
		}
	})
	t.Run("POST not a form", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/authorize", strings.NewReader(`{"client_id":"app"}`))
		req.Header.Set("Content-Type", "application/json")
		if p := e.ua().do(req); p.Status != 400 || p.Location != "" {
			t.Fatalf("got %d %q", p.Status, p.Location)
		}
	})
}

// TestAuthorize_RedirectErrors: once the client and redirect URI are
// valid, errors go back to the client with error, error_description,
// state and iss, keeping the redirect URI's own query.
func TestAuthorize_RedirectErrors(t *testing.T) {
	e := newAuthEnv(t)
	e.addClient("pw-only", "", func(c *storage.Client) {
		c.Grants = []string{GrantPassword}
		c.RedirectURIs = []string{"https://pw.example/cb?tenant=7"}
	})
	e.addClient("aud", "", func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode}
		c.Scopes = []string{"read"}
		c.Audiences = []string{"https://api.example"}
		c.RedirectURIs = []string{"https://aud.example/cb"}
	})
	signedIn := e.signedInBrowser()
	tests := []struct {
		name     string
		over     map[string]string
		raw      string // appended to the query
		signedIn bool
		code     string
		prefix   string
	}{
		{name: "missing response_type", over: map[string]string{"response_type": ""}, code: "invalid_request"},
		{name: "response_type token", over: map[string]string{"response_type": "token"}, code: "unsupported_response_type"},
		{name: "response_type hybrid", over: map[string]string{"response_type": "code id_token"}, code: "unsupported_response_type"},
		{name: "PKCE missing", over: map[string]string{"code_challenge": "", "code_challenge_method": ""}, code: "invalid_request"},
		{name: "PKCE method missing", over: map[string]string{"code_challenge_method": ""}, code: "invalid_request"},
		{name: "PKCE plain", over: map[string]string{"code_challenge_method": "plain"}, code: "invalid_request"},
		{name: "PKCE method lower case", over: map[string]string{"code_challenge_method": "s256"}, code: "invalid_request"},
		{name: "challenge missing", over: map[string]string{"code_challenge": ""}, code: "invalid_request"},
		{name: "challenge short", over: map[string]string{"code_challenge": strings.Repeat("a", 42)}, code: "invalid_request"},
		{name: "challenge long", over: map[string]string{"code_challenge": strings.Repeat("a", 129)}, code: "invalid_request"},
		{name: "challenge bad character", over: map[string]string{"code_challenge": strings.Repeat("a", 42) + "+"}, code: "invalid_request"},
		{name: "scope malformed", over: map[string]string{"scope": "a\\b"}, code: "invalid_scope"},
		{name: "scope too many", over: map[string]string{"scope": strings.TrimSpace(strings.Repeat("s ", 65)) + "x"}, code: "invalid_scope"},
		{name: "prompt unknown", over: map[string]string{"prompt": "select_account"}, code: "invalid_request"},
		{name: "prompt none and login", over: map[string]string{"prompt": "none login"}, code: "invalid_request"},
		{name: "max_age negative", over: map[string]string{"max_age": "-1"}, code: "invalid_request"},
		{name: "max_age not a number", over: map[string]string{"max_age": "1h"}, code: "invalid_request"},
		{name: "max_age plus", over: map[string]string{"max_age": "+5"}, code: "invalid_request"},
		{name: "max_age overflow", over: map[string]string{"max_age": "99999999999999999999"}, code: "invalid_request"},
		{name: "resource not the client's", over: map[string]string{"resource": "https://other.example"}, code: "invalid_target"},
		{name: "resources differ", raw: "&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example", code: "invalid_target"},
		{name: "resource of another client", over: map[string]string{"client_id": "aud", "redirect_uri": "https://aud.example/cb", "scope": "read", "resource": "https://other.example"}, code: "invalid_target", prefix: "https://aud.example/cb?"},
		{name: "client without the grant", over: map[string]string{"client_id": "pw-only", "redirect_uri": ""}, code: "unauthorized_client", prefix: "https://pw.example/cb?tenant=7&"},
		{name: "scope beyond the client's", over: map[string]string{"scope": "admin-stuff"}, signedIn: true, code: "invalid_scope"},
		{name: "authd:admin through a client", over: map[string]string{"scope": AdminScope}, signedIn: true, code: "invalid_scope"},
		// What the client may never have is refused before the user is
		// asked for a password that could not help, and before prompt=none
		// would hide it behind login_required.
		{name: "scope beyond the client's, signed out", over: map[string]string{"scope": "openid admin-stuff"}, code: "invalid_scope"},
		{name: "authd:admin through a client, signed out", over: map[string]string{"scope": AdminScope}, code: "invalid_scope"},
		{name: "scope beyond the client's, prompt=none", over: map[string]string{"scope": "admin-stuff", "prompt": "none"}, code: "invalid_scope"},
		{name: "prompt=none without a session", over: map[string]string{"prompt": "none"}, code: "login_required"},
		{name: "prompt=none needing consent", over: map[string]string{"prompt": "none"}, signedIn: true, code: "consent_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.ua()
			if tt.signedIn {
				b = signedIn
			}
			p := b.get("/authorize?" + authQuery(tt.over) + tt.raw)
			prefix := tt.prefix
			if prefix == "" {
				prefix = appRedirect + "?"
			}
			q := p.redirected(t, prefix)
			if q.Get("error") != tt.code || q.Get("error_description") == "" {
				t.Errorf("error %q (%q), want %s", q.Get("error"), q.Get("error_description"), tt.code)
			}
			if q.Get("state") != "st-1" || q.Get("iss") != e.url {
				t.Errorf("state %q iss %q", q.Get("state"), q.Get("iss"))
			}
			if q.Get("code") != "" {
				t.Errorf("a code with an error")
			}
			checkPageHeaders(t, p.Header)
		})
	}
	t.Run("no state, none echoed", func(t *testing.T) {
		q := e.ua().authorize(map[string]string{"state": "", "response_type": "token"}).redirected(t, appRedirect+"?")
		if _, ok := q["state"]; ok {
			t.Errorf("state echoed: %v", q)
		}
	})
}

// TestAuthorize_RedirectURI: a loopback redirect URI is accepted with any
// port and the answer goes to the port asked for; an omitted redirect_uri
// is the client's only one, and the code records that it was omitted.
func TestAuthorize_RedirectURI(t *testing.T) {
	e := newAuthEnv(t)
	e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
	b := e.signedInBrowser()
	q := b.authorize(map[string]string{"redirect_uri": "http://127.0.0.1:49152/cb"}).redirected(t, "http://127.0.0.1:49152/cb?")
	if ac := e.codeOf(q.Get("code")); ac.RedirectURI != "http://127.0.0.1:49152/cb" || !ac.RedirectURIGiven {
		t.Errorf("code's redirect %q given %v", ac.RedirectURI, ac.RedirectURIGiven)
	}
	e.addClient("one", "", func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode}
		c.Scopes = []string{"read"}
		c.RedirectURIs = []string{"https://one.example/cb?x=1"}
		c.FirstParty = true
	})
	q = b.authorize(map[string]string{"client_id": "one", "redirect_uri": "", "scope": "read"}).redirected(t, "https://one.example/cb?x=1&")
	if ac := e.codeOf(q.Get("code")); ac.RedirectURI != "https://one.example/cb?x=1" || ac.RedirectURIGiven {
		t.Errorf("code's redirect %q given %v", ac.RedirectURI, ac.RedirectURIGiven)
	}
	if q.Get("x") != "1" {
		t.Errorf("the client's query lost: %v", q)
	}
}

// TestAuthorize_POST: the authorization request may come as a form POST.
func TestAuthorize_POST(t *testing.T) {
	e := newAuthEnv(t)
	v, _ := url.ParseQuery(authQuery(nil))
	p := e.ua().post("/authorize", v)
	if p.Status != 200 || !p.isSignIn() {
		t.Fatalf("got %d %s", p.Status, p.Body)
	}
	v.Set("response_type", "token")
	if q := e.ua().post("/authorize", v).redirected(t, appRedirect+"?"); q.Get("error") != "unsupported_response_type" {
		t.Errorf("got %v", q)
	}
}

// failingAuthStore fails the storage of the code flow on demand.
type failingAuthStore struct {
	storage.Storage
	mu   sync.Mutex
	fail map[string]bool
}

var errStoreDown = errors.New("test: store down")

func (f *failingAuthStore) failing(m string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[m]
}

func (f *failingAuthStore) set(m string, on bool) {
	f.mu.Lock()
	f.fail[m] = on
	f.mu.Unlock()
}

func (f *failingAuthStore) GetLoginSession(ctx context.Context, hash string) (storage.LoginSession, error) {
	if f.failing("GetLoginSession") {
		return storage.LoginSession{}, errStoreDown
	}
	return f.Storage.GetLoginSession(ctx, hash)
}

func (f *failingAuthStore) CreateLoginSession(ctx context.Context, s storage.LoginSession) error {
	if f.failing("CreateLoginSession") {
		return errStoreDown
	}
	return f.Storage.CreateLoginSession(ctx, s)
}

func (f *failingAuthStore) CreateCode(ctx context.Context, c storage.AuthCode) error {
	if f.failing("CreateCode") {
		return errStoreDown
	}
	return f.Storage.CreateCode(ctx, c)
}

func (f *failingAuthStore) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	if f.failing("GetConsent") {
		return storage.Consent{}, errStoreDown
	}
	return f.Storage.GetConsent(ctx, userID, clientID)
}

// TestAuthorize_StorageFailure: a storage failure is authd's error page
// with 503, never a 500, a redirect, or a half-done sign-in.
func TestAuthorize_StorageFailure(t *testing.T) {
	fs := &failingAuthStore{fail: map[string]bool{}}
	e := newWrappedEnv(t, func(s storage.Storage) storage.Storage { fs.Storage = s; return fs })
	e.addUser(aliceName, alicePassword, nil)
	e.addClient("app", "", func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode}
		c.Scopes = []string{"openid", "read"}
		c.RedirectURIs = []string{appRedirect}
	})
	for _, m := range []string{"GetLoginSession", "CreateLoginSession", "CreateCode", "GetConsent"} {
		t.Run(m, func(t *testing.T) {
			b := e.ua()
			p := b.authorize(nil)
			switch m {
			case "GetLoginSession":
				// A browser with a session cookie.
				b.follow(b.signIn(p, aliceName, alicePassword))
				fs.set(m, true)
				p = b.authorize(nil)
			case "CreateCode":
				p = b.follow(b.signIn(p, aliceName, alicePassword))
				fs.set(m, true)
				p = b.decide(p, "allow")
			default:
				fs.set(m, true)
				p = b.signIn(p, aliceName, alicePassword)
				if p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "authorize?") {
					p = b.follow(p)
				}
			}
			fs.set(m, false)
			if p.Status != http.StatusServiceUnavailable || p.Location != "" || !strings.Contains(p.Body, "unavailable") {
				t.Fatalf("got %d %q %s", p.Status, p.Location, p.Body)
			}
			checkPageHeaders(t, p.Header)
			if strings.Contains(p.Body, errStoreDown.Error()) {
				t.Errorf("the cause is shown to the browser")
			}
		})
	}
}
