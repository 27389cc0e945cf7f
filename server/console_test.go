package server

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/web"
)

// consoleDo sends a request without following redirects.
func consoleDo(t *testing.T, method, rawURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func checkConsoleHeaders(t *testing.T, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestConsole_Routes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
		location    string
		bodyHas     string
		// bare: answered by the router, not the console, so without its
		// security headers.
		bare bool
	}{
		{"redirect to slash", "GET", "/admin", http.StatusMovedPermanently, "", "/admin/", "", false},
		{"index", "GET", "/admin/", http.StatusOK, "text/html; charset=utf-8", "", "<title>authd console</title>", false},
		{"index with query", "GET", "/admin/?x=1", http.StatusOK, "text/html; charset=utf-8", "", "<title>authd console</title>", false},
		{"index.html redirects", "GET", "/admin/index.html", http.StatusMovedPermanently, "", "/admin/", "", false},
		{"script", "GET", "/admin/app.js", http.StatusOK, "text/javascript; charset=utf-8", "", "import", false},
		// api.js shares its first letters with the API's static segment.
		{"script beside api", "GET", "/admin/api.js", http.StatusOK, "text/javascript; charset=utf-8", "", "export", false},
		{"stylesheet", "GET", "/admin/style.css", http.StatusOK, "text/css; charset=utf-8", "", ":root", false},
		{"icon", "GET", "/admin/icon.svg", http.StatusOK, "image/svg+xml", "", "<svg", false},
		{"head index", "HEAD", "/admin/", http.StatusOK, "text/html; charset=utf-8", "", "", false},
		{"unknown asset", "GET", "/admin/nope.js", http.StatusNotFound, "application/json; charset=utf-8", "", "not_found", false},
		{"traversal", "GET", "/admin/..%2fserver.go", http.StatusNotFound, "", "", "", true},
		{"nested path", "GET", "/admin/x/app.js", http.StatusNotFound, "", "", "", true},
		{"post not allowed", "POST", "/admin/", http.StatusMethodNotAllowed, "", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := consoleDo(t, tc.method, e.url+tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %q", resp.StatusCode, tc.status, body)
			}
			if tc.contentType != "" {
				if got := resp.Header.Get("Content-Type"); got != tc.contentType {
					t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
				}
			}
			if tc.location != "" {
				if got := resp.Header.Get("Location"); got != tc.location {
					t.Errorf("Location = %q, want %q", got, tc.location)
				}
			}
			if !bytes.Contains(body, []byte(tc.bodyHas)) {
				t.Errorf("body does not contain %q", tc.bodyHas)
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			if !tc.bare {
				checkConsoleHeaders(t, resp.Header)
			}
		})
	}
}

func TestConsole_ServesEveryFileExactly(t *testing.T) {
	e := newEnv(t)
	fsys := web.FS()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 5 {
		t.Fatalf("web.FS has %d files, want the console's", len(entries))
	}
	for _, ent := range entries {
		name := ent.Name()
		t.Run(name, func(t *testing.T) {
			want, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			p := "/admin/" + name
			if name == "index.html" {
				p = "/admin/"
			}
			resp, body := consoleDo(t, "GET", e.url+p, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d", p, resp.StatusCode)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("GET %s: body differs from the embedded file", p)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			if ct := resp.Header.Get("Content-Type"); ct == "" || ct == "application/octet-stream" {
				t.Errorf("Content-Type = %q, want a specific type", ct)
			}
			checkConsoleHeaders(t, resp.Header)

			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			resp, body = consoleDo(t, "GET", e.url+p, http.Header{"If-None-Match": {`"other", ` + etag}})
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("conditional GET: status %d with %d bytes, want 304 and none", resp.StatusCode, len(body))
			}
			checkConsoleHeaders(t, resp.Header)
		})
	}
}

// The console's routes must not shadow the admin API under /admin/api/.
func TestConsole_AdminAPINotShadowed(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", "correct horse battery", func(u *storage.User) { u.Admin = true })

	resp, body := consoleDo(t, "GET", e.url+"/admin/api/users", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: status %d, want 401; body %q", resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: WWW-Authenticate = %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
	}
	if resp.Header.Get("Content-Security-Policy") != "" {
		t.Error("the admin API answered with the console's headers")
	}

	tok := e.token(url.Values{
		"grant_type": {"password"}, "client_id": {ConsoleClientID}, "scope": {AdminScope},
		"username": {"root"}, "password": {"correct horse battery"},
	}, "", "")
	if tok.Status != http.StatusOK {
		t.Fatalf("console login: status %d: %s", tok.Status, tok.Raw)
	}
	auth := http.Header{"Authorization": {"Bearer " + tok.str("access_token")}}
	for _, p := range []string{"/admin/api/users", "/admin/api/keys", "/admin/api/clients", "/admin/api/sessions"} {
		resp, body := consoleDo(t, "GET", e.url+p, auth)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200; body %q", p, resp.StatusCode, body)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: Content-Type = %q, want JSON", p, ct)
		}
	}
	resp, _ = consoleDo(t, "GET", e.url+"/admin/api/nope", auth)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("GET /admin/api/nope: status %d, want the API's 404", resp.StatusCode)
	}
}
