package server

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/server/internal/redirecturi"
	"github.com/authd/authd/storage"
)

// oldConsole gives the stored authd-console the shape of databases from
// before issue 14: password and refresh_token, no redirect URI, not first
// party.
func oldConsole(t *testing.T, st storage.Storage) storage.Client {
	t.Helper()
	cl, err := st.UpdateClient(context.Background(), ConsoleClientID, func(c storage.Client) (storage.Client, error) {
		c.Grants = []string{GrantPassword, GrantRefreshToken}
		c.RedirectURIs = nil
		c.FirstParty = false
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// checkConsole fails unless the stored authd-console has the shape of SPEC
// 2.5 for issuer.
func checkConsole(t *testing.T, st storage.Storage, issuer string) storage.Client {
	t.Helper()
	cl, err := st.GetClient(context.Background(), ConsoleClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !cl.Public || !cl.FirstParty || !cl.BuiltIn || cl.SecretHash != "" ||
		!slices.Equal(cl.Grants, []string{httpapi.GrantAuthorizationCode, GrantRefreshToken, GrantPassword}) ||
		!slices.Equal(cl.Scopes, []string{AdminScope}) ||
		!slices.Equal(cl.RedirectURIs, []string{issuer + "/admin/"}) {
		t.Errorf("authd-console is %+v, want public, first party, built in, grants authorization_code refresh_token password, scope %s, redirect URI %s/admin/",
			cl, AdminScope, issuer)
	}
	return cl
}

// TestBuiltins_ConsoleMigratedAtStart: a database whose authd-console has
// the old shape gets the new one when a server starts on it, keeping its
// instance (so the console's sessions live on); starting again changes
// nothing.
func TestBuiltins_ConsoleMigratedAtStart(t *testing.T) {
	e := newEnv(t)
	fresh := checkConsole(t, e.store, e.url) // a new database
	e.addUser("root", "pw", func(u *storage.User) { u.Admin = true })
	rt := e.consoleLogin("root", "pw", AdminScope).str("refresh_token")
	if rt == "" {
		t.Fatal("console login failed")
	}
	old := oldConsole(t, e.store)
	e.restart()
	cl := checkConsole(t, e.store, e.url)
	if cl.Instance != old.Instance || cl.Instance != fresh.Instance || !cl.CreatedAt.Equal(fresh.CreatedAt) {
		t.Errorf("the migration replaced the client (instance %q, want %q)", cl.Instance, old.Instance)
	}
	if r := e.refresh(ConsoleClientID, "", rt); r.Status != 200 {
		t.Errorf("the console's session did not survive the migration: %d %s", r.Status, r.Raw)
	}
	// Idempotent: a second start on a migrated database writes nothing.
	e.restart()
	checkConsole(t, e.store, e.url)
	if n := strings.Count(e.logBuf.String(), "migrated the built-in client"); n != 1 {
		t.Errorf("the migration was logged %d times over three starts, want once", n)
	}
}

// TestBuiltins_IssuerChange: a server started with another issuer moves
// the console's redirect URI to it.
func TestBuiltins_IssuerChange(t *testing.T) {
	e := newEnv(t)
	checkConsole(t, e.store, e.url)
	cfg := e.srv.cfg
	cfg.Issuer = "https://auth.example.com"
	cfg.Audience = ""
	if _, err := New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	checkConsole(t, e.store, "https://auth.example.com")
	// A trailing slash in the issuer gives no double slash.
	cfg.Issuer = "https://auth.example.com/sub/"
	if _, err := New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	checkConsole(t, e.store, "https://auth.example.com/sub")
}

// TestBuiltins_ConcurrentStarts: servers starting at once on one database
// with an old console all succeed and leave one console of the new shape.
func TestBuiltins_ConcurrentStarts(t *testing.T) {
	e := newEnv(t)
	old := oldConsole(t, e.store)
	cfg := e.srv.cfg
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := New(context.Background(), cfg)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent start: %v", err)
		}
	}
	if cl := checkConsole(t, e.store, e.url); cl.Instance != old.Instance {
		t.Errorf("instance changed: %q, want %q", cl.Instance, old.Instance)
	}
}

// TestBuiltins_NewAdminLeavesConsole: the offline admin server
// (management commands without a running server) creates a missing
// console for its issuer and never changes an existing one: the next
// server start does.
func TestBuiltins_NewAdminLeavesConsole(t *testing.T) {
	e := newEnv(t)
	old := oldConsole(t, e.store)
	cfg := e.srv.cfg
	cfg.Issuer = "http://localhost:8080"
	a, err := NewAdmin(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.EnsureBuiltins(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl, err := e.store.GetClient(context.Background(), ConsoleClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cl.Grants, old.Grants) || len(cl.RedirectURIs) != 0 || cl.FirstParty {
		t.Errorf("the offline admin changed the console: %+v", cl)
	}
	if err := e.store.DeleteClient(context.Background(), ConsoleClientID); err != nil {
		t.Fatal(err)
	}
	if err := a.EnsureBuiltins(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkConsole(t, e.store, "http://localhost:8080")
	e.restart()
	checkConsole(t, e.store, e.url)
}

// TestBuiltins_ConsoleRedirectURIRegistrable: the console's redirect URI
// obeys the rule every registered redirect URI obeys, for the issuers
// config accepts.
func TestBuiltins_ConsoleRedirectURIRegistrable(t *testing.T) {
	for _, iss := range []string{"http://localhost:8080", "http://127.0.0.1:9000", "http://[::1]:8080", "https://auth.example.com", "https://auth.example.com/sub/", "https://auth.example.com:8443/a/b"} {
		u := ConsoleRedirectURI(iss)
		if err := redirecturi.Check(u); err != nil || !strings.HasSuffix(u, "/admin/") || strings.Contains(u, "//admin") {
			t.Errorf("ConsoleRedirectURI(%q) = %q: %v", iss, u, err)
		}
	}
}
