package account

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/authd/authd/server/password"
)

const (
	bc1 = "$2y$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	bc2 = "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ56789"
	a2  = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
)

func TestParseImport_Valid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []ImportedUser
	}{
		{
			"htpasswd",
			"# exported from nginx\nAlice:" + bc1 + "\n\nbob:" + bc2 + "\n",
			[]ImportedUser{{Username: "alice", Hash: bc1}, {Username: "bob", Hash: bc2}},
		},
		{
			"htpasswd CRLF and BOM",
			"\uFEFFalice:" + bc1 + "\r\nbob:" + bc2,
			[]ImportedUser{{Username: "alice", Hash: bc1}, {Username: "bob", Hash: bc2}},
		},
		{
			"JSON lines",
			`{"username":"Alice","password_hash":"` + bc1 + `","scopes":["read","write","read"],"admin":true}` + "\n" +
				"\n# comment\n" +
				`  {"username":"bob","password_hash":"` + a2 + `","disabled":true,"scopes":[]}` + "\r\n" +
				`{"username":"carol","password_hash":"` + bc2 + `","scopes":null,"admin":false,"disabled":false}`,
			[]ImportedUser{
				{Username: "alice", Hash: bc1, Scopes: []string{"read", "write"}, Admin: true},
				{Username: "bob", Hash: a2, Disabled: true},
				{Username: "carol", Hash: bc2},
			},
		},
		{
			"unicode username",
			"ÉLODIE:" + bc1,
			[]ImportedUser{{Username: "élodie", Hash: bc1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImport(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseImport_Invalid(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantMsg  string
	}{
		{"empty", "", 0, "no users"},
		{"only comments", "# nothing\n\n", 0, "no users"},
		{"SHA", "alice:" + bc1 + "\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", 2, "SHA-1"},
		{"apr1", "alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", 1, "MD5"},
		{"md5 crypt", "alice:$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", 1, "MD5"},
		{"sha512 crypt", "alice:$6$saltsalt$abcdefghijklmnopqrstuvwxyz", 1, "SHA-crypt"},
		{"crypt", "\n\nalice:rl0P7mP4XkbBM", 3, "crypt or plain-text"},
		{"argon2 in htpasswd", "alice:" + a2, 1, "crypt or plain-text"},
		{"no colon", "alice", 1, "username:hash"},
		{"empty username", ":" + bc1, 1, "1 to 256 bytes"},
		{"long username", strings.Repeat("a", 257) + ":" + bc1, 1, "1 to 256 bytes"},
		{"long username in bytes", strings.Repeat("€", 86) + ":" + bc1, 1, "1 to 256 bytes"},
		{"space in username", "al ice:" + bc1, 1, "white space"},
		{"tab in username", "al\tice:" + bc1, 1, "white space"},
		{"control in username", "al\x01ice:" + bc1, 1, "control"},
		{"zero width in username", "al\u200bice:" + bc1, 1, "format"},
		{"invalid UTF-8", "al\xffice:" + bc1, 1, "UTF-8"},
		{"duplicate", "alice:" + bc1 + "\nbob:" + bc2 + "\nALICE:" + bc2, 3, `duplicate username "alice" (first on line 1)`},
		{"bad bcrypt", "alice:" + bc1[:59], 1, "malformed bcrypt"},
		{"bcrypt cost 31", "alice:$2b$31$" + bc1[7:], 1, "bcrypt cost 31 is outside 4 to 17"},
		{"trailing field", "alice:" + bc1 + ":extra", 1, "malformed bcrypt"},
		{"JSON syntax", `{"username":"alice"` + "\n", 1, "malformed JSON"},
		{"JSON two objects", `{"username":"alice","password_hash":"` + bc1 + `"} {}`, 1, "malformed JSON"},
		{"JSON array", `{"username":"alice","password_hash":"` + bc1 + `"}` + "\n[1]", 2, "one JSON object"},
		{"JSON unknown field", `{"username":"alice","password_hash":"` + bc1 + `","pasword":"x"}`, 1, "unknown field"},
		{"JSON wrong type", `{"username":"alice","password_hash":"` + bc1 + `","admin":"yes"}`, 1, `field "admin" has the wrong type`},
		{"JSON missing username", `{"password_hash":"` + bc1 + `"}`, 1, "missing username"},
		{"JSON missing hash", `{"username":"alice"}`, 1, "missing password_hash"},
		{"JSON htpasswd line", `{"username":"alice","password_hash":"` + bc1 + `"}` + "\nbob:" + bc2, 2, "malformed JSON"},
		{"JSON SHA hash", `{"username":"alice","password_hash":"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}`, 1, "must be bcrypt"},
		{"JSON bad argon2", `{"username":"alice","password_hash":"` + a2[:40] + `"}`, 1, "malformed argon2id"},
		{"JSON bad scope", `{"username":"alice","password_hash":"` + bc1 + `","scopes":["a b"]}`, 1, "not allowed in scopes"},
		{"JSON empty scope", `{"username":"alice","password_hash":"` + bc1 + `","scopes":[""]}`, 1, "scopes must be"},
		{"JSON scope 129 bytes", `{"username":"alice","password_hash":"` + bc1 + `","scopes":["` + strings.Repeat("x", 129) + `"]}`, 1, "1 to 128 bytes"},
		{"JSON 65 scopes", `{"username":"alice","password_hash":"` + bc1 + `","scopes":["a"` + strings.Repeat(`,"a"`, 64) + `]}`, 1, "at most 64 values"},
		{"JSON admin scope", `{"username":"alice","password_hash":"` + bc1 + `","scopes":["authd:admin"]}`, 1, `"admin": true`},
		{"JSON duplicate", `{"username":"alice","password_hash":"` + bc1 + `"}` + "\n" + `{"username":"Alice","password_hash":"` + bc2 + `"}`, 2, "duplicate"},
		{"line too long", "alice:" + bc1 + "\n" + strings.Repeat("x", MaxImportLine+1), 2, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := ParseImport(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseImport = %+v, want an error", users)
			}
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want *ImportError", err, err)
			}
			if ie.Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%v)", ie.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			assertNoHash(t, err.Error(), tt.in)
		})
	}
}

// assertNoHash fails if msg contains any hash-like token of in.
func assertNoHash(t *testing.T, msg, in string) {
	t.Helper()
	for _, tok := range strings.FieldsFunc(in, func(r rune) bool { return strings.ContainsRune(":\"\n\r ,{}[]", r) }) {
		if len(tok) >= 12 && (strings.HasPrefix(tok, "$") || strings.HasPrefix(tok, "{SHA}") || strings.HasPrefix(tok, "SHA}")) && strings.Contains(msg, tok) {
			t.Errorf("error %q contains hash %q", msg, tok)
		}
	}
	for _, h := range []string{bc1, bc2, a2, "W6ph5Mm5Pz8GgiULbPgzG37mj9g", "rl0P7mP4XkbBM", "HqJZimcKQFAMYayBlzkrA"} {
		if strings.Contains(msg, h) || strings.Contains(msg, h[len(h)-10:]) {
			t.Errorf("error %q contains (part of) a hash", msg)
		}
	}
}

func TestParseImport_ReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseImport(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want it to wrap the read error", err)
	}
}

func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Alice", "alice", true},
		{"alice@example.com", "alice@example.com", true},
		{"ΣΊΣΥΦΟΣ", "σίσυφοσ", true},
		{strings.Repeat("é", 128), strings.Repeat("é", 128), true},
		{strings.Repeat("é", 129), "", false},
		{strings.Repeat("a", 256), strings.Repeat("a", 256), true},
		{strings.Repeat("a", 257), "", false},
		{strings.Repeat("€", 85) + "a", strings.Repeat("€", 85) + "a", true},
		{strings.Repeat("€", 100), "", false},
		{strings.Repeat("\u023a", 100), "", false},                      // lower case is 300 bytes
		{strings.Repeat("\u212a", 256), strings.Repeat("k", 256), true}, // Kelvin sign: 768 bytes, lower case 256
		{strings.Repeat("\u212a", 257), "", false},
		{"", "", false},
		{"a:b", "", false},
		{"a\u00a0b", "", false},
		{"a\u202eb", "", false},
		{"a\x7fb", "", false},
		{"a\nb", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeUsername(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		"alice:" + bc1 + "\nbob:" + bc2 + "\n",
		"# comment\r\nalice:" + bc1 + "\r\n",
		"alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
		"alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
		`{"username":"alice","password_hash":"` + bc1 + `","scopes":["read"],"admin":true,"disabled":false}`,
		`{"username":"bob","password_hash":"` + a2 + `"}` + "\n" + `{"username":"BOB","password_hash":"` + bc2 + `"}`,
		`{"username":"x","password_hash":"$2b$","scopes":[1]}`,
		`{"username":"big","password_hash":"$argon2id$v=19$m=4194304,t=100,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"}`,
		"costly:$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		strings.Repeat("€", 86) + ":" + bc1,
		"\uFEFF{}",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		users, err := ParseImport(strings.NewReader(in))
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want *ImportError", err, err)
			}
			if ie.Line < 0 || ie.Line > strings.Count(in, "\n")+1 {
				t.Fatalf("line %d out of range", ie.Line)
			}
			return
		}
		seen := map[string]bool{}
		for _, u := range users {
			if n, err := NormalizeUsername(u.Username); err != nil || n != u.Username {
				t.Fatalf("accepted username %q: %v", u.Username, err)
			}
			if seen[u.Username] {
				t.Fatalf("duplicate %q accepted", u.Username)
			}
			seen[u.Username] = true
			if err := password.CheckHash(u.Hash); err != nil {
				t.Fatalf("accepted a hash that verification refuses: %v", err)
			}
			if _, msg := checkScopes(u.Scopes); msg != "" {
				t.Fatalf("accepted bad scopes: %s", msg)
			}
		}
	})
}
