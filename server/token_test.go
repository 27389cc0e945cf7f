package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestToken_Errors checks every error of SPEC §2.1 with its exact status,
// code and challenge.
func TestToken_Errors(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", "app-secret-that-is-long-enough-123456", func(c *storage.Client) {
		c.Audiences = []string{"https://api.example", "https://other.example"}
	})
	e.addClient("pub", "", nil)
	e.addClient("svc", "svc-secret-that-is-long-enough-1234567", func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
	})
	e.addClient("pwonly", "pwonly-secret-that-is-long-enough-1234", func(c *storage.Client) {
		c.Grants = []string{GrantPassword}
	})
	e.addUser("alice", "alice-pw", nil)
	e.addUser("limited", "limited-pw", func(u *storage.User) { u.Scopes = []string{"read"} })
	e.addUser("off", "off-pw", func(u *storage.User) { u.Disabled = true })
	const appSecret = "app-secret-that-is-long-enough-123456"

	good := e.login("app", appSecret, "alice", "alice-pw")
	if good.Status != 200 {
		t.Fatalf("login: %d %s", good.Status, good.Raw)
	}
	pubTok := e.login("pub", "", "alice", "alice-pw")
	if pubTok.Status != 200 {
		t.Fatalf("public login: %d %s", pubTok.Status, pubTok.Raw)
	}
	pw := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}
	}
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{}
		for kk, vv := range v {
			out[kk] = append([]string(nil), vv...)
		}
		out.Set(k, val)
		return out
	}
	rt := func(tok string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}
	}

	type req struct {
		contentType string
		body        string
		query       string
		auth        string
	}
	form := func(v url.Values, id, secret string) req {
		r := req{contentType: "application/x-www-form-urlencoded", body: v.Encode()}
		if id != "" {
			r.auth = basicAuth(id, secret)
		}
		return r
	}
	tests := []struct {
		name      string
		req       req
		status    int
		code      string
		challenge bool
		desc      string
	}{
		{"json body", req{contentType: "application/json", body: `{"grant_type":"password"}`, auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"no content type", req{body: "grant_type=password", auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"parameter in query", func() req {
			r := form(pw("alice", "alice-pw"), "app", appSecret)
			r.query = "password=alice-pw"
			return r
		}(), 400, "invalid_request", false, ""},
		{"repeated parameter", req{contentType: "application/x-www-form-urlencoded", body: "grant_type=password&username=alice&username=bob&password=x", auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"repeated grant_type", req{contentType: "application/x-www-form-urlencoded", body: "grant_type=password&grant_type=refresh_token", auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"missing grant_type", form(url.Values{"username": {"alice"}}, "app", appSecret), 400, "invalid_request", false, ""},
		{"body over 64 KiB", req{contentType: "application/x-www-form-urlencoded", body: "grant_type=password&username=alice&password=" + strings.Repeat("a", 65<<10), auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"malformed escape", req{contentType: "application/x-www-form-urlencoded", body: "grant_type=password&username=%zz", auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"NUL byte", req{contentType: "application/x-www-form-urlencoded", body: "grant_type=password&username=al%00ice&password=x", auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"invalid UTF-8", req{contentType: "application/x-www-form-urlencoded", body: "grant_type=password&username=%ff%fe&password=x", auth: basicAuth("app", appSecret)}, 400, "invalid_request", false, ""},
		{"unknown grant_type", form(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}, "app", appSecret), 400, "unsupported_grant_type", false, ""},
		{"no client authentication", form(pw("alice", "alice-pw"), "", ""), 401, "invalid_client", false, ""},
		{"wrong secret, basic", form(pw("alice", "alice-pw"), "app", "wrong"), 401, "invalid_client", true, ""},
		{"wrong secret, post", form(with(with(pw("alice", "alice-pw"), "client_id", "app"), "client_secret", "wrong"), "", ""), 401, "invalid_client", false, ""},
		{"unknown client", form(pw("alice", "alice-pw"), "nobody", "x"), 401, "invalid_client", true, ""},
		{"malformed basic header", req{contentType: "application/x-www-form-urlencoded", body: pw("alice", "alice-pw").Encode(), auth: "Basic !!!notbase64"}, 401, "invalid_client", true, ""},
		{"two authentication methods", form(with(pw("alice", "alice-pw"), "client_secret", appSecret), "app", appSecret), 400, "invalid_request", false, ""},
		{"basic and other client_id", form(with(pw("alice", "alice-pw"), "client_id", "pub"), "app", appSecret), 400, "invalid_request", false, ""},
		{"confidential client without secret", form(with(pw("alice", "alice-pw"), "client_id", "app"), "", ""), 401, "invalid_client", false, ""},
		{"public client with a secret", form(with(with(pw("alice", "alice-pw"), "client_id", "pub"), "client_secret", "x"), "", ""), 401, "invalid_client", false, ""},
		{"grant not registered", form(url.Values{"grant_type": {"client_credentials"}}, "app", appSecret), 400, "unauthorized_client", false, ""},
		{"refresh grant not registered", form(rt(good.str("refresh_token")), "pwonly", "pwonly-secret-that-is-long-enough-1234"), 400, "unauthorized_client", false, ""},
		{"missing username", form(url.Values{"grant_type": {"password"}, "password": {"x"}}, "app", appSecret), 400, "invalid_request", false, ""},
		{"missing password", form(url.Values{"grant_type": {"password"}, "username": {"alice"}}, "app", appSecret), 400, "invalid_request", false, ""},
		{"password too long", form(pw("alice", strings.Repeat("p", 1025)), "app", appSecret), 400, "invalid_request", false, ""},
		{"wrong password", form(pw("alice", "nope"), "app", appSecret), 400, "invalid_grant", false, "invalid username or password"},
		{"unknown user", form(pw("mallory", "nope"), "app", appSecret), 400, "invalid_grant", false, "invalid username or password"},
		{"disabled user", form(pw("off", "off-pw"), "app", appSecret), 400, "invalid_grant", false, "invalid username or password"},
		{"scope beyond client", form(with(pw("alice", "alice-pw"), "scope", "read delete"), "app", appSecret), 400, "invalid_scope", false, ""},
		{"scope beyond user", form(with(pw("limited", "limited-pw"), "scope", "write"), "app", appSecret), 400, "invalid_scope", false, ""},
		{"admin scope for non-admin", form(with(pw("alice", "alice-pw"), "scope", AdminScope), "app", appSecret), 400, "invalid_scope", false, ""},
		{"malformed scope", form(with(pw("alice", "alice-pw"), "scope", `read "x"`), "app", appSecret), 400, "invalid_scope", false, ""},
		{"unregistered resource", form(with(pw("alice", "alice-pw"), "resource", "https://evil.example"), "app", appSecret), 400, "invalid_target", false, ""},
		{"missing refresh_token", form(url.Values{"grant_type": {"refresh_token"}}, "app", appSecret), 400, "invalid_request", false, ""},
		{"malformed refresh token", form(rt("not-a-token"), "app", appSecret), 400, "invalid_grant", false, "refresh token invalid"},
		{"unknown refresh token", form(rt("authd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "app", appSecret), 400, "invalid_grant", false, "refresh token invalid"},
		{"another client's refresh token", req{contentType: "application/x-www-form-urlencoded", body: with(rt(good.str("refresh_token")), "client_id", "pub").Encode()}, 400, "invalid_grant", false, ""},
		{"scope widened on refresh", form(with(rt(good.str("refresh_token")), "scope", "read admin"), "app", appSecret), 400, "invalid_scope", false, ""},
		{"client_credentials scope beyond client", form(url.Values{"grant_type": {"client_credentials"}, "scope": {"nope"}}, "svc", "svc-secret-that-is-long-enough-1234567"), 400, "invalid_scope", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := e.url + "/token"
			if tt.req.query != "" {
				u += "?" + tt.req.query
			}
			r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(tt.req.body))
			if tt.req.contentType != "" {
				r.Header.Set("Content-Type", tt.req.contentType)
			}
			if tt.req.auth != "" {
				r.Header.Set("Authorization", tt.req.auth)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			got := decode(t, resp)
			if got.Status != tt.status || got.str("error") != tt.code {
				t.Fatalf("got %d %q (%s), want %d %q", got.Status, got.str("error"), got.str("error_description"), tt.status, tt.code)
			}
			if tt.desc != "" && got.str("error_description") != tt.desc {
				t.Errorf("error_description = %q, want %q", got.str("error_description"), tt.desc)
			}
			if ch := got.Header.Get("WWW-Authenticate"); (ch == `Basic realm="authd"`) != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want challenge %v", ch, tt.challenge)
			}
			if cc := got.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}

	// The refresh tokens used above must not have been rotated or revoked by
	// the failed attempts.
	if r := e.refresh("app", appSecret, good.str("refresh_token")); r.Status != 200 {
		t.Fatalf("refresh after failed attempts: %d %s", r.Status, r.Raw)
	}
}

// TestToken_RefreshLifetimes covers expiry, revocation and user changes.
func TestToken_RefreshLifetimes(t *testing.T) {
	const secret = "app-secret-that-is-long-enough-123456"
	setup := func(t *testing.T) (*testEnv, string) {
		e := newEnv(t)
		e.addClient("app", secret, nil)
		e.addUser("alice", "alice-pw", nil)
		r := e.login("app", secret, "alice", "alice-pw")
		if r.Status != 200 {
			t.Fatalf("login: %d %s", r.Status, r.Raw)
		}
		return e, r.str("refresh_token")
	}
	ctx := context.Background()
	tests := []struct {
		name   string
		action func(e *testEnv)
		desc   string
	}{
		{"idle lifetime", func(e *testEnv) { e.clock.Advance(168*time.Hour + time.Second) }, "refresh token expired"},
		{"absolute lifetime", func(e *testEnv) {
			// Keep the chain alive past the idle limit, then pass the family's end.
			e.clock.Advance(720*time.Hour + time.Second)
		}, "refresh token expired"},
		{"family revoked", func(e *testEnv) {
			fams, _ := storage.ListAllFamilies(ctx, e.store, storage.FamilyFilter{})
			e.store.RevokeFamily(ctx, fams[0].ID, e.clock.Now(), "test")
		}, "refresh token revoked"},
		{"user session generation bumped", func(e *testEnv) {
			e.store.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) { u.SessionGen++; return u, nil })
		}, "refresh token revoked"},
		{"user disabled", func(e *testEnv) {
			e.store.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) { u.Disabled = true; return u, nil })
		}, "refresh token revoked: the user is disabled"},
		{"user deleted", func(e *testEnv) { e.store.DeleteUser(ctx, "alice", e.clock.Now()) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, tok := setup(t)
			tt.action(e)
			r := e.refresh("app", secret, tok)
			if r.Status != 400 || r.str("error") != "invalid_grant" {
				t.Fatalf("got %d %s, want 400 invalid_grant", r.Status, r.Raw)
			}
			if tt.desc != "" && r.str("error_description") != tt.desc {
				t.Errorf("description %q, want %q", r.str("error_description"), tt.desc)
			}
		})
	}

	t.Run("absolute lifetime beats a busy chain", func(t *testing.T) {
		e, tok := setup(t)
		for i := 0; i < 6; i++ { // 6 × 125h = 750h > 720h, each step within the idle limit
			e.clock.Advance(125 * time.Hour)
			r := e.refresh("app", secret, tok)
			if i < 5 {
				if r.Status != 200 {
					t.Fatalf("refresh %d: %d %s", i, r.Status, r.Raw)
				}
				tok = r.str("refresh_token")
				continue
			}
			if r.Status != 400 || r.str("error_description") != "refresh token expired" {
				t.Fatalf("past the family's end: %d %s", r.Status, r.Raw)
			}
		}
	})
}
