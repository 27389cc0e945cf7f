package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/server/logline"
	"github.com/authd/authd/storage"
)

// BenchmarkJWKS measures the in-process cost of one JWKS request through the
// whole middleware chain, with the request log written as text (by the
// standard handler and by the one authd uses), as JSON, and not at all; the
// differences are what the request line costs.
func BenchmarkJWKS(b *testing.B) {
	for _, lc := range []struct {
		name   string
		logger *slog.Logger
	}{
		{"std-text", slog.New(slog.NewTextHandler(io.Discard, nil))},
		{"text", slog.New(logline.NewText(io.Discard, nil))},
		{"json", slog.New(logline.NewJSON(io.Discard, nil))},
		{"nolog", slog.New(slog.DiscardHandler)},
	} {
		b.Run(lc.name, func(b *testing.B) {
			e := newEnv(b)
			e.srv.log = lc.logger
			h := e.srv.Handler()
			req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkIntrospect measures the in-process cost of introspecting a
// user's access token through the whole middleware chain, as a resource
// server of its audience does on every API call it serves.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b)
	e.srv.log = slog.New(slog.DiscardHandler)
	e.addClient("app", privSecret, func(c *storage.Client) { c.Audiences = []string{"https://api.example"} })
	e.addClient("rs", rsSecret, func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.Audiences = []string{"https://api.example"}
	})
	e.addUser("carol", "carol-password", func(u *storage.User) { u.Scopes = []string{"read", "write"} })
	login := e.login("app", privSecret, "carol", "carol-password")
	if login.Status != http.StatusOK {
		b.Fatalf("login: %d %s", login.Status, login.Raw)
	}
	body := url.Values{"token": {login.str("access_token")}}.Encode()
	h := e.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/introspect", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("rs", rsSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"active":true`) {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
