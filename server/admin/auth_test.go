package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/internal/httpapi"
)

// FuzzBearerToken fuzzes the RFC 6750 §2.1 parser of the admin API's
// Authorization header: an accepted token is a non-empty b64token, and a
// refusal is 400 or 401.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer ", "Bearer x", "bearer a.b.c", "Bearer  a.b.c==", "Bearer a b", "Bearer =", "Basic YTpi", "Bearer \x00", "Bearer ä", "Bearer a.b.c\r\n"} {
		f.Add(s, "", false)
	}
	f.Add("Bearer a.b.c", "Bearer d.e.f", true)
	f.Fuzz(func(t *testing.T, h1, h2 string, two bool) {
		r := httptest.NewRequest(http.MethodGet, "/admin/api/users", nil)
		if h1 != "" {
			r.Header["Authorization"] = []string{h1}
		}
		if two {
			r.Header["Authorization"] = append(r.Header["Authorization"], h2)
		}
		tok, e := bearerToken(r)
		if e != nil {
			if e.Status != http.StatusBadRequest && e.Status != http.StatusUnauthorized {
				t.Fatalf("status %d for %q", e.Status, r.Header["Authorization"])
			}
			return
		}
		if len(r.Header["Authorization"]) != 1 || tok == "" || !b64Token(tok) || strings.ContainsAny(tok, " \t\r\n\x00") {
			t.Fatalf("accepted %q from %q", tok, r.Header["Authorization"])
		}
	})
}

// fakeTokens accepts the token "good" for user root and refuses the
// others with the answer mapped to them.
type fakeTokens map[string]*Error

func (f fakeTokens) Accept(_ context.Context, tok string) (string, *Error) {
	if tok == "good" {
		return "root", nil
	}
	return "", f[tok]
}

type fakeKeys struct{}

func (fakeKeys) List(context.Context) ([]keys.Info, error) { return []keys.Info{{ID: "k1"}}, nil }
func (fakeKeys) Rotate(context.Context, bool) (keys.Info, error) {
	return keys.Info{}, errors.New("not here")
}
func (fakeKeys) Revoke(context.Context, string) (keys.Info, error) {
	return keys.Info{}, errors.New("not here")
}

// TestNew_Authenticate: with Tokens, every request needs a bearer token
// Tokens accepts, and each refusal carries its RFC 6750 §3 challenge;
// without Tokens (the control socket) none is needed.
func TestNew_Authenticate(t *testing.T) {
	tokens := fakeTokens{
		"expired":   httpapi.InvalidToken("the access token is invalid, expired or revoked"),
		"noscope":   newErr(http.StatusForbidden, "insufficient_scope", "the access token lacks the scope authd:admin"),
		"storedown": httpapi.ServerError(errors.New("disk")),
	}
	cfg := Config{Keys: fakeKeys{}, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	socket := New(cfg)
	cfg.Tokens = tokens
	public := New(cfg)
	tests := []struct {
		name      string
		h         http.Handler
		auth      []string
		status    int
		challenge string
	}{
		{"socket, no token", socket, nil, 200, ""},
		{"accepted", public, []string{"Bearer good"}, 200, ""},
		{"no header", public, nil, 401, `Bearer realm="authd"`},
		{"basic", public, []string{"Basic YTpi"}, 401, `Bearer realm="authd"`},
		{"two headers", public, []string{"Bearer good", "Bearer good"}, 400, ""},
		{"malformed", public, []string{"Bearer a b"}, 401, `Bearer realm="authd", error="invalid_token", error_description="the access token is malformed"`},
		{"refused", public, []string{"Bearer expired"}, 401, `Bearer realm="authd", error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
		{"no scope", public, []string{"Bearer noscope"}, 403, `Bearer realm="authd", error="insufficient_scope", scope="authd:admin"`},
		{"storage down", public, []string{"Bearer storedown"}, 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/admin/api/keys", nil)
			r.Header["Authorization"] = tt.auth
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if tt.status == 200 && !strings.Contains(w.Body.String(), `"k1"`) {
				t.Errorf("body %s, want the keys", w.Body)
			}
		})
	}
}
