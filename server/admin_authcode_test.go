package server

import (
	"context"
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
