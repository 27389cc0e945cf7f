package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/storage"
)

// The tests of this file prove SPEC §2.1, §2.4 and §2.5 on privilege
// changes: a change to a user or a client takes effect at the next refresh,
// ends the sessions and access tokens it must end, and cannot be outrun.

const privSecret = "app-secret-that-is-long-enough-123456"

// privEnv has a confidential client app (scopes read, write, audience
// https://api.example), a resource server rs that may introspect that
// audience's tokens, and carol logged in through app with "read write".
func privEnv(t *testing.T, wrap func(storage.Storage) storage.Storage) (*testEnv, tokenResult) {
	t.Helper()
	e := newWrappedEnv(t, wrap)
	e.addClient("app", privSecret, func(c *storage.Client) { c.Audiences = []string{"https://api.example"} })
	e.addClient("rs", rsSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Audiences = []string{"https://api.example"}
	})
	e.addUser("carol", "carol-password", func(u *storage.User) { u.Scopes = []string{"read", "write"} })
	r := e.login("app", privSecret, "carol", "carol-password")
	if r.Status != 200 || r.str("scope") != "read write" {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	return e, r
}

func (e *testEnv) refreshScope(clientID, secret, rt, scope string) tokenResult {
	e.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		v.Set("scope", scope)
	}
	if secret == "" {
		v.Set("client_id", clientID)
		clientID = ""
	}
	return e.token(v, clientID, secret)
}

func (e *testEnv) updateUser(name string, fn func(*storage.User)) {
	e.t.Helper()
	_, err := e.store.UpdateUser(context.Background(), name, func(u storage.User) (storage.User, error) { fn(&u); return u, nil })
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) updateClient(id string, fn func(*storage.Client)) {
	e.t.Helper()
	_, err := e.store.UpdateClient(context.Background(), id, func(c storage.Client) (storage.Client, error) { fn(&c); return c, nil })
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestRefresh_PrivilegesReadAtEveryRefresh: the access token of a refresh
// gets requested ∩ family ∩ what the user and the client may have now;
// invalid_grant when nothing of the family's scope remains (SPEC §2.1).
func TestRefresh_PrivilegesReadAtEveryRefresh(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *testEnv)
		scope  string // requested
		status int
		code   string
		want   string // scope of the answer
	}{
		{"unchanged", func(e *testEnv) {}, "", 200, "", "read write"},
		{"user narrowed through the admin API", func(e *testEnv) {
			if r := e.direct("PATCH", "/admin/api/users/carol", `{"scopes":["read"]}`); r.Status != 200 {
				e.t.Fatalf("patch: %d %s", r.Status, r.Body)
			}
		}, "", 200, "", "read"},
		{"user widened to any scope", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Scopes = nil }) }, "", 200, "", "read write"},
		{"client narrowed", func(e *testEnv) { e.updateClient("app", func(c *storage.Client) { c.Scopes = []string{"write"} }) }, "", 200, "", "write"},
		{"client widened: never beyond the family", func(e *testEnv) {
			e.updateClient("app", func(c *storage.Client) { c.Scopes = []string{"read", "write", "admin"} })
		}, "", 200, "", "read write"},
		{"user narrowed, narrower request", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"read"} }) }, "read", 200, "", "read"},
		{"user narrowed, request of both", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"read"} }) }, "read write", 200, "", "read"},
		{"user narrowed, request of what was taken away", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"read"} }) }, "write", 400, "invalid_scope", ""},
		{"user left with nothing of the family", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"other"} }) }, "", 400, "invalid_grant", ""},
		{"client left with nothing of the family", func(e *testEnv) { e.updateClient("app", func(c *storage.Client) { c.Scopes = []string{"other"} }) }, "", 400, "invalid_grant", ""},
		{"client left with no scopes", func(e *testEnv) { e.updateClient("app", func(c *storage.Client) { c.Scopes = nil }) }, "", 400, "invalid_grant", ""},
		{"client's audiences widened", func(e *testEnv) {
			e.updateClient("app", func(c *storage.Client) { c.Audiences = append(c.Audiences, "https://other.example") })
		}, "", 200, "", "read write"},
		{"client's audiences narrowed away from the session's", func(e *testEnv) {
			e.updateClient("app", func(c *storage.Client) { c.Audiences = []string{"https://other.example"} })
		}, "", 400, "invalid_grant", ""},
		{"client may no longer refresh", func(e *testEnv) {
			e.updateClient("app", func(c *storage.Client) { c.Grants = []string{GrantPassword} })
		}, "", 400, "unauthorized_client", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, login := privEnv(t, nil)
			tt.change(e)
			r := e.refreshScope("app", privSecret, login.str("refresh_token"), tt.scope)
			if r.Status != tt.status || r.str("error") != tt.code {
				t.Fatalf("refresh: got %d %s, want %d %q", r.Status, r.Raw, tt.status, tt.code)
			}
			if tt.status != 200 {
				// Nothing was rotated: the token is still the current one.
				tok, _, err := e.store.GetRefreshToken(context.Background(), hashToken(login.str("refresh_token")))
				if err != nil || tok.Spent() {
					t.Errorf("refused refresh: token spent %v (%v), want unspent", tok.Spent(), err)
				}
				return
			}
			if got := r.str("scope"); got != tt.want {
				t.Errorf("scope: got %q, want %q", got, tt.want)
			}
			in := e.introspect(r.str("access_token"), "rs", rsSecret)
			if in.Body["active"] != true || in.str("scope") != tt.want {
				t.Errorf("introspection of the new access token: %s, want active with scope %q", in.Raw, tt.want)
			}
		})
	}

	// The refresh token keeps the family's scope: narrowed, then widened
	// again, the user gets the original scope back.
	t.Run("family keeps its scope", func(t *testing.T) {
		e, login := privEnv(t, nil)
		e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"read"} })
		r := e.refresh("app", privSecret, login.str("refresh_token"))
		if r.Status != 200 || r.str("scope") != "read" {
			t.Fatalf("narrowed refresh: %d %s", r.Status, r.Raw)
		}
		e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"read", "write"} })
		r = e.refresh("app", privSecret, r.str("refresh_token"))
		if r.Status != 200 || r.str("scope") != "read write" {
			t.Fatalf("widened refresh: %d %s, want the family's read write", r.Status, r.Raw)
		}
	})

	// An admin demoted loses authd:admin at the next refresh of a console
	// session; with nothing else in it, the session ends.
	t.Run("admin demoted", func(t *testing.T) {
		e := newEnv(t)
		e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
		login := e.consoleLogin("root", "root-password", AdminScope)
		if login.Status != 200 {
			t.Fatalf("console login: %d %s", login.Status, login.Raw)
		}
		e.updateUser("root", func(u *storage.User) { u.Admin = false })
		r := e.refreshScope(ConsoleClientID, "", login.str("refresh_token"), "")
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Fatalf("refresh of a demoted admin: %d %s, want invalid_grant", r.Status, r.Raw)
		}
	})
}

// hookStore runs a function once when UpdateRefresh is entered: after the
// refresh grant's first reads, before its compare-and-swap reads anything.
// What the function commits lands exactly in the window a racing admin
// change would.
type hookStore struct {
	storage.Storage
	mu   sync.Mutex
	hook func()
}

func (h *hookStore) setHook(f func()) {
	h.mu.Lock()
	h.hook = f
	h.mu.Unlock()
}

func (h *hookStore) UpdateRefresh(ctx context.Context, hash string, fn storage.RefreshFunc) error {
	h.mu.Lock()
	f := h.hook
	h.hook = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Storage.UpdateRefresh(ctx, hash, fn)
}

// TestRefresh_RacesUserChange: a password change, disable, deletion or
// revocation of the user's sessions that commits between the refresh
// grant's read of the user and its compare-and-swap wins: the refresh
// fails, and no refresh token of the user works afterwards (SPEC §2.1).
func TestRefresh_RacesUserChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *testEnv)
	}{
		// The user record's one write, as a password change makes it.
		{"password change", func(e *testEnv) {
			e.updateUser("carol", func(u *storage.User) { u.PasswordHash += "x"; u.SessionGen++ })
		}},
		{"disable", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Disabled = true; u.SessionGen++ }) }},
		{"disable without a generation bump", func(e *testEnv) { e.updateUser("carol", func(u *storage.User) { u.Disabled = true }) }},
		// The admin API's changes, whole.
		{"admin API password change", func(e *testEnv) {
			if r := e.direct("PATCH", "/admin/api/users/carol", `{"password":"new-password"}`); r.Status != 200 {
				e.t.Errorf("patch: %d %s", r.Status, r.Body)
			}
		}},
		{"admin API disable", func(e *testEnv) {
			if r := e.direct("PATCH", "/admin/api/users/carol", `{"disabled":true}`); r.Status != 200 {
				e.t.Errorf("patch: %d %s", r.Status, r.Body)
			}
		}},
		{"admin API delete", func(e *testEnv) {
			if r := e.direct("DELETE", "/admin/api/users/carol", ""); r.Status != 204 {
				e.t.Errorf("delete: %d %s", r.Status, r.Body)
			}
		}},
		{"admin API revoke sessions", func(e *testEnv) {
			if r := e.direct("DELETE", "/admin/api/users/carol/sessions", ""); r.Status != 204 {
				e.t.Errorf("revoke: %d %s", r.Status, r.Body)
			}
		}},
		{"client deleted", func(e *testEnv) {
			if err := e.store.DeleteClient(context.Background(), "app"); err != nil {
				e.t.Error(err)
			}
		}},
		{"user narrowed to nothing of the family", func(e *testEnv) {
			e.updateUser("carol", func(u *storage.User) { u.Scopes = []string{"other"} })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := &hookStore{}
			e, login := privEnv(t, func(s storage.Storage) storage.Storage { hs.Storage = s; return hs })
			// A second session of carol's, to check that none survives.
			other := e.login("app", privSecret, "carol", "carol-password")
			if other.Status != 200 {
				t.Fatalf("second login: %d %s", other.Status, other.Raw)
			}
			var ran atomic.Bool
			hs.setHook(func() { ran.Store(true); tt.change(e) })
			r := e.refresh("app", privSecret, login.str("refresh_token"))
			if !ran.Load() {
				t.Fatal("the hook did not run")
			}
			if r.Status != 400 || r.str("error") != "invalid_grant" {
				t.Fatalf("refresh racing the change: got %d %s, want 400 invalid_grant", r.Status, r.Raw)
			}
			for name, rt := range map[string]string{"raced": login.str("refresh_token"), "other": other.str("refresh_token")} {
				if r := e.refresh("app", privSecret, rt); r.Status == 200 {
					t.Errorf("%s session's refresh token after the change: 200 %s", name, r.Raw)
				}
			}
		})
	}
}

// TestAccessToken_NotCurrent: an access token of a user now disabled or
// deleted, issued before the user's password change or session
// revocation, or of a client deleted since (or deleted and created again),
// introspects as inactive (SPEC §2.4); a change that ends nothing leaves it
// active.
func TestAccessToken_NotCurrent(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *testEnv)
		active bool
	}{
		{"unchanged", func(e *testEnv) {}, true},
		{"scopes changed", func(e *testEnv) { e.direct("PATCH", "/admin/api/users/carol", `{"scopes":["read"]}`) }, true},
		{"password changed", func(e *testEnv) { e.direct("PATCH", "/admin/api/users/carol", `{"password":"new-password"}`) }, false},
		{"disabled", func(e *testEnv) { e.direct("PATCH", "/admin/api/users/carol", `{"disabled":true}`) }, false},
		{"disabled and enabled again", func(e *testEnv) {
			e.direct("PATCH", "/admin/api/users/carol", `{"disabled":true}`)
			e.direct("PATCH", "/admin/api/users/carol", `{"disabled":false}`)
		}, false},
		// Not through this server (as through another on a shared store):
		// counts from the end of the user cache's TTL at the latest.
		{"disabled in the store", func(e *testEnv) {
			e.updateUser("carol", func(u *storage.User) { u.Disabled = true })
			e.clock.Advance(userCacheTTL)
		}, false},
		{"deleted", func(e *testEnv) { e.direct("DELETE", "/admin/api/users/carol", "") }, false},
		{"deleted and created again", func(e *testEnv) {
			e.direct("DELETE", "/admin/api/users/carol", "")
			e.direct("POST", "/admin/api/users", `{"username":"carol","password":"carol-password"}`)
		}, false},
		{"sessions revoked", func(e *testEnv) { e.direct("DELETE", "/admin/api/users/carol/sessions", "") }, false},
		{"client deleted", func(e *testEnv) { e.direct("DELETE", "/admin/api/clients/app", "") }, false},
		{"client deleted and created again", func(e *testEnv) {
			e.direct("DELETE", "/admin/api/clients/app", "")
			e.direct("POST", "/admin/api/clients", `{"id":"app","secret":"`+privSecret+`","audiences":["https://api.example"],"scopes":["read","write"]}`)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, login := privEnv(t, nil)
			at := login.str("access_token")
			if r := e.introspect(at, "rs", rsSecret); r.Body["active"] != true {
				t.Fatalf("before the change: %s", r.Raw)
			}
			tt.change(e)
			r := e.introspect(at, "rs", rsSecret)
			if r.Status != 200 {
				t.Fatalf("introspect: %d %s", r.Status, r.Raw)
			}
			if got := r.Body["active"] == true; got != tt.active {
				t.Fatalf("after the change: %s, want active %v", r.Raw, tt.active)
			}
			if !tt.active && strings.TrimSpace(r.Raw) != `{"active":false}` {
				t.Errorf("inactive answer: %s, want {\"active\":false} and nothing else", r.Raw)
			}
		})
	}

	// A client's own token dies with the client, and a token of a new
	// client with the same id is active.
	t.Run("client credentials", func(t *testing.T) {
		e, _ := privEnv(t, nil)
		e.addClient("svc", "svc-secret-that-is-long-enough-1234567", func(c *storage.Client) {
			c.Grants = []string{GrantClientCredentials}
			c.Audiences = []string{"https://api.example"}
		})
		cc := func() string {
			r := e.token(url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-secret-that-is-long-enough-1234567")
			if r.Status != 200 {
				t.Fatalf("client_credentials: %d %s", r.Status, r.Raw)
			}
			return r.str("access_token")
		}
		old := cc()
		if r := e.introspect(old, "rs", rsSecret); r.Body["active"] != true {
			t.Fatalf("client token: %s, want active", r.Raw)
		}
		e.direct("DELETE", "/admin/api/clients/svc", "")
		e.addClient("svc", "svc-secret-that-is-long-enough-1234567", func(c *storage.Client) {
			c.Grants = []string{GrantClientCredentials}
			c.Audiences = []string{"https://api.example"}
		})
		if r := e.introspect(old, "rs", rsSecret); r.Body["active"] == true {
			t.Errorf("token of the deleted client: %s, want inactive", r.Raw)
		}
		if r := e.introspect(cc(), "rs", rsSecret); r.Body["active"] != true {
			t.Errorf("token of the new client: %s, want active", r.Raw)
		}
	})
}

// TestAdminAPI_TokenNotCurrent: the admin API refuses an admin's token
// issued before the admin's password change or session revocation, with
// 401 invalid_token (SPEC §2.5), and accepts a token issued after.
func TestAdminAPI_TokenNotCurrent(t *testing.T) {
	tests := []struct {
		name   string
		change string // admin API call through the control socket: "METHOD path body"
	}{
		{"password changed", `PATCH /admin/api/users/root {"password":"new-root-password"}`},
		{"sessions revoked", `DELETE /admin/api/users/root/sessions`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
			e.addUser("ops", "ops-password", func(u *storage.User) { u.Admin = true })
			login := e.consoleLogin("root", "root-password", AdminScope)
			opsTok := e.consoleLogin("ops", "ops-password", AdminScope).str("access_token")
			tok := login.str("access_token")
			if r := e.adminCall("GET", "/admin/api/backup", tok, ""); r.Status != 200 {
				t.Fatalf("before the change: %d %s", r.Status, r.Body)
			}
			method, rest, _ := strings.Cut(tt.change, " ")
			path, body, _ := strings.Cut(rest, " ")
			if r := e.direct(method, path, body); r.Status >= 300 {
				t.Fatalf("%s: %d %s", tt.change, r.Status, r.Body)
			}
			for _, p := range []string{"/admin/api/backup", "/admin/api/users"} {
				r := e.adminCall("GET", p, tok, "")
				if r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("GET %s with the old token: %d %q, want 401 invalid_token", p, r.Status, r.Header.Get("WWW-Authenticate"))
				}
			}
			if r := e.refreshScope(ConsoleClientID, "", login.str("refresh_token"), ""); r.Status == 200 {
				t.Errorf("console refresh after the change: 200, want refused")
			}
			// Another admin is not affected; a new login works.
			if r := e.adminCall("GET", "/admin/api/users", opsTok, ""); r.Status != 200 {
				t.Errorf("other admin's token: %d %s", r.Status, r.Body)
			}
			pw := "root-password"
			if strings.Contains(tt.change, "new-root-password") {
				pw = "new-root-password"
			}
			fresh := e.consoleLogin("root", pw, AdminScope).str("access_token")
			if r := e.adminCall("GET", "/admin/api/users", fresh, ""); r.Status != 200 {
				t.Errorf("token issued after the change: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestDeleteClient_InheritsNothing: a client deleted and created again with
// the same id inherits none of the old one's sessions (SPEC §2.1), even
// when its families were never marked revoked (the deletion is the only
// write), and the session list says they are revoked.
func TestDeleteClient_InheritsNothing(t *testing.T) {
	for _, how := range []string{"admin API", "store"} {
		t.Run(how, func(t *testing.T) {
			e, login := privEnv(t, nil)
			if how == "admin API" {
				if r := e.direct("DELETE", "/admin/api/clients/app", ""); r.Status != 204 {
					t.Fatalf("delete: %d %s", r.Status, r.Body)
				}
			} else if err := e.store.DeleteClient(context.Background(), "app"); err != nil {
				t.Fatal(err)
			}
			if r := e.direct("POST", "/admin/api/clients", `{"id":"app","secret":"`+privSecret+`","scopes":["read","write"]}`); r.Status != 201 {
				t.Fatalf("create again: %d %s", r.Status, r.Body)
			}
			r := e.refresh("app", privSecret, login.str("refresh_token"))
			if r.Status != 400 || r.str("error") != "invalid_grant" {
				t.Fatalf("refresh through the new client: %d %s, want invalid_grant", r.Status, r.Raw)
			}
			var sessions []admin.Session
			e.direct("GET", "/admin/api/sessions?user=carol", "").json(t, &sessions)
			if len(sessions) != 1 || sessions[0].Status != admin.SessionRevoked || sessions[0].RevokeReason == "" {
				t.Errorf("session list: %+v, want the one session revoked with a reason", sessions)
			}
			// A new login through the new client works.
			if r := e.login("app", privSecret, "carol", "carol-password"); r.Status != 200 {
				t.Errorf("login through the new client: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestAdminAPI_RevokeUserSessions: revoking a user's sessions ends every
// one of them, and the session list says when and why.
func TestAdminAPI_RevokeUserSessions(t *testing.T) {
	e, login := privEnv(t, nil)
	other := e.login("app", privSecret, "carol", "carol-password")
	if r := e.direct("DELETE", "/admin/api/users/carol/sessions", ""); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, rt := range []string{login.str("refresh_token"), other.str("refresh_token")} {
		if r := e.refresh("app", privSecret, rt); r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Errorf("refresh after revocation: %d %s", r.Status, r.Raw)
		}
	}
	var sessions []admin.Session
	e.direct("GET", "/admin/api/sessions?user=carol", "").json(t, &sessions)
	if len(sessions) != 2 {
		t.Fatalf("sessions: %+v, want 2", sessions)
	}
	for _, s := range sessions {
		if s.Status != admin.SessionRevoked || s.RevokeReason != "revoked by admin" || !s.RevokedAt.Equal(e.clock.Now()) {
			t.Errorf("session %s: status %s, reason %q, revoked at %v; want revoked by admin at %v", s.ID, s.Status, s.RevokeReason, s.RevokedAt, e.clock.Now())
		}
	}
	// A new login is a new session, active.
	if r := e.login("app", privSecret, "carol", "carol-password"); r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	e.direct("GET", "/admin/api/sessions?user=carol", "").json(t, &sessions)
	active := 0
	for _, s := range sessions {
		if s.Status == admin.SessionActive {
			active++
		}
	}
	if active != 1 {
		t.Errorf("after a new login: %d active sessions, want 1", active)
	}
}

// TestTokenCurrent_LegacyTokens: access tokens issued before authd_gen and
// authd_ci existed stay current only as far as can be told: the user's
// sessions never ended (generation 0) and the client is one the migration
// found, created before the token.
func TestTokenCurrent_LegacyTokens(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	e.addClient("old", "old-secret-that-is-long-enough-1234567", func(c *storage.Client) {
		c.Instance, c.LegacyFamilies, c.CreatedAt = "migrated", true, now.Add(-time.Hour)
	})
	e.addClient("new", "new-secret-that-is-long-enough-1234567", nil)
	fresh := e.addUser("fresh", "pw", nil)
	ended := e.addUser("ended", "pw", func(u *storage.User) { u.SessionGen = 1 })
	gen0, gen1 := uint64(0), uint64(1)
	tests := []struct {
		name     string
		sub      string
		client   string
		gen      *uint64
		instance string
		iat      time.Time
		want     bool
	}{
		{"user token, migrated client", fresh.ID, "old", nil, "", now, true},
		{"user token, client created after the migration", fresh.ID, "new", nil, "", now, false},
		{"user token, issued before the client was created", fresh.ID, "old", nil, "", now.Add(-2 * time.Hour), false},
		{"user token, user's sessions ended since", ended.ID, "old", nil, "", now, false},
		{"client token, migrated client", "old", "old", nil, "", now, true},
		{"client token, client created after the migration", "new", "new", nil, "", now, false},
		// Current tokens, for contrast.
		{"current user token", ended.ID, "old", &gen1, "migrated", now, true},
		{"user token of an older generation", ended.ID, "old", &gen0, "migrated", now, false},
		{"token of another instance", fresh.ID, "old", &gen0, "other", now, false},
		{"token of an unknown user", "nobody", "old", &gen0, "migrated", now, false},
		{"token of an unknown client", fresh.ID, "gone", &gen0, "migrated", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ac := &AccessClaims{Subject: tt.sub, ClientID: tt.client, SessionGen: tt.gen, ClientInstance: tt.instance, IssuedAt: tt.iat}
			got, err := e.srv.tokenCurrent(context.Background(), ac)
			if err != nil || got != tt.want {
				t.Errorf("tokenCurrent: got %v, %v, want %v", got, err, tt.want)
			}
		})
	}
}

// TestParseAccessClaims_Currency: the private claims authd_gen and authd_ci
// are read exactly; a malformed one makes the token invalid.
func TestParseAccessClaims_Currency(t *testing.T) {
	const base = `"exp":1,"iat":1,"jti":"x","sub":"y"`
	tests := []struct {
		name     string
		claims   string
		ok       bool
		gen      *uint64
		instance string
	}{
		{"absent", `{` + base + `}`, true, nil, ""},
		{"both", `{` + base + `,"authd_gen":7,"authd_ci":"inst"}`, true, genPtr(7), "inst"},
		{"generation 0", `{` + base + `,"authd_gen":0}`, true, genPtr(0), ""},
		{"largest generation", `{` + base + `,"authd_gen":18446744073709551615}`, true, genPtr(1<<64 - 1), ""},
		{"negative generation", `{` + base + `,"authd_gen":-1}`, false, nil, ""},
		{"fractional generation", `{` + base + `,"authd_gen":1.5}`, false, nil, ""},
		{"generation as a string", `{` + base + `,"authd_gen":"1"}`, false, nil, ""},
		{"generation too large", `{` + base + `,"authd_gen":18446744073709551616}`, false, nil, ""},
		{"instance as a number", `{` + base + `,"authd_ci":1}`, false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ac, err := parseAccessClaims([]byte(tt.claims))
			if (err == nil) != tt.ok {
				t.Fatalf("parseAccessClaims: error %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if (ac.SessionGen == nil) != (tt.gen == nil) || (ac.SessionGen != nil && *ac.SessionGen != *tt.gen) || ac.ClientInstance != tt.instance {
				t.Errorf("got gen %v instance %q, want %v %q", ac.SessionGen, ac.ClientInstance, tt.gen, tt.instance)
			}
		})
	}
}

func genPtr(v uint64) *uint64 { return &v }
