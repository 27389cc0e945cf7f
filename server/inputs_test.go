package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/authd/authd/server/internal/growth"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
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
			body, _ := json.Marshal(admin.Import{Users: []admin.ImportUser{
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
	body, _ := json.Marshal(admin.Import{Users: []admin.ImportUser{
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
			body, _ := json.Marshal(admin.CreateUser{Username: tt.username, Password: pw})
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
			imp, _ := json.Marshal(admin.Import{Users: []admin.ImportUser{{Username: tt.username, PasswordHash: "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}}})
			if r := e.direct("POST", "/admin/api/users/import", string(imp)); (r.Status == 200) != tt.ok {
				t.Errorf("import: %d %s, want accepted %v", r.Status, r.Body, tt.ok)
			}
		})
	}
}

// countingHasher counts the password hashes a request costs.
type countingHasher struct {
	PasswordHasher
	n atomic.Int64
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.n.Add(1)
	return h.PasswordHasher.Hash(ctx, pw)
}

func (h *countingHasher) Verify(ctx context.Context, phc, pw string) (bool, bool, error) {
	h.n.Add(1)
	return h.PasswordHasher.Verify(ctx, phc, pw)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, pw string) error {
	h.n.Add(1)
	return h.PasswordHasher.VerifyDummy(ctx, pw)
}

// scopeList returns n distinct scope values s0 ... s(n-1).
func scopeList(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "s" + strconv.Itoa(i)
	}
	return out
}

// TestToken_ScopeAndResourceLimits: SPEC §2.1 caps scope at 64 values of at
// most 128 bytes (invalid_scope beyond) and resource at 8 values
// (invalid_target beyond), whatever the client is registered for.
func TestToken_ScopeAndResourceLimits(t *testing.T) {
	e := newEnv(t)
	long128, long129 := strings.Repeat("x", 128), strings.Repeat("y", 129)
	// Stored directly: more than the admin API would register.
	e.addClient("svc", rsSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Scopes = append(scopeList(70), long128, long129)
		c.Audiences = []string{"https://a.example", "https://b.example"}
	})
	cc := func(scope string, resources ...string) tokenResult {
		f := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
		if len(resources) > 0 {
			f["resource"] = resources
		}
		return e.token(f, "svc", rsSecret)
	}
	many := func(v string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	tests := []struct {
		name      string
		scope     string
		resources []string
		status    int
		code      string
	}{
		{"64 values", strings.Join(scopeList(64), " "), nil, 200, ""},
		{"65 values", strings.Join(scopeList(65), " "), nil, 400, "invalid_scope"},
		{"65 values, duplicates", strings.Join(many("s1", 65), " "), nil, 400, "invalid_scope"},
		{"128 bytes", long128, nil, 200, ""},
		{"129 bytes", long129, nil, 400, "invalid_scope"},
		{"16366 values in 64 KiB", strings.Join(scopeList(16366), " ")[:60000], nil, 400, "invalid_scope"},
		{"one resource", "s1", []string{"https://b.example"}, 200, ""},
		{"8 resources, the same", "s1", many("https://b.example", 8), 200, ""},
		{"9 resources", "s1", many("https://b.example", 9), 400, "invalid_target"},
		{"2 different resources", "s1", []string{"https://a.example", "https://b.example"}, 400, "invalid_target"},
		{"unregistered resource", "s1", []string{"https://c.example"}, 400, "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cc(tt.scope, tt.resources...)
			if r.Status != tt.status || r.str("error") != tt.code {
				t.Fatalf("got %d %s, want %d %q", r.Status, r.Raw, tt.status, tt.code)
			}
			if tt.status == 200 && len(tt.resources) > 0 {
				claims := e.decodeAT(r.str("access_token"))
				if claims["aud"] != tt.resources[0] {
					t.Errorf("aud %v, want %s", claims["aud"], tt.resources[0])
				}
			}
		})
	}
}

// TestIntrospect_TokenBeyondRequestLimits: a token that holds more scope
// values than a request may ask for (a client registered before the
// limits, granted its whole scope without a scope parameter) still
// introspects with its whole scope: the limits are on requests, not on
// what authd signed.
func TestIntrospect_TokenBeyondRequestLimits(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("y", 200)
	e.addClient("svc", rsSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Scopes = append(scopeList(70), long)
	})
	r := e.token(url.Values{"grant_type": {"client_credentials"}}, "svc", rsSecret)
	if r.Status != 200 || len(strings.Fields(r.str("scope"))) != 71 {
		t.Fatalf("token: %d %s", r.Status, r.Raw)
	}
	in := e.introspect(r.str("access_token"), "svc", rsSecret)
	if in.Body["active"] != true || in.str("scope") != r.str("scope") {
		t.Errorf("introspection: %s, want active with the scope %q", in.Raw, r.str("scope"))
	}
}

// decodeAT returns the claims of an access token without verifying it.
func (e *testEnv) decodeAT(at string) map[string]any {
	e.t.Helper()
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		e.t.Fatalf("not a JWS: %q", at)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// TestToken_CheapChecksFirst: a request whose scope, resource or password
// grant parameters are refused by their form is answered before client
// authentication and before any password hash (SPEC §2.1: cheap checks run
// before expensive ones; issue 12: 16,366 scopes were deduplicated before
// the client was authenticated).
func TestToken_CheapChecksFirst(t *testing.T) {
	e := newEnv(t)
	hasher := &countingHasher{PasswordHasher: e.srv.hasher}
	e.srv.hasher = hasher
	// A short operator-chosen secret: authenticating it costs a slow hash.
	e.addClient("app", "short", func(c *storage.Client) { c.Audiences = []string{"https://a.example"} })
	e.addUser("alice", "pw", nil)
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"too many scopes", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw"}, "scope": {strings.Join(scopeList(16366), " ")[:60000]}}, 400, "invalid_scope"},
		{"scope too long", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw"}, "scope": {strings.Repeat("x", 129)}}, 400, "invalid_scope"},
		{"malformed scope", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw"}, "scope": {`a"b`}}, 400, "invalid_scope"},
		{"too many resources", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw"}, "resource": scopeList(9)}, 400, "invalid_target"},
		{"missing password", url.Values{"grant_type": {"password"}, "username": {"alice"}}, 400, "invalid_request"},
		{"password too long", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strings.Repeat("p", password.MaxPasswordLen+1)}}, 400, "invalid_request"},
		{"missing refresh token", url.Values{"grant_type": {"refresh_token"}, "scope": {"read"}}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hasher.n.Load()
			// A wrong secret: were the client authenticated first, the
			// answer would be 401 invalid_client, after a slow hash.
			r := e.token(tt.form, "app", "wrong")
			if r.Status != tt.status || r.str("error") != tt.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Raw, tt.status, tt.code)
			}
			if n := hasher.n.Load() - before; n != 0 {
				t.Errorf("%d password hashes, want 0", n)
			}
		})
	}
	// Well-formed, the same requests cost at most one password hash.
	before := hasher.n.Load()
	if r := e.token(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw"}, "scope": {"read"}}, "app", "short"); r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	if n := hasher.n.Load() - before; n != 1 {
		t.Errorf("a login cost %d password hashes, want 1", n)
	}
}

// costOfToken is the cost of one token request through the server's
// handler.
func costOfToken(t *testing.T, e *testEnv, body, id, secret string, wantStatus int) growth.Cost {
	t.Helper()
	h := e.srv.Handler()
	auth := basicAuth(id, secret)
	return growth.Of(10, func() {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != wantStatus {
			t.Fatalf("status %d, want %d: %s", w.Code, wantStatus, w.Body)
		}
	})
}

// TestToken_ScopeCostLinear: the cost of a token request grows linearly
// with the number of scope values up to the cap, and a request beyond the
// cap is refused at the cost of a small one, however large (SPEC §2.1: no
// input makes the server do super-linear work).
func TestToken_ScopeCostLinear(t *testing.T) {
	e := newEnv(t)
	e.addClient("svc", rsSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Scopes = scopeList(64)
	})
	body := func(n int) string {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(scopeList(n), " ")}}.Encode()
	}
	ns := []int{1, 16, 32, 48, 64}
	costs := make([]growth.Cost, len(ns))
	for i, n := range ns {
		costs[i] = costOfToken(t, e, body(n), "svc", rsSecret, 200)
	}
	t.Logf("N = %v scope values: %v", ns, costs)
	growth.AssertLinear(t, "scope values", ns, costs)

	small := costs[0]
	for _, n := range []int{65, 1000, 16366} {
		b := body(n)
		if len(b) > maxFormBytes {
			b = b[:maxFormBytes]
		}
		c := costOfToken(t, e, b, "svc", rsSecret, 400)
		t.Logf("N = %d (%d bytes): %v", n, len(b), c)
		// Reading and unescaping the body is all the work: a few
		// copies of it, and fewer allocations than a small request.
		if c.Allocs > small.Allocs || c.Bytes > small.Bytes+8*float64(len(b)) {
			t.Errorf("N = %d: %+v, want at most the allocations of a small request (%+v) and a few copies of the body", n, c, small)
		}
	}
}

// TestAdminAPI_ListLimits: the lists of the admin API (scopes, grants,
// audiences of clients; scopes of users and of imported users) hold at
// most 64 values, each scope at most 128 bytes (what a token request can
// ask for), and are deduplicated in first order.
func TestAdminAPI_ListLimits(t *testing.T) {
	e := newEnv(t)
	q := func(l []string) string { b, _ := json.Marshal(l); return string(b) }
	dups := append(scopeList(64), scopeList(64)...)
	tests := []struct {
		name, path, body string
		status           int
		contains         string
	}{
		{"client 64 scopes", "/admin/api/clients", `{"id":"c64","public":true,"scopes":` + q(scopeList(64)) + `}`, 201, `"s63"`},
		{"client 65 scopes", "/admin/api/clients", `{"id":"c65","public":true,"scopes":` + q(scopeList(65)) + `}`, 400, "scopes: at most 64 values"},
		{"client 128 duplicates", "/admin/api/clients", `{"id":"cdup","public":true,"scopes":` + q(dups) + `}`, 400, "scopes: at most 64 values"},
		{"client scope 128 bytes", "/admin/api/clients", `{"id":"c128","public":true,"scopes":["` + strings.Repeat("x", 128) + `"]}`, 201, ""},
		{"client scope 129 bytes", "/admin/api/clients", `{"id":"c129","public":true,"scopes":["` + strings.Repeat("x", 129) + `"]}`, 400, "is not valid"},
		{"client 65 audiences", "/admin/api/clients", `{"id":"a65","public":true,"audiences":` + q(scopeList(65)) + `}`, 400, "audiences: at most 64 values"},
		{"client 65 grants", "/admin/api/clients", `{"id":"g65","grants":` + q(slices.Repeat([]string{GrantPassword}, 65)) + `}`, 400, "grants: at most 64 values"},
		{"client duplicates dropped", "/admin/api/clients", `{"id":"dd","public":true,"scopes":["b","a","b","c","a"]}`, 201, `"scopes":["b","a","c"]`},
		{"user 64 scopes", "/admin/api/users", `{"username":"u64","password":"pw","scopes":` + q(scopeList(64)) + `}`, 201, `"s63"`},
		{"user 65 scopes", "/admin/api/users", `{"username":"u65","password":"pw","scopes":` + q(scopeList(65)) + `}`, 400, "scopes: at most 64 values"},
		{"user scope 129 bytes", "/admin/api/users", `{"username":"u129","password":"pw","scopes":["` + strings.Repeat("x", 129) + `"]}`, 400, "is not valid"},
		{"import 65 scopes", "/admin/api/users/import", `{"users":[{"username":"i65","password_hash":"$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234","scopes":` + q(scopeList(65)) + `}]}`, 400, "at most 64 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.direct("POST", tt.path, tt.body)
			if r.Status != tt.status || !strings.Contains(r.Body, tt.contains) {
				t.Fatalf("got %d %s, want %d containing %q", r.Status, r.Body, tt.status, tt.contains)
			}
		})
	}
	if r := e.direct("PATCH", "/admin/api/users/u64", `{"scopes":`+q(scopeList(65))+`}`); r.Status != 400 {
		t.Errorf("PATCH 65 scopes: %d %s", r.Status, r.Body)
	}
}

// TestClientIP_Cost: finding the client address behind trusted proxies
// costs the same whatever a client put in X-Forwarded-For before the
// nearest untrusted hop (at most 32 KiB of headers): the walk starts at
// the nearest hop and stops at the first untrusted one.
func TestClientIP_Cost(t *testing.T) {
	s := &Server{cfg: Config{Settings: config.Settings{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}}
	req := func(n int) *http.Request {
		hops := make([]string, n)
		for i := range hops {
			hops[i] = "198.51.100." + strconv.Itoa(i%250)
		}
		r := &http.Request{RemoteAddr: "10.1.2.3:1234", Header: http.Header{}}
		r.Header.Add("X-Forwarded-For", strings.Join(hops, ", ")+", 203.0.113.9")
		r.Header.Add("X-Forwarded-For", "10.9.9.9")
		return r
	}
	var first growth.Cost
	for _, n := range []int{0, 1, 100, 2000} {
		r := req(n)
		if got := s.clientIP(r).String(); got != "203.0.113.9" {
			t.Fatalf("N = %d: clientIP = %s, want 203.0.113.9", n, got)
		}
		c := growth.Of(20, func() { s.clientIP(r) })
		if n == 0 {
			first = c
		}
		if c.Allocs > first.Allocs || c.Bytes > first.Bytes {
			t.Errorf("N = %d earlier hops: %+v, want the cost of none (%+v)", n, c, first)
		}
	}
}

// TestClientIP_Hops: the walk from the nearest hop gives the answers of
// SPEC's trusted-proxies rule across several X-Forwarded-For headers.
func TestClientIP_Hops(t *testing.T) {
	s := &Server{cfg: Config{Settings: config.Settings{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}}
	tests := []struct {
		name string
		xff  []string
		want string
	}{
		{"none", nil, "10.1.2.3"},
		{"one", []string{"203.0.113.9"}, "203.0.113.9"},
		{"chain", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"two headers", []string{"198.51.100.1, 203.0.113.9", "10.0.0.2"}, "203.0.113.9"},
		{"all trusted", []string{"10.0.0.5", "10.0.0.2"}, "10.0.0.5"},
		{"garbage at the end", []string{"203.0.113.9, nope"}, "10.1.2.3"},
		{"garbage before an untrusted hop", []string{"nope, 203.0.113.9"}, "203.0.113.9"},
		{"empty hop", []string{"203.0.113.9,"}, "10.1.2.3"},
		{"empty header", []string{""}, "10.1.2.3"},
		{"mapped", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: "10.1.2.3:1234", Header: http.Header{}}
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientIP(r).String(); got != tt.want {
			t.Errorf("%s: clientIP(XFF %q) = %s, want %s", tt.name, tt.xff, got, tt.want)
		}
	}
}

// TestEtagMatch: If-None-Match lists (RFC 9110 §13.1.2) are matched
// without allocating, whatever their length.
func TestEtagMatch(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"*", true},
		{" * ", true},
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`"x",W/"abc" ,"y"`, true},
		{`"x", "y"`, false},
		{`abc`, false},
		{`,,,`, false},
	}
	for _, tt := range tests {
		if got := etagMatch(tt.header, etag); got != tt.want {
			t.Errorf("etagMatch(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
	for _, n := range []int{1, 100, 3000} {
		h := strings.Repeat(`"nope", `, n) + `"abc"`
		if c := growth.Of(20, func() { etagMatch(h, etag) }); c.Allocs != 0 {
			t.Errorf("%d entries: %+v, want no allocation", n, c)
		}
	}
}

// TestParseForm_Cost: a form body costs work linear in its number of
// parameters (each is unescaped once and looked up in a map), up to the
// 64 KiB a body may have; repeated resource values are kept up to one
// beyond the cap, however many are sent.
func TestParseForm_Cost(t *testing.T) {
	body := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d=v%d&", i, i)
		}
		return b.String()
	}
	ns := []int{512, 1024, 2048, 4096}
	costs := make([]growth.Cost, len(ns))
	for i, n := range ns {
		b := body(n)
		if len(b) > maxFormBytes {
			t.Fatalf("%d parameters are %d bytes", n, len(b))
		}
		costs[i] = growth.Of(5, func() {
			if _, e := parseForm(b); e != nil {
				t.Fatal(e)
			}
		})
	}
	t.Logf("N = %v parameters: %v", ns, costs)
	growth.AssertLinear(t, "form parameters", ns, costs)

	res := strings.Repeat("resource=https%3A%2F%2Fa.example&", 1500)
	f, e := parseForm(res)
	if e != nil || len(f.resources) != maxResources+1 {
		t.Fatalf("parseForm(1500 resources) = %d kept, %v; want %d", len(f.resources), e, maxResources+1)
	}
	if e := checkTokenParams(GrantClientCredentials, f); e == nil || e.Code != "invalid_target" {
		t.Errorf("checkTokenParams(1500 resources) = %v, want invalid_target", e)
	}
}

// TestVerifyAccessToken_Cost: a bearer or introspected token costs work
// linear in its size up to keys.MaxTokenSize, and a longer one is refused
// before it is parsed, at less than the cost of a small one.
func TestVerifyAccessToken_Cost(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	token := func(pad int) string {
		claims, _ := json.Marshal(map[string]any{
			"iss": e.url, "sub": "u", "aud": e.url, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
			"jti": "j", "scope": "read", "pad": strings.Repeat("p", pad),
		})
		at, err := e.keys.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	ns := []int{1 << 10, 4 << 10, 8 << 10, 11 << 10}
	costs := make([]growth.Cost, len(ns))
	for i, n := range ns {
		at := token(n)
		if len(at) > keys.MaxTokenSize {
			t.Fatalf("a token with %d bytes of padding is %d bytes long", n, len(at))
		}
		costs[i] = growth.Of(10, func() {
			if _, err := e.srv.verifyAccessToken(t.Context(), at); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Logf("padding %v bytes: %v", ns, costs)
	growth.AssertLinear(t, "token bytes", ns, costs)
	for _, n := range []int{keys.MaxTokenSize, 1 << 20} {
		at := token(n)
		c := growth.Of(10, func() {
			if _, err := e.srv.verifyAccessToken(t.Context(), at); !errors.Is(err, errTokenInvalid) {
				t.Fatalf("%d bytes: %v, want errTokenInvalid", len(at), err)
			}
		})
		if c.Allocs > costs[0].Allocs || c.Bytes > costs[0].Bytes {
			t.Errorf("%d bytes: %+v, want less than a small token (%+v)", len(at), c, costs[0])
		}
	}
}
