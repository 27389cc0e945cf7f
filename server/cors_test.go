package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authd/authd/storage"
)

// countingClients counts ListClients.
type countingClients struct {
	storage.Storage
	lists atomic.Int64
}

func (c *countingClients) ListClients(ctx context.Context) ([]storage.Client, error) {
	c.lists.Add(1)
	return c.Storage.ListClients(ctx)
}

// corsRequest sends method to path with an Origin header (none if empty)
// and, for a preflight, Access-Control-Request-Method.
func (e *testEnv) corsRequest(method, path, origin, requestMethod string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(""))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if requestMethod != "" {
		req.Header.Set("Access-Control-Request-Method", requestMethod)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func corsEnv(t *testing.T) (*testEnv, *countingClients) {
	t.Helper()
	var counter *countingClients
	e := newWrappedEnv(t, func(s storage.Storage) storage.Storage {
		counter = &countingClients{Storage: s}
		return counter
	})
	e.addClient("spa", "", func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode, GrantRefreshToken}
		c.RedirectURIs = []string{"https://spa.example/cb", "http://127.0.0.1/callback", "https://spa2.example:8443/cb", "com.example.app:/cb"}
	})
	e.addClient("web", webSecret, func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode}
		c.RedirectURIs = []string{"https://web.example/cb"}
	})
	return e, counter
}

// TestCORS: /token, /revoke and /userinfo answer browsers from the origins
// of public clients' redirect URIs (loopback IPs on any port), with the
// origin itself, never "*", and never with credentials; other origins get
// no CORS headers and the request is served as before. The JWKS and the
// metadata answer every origin with "*". Nothing on /introspect, the admin
// API or unknown paths (where /authorize's pages would be).
func TestCORS(t *testing.T) {
	t.Parallel()
	e, _ := corsEnv(t)
	allowed := []string{"https://spa.example", "http://127.0.0.1:5173", "http://127.0.0.1:1", "http://127.0.0.1", "https://spa2.example:8443", "https://SPA.example"}
	refused := []string{
		"https://evil.example", "https://web.example", // a confidential client's origin
		"http://spa.example", "https://spa.example:444", "https://spa.example.evil.example", "https://evil.example/https://spa.example",
		"http://[::1]:5173", "http://localhost:5173", "https://127.0.0.1:5173", "https://spa2.example", "null", "https://spa.example/cb",
		"https://user@spa.example", "com.example.app:", "*",
	}
	for _, route := range []struct{ method, path string }{{"POST", "/token"}, {"POST", "/revoke"}, {"GET", "/userinfo"}, {"POST", "/userinfo"}} {
		for _, origin := range allowed {
			resp := e.corsRequest(route.method, route.path, origin, "")
			h := resp.Header
			if h.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") || h.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("%s %s from %s: Allow-Origin %q Vary %q Allow-Credentials %q, want the origin, Vary: Origin, no credentials",
					route.method, route.path, origin, h.Get("Access-Control-Allow-Origin"), h.Values("Vary"), h.Get("Access-Control-Allow-Credentials"))
			}
			// A preflight for the route's method.
			pre := e.corsRequest(http.MethodOptions, route.path, origin, route.method)
			ph := pre.Header
			if pre.StatusCode != http.StatusNoContent || ph.Get("Access-Control-Allow-Origin") != origin ||
				!strings.Contains(ph.Get("Access-Control-Allow-Methods"), route.method) ||
				!strings.Contains(ph.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(ph.Get("Access-Control-Allow-Headers"), "Content-Type") ||
				ph.Get("Access-Control-Max-Age") == "" || ph.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("preflight of %s %s from %s: %d %v", route.method, route.path, origin, pre.StatusCode, ph)
			}
		}
		for _, origin := range refused {
			resp := e.corsRequest(route.method, route.path, origin, "")
			if got := corsHeaders(resp.Header); got != "" {
				t.Errorf("%s %s from %s: CORS headers %s, want none", route.method, route.path, origin, got)
			}
			if resp.StatusCode >= 500 || resp.StatusCode == http.StatusForbidden {
				t.Errorf("%s %s from %s: %d, want the request served as without Origin", route.method, route.path, origin, resp.StatusCode)
			}
			pre := e.corsRequest(http.MethodOptions, route.path, origin, route.method)
			if got := corsHeaders(pre.Header); got != "" {
				t.Errorf("preflight of %s %s from %s: CORS headers %s, want none", route.method, route.path, origin, got)
			}
		}
	}
	// A preflight for a method the route does not take.
	if got := corsHeaders(e.corsRequest(http.MethodOptions, "/token", "https://spa.example", "DELETE").Header); got != "" {
		t.Errorf("preflight of DELETE /token: %s, want no CORS headers", got)
	}
	// Without an Origin header nothing changes.
	if got := corsHeaders(e.corsRequest(http.MethodPost, "/token", "", "").Header); got != "" {
		t.Errorf("POST /token without Origin: %s", got)
	}

	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		for _, origin := range []string{"", "https://evil.example", "https://spa.example"} {
			resp := e.corsRequest(http.MethodGet, path, origin, "")
			if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("GET %s from %q: %d Allow-Origin %q, want 200 and *", path, origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		}
		pre := e.corsRequest(http.MethodOptions, path, "https://evil.example", "GET")
		if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), "GET") {
			t.Errorf("preflight of GET %s: %d %v", path, pre.StatusCode, pre.Header)
		}
	}

	for _, route := range []struct{ method, path string }{
		{"POST", "/introspect"}, {"GET", "/authorize"}, {"POST", "/authorize"}, {"GET", "/admin/api/users"}, {"GET", "/admin/"}, {"OPTIONS", "/authorize"}, {"OPTIONS", "/admin/api/users"}, {"OPTIONS", "/introspect"},
	} {
		resp := e.corsRequest(route.method, route.path, "https://spa.example", "")
		if got := corsHeaders(resp.Header); got != "" {
			t.Errorf("%s %s from a client's origin: CORS headers %s, want none", route.method, route.path, got)
		}
	}
}

// corsHeaders lists the Access-Control-* headers of h.
func corsHeaders(h http.Header) string {
	var out []string
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out = append(out, k+": "+strings.Join(v, ","))
		}
	}
	return strings.Join(out, "; ")
}

// TestCORS_ClientChanges: the allowed origins are not read per request;
// they follow a client change made through this server at once, and one
// made elsewhere (another server on a shared store) within the client
// cache's TTL.
func TestCORS_ClientChanges(t *testing.T) {
	t.Parallel()
	e, counter := corsEnv(t)
	allowedNow := func(origin string) bool {
		return e.corsRequest(http.MethodPost, "/token", origin, "").Header.Get("Access-Control-Allow-Origin") == origin
	}
	before := counter.lists.Load()
	for range 50 {
		if !allowedNow("https://spa.example") {
			t.Fatal("https://spa.example refused")
		}
	}
	if n := counter.lists.Load() - before; n > 1 {
		t.Errorf("50 requests listed the clients %d times, want at most once", n)
	}

	// Through this server (the admin API calls forgetClient).
	if allowedNow("https://new.example") {
		t.Fatal("https://new.example allowed before its client exists")
	}
	e.addClient("new", "", func(c *storage.Client) { c.RedirectURIs = []string{"https://new.example/cb"} })
	e.srv.forgetClient("new")
	if !allowedNow("https://new.example") {
		t.Error("https://new.example refused after its client was created through this server")
	}
	if err := e.store.DeleteClient(t.Context(), "new"); err != nil {
		t.Fatal(err)
	}
	e.srv.forgetClient("new")
	if allowedNow("https://new.example") {
		t.Error("https://new.example allowed after its client was deleted through this server")
	}

	// Elsewhere: seen within the TTL.
	e.addClient("other", "", func(c *storage.Client) { c.RedirectURIs = []string{"https://other.example/cb"} })
	allowedNow("https://other.example") // may or may not see it yet
	e.clock.Advance(clientCacheTTL)
	if !allowedNow("https://other.example") {
		t.Error("https://other.example refused a client cache TTL after its client was created elsewhere")
	}
}

// TestRequestOrigin: the Origin header parser and the origin of redirect
// URIs agree on the form they compare.
func TestRequestOrigin(t *testing.T) {
	for _, tc := range []struct {
		redirect, origin string
		match            bool
	}{
		{"https://a.example/cb", "https://a.example", true},
		{"https://a.example:443/cb", "https://a.example", true},
		{"https://a.example/cb", "https://a.example:443", true},
		{"https://A.Example/cb", "https://a.example", true},
		{"http://127.0.0.1/cb", "http://127.0.0.1:8080", true},
		{"http://127.0.0.1:3000/cb", "http://127.0.0.1:8080", true},
		{"http://[::1]/cb", "http://[::1]:8080", true},
		{"http://[::1]:9/cb", "http://[::1]", true},
		{"http://localhost:3000/cb", "http://localhost:3000", true},
		{"http://localhost:3000/cb", "http://localhost:3001", false},
		{"https://a.example/cb", "https://a.example:8443", false},
		{"https://a.example/cb", "http://a.example", false},
		{"https://127.0.0.1/cb", "https://127.0.0.1:8443", false},
		{"https://a.example/cb", "https://a.example/", false},
		{"https://a.example/cb", "https://a.example?", false},
		{"https://a.example/cb", "https://x@a.example", false},
		{"com.example.app:/cb", "com.example.app:", false},
		{"HTTP://127.0.0.1:3000/cb", "http://127.0.0.1:3000", true},
		{"HTTP://127.0.0.1:3000/cb", "http://127.0.0.1:3001", false}, // /authorize compares it exactly
		{"http://127.0.0.1.evil.example/cb", "http://127.0.0.1:80", false},
	} {
		o := &corsOrigins{exact: map[string]bool{}, loopback: map[string]bool{}}
		if origin, loopback, ok := redirectOrigin(tc.redirect); ok {
			if loopback {
				o.loopback[origin] = true
			} else {
				o.exact[origin] = true
			}
		}
		if got := o.allowed(tc.origin); got != tc.match {
			t.Errorf("redirect URI %s, Origin %s: allowed %v, want %v", tc.redirect, tc.origin, got, tc.match)
		}
	}
}
