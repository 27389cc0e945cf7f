package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// TestCLI_ClientRedirectURIs: client add and update take --redirect-uri
// and --first-party, show and list print them, and the registration rule
// of redirect URIs refuses what it must, with the same results with and
// without a running server (SPEC 1).
func TestCLI_ClientRedirectURIs(t *testing.T) {
	steps := []step{
		{args: []string{"client", "add", "web", "--grant", "authorization_code,refresh_token", "--scope", "openid,profile",
			"--redirect-uri", "https://web.example/cb", "--redirect-uri", "http://127.0.0.1/cb", "--first-party"}},
		{args: []string{"client", "add", "spa", "--public", "--grant", "authorization_code", "--redirect-uri", "https://spa.example/cb?a=1,2", "--json"}},
		{args: []string{"client", "add", "nouri", "--public", "--grant", "authorization_code"}},
		{args: []string{"client", "add", "httpuri", "--grant", "authorization_code", "--redirect-uri", "http://evil.example/cb"}},
		{args: []string{"client", "add", "frag", "--grant", "authorization_code", "--redirect-uri", "https://frag.example/cb#x"}},
		{args: []string{"client", "show", "web"}},
		{args: []string{"client", "list"}},
		{args: []string{"client", "update", "web", "--redirect-uri", "https://web.example/new"}},
		{args: []string{"client", "update", "web", "--first-party=false"}},
		{args: []string{"client", "update", "web", "--redirect-uri", ""}},
		{args: []string{"client", "update", "web", "--first-party=maybe"}},
		{args: []string{"client", "update", "authd-console", "--redirect-uri", "https://evil.example/admin/"}},
		{args: []string{"client", "show", "spa", "--json"}},
		{args: []string{"client", "show", "web", "--json"}},
	}
	direct := runScenario(t, newDB(t), false, steps)
	socket := runScenario(t, newDB(t), true, steps)
	want := []struct {
		code int
		out  string // in stdout (success) or stderr (failure)
	}{
		{0, "created confidential client web with grants authorization_code,refresh_token"},
		{0, `"redirect_uris": ["https://spa.example/cb?a=1,2"]`},
		{2, "--grant authorization_code needs at least one --redirect-uri"}, // the flags the user typed, not the API's field
		{1, "loopback"},
		{1, "fragment"},
		{0, "redirect URIs: https://web.example/cb http://127.0.0.1/cb"},
		{0, "https://web.example/cb http://127.0.0.1/cb"},
		{0, "redirect URIs https://web.example/new"},
		{0, "first party no"},
		{1, "the authorization_code grant needs at least one redirect URI"},
		{2, "invalid boolean value"},
		{1, "is built in and cannot be changed"},
		{0, `"first_party": false`},
		{0, `"first_party": false`},
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
	if !strings.Contains(direct[5].stdout, "first party:") || !strings.Contains(direct[5].stdout, "yes") {
		t.Errorf("client show does not say the client is first party: %q", direct[5].stdout)
	}
	var cl struct {
		RedirectURIs []string `json:"redirect_uris"`
		FirstParty   bool     `json:"first_party"`
	}
	if err := json.Unmarshal([]byte(direct[len(direct)-1].stdout), &cl); err != nil {
		t.Fatalf("client show --json: %v: %q", err, direct[len(direct)-1].stdout)
	}
	if !slices.Equal(cl.RedirectURIs, []string{"https://web.example/new"}) || cl.FirstParty {
		t.Errorf("client after the updates: %+v", cl)
	}
}

// addConsents stores consents of alice and bob for web, and of alice for
// spa, as the consent page does.
func addConsents(t *testing.T, st storage.Storage) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	for _, c := range []struct{ user, client, scope string }{{"alice", "web", "read"}, {"bob", "web", "read write"}, {"alice", "spa", "read"}} {
		u, err := st.GetUser(ctx, c.user)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := st.GetClient(ctx, c.client)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutConsent(ctx, storage.Consent{UserID: u.ID, ClientID: c.client, ClientInstance: cl.Instance,
			Scopes: strings.Fields(c.scope), GrantedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCLI_Consent: authd consent list and revoke (SPEC 1), with the same
// results with and without a running server, and their usage errors.
func TestCLI_Consent(t *testing.T) {
	steps := []step{
		{args: []string{"user", "add", "alice", "--password-stdin"}, stdin: "pw\n"},
		{args: []string{"user", "add", "bob", "--password-stdin"}, stdin: "pw\n"},
		{args: []string{"client", "add", "web", "--grant", "authorization_code", "--redirect-uri", "https://web.example/cb"}},
		{args: []string{"client", "add", "spa", "--public", "--grant", "authorization_code", "--redirect-uri", "https://spa.example/cb"}},
		{with: addConsents},
		{args: []string{"consent", "list"}},
		{args: []string{"consent", "list", "--user", "Alice", "--json"}},
		{args: []string{"consent", "revoke", "--user", "alice", "--client", "web"}},
		{args: []string{"consent", "revoke", "--user", "alice", "--client", "web"}},
		{args: []string{"consent", "revoke", "--user", "nobody", "--client", "web"}},
		{args: []string{"consent", "list", "--user", "nobody"}},
		{args: []string{"consent", "list", "--json"}},
		{args: []string{"consent"}},
		{args: []string{"consent", "grant"}},
		{args: []string{"consent", "revoke", "--user", "alice"}},
		{args: []string{"consent", "revoke", "--client", "web"}},
		{args: []string{"consent", "revoke"}},
		{args: []string{"consent", "list", "alice"}},
		{args: []string{"consent", "list", "--user", ""}},
		{args: []string{"consent", "list", "--client", "web"}},
	}
	direct := runScenario(t, newDB(t), false, steps)
	socket := runScenario(t, newDB(t), true, steps)
	want := []struct {
		code int
		out  string
	}{
		{0, ""}, {0, ""}, {0, ""}, {0, ""},
		{0, "alice spa read"},
		{0, `"client": "spa"`},
		{0, "revoked the consent of alice for client web and ended alice's sessions of that client"},
		{1, `user "alice" has no consent for client "web"`},
		{1, `user "nobody" not found`},
		{1, `user "nobody" not found`},
		{0, `"user": "bob"`},
		{2, "consent needs a subcommand"},
		{2, `unknown consent subcommand "grant"`},
		{2, "needs --client ID"},
		{2, "needs --user NAME"},
		{2, "needs --user NAME and --client ID"},
		{2, `unexpected argument "alice"`},
		{2, "--user needs a username"},
		{2, "unknown flag -client"},
	}
	for i := range want {
		name := strings.Join(steps[i+1].args, " ") // steps[4] is the with step
		if i < 4 {
			name = strings.Join(steps[i].args, " ")
		}
		d, k := direct[i], socket[i]
		if d.String() != k.String() {
			t.Errorf("authd %s: outputs differ\ndirect: %v\nsocket: %v", name, d, k)
		}
		out := d.stdout
		if want[i].code != 0 {
			out = d.stderr
		}
		if d.code != want[i].code || !strings.Contains(out, want[i].out) && !strings.Contains(squeeze(out), squeeze(want[i].out)) {
			t.Errorf("authd %s: %v\nwant exit %d and %q", name, d, want[i].code, want[i].out)
		}
	}
	// The table lists every consent; the list after the revocation has
	// alice's consent for spa and bob's for web.
	if out := direct[4].stdout; !strings.Contains(out, "USER") || strings.Count(out, "\n") != 4 {
		t.Errorf("consent list: %q, want a header and three rows", out)
	}
	var left []struct{ User, Client string }
	if err := json.Unmarshal([]byte(direct[10].stdout), &left); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].User != "alice" || left[0].Client != "spa" || left[1].User != "bob" || left[1].Client != "web" {
		t.Errorf("consents after the revocation: %+v", left)
	}
}
