package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "a=b", "a=b&a=c", "grant_type=password&username=x%20y&password=%zz", "a=%00", "a;b=c", "&&&=&", "a=" + strings.Repeat("%ff", 10),
		"resource=a&resource=a", "resource=&resource=b", strings.Repeat("resource=r&", 20), "scope=" + strings.Repeat("s+", 100), strings.Repeat("&", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fm, e := parseForm(body)
		if e != nil {
			if e.Status != 400 || e.Code != "invalid_request" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		for k, v := range fm.vals {
			if v == "" || !cleanText(k) || !cleanText(v) {
				t.Fatalf("accepted %q=%q", k, v)
			}
		}
		if len(fm.resources) > maxResources+1 {
			t.Fatalf("kept %d resource values", len(fm.resources))
		}
		if len(fm.resources) > 0 && fm.get("resource") != fm.resources[0] {
			t.Fatalf("resource %q, first of %q", fm.get("resource"), fm.resources)
		}
		// The checks before client authentication never panic and
		// answer with an OAuth error of the token endpoint.
		for _, g := range []string{GrantPassword, GrantRefreshToken, GrantClientCredentials} {
			if e := checkTokenParams(g, fm); e != nil && (e.Status != 400 || !slices.Contains([]string{"invalid_request", "invalid_scope", "invalid_target"}, e.Code)) {
				t.Fatalf("checkTokenParams: %+v", e)
			}
		}
	})
}

func FuzzBasicCredentials(f *testing.F) {
	for _, s := range []string{"", "Basic ", "Basic YTpi", "basic YTpi", "Basic YQ==", "Bearer x", "Basic %%%", "Basic JTNBOiUzQQ=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, secret, ok, err := basicCredentials(h)
		if err == nil && ok && (id == "" || !cleanText(id) || !cleanText(secret)) {
			t.Fatalf("accepted id %q secret %q", id, secret)
		}
	})
}

func FuzzRefreshTokenHash(f *testing.F) {
	tok, _, _ := newRefreshToken()
	for _, s := range []string{"", tok, tok[:len(tok)-1] + "=", "authd_rt_", strings.Repeat("a", 52)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := refreshTokenHash(s)
		if ok && (len(h) != 64 || !strings.HasPrefix(s, refreshPrefix)) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func FuzzParseAccessClaims(f *testing.F) {
	for _, s := range []string{`{}`, `{"exp":1,"iat":1,"jti":"x","sub":"y","aud":["a","b"]}`, `{"exp":"1"}`, `{"exp":1e300,"iat":1,"jti":"x","sub":"y"}`, `null`, `[]`,
		`{"exp":1,"iat":1,"jti":"x","sub":"y","authd_gen":3,"authd_ci":"i"}`, `{"exp":1,"iat":1,"jti":"x","sub":"y","authd_gen":-1}`, `{"exp":1,"iat":1,"jti":"x","sub":"y","authd_gen":"1","authd_ci":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseAccessClaims(b)
		if err == nil && (c.JTI == "" || c.Subject == "") {
			t.Fatalf("accepted claims without jti or sub: %s", b)
		}
	})
}

// FuzzTokenEndpoint drives the whole token endpoint with arbitrary bodies
// and headers: never a 5xx, never a panic, always a JSON OAuth answer.
func FuzzTokenEndpoint(f *testing.F) {
	for _, s := range []string{"grant_type=password&username=alice&password=pw", "grant_type=refresh_token&refresh_token=authd_rt_x", "grant_type=client_credentials", "", "grant_type=%ff", "grant_type=password&scope=%22",
		"grant_type=client_credentials&resource=a&resource=b", "grant_type=client_credentials&scope=" + strings.Repeat("s+", 65),
		"grant_type=password&username=" + strings.Repeat("%E2%82%AC", 86) + "&password=pw"} {
		f.Add(s, "application/x-www-form-urlencoded", "Basic YXBwOnNlY3JldA==")
	}
	e := newEnv(f)
	e.addClient("app", "secret", nil)
	e.addUser("alice", "pw", nil)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body, ct, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != 503 {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if w.Code != 200 && !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("status %d without an OAuth error body: %q", w.Code, w.Body.String())
		}
	})
}
