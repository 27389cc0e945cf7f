package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

// step is one command line of a scenario, or a change made directly in the
// store (with) between command lines.
type step struct {
	args  []string
	stdin string
	with  func(t *testing.T, st storage.Storage)
}

// addSessions creates two refresh-token families of alice, one with a
// fixed id that the scenario revokes.
func addSessions(t *testing.T, st storage.Storage) {
	t.Helper()
	ctx := context.Background()
	u, err := st.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := st.GetClient(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, id := range []string{"fam-one", "fam-two"} {
		f := storage.Family{ID: id, UserID: u.ID, ClientID: "web", Scope: []string{"read"}, UserGen: u.SessionGen,
			AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), ClientInstance: cl.Instance}
		tok := storage.RefreshToken{Hash: strings.Repeat("0", 60) + id[4:], FamilyID: id, IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)}
		if err := st.CreateFamily(ctx, f, tok); err != nil {
			t.Fatal(err)
		}
	}
}

// scenario exercises every management command, including failing ones.
// {dir} in an argument is the directory of the database.
func scenario(importFile string) []step {
	return []step{
		{args: []string{"user", "add", "Alice", "--password-stdin", "--scope", "read,write", "--json"}, stdin: "alice-password\n"},
		{args: []string{"user", "add", "bob", "--admin", "--password-stdin", "--json"}, stdin: "bob-password"},
		{args: []string{"user", "add", "alice", "--password-stdin"}, stdin: "alice-password\n"},
		{args: []string{"user", "add", "carol", "--password-stdin"}, stdin: "\n"},
		{args: []string{"user", "list", "--json"}},
		{args: []string{"user", "list"}},
		{args: []string{"user", "show", "ALICE", "--json"}},
		{args: []string{"user", "show", "alice"}},
		{args: []string{"user", "show", "nobody"}},
		{args: []string{"client", "add", "web", "--grant", "password", "--grant", "refresh_token", "--scope", "read,write", "--audience", "https://api.example", "--json"}},
		{args: []string{"client", "add", "spa", "--public", "--json"}},
		{args: []string{"client", "add", "svc", "--secret-stdin", "--grant", "client_credentials", "--json"}, stdin: "a-long-enough-client-secret\n"},
		{args: []string{"client", "add", "bad", "--public", "--grant", "client_credentials"}},
		{args: []string{"client", "add", "web"}},
		{args: []string{"client", "add", "cli"}},
		{args: []string{"client", "list", "--json"}},
		{args: []string{"client", "list"}},
		{args: []string{"client", "show", "web", "--json"}},
		{args: []string{"client", "show", "web"}},
		{args: []string{"client", "delete", "authd-console"}},
		{with: addSessions},
		{args: []string{"session", "list", "--json"}},
		{args: []string{"session", "list", "--user", "alice"}},
		{args: []string{"session", "revoke", "fam-one"}},
		{args: []string{"session", "revoke", "fam-nope"}},
		{args: []string{"session", "list", "--user", "alice", "--json"}},
		{args: []string{"user", "disable", "alice", "--json"}},
		{args: []string{"session", "list", "--json"}},
		{args: []string{"user", "enable", "alice"}},
		{args: []string{"user", "passwd", "bob", "--password-stdin"}, stdin: "bob-new-password\n"},
		{args: []string{"session", "revoke", "--user", "alice"}},
		{args: []string{"session", "list", "--user", "nobody"}},
		{args: []string{"keys", "list", "--json"}},
		{args: []string{"keys", "rotate", "--json"}},
		{args: []string{"keys", "rotate", "--now", "--json"}},
		{args: []string{"keys", "revoke", "nokey"}},
		{args: []string{"user", "import", importFile, "--json"}},
		{args: []string{"user", "import", importFile}},
		{args: []string{"backup", "{dir}/backup.db", "--json"}},
		{args: []string{"user", "delete", "bob"}},
		{args: []string{"user", "delete", "bob"}},
		{args: []string{"client", "delete", "web"}},
		{args: []string{"user", "list", "--json"}},
		{args: []string{"client", "list", "--json"}},
	}
}

var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`authd_cs_[A-Za-z0-9_-]+`), "<secret>"},
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<id>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`[A-Za-z0-9_-]{43}`), "<kid>"},
	{regexp.MustCompile(`"bytes": \d+`), `"bytes": <n>`},
	{regexp.MustCompile(`backup of \d+ bytes`), "backup of <n> bytes"},
	// Table columns widen with the placeholders' originals.
	{regexp.MustCompile(` +`), " "},
}

// normalize replaces what differs between two databases (random ids,
// secrets, key ids, times) with placeholders.
func normalize(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "{dir}")
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.with)
	}
	return s
}

// runScenario runs the scenario on dbPath. With serve, a server runs on
// the database and the commands reach it over its control socket (the
// database is locked, so they cannot open it); without, they open the
// database themselves.
func runScenario(t *testing.T, dbPath string, serve bool, steps []step) []result {
	t.Helper()
	dir := filepath.Dir(dbPath)
	env := map[string]string{"AUTHD_DB": dbPath}
	var ts *testServer
	if serve {
		ts = startServer(t, dbPath)
	}
	var out []result
	for _, s := range steps {
		if s.with != nil {
			if ts != nil {
				s.with(t, ts.db)
				continue
			}
			db, err := bolt.Open(dbPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.with(t, db)
			db.Close()
			continue
		}
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(a, "{dir}", dir)
		}
		r := cli(t, env, s.stdin, args...)
		r.stdout, r.stderr = normalize(r.stdout, dir), normalize(r.stderr, dir)
		out = append(out, r)
	}
	return out
}

// TestCLI_DirectAndSocket runs every command without a server (the database
// opened directly) and with one (over the control socket) and requires the
// same output, exit status and error messages.
func TestCLI_DirectAndSocket(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("imported-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	importFile := writeFile(t, t.TempDir(), "users.htpasswd", "# exported\ndave:"+string(hash)+"\nalice:"+string(hash)+"\n")
	steps := scenario(importFile)

	direct := runScenario(t, newDB(t), false, steps)
	socket := runScenario(t, newDB(t), true, steps)

	i := 0
	for _, s := range steps {
		if s.with != nil {
			continue
		}
		name := strings.Join(s.args, " ")
		d, k := direct[i], socket[i]
		i++
		if d.String() != k.String() {
			t.Errorf("authd %s: outputs differ\ndirect: %v\nsocket: %v", name, d, k)
		}
	}

	// Spot checks of the outputs themselves.
	want := map[string]int{
		"user add alice --password-stdin":                    1, // duplicate
		"user add carol --password-stdin":                    1, // empty password
		"user show nobody":                                   1,
		"client add bad --public --grant client_credentials": 1,
		"client add web":                                     1,
		"client delete authd-console":                        1,
		"session revoke fam-nope":                            1,
		"session list --user nobody":                         1,
		"keys revoke nokey":                                  1,
		"user delete bob":                                    1, // the second time
	}
	i = 0
	seen := map[string]bool{}
	for _, s := range steps {
		if s.with != nil {
			continue
		}
		name := strings.Join(s.args, " ")
		r := direct[i]
		i++
		code := want[name]
		if name == "user delete bob" && !seen[name] {
			code = 0
		}
		seen[name] = true
		if r.code != code {
			t.Errorf("authd %s: exit %d, want %d\n%v", name, r.code, code, r)
		}
		if r.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("authd %s: error is not one line: %q", name, r.stderr)
		}
	}
	for _, c := range []struct{ step, want string }{
		{"user add alice --password-stdin", `authd: user "alice" already exists`},
		{"client delete authd-console", "built in and cannot be deleted"},
		{"client add cli", "client secret (shown only now; store it safely): <secret>"},
		{"session list --user alice --json", `"status": "revoked"`},
		{"keys rotate --now --json", `"state": "active"`},
		{"user import " + importFile, "imported 0 users; skipped 2 users that already existed: dave, alice"},
		{"user import " + importFile + " --json", `"created": [` + "\n" + ` "dave"`},
	} {
		found := false
		i = 0
		for _, s := range steps {
			if s.with != nil {
				continue
			}
			if strings.Join(s.args, " ") == c.step {
				found = true
				if got := direct[i].stdout + direct[i].stderr; !strings.Contains(got, c.want) {
					t.Errorf("authd %s: got %q, want it to contain %q", c.step, got, c.want)
				}
			}
			i++
		}
		if !found {
			t.Fatalf("no step %q", c.step)
		}
	}
}

// TestCLI_SameDatabaseBothWays reads one database over the socket of a
// running server and then directly, and requires byte-identical output.
func TestCLI_SameDatabaseBothWays(t *testing.T) {
	dbPath := newDB(t)
	env := map[string]string{"AUTHD_DB": dbPath}
	mustCLI(t, env, "password-1\n", "user", "add", "erin", "--password-stdin", "--scope", "read")
	mustCLI(t, env, "", "client", "add", "web", "--scope", "read")
	db, err := bolt.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, _ := db.GetUser(ctx, "erin")
	now := time.Now().UTC()
	f := storage.Family{ID: "fam", UserID: u.ID, ClientID: "web", Scope: []string{"read"}, AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateFamily(ctx, f, storage.RefreshToken{Hash: strings.Repeat("1", 64), FamilyID: "fam", IssuedAt: now, IdleExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	reads := [][]string{
		{"user", "list"}, {"user", "list", "--json"}, {"user", "show", "erin", "--json"},
		{"client", "list"}, {"client", "list", "--json"}, {"client", "show", "web"},
		{"session", "list"}, {"session", "list", "--json", "--user", "erin"},
		{"keys", "list"}, {"keys", "list", "--json"},
	}
	ts := startServer(t, dbPath)
	var viaSocket []result
	for _, args := range reads {
		viaSocket = append(viaSocket, mustCLI(t, env, "", args...))
	}
	ts.stop()
	for i, args := range reads {
		direct := mustCLI(t, env, "", args...)
		if direct.String() != viaSocket[i].String() {
			t.Errorf("authd %s: socket and direct outputs differ\nsocket: %v\ndirect: %v", strings.Join(args, " "), viaSocket[i], direct)
		}
	}
}
