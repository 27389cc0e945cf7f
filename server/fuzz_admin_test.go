package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
)

// FuzzAdminAuth drives the bearer-protected admin API of the public router
// with arbitrary Authorization headers: nothing but the one valid admin
// token gets in, and every refusal is 400, 401 or 403 with a JSON error.
func FuzzAdminAuth(f *testing.F) {
	e := newEnv(f)
	e.addUser("root", "root-password", func(u *storage.User) { u.Admin = true })
	r := e.token(url.Values{"grant_type": {"password"}, "client_id": {ConsoleClientID}, "username": {"root"}, "password": {"root-password"}, "scope": {AdminScope}}, "", "")
	valid := r.str("access_token")
	if valid == "" {
		f.Fatalf("admin login: %d %s", r.Status, r.Raw)
	}
	parts := strings.Split(valid, ".")
	for _, s := range []string{
		"", "Bearer " + valid, "bearer  " + valid, "Bearer " + parts[0] + "." + parts[1] + ".", "Bearer " + parts[0] + ".e30." + parts[2],
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + valid + "x", "Basic " + valid, "Bearer", "Bearer a.b.c",
	} {
		f.Add(s)
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, auth string) {
		req := httptest.NewRequest(http.MethodGet, "/admin/api/users", nil)
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			if !strings.Contains(auth, valid) {
				t.Fatalf("200 for %q", auth)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			if !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("status %d without a JSON error: %q", w.Code, w.Body.String())
			}
			if w.Code == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge")
			}
		default:
			t.Fatalf("status %d for %q", w.Code, auth)
		}
	})
}

// adminMethods are the methods FuzzAdminAPI picks from.
var adminMethods = []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut, http.MethodHead}

// FuzzAdminAPI drives the admin API as the control socket serves it (the
// protocol between the CLI and a running server) with arbitrary methods,
// paths, content types and JSON bodies: no panic, no 5xx, only the
// documented statuses, and a JSON error body with every refusal.
func FuzzAdminAPI(f *testing.F) {
	e := newEnv(f)
	e.addUser("alice", "alice-password", nil)
	e.addClient("app", "app-secret-0123456789-0123456789-0123", nil)
	seeds := []struct {
		m        uint8
		path, ct string
		body     string
	}{
		{0, "users", "", ""},
		{1, "users", "application/json", `{"username":"bob","password":"bob-password-1","scopes":["read"],"admin":false}`},
		{1, "users", "application/json", `{"username":"bob","password":"x"}`},
		{1, "users", "application/json", `{"username":"../../etc/passwd","password":"long-enough-pw"}`},
		{1, "users", "application/json", `{"username":"a\u0000b","password":"long-enough-pw"}`},
		{1, "users", "application/json", `{"username":"x","password":"long-enough-pw","unknown":1}`},
		{1, "users", "text/plain", `{"username":"x"}`},
		{1, "users", "application/json", `{"username":"x"} {}`},
		{1, "users", "application/json", `[1,2]`},
		{1, "users", "application/json", `{"username":1}`},
		{2, "users/alice", "application/json", `{"disabled":true}`},
		{2, "users/alice", "application/json", `{"scopes":["' OR 1=1"]}`},
		{2, "users/alice", "application/json", ``},
		{3, "users/alice/sessions", "", ""},
		{1, "users/import", "application/json", `{"users":[{"username":"imp","password_hash":"$2b$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"}]}`},
		{1, "clients", "application/json", `{"id":"c1","public":false,"grants":["client_credentials"],"scopes":["read"],"audiences":["https://api.example"]}`},
		{1, "clients", "application/json", `{"id":"c2","public":true,"grants":["client_credentials"]}`},
		{1, "clients", "application/json", `{"id":"c3","grants":["password"],"audiences":["javascript:alert(1)"]}`},
		{0, "clients/app", "", ""},
		{3, "clients/authd-console", "", ""},
		{1, "clients", "application/json", `{"id":"c4","public":true,"grants":["authorization_code"],"redirect_uris":["https://a.example/cb","http://127.0.0.1:9/cb","com.example.app:/cb"],"first_party":true}`},
		{1, "clients", "application/json", `{"id":"c5","grants":["authorization_code"],"redirect_uris":["http://u@evil.example/cb#x"]}`},
		{2, "clients/app", "application/json", `{"redirect_uris":["HTTPS://A.EXAMPLE/\\cb"],"first_party":false}`},
		{0, "consents?user=alice", "", ""},
		{3, "consents/alice/app", "", ""},
		{3, "consents/%2e%2e/app", "", ""},
		{0, "sessions?user=alice", "", ""},
		{3, "sessions/%2e%2e%2f", "", ""},
		{0, "keys", "", ""},
		{3, "keys/unknown-kid", "", ""},
		{4, "users", "application/json", `{}`},
		{0, "users/%ff%fe", "", ""},
		{0, "../../etc/passwd", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.m, s.path, s.ct, s.body)
	}
	h := e.srv.AdminHandler()
	allowed := map[int]bool{200: true, 201: true, 204: true, 400: true, 404: true, 405: true, 409: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, m uint8, path, ct, body string) {
		method := adminMethods[int(m)%len(adminMethods)]
		if strings.HasPrefix(path, "backup") || strings.HasPrefix(path, "keys/rotate") {
			// The backup streams the whole file and rotation makes RSA
			// keys; both are tested elsewhere and would only slow the
			// fuzzer down.
			return
		}
		u, err := url.Parse("/admin/api/" + path)
		if err != nil || u.Host != "" {
			return
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL = u
		req.RequestURI = u.RequestURI()
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if !allowed[w.Code] {
			t.Fatalf("%s %s (%q, %q): status %d %q", method, path, ct, body, w.Code, w.Body.String())
		}
		if w.Code >= 400 && method != http.MethodHead && !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("%s %s: status %d without a JSON error: %q", method, path, w.Code, w.Body.String())
		}
	})
}
