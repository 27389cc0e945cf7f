package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// The operator's side of the authorization code flow (issue 14): clients'
// redirect URIs and first-party flag in the admin API (SPEC 2.5, 2.6).

// TestAdminAPI_ClientRedirectURIs_Refused: every bad redirect URI, and the
// authorization_code grant without one, is a 400 that names the problem
// and changes nothing, on create and on PATCH.
func TestAdminAPI_ClientRedirectURIs_Refused(t *testing.T) {
	e := newEnv(t)
	e.addClient("web", appSecret, func(c *storage.Client) {
		c.Grants = []string{httpapi.GrantAuthorizationCode, GrantRefreshToken}
		c.RedirectURIs = []string{"https://web.example/cb"}
	})
	e.addClient("app", appSecret, nil)
	many := make([]string, 33)
	for i := range many {
		many[i] = `"https://a.example/cb` + strings.Repeat("x", i) + `"`
	}
	tests := []struct {
		name, method, path, body string
		contains                 string
	}{
		{"create: fragment", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["https://n.example/cb#x"]}`, "fragment"},
		{"create: userinfo", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["https://u@n.example/cb"]}`, "userinfo"},
		{"create: relative", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["/cb"]}`, "absolute"},
		{"create: http not loopback", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["http://n.example/cb"]}`, "loopback"},
		{"create: javascript", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["javascript:alert(1)"]}`, "scheme"},
		{"create: upper-case scheme", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["HTTPS://n.example/cb"]}`, "scheme"},
		{"create: backslash", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["https://n.example\\@evil.example/"]}`, "backslash"},
		{"create: too long", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":["https://n.example/` + strings.Repeat("a", 1024) + `"]}`, "longer than"},
		{"create: too many", "POST", "/admin/api/clients", `{"id":"n","grants":["authorization_code"],"redirect_uris":[` + strings.Join(many, ",") + `]}`, "at most 32"},
		{"create: not a list", "POST", "/admin/api/clients", `{"id":"n","redirect_uris":"https://n.example/cb"}`, "must be a list"},
		{"create: first_party not boolean", "POST", "/admin/api/clients", `{"id":"n","first_party":"yes"}`, "must be a boolean"},
		{"create: code without redirect URI", "POST", "/admin/api/clients", `{"id":"n","public":true,"grants":["authorization_code"]}`, "redirect URI"},
		{"create: code with empty list", "POST", "/admin/api/clients", `{"id":"n","public":true,"grants":["authorization_code"],"redirect_uris":[]}`, "redirect URI"},
		{"patch: bad URI", "PATCH", "/admin/api/clients/web", `{"redirect_uris":["http://evil.example/cb"]}`, "loopback"},
		{"patch: remove the last redirect URI", "PATCH", "/admin/api/clients/web", `{"redirect_uris":[]}`, "redirect URI"},
		{"patch: add code without redirect URI", "PATCH", "/admin/api/clients/app", `{"grants":["authorization_code"]}`, "redirect URI"},
		{"patch: first_party not boolean", "PATCH", "/admin/api/clients/web", `{"first_party":1}`, "must be a boolean"},
		{"patch: console", "PATCH", "/admin/api/clients/authd-console", `{"redirect_uris":["https://evil.example/admin/"]}`, "built in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.direct(tt.method, tt.path, tt.body)
			want := 400
			if strings.Contains(tt.name, "console") {
				want = 409
			}
			if r.Status != want || !strings.Contains(r.Body, tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", r.Status, r.Body, want, tt.contains)
			}
		})
	}
	if _, err := e.store.GetClient(context.Background(), "n"); err == nil {
		t.Error("a refused create stored the client")
	}
	for id, want := range map[string][]string{"web": {"https://web.example/cb"}, "app": nil} {
		cl, err := e.store.GetClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cl.RedirectURIs, want) || (id == "app" && slices.Contains(cl.Grants, httpapi.GrantAuthorizationCode)) {
			t.Errorf("client %s changed by a refused PATCH: %+v", id, cl)
		}
	}
}

// TestAdminAPI_ClientRedirectURIs: redirect URIs and first_party are
// created, shown, listed and changed.
func TestAdminAPI_ClientRedirectURIs(t *testing.T) {
	e := newEnv(t)
	r := e.direct("POST", "/admin/api/clients", `{"id":"spa","public":true,"grants":["authorization_code","refresh_token"],"scopes":["openid","profile"],`+
		`"redirect_uris":["https://spa.example/cb","http://127.0.0.1/cb","com.example.app:/cb","https://spa.example/cb"],"first_party":true}`)
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var cl admin.Client
	r.json(t, &cl)
	wantURIs := []string{"https://spa.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb"}
	if !slices.Equal(cl.RedirectURIs, wantURIs) || !cl.FirstParty || cl.Secret != "" {
		t.Errorf("created %+v, want redirect URIs %q (duplicate dropped), first party, no secret", cl, wantURIs)
	}
	st, err := e.store.GetClient(context.Background(), "spa")
	if err != nil || !slices.Equal(st.RedirectURIs, wantURIs) || !st.FirstParty {
		t.Fatalf("stored %+v, %v", st, err)
	}
	// A client without them shows empty lists, not null.
	if r := e.direct("POST", "/admin/api/clients", `{"id":"plain"}`); r.Status != 201 || !strings.Contains(r.Body, `"redirect_uris":[]`) || !strings.Contains(r.Body, `"first_party":false`) {
		t.Errorf("create without redirect URIs: %d %s", r.Status, r.Body)
	}
	if r := e.direct("GET", "/admin/api/clients/spa", ""); r.Status != 200 || !strings.Contains(r.Body, `"redirect_uris":["https://spa.example/cb","http://127.0.0.1/cb","com.example.app:/cb"]`) || !strings.Contains(r.Body, `"first_party":true`) {
		t.Errorf("show: %d %s", r.Status, r.Body)
	}
	var list []admin.Client
	r = e.direct("GET", "/admin/api/clients", "")
	r.json(t, &list)
	found := false
	for _, c := range list {
		if c.ID == "spa" {
			found = slices.Equal(c.RedirectURIs, wantURIs) && c.FirstParty
		}
	}
	if !found {
		t.Errorf("list does not show spa's redirect URIs and first party: %s", r.Body)
	}

	r = e.direct("PATCH", "/admin/api/clients/spa", `{"redirect_uris":["https://spa.example/new"],"first_party":false}`)
	if r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r.json(t, &cl)
	if !slices.Equal(cl.RedirectURIs, []string{"https://spa.example/new"}) || cl.FirstParty || !slices.Equal(cl.Grants, []string{httpapi.GrantAuthorizationCode, GrantRefreshToken}) {
		t.Errorf("patched %+v", cl)
	}
	// Dropping the code grant allows dropping the redirect URIs.
	if r := e.direct("PATCH", "/admin/api/clients/spa", `{"grants":["refresh_token"],"redirect_uris":[]}`); r.Status != 200 || !strings.Contains(r.Body, `"redirect_uris":[]`) {
		t.Errorf("patch both: %d %s", r.Status, r.Body)
	}
	if r := e.direct("PATCH", "/admin/api/clients/spa", `{"first_party":true}`); r.Status != 200 || !strings.Contains(r.Body, `"first_party":true`) {
		t.Errorf("patch first_party alone: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(e.logBuf.String(), "redirect_uris") {
		t.Error("the audit lines do not record the redirect URIs")
	}
}

// putConsent stores a consent of user for client, as the consent page
// does.
func (e *testEnv) putConsent(u storage.User, clientID string, scopes ...string) {
	e.t.Helper()
	cl, err := e.store.GetClient(context.Background(), clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.store.PutConsent(context.Background(), storage.Consent{UserID: u.ID, ClientID: clientID, ClientInstance: cl.Instance,
		Scopes: scopes, GrantedAt: now, UpdatedAt: now}); err != nil {
		e.t.Fatal(err)
	}
}

// TestAdminAPI_Consents: the consents of SPEC 2.5 are listed (those of a
// client deleted and created again are not) and revoked, which ends the
// user's sessions of that client and no other; every bad request is
// answered with the status of SPEC 2.5 and changes nothing.
func TestAdminAPI_Consents(t *testing.T) {
	e := newEnv(t)
	alice := e.addUser("alice", "pw", nil)
	bob := e.addUser("bob", "pw", nil)
	for _, id := range []string{"third", "other", "gone"} {
		e.addClient(id, appSecret, nil)
	}
	e.putConsent(alice, "third", "read")
	e.putConsent(alice, "other", "read", "write")
	e.putConsent(bob, "third", "write")
	e.putConsent(alice, "gone", "read")
	if err := e.store.DeleteClient(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	e.addClient("gone", appSecret, nil) // another instance: inherits no consent

	var list []admin.Consent
	r := e.direct("GET", "/admin/api/consents", "")
	if r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	r.json(t, &list)
	var got []string
	for _, c := range list {
		got = append(got, c.User+"/"+c.Client+":"+strings.Join(c.Scopes, ","))
		if c.GrantedAt.IsZero() || c.UpdatedAt.IsZero() || c.UserID == "" {
			t.Errorf("consent %+v lacks its times or user id", c)
		}
	}
	if want := []string{"alice/other:read,write", "alice/third:read", "bob/third:write"}; !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
	r = e.direct("GET", "/admin/api/consents?user=ALICE", "")
	r.json(t, &list)
	if r.Status != 200 || len(list) != 2 || list[0].Client != "other" || list[1].Client != "third" {
		t.Errorf("list of alice: %d %s", r.Status, r.Body)
	}
	if r := e.direct("GET", "/admin/api/consents?user=bob", ""); r.Status != 200 || strings.Contains(r.Body, "alice") {
		t.Errorf("list of bob: %d %s", r.Status, r.Body)
	}

	refused := []struct {
		name, method, path string
		status             int
		contains           string
	}{
		{"list: unknown user", "GET", "/admin/api/consents?user=nobody", 404, "not found"},
		{"list: invalid user", "GET", "/admin/api/consents?user=a%20b", 404, "not found"},
		{"list: unknown parameter", "GET", "/admin/api/consents?client=third", 400, "unknown query parameter"},
		{"list: repeated user", "GET", "/admin/api/consents?user=alice&user=bob", 400, "repeated"},
		{"revoke: unknown user", "DELETE", "/admin/api/consents/nobody/third", 404, "not found"},
		{"revoke: invalid user", "DELETE", "/admin/api/consents/a%3Ab/third", 404, "not found"},
		{"revoke: unknown client", "DELETE", "/admin/api/consents/alice/nope", 404, "no consent"},
		{"revoke: invalid client", "DELETE", "/admin/api/consents/alice/a%20b", 404, "no consent"},
		{"revoke: no consent", "DELETE", "/admin/api/consents/bob/other", 404, "no consent"},
		{"revoke: client created again", "DELETE", "/admin/api/consents/alice/gone", 404, "no consent"},
		{"revoke: no client", "DELETE", "/admin/api/consents/alice", 404, "no such admin endpoint"},
		{"revoke: wrong method", "POST", "/admin/api/consents/alice/third", 405, "method not allowed"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.direct(tt.method, tt.path, ""); r.Status != tt.status || !strings.Contains(r.Body, tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", r.Status, r.Body, tt.status, tt.contains)
			}
		})
	}
	if _, err := e.store.GetConsent(context.Background(), alice.ID, "third"); err != nil {
		t.Fatalf("a refused request removed alice's consent: %v", err)
	}

	// Revoking ends alice's sessions of that client, and only those.
	rtThird := e.login("third", appSecret, "alice", "pw").str("refresh_token")
	rtOther := e.login("other", appSecret, "alice", "pw").str("refresh_token")
	rtBob := e.login("third", appSecret, "bob", "pw").str("refresh_token")
	if r := e.direct("DELETE", "/admin/api/consents/Alice/third", ""); r.Status != 204 || r.Body != "" {
		t.Fatalf("revoke: %d %s, want 204", r.Status, r.Body)
	}
	if _, err := e.store.GetConsent(context.Background(), alice.ID, "third"); !errorsIsNotFound(err) {
		t.Errorf("consent still stored after revocation: %v", err)
	}
	if r := e.refresh("third", appSecret, rtThird); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("refresh of alice's session of the revoked client: %d %s, want invalid_grant", r.Status, r.Raw)
	}
	if r := e.refresh("other", appSecret, rtOther); r.Status != 200 {
		t.Errorf("refresh of alice's session of another client: %d %s", r.Status, r.Raw)
	}
	if r := e.refresh("third", appSecret, rtBob); r.Status != 200 {
		t.Errorf("refresh of bob's session of the client: %d %s", r.Status, r.Raw)
	}
	if r := e.direct("DELETE", "/admin/api/consents/alice/third", ""); r.Status != 404 {
		t.Errorf("second revoke: %d %s, want 404", r.Status, r.Body)
	}
	if !strings.Contains(e.logBuf.String(), "action=consent.revoke") {
		t.Error("no audit line for the consent revocation")
	}
}

func errorsIsNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
