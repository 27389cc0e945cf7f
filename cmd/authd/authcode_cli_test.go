package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
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
		{1, "the authorization_code grant needs at least one redirect URI"},
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
