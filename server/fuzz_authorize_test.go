package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
)

// authorizeErrorCodes are the codes /authorize may answer with.
var authorizeErrorCodes = []string{"invalid_request", "unsupported_response_type", "invalid_scope", "invalid_target"}

// FuzzAuthorizeRequest: the authorization request parser never panics,
// answers only with its error codes, and what it accepts survives the
// round trip through the pages' hidden inputs and the 303 after sign-in.
func FuzzAuthorizeRequest(f *testing.F) {
	for _, s := range []string{
		authQuery(nil), authQuery(map[string]string{"prompt": "login consent", "max_age": "0"}), authQuery(map[string]string{"prompt": "none"}),
		authQuery(map[string]string{"code_challenge_method": "plain"}), authQuery(map[string]string{"response_type": "token"}),
		authQuery(map[string]string{"max_age": "-1"}), authQuery(map[string]string{"scope": strings.Repeat("s ", 70)}),
		authQuery(nil) + "&resource=a&resource=b", authQuery(nil) + "&scope=x", "", "client_id=%zz", "a;b", "max_age=+1",
		authQuery(map[string]string{"login_hint": "<script>", "state": `"'&<>`}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		fm, e := parseForm(query)
		if e != nil {
			return
		}
		ar, e := parseAuthorize(fm)
		if e != nil {
			if e.Status != 400 || !slices.Contains(authorizeErrorCodes, e.Code) {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if !validChallenge(ar.CodeChallenge) || ar.MaxAge < -1 || (ar.PromptNone && (ar.PromptLogin || ar.PromptConsent)) {
			t.Fatalf("accepted %+v", ar)
		}
		// The hidden inputs carry the request back unchanged.
		back := url.Values{}
		for _, h := range ar.hidden(stepSignIn, "tok") {
			back.Set(h.Name, h.Value)
		}
		fm2, e := parseForm(back.Encode())
		if e != nil {
			t.Fatalf("hidden inputs do not parse: %v", e)
		}
		ar2, e := parseAuthorize(fm2)
		if e != nil || ar2.ClientID != ar.ClientID || ar2.State != ar.State || ar2.CodeChallenge != ar.CodeChallenge ||
			!slices.Equal(ar2.Scope, ar.Scope) || ar2.MaxAge != ar.MaxAge || ar2.Nonce != ar.Nonce || ar2.Resource != ar.Resource {
			t.Fatalf("round trip: %+v, %v; want %+v", ar2, e, ar)
		}
		// The 303 after sign-in asks neither login nor max_age again.
		fm3, e := parseForm(strings.TrimPrefix(ar.afterSignInURL(), "authorize?"))
		if e != nil {
			t.Fatalf("after sign-in URL: %v", e)
		}
		ar3, e := parseAuthorize(fm3)
		if e != nil || ar3.PromptLogin || ar3.MaxAge != -1 || ar3.PromptConsent != ar.PromptConsent || ar3.State != ar.State {
			t.Fatalf("after sign-in: %+v %v", ar3, e)
		}
	})
}

// serve sends req to the server's handler in process.
func (e *testEnv) serve(req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	req.RemoteAddr = "192.0.2.1:1234"
	e.srv.Handler().ServeHTTP(w, req)
	return w
}

// safeAnswer fails unless w is an answer /authorize may give: a page, or a
// 303 to a registered redirect URI or back to /authorize; never a 500.
func safeAnswer(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	switch w.Code {
	case 200, 400, 429, 503:
		if w.Header().Get("Location") != "" {
			t.Fatalf("%d with Location %q", w.Code, w.Header().Get("Location"))
		}
	case http.StatusSeeOther:
		loc := w.Header().Get("Location")
		if !strings.HasPrefix(loc, appRedirect+"?") && !strings.HasPrefix(loc, "http://127.0.0.1:") && !strings.HasPrefix(loc, loopbackCB+"?") && !strings.HasPrefix(loc, "authorize?") {
			t.Fatalf("303 to %q", loc)
		}
	default:
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
}

// FuzzSignInForm: whatever the sign-in form carries, the answer is a page
// or a redirect to the registered URI; a session is set only with the
// browser's CSRF token and the right password.
func FuzzSignInForm(f *testing.F) {
	e := newAuthEnv(f)
	b := e.ua()
	page := b.authorize(nil)
	form := page.formOf(f)
	u, _ := url.Parse(e.url)
	cookies := b.c.Jar.Cookies(u)
	f.Add(aliceName, alicePassword, true, "")
	f.Add(aliceName, "wrong", true, "")
	f.Add(aliceName, alicePassword, false, "")
	f.Add("nobody", "x", true, "&scope=read")
	f.Add(aliceName, alicePassword, true, "&prompt=none")
	f.Add(aliceName, alicePassword, true, "&x=%zz")
	f.Add("", "", true, "&redirect_uri=https%3A%2F%2Fevil.example")
	f.Add("ALICE", alicePassword, true, "&response_type=token")
	f.Fuzz(func(t *testing.T, user, pw string, csrf bool, extra string) {
		v := url.Values{}
		for k, vals := range form {
			v[k] = vals
		}
		v.Set("username", user)
		v.Set("password", pw)
		if !csrf {
			v.Set("csrf_token", "forged")
		}
		// extra replaces parameters of the form, or adds some.
		body := v.Encode() + extra
		if ev, err := url.ParseQuery(strings.TrimPrefix(extra, "&")); err == nil {
			for k := range ev {
				v.Del(k)
			}
			body = v.Encode() + extra
		}
		req := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := e.serve(req)
		safeAnswer(t, w)
		session := false
		for _, c := range w.Result().Cookies() {
			if c.Name == sessionCookieHTTP && c.MaxAge > 0 {
				session = true
			}
		}
		sent, _ := url.ParseQuery(body)
		if session && (!slices.Equal(sent["csrf_token"], form["csrf_token"]) || !slices.Equal(sent["password"], []string{alicePassword})) {
			t.Fatalf("signed in with %q", body)
		}
	})
}

// FuzzConsentForm: whatever the consent form carries, the answer is a
// page or a redirect to the registered URI, and consent is stored only
// for decision=allow with the browser's CSRF token.
func FuzzConsentForm(f *testing.F) {
	e := newAuthEnv(f)
	b := e.ua()
	page := b.follow(b.signIn(b.authorize(nil), aliceName, alicePassword))
	form := page.formOf(f)
	u, _ := url.Parse(e.url)
	cookies := b.c.Jar.Cookies(u)
	alice, _ := e.store.GetUser(context.Background(), aliceName)
	f.Add("allow", true, "")
	f.Add("deny", true, "")
	f.Add("allow", false, "")
	f.Add("maybe", true, "")
	f.Add("allow", true, "&scope=write")
	f.Add("allow", true, "&client_id=nobody")
	f.Add("allow", true, "&prompt=none")
	f.Add("allow", true, "&decision=deny")
	f.Fuzz(func(t *testing.T, decision string, csrf bool, extra string) {
		if err := e.store.RevokeConsent(context.Background(), alice.ID, "app", e.clock.Now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		v := url.Values{}
		for k, vals := range form {
			v[k] = vals
		}
		v.Set("decision", decision)
		if !csrf {
			v.Set("csrf_token", "forged")
		}
		if ev, err := url.ParseQuery(strings.TrimPrefix(extra, "&")); err == nil {
			for k := range ev {
				v.Del(k)
			}
		}
		body := v.Encode() + extra
		req := httptest.NewRequest(http.MethodPost, "/authorize", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := e.serve(req)
		safeAnswer(t, w)
		sent, _ := url.ParseQuery(body)
		if _, err := e.store.GetConsent(context.Background(), alice.ID, "app"); err == nil &&
			(!slices.Equal(sent["csrf_token"], form["csrf_token"]) || !slices.Equal(sent["decision"], []string{"allow"})) {
			t.Fatalf("consent stored with %q", body)
		}
	})
}
