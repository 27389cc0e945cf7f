package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/storage"
)

// adminResp is one answer of the admin API.
type adminResp struct {
	Status int
	Header http.Header
	Body   string
}

func (r adminResp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("body is not the JSON expected: %v: %q", err, r.Body)
	}
}

// adminCall sends a request to the admin API over the public router with
// the given bearer token ("" for none).
func (e *testEnv) adminCall(method, path, token, body string) adminResp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return adminResp{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// consoleLogin logs user in through the built-in console client and returns
// the access token.
func (e *testEnv) consoleLogin(user, pw, scope string) tokenResult {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"password"}, "client_id": {ConsoleClientID}, "scope": {scope},
		"username": {user}, "password": {pw}}, "", "")
}

// jti returns the jti claim of an access token.
func jti(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	json.Unmarshal(b, &c)
	return c.JTI
}

// TestAdminAPI_Auth: 401 with a Bearer challenge without a valid token, 403
// without authd:admin, and refusal of tokens on the deny list or of
// disabled or deleted users.
func TestAdminAPI_Auth(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	e.addUser("ops", "ops-password", func(u *storage.User) { u.Admin = true })
	e.addUser("plain", "plain-password", nil)
	e.addClient("app", "app-secret-app-secret", func(c *storage.Client) { c.Scopes = []string{"read", AdminScope} })

	admin := e.consoleLogin("root", "root-password", AdminScope)
	if admin.Status != http.StatusOK {
		t.Fatalf("console login: %d %s", admin.Status, admin.Raw)
	}
	adminTok := admin.str("access_token")
	plainTok := e.login("app", "app-secret-app-secret", "plain", "plain-password").str("access_token")
	// An admin whose token lacks the scope.
	readTok := e.token(url.Values{"grant_type": {"password"}, "username": {"root"}, "password": {"root-password"}, "scope": {"read"}},
		"app", "app-secret-app-secret").str("access_token")
	if plainTok == "" || readTok == "" {
		t.Fatal("logins failed")
	}

	tests := []struct {
		name      string
		header    string
		status    int
		challenge string
	}{
		{"no token", "", 401, `Bearer realm="authd"`},
		{"basic", "Basic cm9vdDpwdw==", 401, `Bearer realm="authd"`},
		{"garbage", "Bearer not-a-token", 401, `error="invalid_token"`},
		{"malformed", "Bearer a b", 401, `error="invalid_token"`},
		{"user without admin", "Bearer " + plainTok, 403, `error="insufficient_scope"`},
		{"admin without the scope", "Bearer " + readTok, 403, `error="insufficient_scope"`},
		{"admin", "Bearer " + adminTok, 200, ""},
		{"lower-case scheme", "bearer " + adminTok, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/admin/api/users", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) || (tt.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if tt.status != 200 {
				var eb struct{ Error, ErrorDescription string }
				if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
					t.Errorf("error body %q is not {\"error\",...}", body)
				}
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}

	// A token on the deny list is refused.
	if err := e.store.DenyAccessToken(context.Background(), jti(t, adminTok), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := e.adminCall("GET", "/admin/api/users", adminTok, ""); r.Status != 401 {
		t.Errorf("denied token: %d, want 401", r.Status)
	}
	// A disabled admin's token is refused at once.
	opsTok := e.consoleLogin("ops", "ops-password", AdminScope).str("access_token")
	if r := e.adminCall("GET", "/admin/api/users", opsTok, ""); r.Status != 200 {
		t.Fatalf("ops token: %d %s", r.Status, r.Body)
	}
	if r := e.adminCall("PATCH", "/admin/api/users/ops", "", `{"disabled":true}`); r.Status != 401 {
		t.Errorf("PATCH without a token: %d", r.Status)
	}
	if rec := e.direct("PATCH", "/admin/api/users/ops", `{"disabled":true}`); rec.Status != 200 {
		t.Fatalf("disable ops: %d %s", rec.Status, rec.Body)
	}
	if r := e.adminCall("GET", "/admin/api/users", opsTok, ""); r.Status != 401 {
		t.Errorf("disabled admin's token: %d, want 401", r.Status)
	}
	// A deleted admin's token is refused.
	e.direct("PATCH", "/admin/api/users/ops", `{"disabled":false}`)
	opsTok = e.consoleLogin("ops", "ops-password", AdminScope).str("access_token")
	if rec := e.direct("DELETE", "/admin/api/users/ops", ""); rec.Status != 204 {
		t.Fatalf("delete ops: %d %s", rec.Status, rec.Body)
	}
	if r := e.adminCall("GET", "/admin/api/users", opsTok, ""); r.Status != 401 {
		t.Errorf("deleted admin's token: %d, want 401", r.Status)
	}
}

// direct calls the admin API as the control socket does: no token.
func (e *testEnv) direct(method, path, body string) adminResp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.srv.AdminHandler().ServeHTTP(rec, req)
	return adminResp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// TestAdminAPI_Statuses runs the API's answers through the public router
// with a real bearer token.
func TestAdminAPI_Statuses(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	tok := e.consoleLogin("root", "root-password", AdminScope).str("access_token")
	if tok == "" {
		t.Fatal("console login failed")
	}
	big := `{"username":"x","password":"` + strings.Repeat("p", admin.MaxBody) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"list users", "GET", "/admin/api/users", "", 200, `"username":"root"`},
		{"create user", "POST", "/admin/api/users", `{"username":"Alice","password":"alice-password","scopes":["read"]}`, 201, `"username":"alice"`},
		{"duplicate user", "POST", "/admin/api/users", `{"username":"ALICE","password":"alice-password"}`, 409, `"error":"conflict"`},
		{"unknown field", "POST", "/admin/api/users", `{"username":"bob","password":"bob-password","role":"x"}`, 400, `unknown field`},
		{"malformed JSON", "POST", "/admin/api/users", `{"username":`, 400, `"error":"invalid_request"`},
		{"trailing data", "POST", "/admin/api/users", `{"username":"bob","password":"bob-password"} {}`, 400, "after the JSON object"},
		{"wrong type", "POST", "/admin/api/users", `{"username":"bob","password":"bob-password","scopes":"read"}`, 400, "must be a list"},
		{"empty body", "POST", "/admin/api/users", ``, 400, "empty"},
		{"body too large", "POST", "/admin/api/users", big, 400, "larger than"},
		{"empty password", "POST", "/admin/api/users", `{"username":"bob","password":""}`, 400, "must not be empty"},
		{"bad username", "POST", "/admin/api/users", `{"username":"a b","password":"bob-password"}`, 400, "white space"},
		{"admin scope in scopes", "POST", "/admin/api/users", `{"username":"bob","password":"bob-password","scopes":["authd:admin"]}`, 400, "granted with admin"},
		{"show user", "GET", "/admin/api/users/alice", "", 200, `"scopes":["read"]`},
		{"show user, any case", "GET", "/admin/api/users/ALICE", "", 200, `"username":"alice"`},
		{"unknown user", "GET", "/admin/api/users/nobody", "", 404, `"error":"not_found"`},
		{"patch nothing", "PATCH", "/admin/api/users/alice", `{}`, 400, "nothing to change"},
		{"patch scopes", "PATCH", "/admin/api/users/alice", `{"scopes":["read","write"]}`, 200, `"scopes":["read","write"]`},
		{"patch unknown user", "PATCH", "/admin/api/users/nobody", `{"disabled":true}`, 404, ""},
		{"create client", "POST", "/admin/api/clients", `{"id":"web","scopes":["read"]}`, 201, `"secret":"authd_cs_`},
		{"default grants", "GET", "/admin/api/clients/web", "", 200, `"grants":["password","refresh_token"]`},
		{"client secret never shown again", "GET", "/admin/api/clients/web", "", 200, `"built_in":false`},
		{"duplicate client", "POST", "/admin/api/clients", `{"id":"web"}`, 409, ""},
		{"public client_credentials", "POST", "/admin/api/clients", `{"id":"spa","public":true,"grants":["client_credentials"]}`, 400, "public client"},
		{"unknown grant", "POST", "/admin/api/clients", `{"id":"x","grants":["implicit"]}`, 400, "known grants"},
		{"bad client id", "POST", "/admin/api/clients", `{"id":"a/b"}`, 400, "is not valid"},
		{"overlong secret", "POST", "/admin/api/clients", `{"id":"svc","secret":"` + strings.Repeat("s", 513) + `"}`, 400, "1 to 512"},
		{"given secret", "POST", "/admin/api/clients", `{"id":"svc","secret":"a-long-enough-secret","grants":["client_credentials"]}`, 201, `"id":"svc"`},
		{"public client", "POST", "/admin/api/clients", `{"id":"spa","public":true}`, 201, `"public":true`},
		{"list clients", "GET", "/admin/api/clients", "", 200, `"id":"authd-console"`},
		{"delete built-in", "DELETE", "/admin/api/clients/authd-console", "", 409, "built in and cannot be deleted"},
		{"delete client", "DELETE", "/admin/api/clients/spa", "", 204, ""},
		{"delete client again", "DELETE", "/admin/api/clients/spa", "", 404, ""},
		{"sessions", "GET", "/admin/api/sessions", "", 200, ""},
		{"sessions unknown user", "GET", "/admin/api/sessions?user=nobody", "", 404, ""},
		{"sessions unknown parameter", "GET", "/admin/api/sessions?client=web", "", 400, "unknown query parameter"},
		{"revoke unknown session", "DELETE", "/admin/api/sessions/nope", "", 404, ""},
		{"revoke user sessions", "DELETE", "/admin/api/users/alice/sessions", "", 204, ""},
		{"keys", "GET", "/admin/api/keys", "", 200, `"state":"active"`},
		{"rotate", "POST", "/admin/api/keys/rotate", "", 200, `"kid"`},
		{"rotate bad body", "POST", "/admin/api/keys/rotate", `{"later":true}`, 400, "unknown field"},
		{"revoke unknown key", "DELETE", "/admin/api/keys/nope", "", 404, ""},
		{"import", "POST", "/admin/api/users/import", `{"users":[{"username":"dave","password_hash":"$2a$04$short"}]}`, 400, "password_hash: malformed bcrypt hash"},
		{"import nothing", "POST", "/admin/api/users/import", `{"users":[]}`, 400, "no users"},
		{"delete user", "DELETE", "/admin/api/users/alice", "", 204, ""},
		{"delete user again", "DELETE", "/admin/api/users/alice", "", 404, ""},
		{"unknown endpoint", "GET", "/admin/api/nope", "", 404, "no such admin endpoint"},
		{"wrong method", "PUT", "/admin/api/users", "", 405, ""},
		{"wrong content type", "POST", "/admin/api/clients", "id=x", 415, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r adminResp
			if tt.name == "wrong content type" {
				req, _ := http.NewRequest(tt.method, e.url+tt.path, strings.NewReader(tt.body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r = adminResp{Status: resp.StatusCode, Body: string(b)}
			} else {
				r = e.adminCall(tt.method, tt.path, tok, tt.body)
			}
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if !strings.Contains(r.Body, tt.contains) {
				t.Errorf("body %q, want it to contain %q", r.Body, tt.contains)
			}
			if tt.status == 204 && r.Body != "" {
				t.Errorf("204 with a body: %q", r.Body)
			}
			if tt.name == "client secret never shown again" && strings.Contains(r.Body, "secret") {
				t.Errorf("the secret appears after creation: %s", r.Body)
			}
			if r.Status < 300 && (strings.Contains(r.Body, "password_hash") || strings.Contains(r.Body, "secret_hash")) {
				t.Errorf("a hash leaked: %s", r.Body)
			}
		})
	}
	if strings.Contains(e.logBuf.String(), "alice-password") || strings.Contains(e.logBuf.String(), "a-long-enough-secret") {
		t.Error("a password or secret reached the log")
	}
	if !strings.Contains(e.logBuf.String(), "action=user.create") || !strings.Contains(e.logBuf.String(), "actor=root") {
		t.Error("no audit line for the user creation by root")
	}
}

// TestAdminAPI_PasswordChangeRevokesSessions: a password change or disable
// kills the user's refresh tokens at once and the session list says so.
func TestAdminAPI_PasswordChangeRevokesSessions(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", "app-secret-app-secret", nil)
	for _, change := range []string{`{"password":"new-password-1"}`, `{"disabled":true}`} {
		t.Run(change, func(t *testing.T) {
			e.direct("DELETE", "/admin/api/users/erin", "")
			if r := e.direct("POST", "/admin/api/users", `{"username":"erin","password":"erin-password"}`); r.Status != 201 {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			login := e.login("app", "app-secret-app-secret", "erin", "erin-password")
			if login.Status != 200 {
				t.Fatalf("login: %d %s", login.Status, login.Raw)
			}
			var sessions []admin.Session
			e.direct("GET", "/admin/api/sessions?user=erin", "").json(t, &sessions)
			if len(sessions) != 1 || sessions[0].Status != admin.SessionActive || sessions[0].User != "erin" || sessions[0].Client != "app" {
				t.Fatalf("sessions after login: %+v", sessions)
			}
			if r := e.direct("PATCH", "/admin/api/users/erin", change); r.Status != 200 {
				t.Fatalf("patch: %d %s", r.Status, r.Body)
			}
			e.direct("GET", "/admin/api/sessions?user=erin", "").json(t, &sessions)
			if len(sessions) != 1 || sessions[0].Status != admin.SessionRevoked || sessions[0].RevokedAt.IsZero() || sessions[0].RevokeReason == "" {
				t.Fatalf("sessions after %s: %+v", change, sessions)
			}
			if r := e.refresh("app", "app-secret-app-secret", login.str("refresh_token")); r.Status != 400 || r.str("error") != "invalid_grant" {
				t.Errorf("refresh after %s: %d %s", change, r.Status, r.Raw)
			}
		})
	}
	// The new password works, the old one does not.
	e.direct("DELETE", "/admin/api/users/erin", "")
	e.direct("POST", "/admin/api/users", `{"username":"erin","password":"erin-password"}`)
	e.direct("PATCH", "/admin/api/users/erin", `{"password":"new-password-2"}`)
	if r := e.login("app", "app-secret-app-secret", "erin", "erin-password"); r.Status != 400 {
		t.Errorf("old password: %d", r.Status)
	}
	if r := e.login("app", "app-secret-app-secret", "erin", "new-password-2"); r.Status != 200 {
		t.Errorf("new password: %d %s", r.Status, r.Raw)
	}
}

// TestAdminAPI_Import: imported bcrypt users log in with their old
// passwords; existing users are skipped, not changed.
func TestAdminAPI_Import(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", "app-secret-app-secret", nil)
	e.addUser("alice", "alice-password", nil)
	h, err := bcrypt.GenerateFromPassword([]byte("dave-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(admin.Import{Users: []admin.ImportUser{
		{Username: "Dave", PasswordHash: string(h), Scopes: []string{"read"}},
		{Username: "alice", PasswordHash: string(h)},
	}})
	r := e.direct("POST", "/admin/api/users/import", string(body))
	if r.Status != 201 {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	var res admin.ImportResult
	r.json(t, &res)
	if strings.Join(res.Created, ",") != "dave" || strings.Join(res.Skipped, ",") != "alice" {
		t.Errorf("import result %+v", res)
	}
	if r := e.login("app", "app-secret-app-secret", "dave", "dave-password"); r.Status != 200 || r.str("scope") != "read" {
		t.Errorf("login of the imported user: %d %s", r.Status, r.Raw)
	}
	if r := e.login("app", "app-secret-app-secret", "alice", "dave-password"); r.Status != 400 {
		t.Errorf("the import changed an existing user: %d", r.Status)
	}
	// Duplicates within one import are refused as a whole.
	body, _ = json.Marshal(admin.Import{Users: []admin.ImportUser{{Username: "eve", PasswordHash: string(h)}, {Username: "EVE", PasswordHash: string(h)}}})
	if r := e.direct("POST", "/admin/api/users/import", string(body)); r.Status != 400 {
		t.Errorf("duplicate in import: %d %s", r.Status, r.Body)
	}
	if r := e.direct("GET", "/admin/api/users/eve", ""); r.Status != 404 {
		t.Errorf("a refused import created a user: %d", r.Status)
	}
}

// TestAdminAPI_Backup: the backup streams the database with a download
// name, over the public router too.
func TestAdminAPI_Backup(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	tok := e.consoleLogin("root", "root-password", AdminScope).str("access_token")
	r := e.adminCall("GET", "/admin/api/backup", tok, "")
	if r.Status != 200 || len(r.Body) < 4096 {
		t.Fatalf("backup: %d, %d bytes", r.Status, len(r.Body))
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="authd-`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestAdminAPI_UsernameEscaping: a username with a slash is reached with
// its path-escaped form.
func TestAdminAPI_UsernameEscaping(t *testing.T) {
	e := newEnv(t)
	if r := e.direct("POST", "/admin/api/users", `{"username":"ops/eu@example.com","password":"ops-password"}`); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := e.direct("GET", "/admin/api/users/"+url.PathEscape("ops/eu@example.com"), ""); r.Status != 200 {
		t.Errorf("show escaped: %d %s", r.Status, r.Body)
	}
}

// TestAdminAPI_RequestIDInAudit: the admin API logs the id the request log
// gave the request (the one in the X-Request-Id answer), on the public
// router and on the control socket's handler alike.
func TestAdminAPI_RequestIDInAudit(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	tok := e.consoleLogin("root", "root-password", AdminScope).str("access_token")
	if tok == "" {
		t.Fatal("console login failed")
	}
	tests := []struct {
		name, user, given string
		handler           http.Handler
		bearer            bool
	}{
		{"public router, id given", "pub1", "rid-public-1", e.srv.Handler(), true},
		{"public router, id made", "pub2", "", e.srv.Handler(), true},
		{"socket handler, id given", "sock1", "rid-socket-1", e.srv.AdminHandler(), false},
		{"socket handler, id made", "sock2", "", e.srv.AdminHandler(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/admin/api/users", strings.NewReader(`{"username":"`+tt.user+`","password":"pw-`+tt.user+`"}`))
			req.Header.Set("Content-Type", "application/json")
			if tt.bearer {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			if tt.given != "" {
				req.Header.Set("X-Request-Id", tt.given)
			}
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				t.Fatalf("got %d %s, want 201", rec.Code, rec.Body)
			}
			id := rec.Header().Get("X-Request-Id")
			if id == "" || (tt.given != "" && id != tt.given) {
				t.Fatalf("X-Request-Id %q, want %q or a made one", id, tt.given)
			}
			var line string
			for _, l := range strings.Split(e.logBuf.String(), "\n") {
				if strings.Contains(l, `msg="admin change"`) && strings.Contains(l, "username="+tt.user+" ") {
					line = l
				}
			}
			if !strings.Contains(line, " request_id="+id+" ") {
				t.Errorf("audit line %q, want request_id=%s", line, id)
			}
		})
	}
}

// TestAdminAPI_SessionIdleExpiry: the session list shows the idle expiry
// of the family's newest refresh token, as the server that issued it set
// it, whatever --refresh-idle-ttl the listing server runs with.
func TestAdminAPI_SessionIdleExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshIdleTTL = time.Hour })
	e.addClient("app", "app-secret-app-secret", nil)
	e.addUser("erin", "erin-password", nil)
	sessions := func(when string) []admin.Session {
		t.Helper()
		var s []admin.Session
		if r := e.direct("GET", "/admin/api/sessions?user=erin", ""); r.Status != 200 {
			t.Fatalf("%s: list: %d %s", when, r.Status, r.Body)
		} else {
			r.json(t, &s)
		}
		return s
	}
	want := func(when string, s admin.Session, idle time.Time, status string) {
		t.Helper()
		if !s.IdleExpiresAt.Equal(idle) || s.Status != status {
			t.Errorf("%s: session %s idle_expires_at %v, status %s; want %v, %s", when, s.ID, s.IdleExpiresAt, s.Status, idle, status)
		}
	}

	// Logged in under a 1 h idle timeout, listed under 24 h.
	t0 := e.clock.Now()
	first := e.login("app", "app-secret-app-secret", "erin", "erin-password")
	if first.Status != 200 {
		t.Fatalf("login: %d %s", first.Status, first.Raw)
	}
	e.cfg.RefreshIdleTTL = 24 * time.Hour
	e.restart()
	s := sessions("after a restart with a longer idle timeout")
	if len(s) != 1 {
		t.Fatalf("sessions: %+v", s)
	}
	want("listed under 24 h", s[0], t0.Add(time.Hour), admin.SessionActive)
	e.clock.Advance(2 * time.Hour)
	want("2 h later", sessions("2 h later")[0], t0.Add(time.Hour), admin.SessionExpired)
	if r := e.refresh("app", "app-secret-app-secret", first.str("refresh_token")); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("refresh of the session listed as expired: %d %s", r.Status, r.Raw)
	}

	// A rotation under 24 h moves it to the successor's; listed under
	// 1 h again, it stays there.
	second := e.login("app", "app-secret-app-secret", "erin", "erin-password")
	e.clock.Advance(30 * time.Minute)
	t1 := e.clock.Now()
	if r := e.refresh("app", "app-secret-app-secret", second.str("refresh_token")); r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Raw)
	}
	e.cfg.RefreshIdleTTL = time.Hour
	e.restart()
	e.clock.Advance(2 * time.Hour)
	s = sessions("after a rotation, restarted with a shorter idle timeout")
	if len(s) != 2 {
		t.Fatalf("sessions: %+v", s)
	}
	want("rotated under 24 h, listed under 1 h", s[1], t1.Add(24*time.Hour), admin.SessionActive)
}

// TestAdminAPI_SessionIdleExpiryLegacy: a family stored before families
// recorded their idle expiry is shown with one computed from its last use
// and this server's idle timeout, bounded by the family's end.
func TestAdminAPI_SessionIdleExpiryLegacy(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshIdleTTL = time.Hour })
	e.addClient("app", "app-secret-app-secret", nil)
	u := e.addUser("erin", "erin-password", nil)
	now := e.clock.Now()
	cases := []struct {
		id       string
		lastUsed time.Time
		expires  time.Time
		want     time.Time
	}{
		{"used", now.Add(-10 * time.Minute), now.Add(24 * time.Hour), now.Add(50 * time.Minute)},
		{"never-used", time.Time{}, now.Add(24 * time.Hour), now.Add(40 * time.Minute)}, // created 20 min ago
		{"ending-soon", now, now.Add(time.Minute), now.Add(time.Minute)},
	}
	for _, tc := range cases {
		f := storage.Family{ID: tc.id, UserID: u.ID, ClientID: "app", Scope: []string{"read"}, UserGen: u.SessionGen,
			AuthTime: now.Add(-20 * time.Minute), CreatedAt: now.Add(-20 * time.Minute), LastUsedAt: tc.lastUsed, ExpiresAt: tc.expires}
		tok := storage.RefreshToken{Hash: strings.Repeat("0", 60) + tc.id[:4], FamilyID: f.ID, IssuedAt: f.CreatedAt, IdleExpiresAt: tc.want}
		if err := e.store.CreateFamily(context.Background(), f, tok); err != nil {
			t.Fatal(err)
		}
	}
	var s []admin.Session
	e.direct("GET", "/admin/api/sessions?user=erin", "").json(t, &s)
	got := map[string]time.Time{}
	for _, v := range s {
		got[v.ID] = v.IdleExpiresAt
	}
	if len(got) != len(cases) {
		t.Fatalf("sessions: %+v", s)
	}
	for _, tc := range cases {
		if !got[tc.id].Equal(tc.want) {
			t.Errorf("legacy family %s: idle_expires_at %v, want %v", tc.id, got[tc.id], tc.want)
		}
	}
}
