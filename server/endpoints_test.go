package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	appSecret = "app-secret-that-is-long-enough-123456"
	rsSecret  = "rs-secret-that-is-long-enough-1234567890"
)

// endpointsEnv has a confidential app, a public app, a resource server
// client that introspects, and a logged-in user.
func endpointsEnv(t *testing.T) (*testEnv, tokenResult) {
	e := newEnv(t)
	e.addClient("app", appSecret, nil)
	e.addClient("pub", "", nil)
	e.addClient("rs", rsSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	e.addUser("alice", "pw", nil)
	r := e.login("app", appSecret, "alice", "pw")
	if r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	return e, r
}

func (e *testEnv) introspect(token, id, secret string) tokenResult {
	e.t.Helper()
	return decode(e.t, e.post("/introspect", url.Values{"token": {token}}, id, secret))
}

func TestIntrospect(t *testing.T) {
	e, login := endpointsEnv(t)
	at, rt := login.str("access_token"), login.str("refresh_token")

	t.Run("access token active", func(t *testing.T) {
		// Only to its own client: rs has no audience of the token (SPEC 2.4).
		r := e.introspect(at, "app", appSecret)
		if r.Status != 200 || r.Body["active"] != true || r.str("client_id") != "app" || r.str("username") != "alice" || r.str("token_type") != "Bearer" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Error("introspection answer is cacheable")
		}
	})
	t.Run("refresh token to its own client", func(t *testing.T) {
		r := e.introspect(rt, "app", appSecret)
		if r.Body["active"] != true || r.str("scope") != "read write" {
			t.Fatalf("got %s", r.Raw)
		}
	})
	t.Run("refresh token to another client", func(t *testing.T) {
		if r := e.introspect(rt, "rs", rsSecret); r.Raw != `{"active":false}` {
			t.Fatalf("got %s, want inactive", r.Raw)
		}
	})
	for _, tc := range []struct{ name, token string }{
		{"garbage", "garbage"},
		{"tampered", at[:len(at)-4] + "AAAA"},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0."},
		{"unknown refresh", "authd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.introspect(tc.token, "rs", rsSecret); r.Status != 200 || r.Raw != `{"active":false}` {
				t.Fatalf("got %d %s, want exactly {\"active\":false}", r.Status, r.Raw)
			}
		})
	}
	t.Run("public client refused", func(t *testing.T) {
		r := decode(t, e.post("/introspect", url.Values{"token": {at}, "client_id": {"pub"}}, "", ""))
		if r.Status != 401 || r.str("error") != "invalid_client" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
	t.Run("no client authentication", func(t *testing.T) {
		r := decode(t, e.post("/introspect", url.Values{"token": {at}}, "", ""))
		if r.Status != 401 || r.str("error") != "invalid_client" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		r := decode(t, e.post("/introspect", url.Values{}, "rs", rsSecret))
		if r.Status != 400 || r.str("error") != "invalid_request" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
	t.Run("expired access token", func(t *testing.T) {
		e.clock.Advance(15*time.Minute + time.Second)
		defer e.clock.Advance(-(15*time.Minute + time.Second))
		if r := e.introspect(at, "rs", rsSecret); r.Raw != `{"active":false}` {
			t.Fatalf("got %s", r.Raw)
		}
	})
}

func TestRevoke(t *testing.T) {
	t.Run("refresh token revokes the family", func(t *testing.T) {
		e, login := endpointsEnv(t)
		r1 := e.refresh("app", appSecret, login.str("refresh_token"))
		resp := e.post("/revoke", url.Values{"token": {r1.str("refresh_token")}, "token_type_hint": {"refresh_token"}}, "app", appSecret)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		resp.Body.Close()
		if r := e.refresh("app", appSecret, r1.str("refresh_token")); r.str("error_description") != "refresh token revoked" {
			t.Fatalf("refresh after revoke: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("access token is denied until it expires", func(t *testing.T) {
		e, login := endpointsEnv(t)
		at := login.str("access_token")
		resp := e.post("/revoke", url.Values{"token": {at}}, "app", appSecret)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		if r := e.introspect(at, "app", appSecret); r.Raw != `{"active":false}` {
			t.Fatalf("introspect revoked token: %s", r.Raw)
		}
		// The refresh token is untouched.
		if r := e.refresh("app", appSecret, login.str("refresh_token")); r.Status != 200 {
			t.Fatalf("refresh: %d %s", r.Status, r.Raw)
		}
	})
	t.Run("another client's token: 200 and nothing changes", func(t *testing.T) {
		e, login := endpointsEnv(t)
		resp := e.post("/revoke", url.Values{"token": {login.str("refresh_token")}, "client_id": {"pub"}}, "", "")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		resp = e.post("/revoke", url.Values{"token": {login.str("access_token")}}, "rs", rsSecret)
		resp.Body.Close()
		if r := e.refresh("app", appSecret, login.str("refresh_token")); r.Status != 200 {
			t.Fatalf("refresh after foreign revoke: %d %s", r.Status, r.Raw)
		}
		if r := e.introspect(login.str("access_token"), "app", appSecret); r.Body["active"] != true {
			t.Fatalf("access token after foreign revoke: %s", r.Raw)
		}
	})
	t.Run("unknown token: 200", func(t *testing.T) {
		e, _ := endpointsEnv(t)
		for _, tok := range []string{"nonsense", "authd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			resp := e.post("/revoke", url.Values{"token": {tok}}, "app", appSecret)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("revoke %q: %d", tok, resp.StatusCode)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		e, _ := endpointsEnv(t)
		if r := decode(t, e.post("/revoke", url.Values{"token": {"x"}}, "app", "wrong")); r.Status != 401 || r.str("error") != "invalid_client" {
			t.Fatalf("wrong secret: %d %s", r.Status, r.Raw)
		}
		if r := decode(t, e.post("/revoke", url.Values{}, "app", appSecret)); r.Status != 400 || r.str("error") != "invalid_request" {
			t.Fatalf("missing token: %d %s", r.Status, r.Raw)
		}
	})
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	e.addClient("svc", rsSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Scopes = []string{"metrics", AdminScope}
		c.Audiences = []string{"https://api.example", "https://other.example"}
	})
	r := e.token(url.Values{"grant_type": {"client_credentials"}}, "svc", rsSecret)
	if r.Status != 200 || r.str("scope") != "metrics" || r.Body["refresh_token"] != nil {
		t.Fatalf("got %d %s", r.Status, r.Raw)
	}
	rs := e.resourceServer("https://api.example")
	c, err := rs.verify(r.str("access_token"), e.clock.Now())
	if err != nil || c.Subject != "svc" {
		t.Fatalf("verify: %v %+v", err, c)
	}
	r = e.token(url.Values{"grant_type": {"client_credentials"}, "resource": {"https://other.example"}}, "svc", rsSecret)
	rs = e.resourceServer("https://other.example")
	if _, err := rs.verify(r.str("access_token"), e.clock.Now()); err != nil {
		t.Fatalf("resource indicator: %v", err)
	}
	if r := e.token(url.Values{"grant_type": {"client_credentials"}, "scope": {AdminScope}}, "svc", rsSecret); r.str("error") != "invalid_scope" {
		t.Fatalf("admin scope via client_credentials: %s", r.Raw)
	}
}

func TestJWKS_Caching(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300, stale-while-revalidate=300" {
		t.Errorf("Cache-Control = %q", cc)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || len(doc.Keys) == 0 {
		t.Fatalf("ETag %q, %d keys", etag, len(doc.Keys))
	}
	for _, k := range doc.Keys {
		for f := range k {
			switch f {
			case "kty", "use", "alg", "kid", "n", "e":
			default:
				t.Errorf("JWKS key has field %q", f)
			}
		}
		if k["use"] != "sig" || k["alg"] != "RS256" || k["kty"] != "RSA" {
			t.Errorf("key %v", k)
		}
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/.well-known/jwks.json", nil)
		req.Header.Set("If-None-Match", inm)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d", inm, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", `"stale"`)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("stale ETag: %d, want 200", resp.StatusCode)
	}
}

func TestMetadata_Golden(t *testing.T) {
	e := newEnv(t)
	for p, file := range map[string]string{
		"/.well-known/oauth-authorization-server": "metadata.golden.json",
		"/.well-known/openid-configuration":       "openid-configuration.golden.json",
	} {
		got := []byte(strings.ReplaceAll(e.get(p), e.url, "http://ISSUER"))
		golden := filepath.Join("testdata", file)
		if *update {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./server -run Metadata -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", p, golden, got)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	e.store.Close()
	resp, err := http.Get(e.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz with the database closed: %d, want 503", resp.StatusCode)
	}
}

// TestMetadata_CacheLifetime: both metadata documents may be cached for
// --jwks-max-age, no longer: they list the signing algorithms of the next
// key, which is published 2 × --jwks-max-age before it signs, so a client
// that caches them learns of a new algorithm before it meets a token of it.
func TestMetadata_CacheLifetime(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.JWKSMaxAge = 7 * time.Minute })
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, err := http.Get(e.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.Header.Get("Cache-Control"), "public, max-age=420"; got != want {
			t.Errorf("%s: Cache-Control %q, want %q", p, got, want)
		}
	}
}
