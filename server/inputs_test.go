package server

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestAdminAPI_Import_HashLimits: the admin API's import refuses a hash
// that verification would refuse (issue 12: bcrypt cost 31 was imported,
// and its user could never log in; argon2id m = 4 GiB, t = 100 was
// imported, and each login attempt would have allocated 4 GiB), with an
// error that says which limit, and creates nothing.
func TestAdminAPI_Import_HashLimits(t *testing.T) {
	e := newEnv(t)
	b, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	tests := []struct {
		name, hash, want string
	}{
		{"argon2id 4 GiB", "$argon2id$v=19$m=4194304,t=100,p=1$" + salt + "$" + key, "argon2id memory 4194304 KiB is above the limit of 262144 KiB"},
		{"argon2id t=11", "$argon2id$v=19$m=65536,t=11,p=1$" + salt + "$" + key, "argon2id time 11 is above the limit of 10"},
		{"bcrypt cost 31", "$2b$31" + string(b[6:]), "bcrypt cost 31 is outside 4 to 17"},
		{"bcrypt cost 18", "$2b$18" + string(b[6:]), "bcrypt cost 18 is outside 4 to 17"},
		{"not a hash", "plain-text", "not a bcrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(AdminImport{Users: []AdminImportUser{
				{Username: "ok", PasswordHash: string(b)},
				{Username: "bad", PasswordHash: tt.hash},
			}})
			r := e.direct("POST", "/admin/api/users/import", string(body))
			if r.Status != 400 {
				t.Fatalf("import: %d %s, want 400", r.Status, r.Body)
			}
			if !strings.Contains(r.Body, "user 2 (bad): password_hash: ") || !strings.Contains(r.Body, tt.want) {
				t.Errorf("body %s, want it to name user 2 and say %q", r.Body, tt.want)
			}
			if strings.Contains(r.Body, tt.hash) {
				t.Errorf("the error shows the hash: %s", r.Body)
			}
			if r := e.direct("GET", "/admin/api/users/ok", ""); r.Status != 404 {
				t.Errorf("a refused import created a user: %d", r.Status)
			}
		})
	}
	// At the limits, the import is accepted.
	body, _ := json.Marshal(AdminImport{Users: []AdminImportUser{
		{Username: "argon", PasswordHash: "$argon2id$v=19$m=262144,t=10,p=1$" + salt + "$" + key},
		{Username: "bcrypt", PasswordHash: "$2b$17" + string(b[6:])},
	}})
	if r := e.direct("POST", "/admin/api/users/import", string(body)); r.Status != 201 {
		t.Errorf("import at the limits: %d %s", r.Status, r.Body)
	}
}

// TestUsername_CreationAndLoginAgree: a name that can be created can log
// in, and one that cannot be created cannot log in (issue 12: 100 × "€",
// 300 bytes, was created, and the token endpoint refused it). The limit is
// in bytes of the lower-cased name, the same at creation, import and login.
func TestUsername_CreationAndLoginAgree(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", "app-secret-app-secret", nil)
	tests := []struct {
		name     string
		username string
		ok       bool
	}{
		{"ascii 256 bytes", strings.Repeat("a", 256), true},
		{"ascii 257 bytes", strings.Repeat("a", 257), false},
		{"euro 85 and a, 256 bytes", strings.Repeat("€", 85) + "a", true},
		{"euro 100, 300 bytes", strings.Repeat("€", 100), false},
		{"euro 86, 258 bytes", strings.Repeat("€", 86), false},
		// U+023A is 2 bytes, its lower case U+2C65 is 3: the limit holds
		// for the stored, lower-cased name.
		{"grows when lower-cased", strings.Repeat("\u023a", 100), false},
		{"upper case 256 bytes", strings.Repeat("B", 256), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw := "password-" + strings.Repeat("x", i)
			body, _ := json.Marshal(AdminCreateUser{Username: tt.username, Password: pw})
			r := e.direct("POST", "/admin/api/users", string(body))
			created := r.Status == 201
			if created != tt.ok {
				t.Fatalf("create %d bytes: %d %s, want created %v", len(tt.username), r.Status, r.Body, tt.ok)
			}
			if !tt.ok {
				if !strings.Contains(r.Body, "256 bytes") {
					t.Errorf("create: %s, want the limit in bytes", r.Body)
				}
				// The login side on its own: a user stored with such a
				// name (by an older version, or by hand) cannot log in,
				// as the creation said.
				e.addUser(strings.ToLower(tt.username), pw, nil)
			}
			login := e.login("app", "app-secret-app-secret", tt.username, pw)
			if (login.Status == 200) != tt.ok {
				t.Errorf("login: %d %s, want success %v", login.Status, login.Raw, tt.ok)
			}
			// The import validates names the same way: the existing user
			// is skipped (200), or the name is refused (400).
			imp, _ := json.Marshal(AdminImport{Users: []AdminImportUser{{Username: tt.username, PasswordHash: "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}}})
			if r := e.direct("POST", "/admin/api/users/import", string(imp)); (r.Status == 200) != tt.ok {
				t.Errorf("import: %d %s, want accepted %v", r.Status, r.Body, tt.ok)
			}
		})
	}
}
