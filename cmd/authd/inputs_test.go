package main

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestCLI_UserImport_HashLimits: `authd user import` refuses a hash that
// the server could not verify (issue 12: argon2id m = 4 GiB, t = 100 and
// bcrypt cost 31 were imported), with one clear sentence naming the line
// and the limit, and imports nothing; at the limits it imports.
func TestCLI_UserImport_HashLimits(t *testing.T) {
	dbPath := newDB(t)
	dir := filepath.Dir(dbPath)
	b, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	tests := []struct {
		name, content, want string
	}{
		{"argon2id 4 GiB", `{"username":"ok","password_hash":"` + string(b) + `"}` + "\n" +
			`{"username":"big","password_hash":"$argon2id$v=19$m=4194304,t=100,p=1$` + salt + `$` + key + `"}`,
			`line 2: user "big": argon2id memory 4194304 KiB is above the limit of 262144 KiB`},
		{"argon2id t=11", `{"username":"slow","password_hash":"$argon2id$v=19$m=65536,t=11,p=1$` + salt + `$` + key + `"}`,
			`line 1: user "slow": argon2id time 11 is above the limit of 10`},
		{"bcrypt cost 31", "ok:" + string(b) + "\ncostly:$2b$31" + string(b[6:]),
			`line 2: user "costly": bcrypt cost 31 is outside 4 to 17`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, dir, "users", tt.content)
			r := cli(t, nil, "", "--db", dbPath, "user", "import", file)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("%v\nwant exit 1 and %q", r, tt.want)
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want one sentence: %q", n, r.stderr)
			}
			if strings.Contains(r.stderr, key) || strings.Contains(r.stderr, string(b[7:])) {
				t.Errorf("stderr shows a hash: %q", r.stderr)
			}
			if out := mustCLI(t, nil, "", "--db", dbPath, "user", "list").stdout; strings.Contains(out, "ok") {
				t.Errorf("a refused import created a user:\n%s", out)
			}
		})
	}
	file := writeFile(t, dir, "users", `{"username":"argon","password_hash":"$argon2id$v=19$m=262144,t=10,p=1$`+salt+`$`+key+`"}`+"\n"+
		`{"username":"bcrypt","password_hash":"$2b$17`+string(b[6:])+`"}`)
	if r := mustCLI(t, nil, "", "--db", dbPath, "user", "import", file); !strings.Contains(r.stdout, "imported 2 users") {
		t.Errorf("import at the limits: %v", r)
	}
}

// TestCLI_UserAdd_UsernameBytes: the CLI creates exactly the usernames
// that can log in: at most 256 bytes (issue 12: 100 × "€", 300 bytes, was
// created and could never log in).
func TestCLI_UserAdd_UsernameBytes(t *testing.T) {
	dbPath := newDB(t)
	r := cli(t, nil, "pw\n", "--db", dbPath, "user", "add", strings.Repeat("€", 100), "--password-stdin")
	if r.code != 1 || !strings.Contains(r.stderr, "username must be 1 to 256 bytes long") {
		t.Errorf("%v\nwant exit 1 and the limit in bytes", r)
	}
	name := strings.Repeat("€", 85) + "a"
	mustCLI(t, nil, "pw\n", "--db", dbPath, "user", "add", name, "--password-stdin")
	if out := mustCLI(t, nil, "", "--db", dbPath, "user", "show", name).stdout; !strings.Contains(out, name) {
		t.Errorf("user show: %s", out)
	}
}
