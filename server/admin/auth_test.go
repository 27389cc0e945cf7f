package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
