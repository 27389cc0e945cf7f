package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestCLI_ClientUpdate: authd client update narrows a client in place,
// with the same results whether it opens the database itself or talks to a
// running server over the control socket (SPEC 1).
func TestCLI_ClientUpdate(t *testing.T) {
	steps := []step{
		{args: []string{"client", "add", "web", "--grant", "password,refresh_token,client_credentials", "--scope", "read,write", "--audience", "https://a.example,https://b.example"}},
		{args: []string{"client", "add", "spa", "--public"}},
		{args: []string{"client", "update", "web", "--scope", "read", "--json"}},
		{args: []string{"client", "update", "web", "--grant", "password", "--grant", "refresh_token", "--audience", "https://b.example"}},
		{args: []string{"client", "show", "web", "--json"}},
		{args: []string{"client", "update", "web", "--scope", ""}},
		{args: []string{"client", "update", "web"}},
		{args: []string{"client", "update", "--scope", "read"}},
		{args: []string{"client", "update", "nope", "--scope", "read"}},
		{args: []string{"client", "update", "web", "--grant", "implicit"}},
		{args: []string{"client", "update", "web", "--scope", "authd:admin"}},
		{args: []string{"client", "update", "spa", "--grant", "client_credentials"}},
		{args: []string{"client", "update", "authd-console", "--scope", "authd:admin"}},
		{args: []string{"client", "update", "web", "--secret-stdin"}},
		{args: []string{"client", "show", "web", "--json"}},
	}
	direct := runScenario(t, newDB(t), false, steps)
	socket := runScenario(t, newDB(t), true, steps)
	want := []struct {
		code int
		out  string // in stdout (success) or stderr (failure)
	}{
		{0, "created confidential client web"},
		{0, "created public client spa"},
		{0, `"scopes":["read"]`},
		{0, "updated client web: grants password,refresh_token, scopes read, audiences https://b.example"},
		{0, `"id":"web"`},
		{0, "scopes (none)"},
		{2, "nothing to change"},
		{2, "missing the client id"},
		{1, `client "nope" not found`},
		{1, `"implicit" is not valid`},
		{1, "granted only through the built-in client authd-console"},
		{1, "a public client cannot use the client_credentials grant"},
		{1, "is built in and cannot be changed"},
		{2, "unknown flag -secret-stdin"},
		{0, `"audiences":["https://b.example"]`},
	}
	for i, s := range steps {
		name := strings.Join(s.args, " ")
		d, k := direct[i], socket[i]
		if d.String() != k.String() {
			t.Errorf("authd %s: outputs differ\ndirect: %v\nsocket: %v", name, d, k)
		}
		out := d.stdout
		if want[i].code != 0 {
			out = d.stderr
		}
		if d.code != want[i].code || !strings.Contains(squeeze(out), squeeze(want[i].out)) {
			t.Errorf("authd %s: %v\nwant exit %d and %q", name, d, want[i].code, want[i].out)
		}
	}
	// The final state, as the admin API shows it.
	var cl struct {
		Public                    bool
		Grants, Scopes, Audiences []string
	}
	if err := json.Unmarshal([]byte(direct[len(direct)-1].stdout), &cl); err != nil {
		t.Fatalf("client show --json: %v: %q", err, direct[len(direct)-1].stdout)
	}
	if !slices.Equal(cl.Grants, []string{"password", "refresh_token"}) || len(cl.Scopes) != 0 || !slices.Equal(cl.Audiences, []string{"https://b.example"}) || cl.Public {
		t.Errorf("client after the updates: %+v", cl)
	}
}

// squeeze drops all white space, so that indented JSON can be matched.
func squeeze(s string) string { return strings.Join(strings.Fields(s), "") }
