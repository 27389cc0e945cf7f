package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/config"
	"github.com/authd/authd/server/internal/timingtest"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

// TestSignIn_PageHeaders: the sign-in, consent and error pages and the
// stylesheet are served with the strict CSP (frame-ancestors 'none', no
// form-action), X-Frame-Options DENY and no-store.
func TestSignIn_PageHeaders(t *testing.T) {
	e := newAuthEnv(t)
	b := e.ua()
	signIn := b.authorize(nil)
	consent := b.follow(b.signIn(signIn, aliceName, alicePassword))
	for name, p := range map[string]page{
		"sign-in": signIn, "consent": consent, "error": b.get("/authorize"),
		"wrong password": e.ua().signIn(e.ua().authorize(nil), aliceName, "nope"),
	} {
		t.Run(name, func(t *testing.T) {
			checkPageHeaders(t, p.Header)
			if !strings.Contains(p.Body, `<link rel="stylesheet" href="pages/style.css">`) {
				t.Errorf("page does not link its stylesheet")
			}
			if strings.Contains(p.Body, "<script") || strings.Contains(p.Body, "style=") {
				t.Errorf("inline script or style: %s", p.Body)
			}
		})
	}
	css := b.get(pagesStylePath)
	if css.Status != 200 || css.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(css.Body, "--accent") {
		t.Errorf("stylesheet: %d %q", css.Status, css.Header.Get("Content-Type"))
	}
}

// TestSignIn_CSRF: a sign-in or consent form without the token of the
// browser's CSRF cookie is shown again with 400, and nothing happens: no
// credential check (no failure counted, no hash), no session, no consent.
func TestSignIn_CSRF(t *testing.T) {
	e := newAuthEnv(t)
	victim := e.ua()
	page := victim.authorize(nil)
	form := page.formOf(t)
	form.Set("username", aliceName)
	form.Set("password", alicePassword)
	attacker := e.ua()
	attackerForm := attacker.authorize(nil).formOf(t)

	tests := []struct {
		name  string
		b     *uaBrowser
		token string
	}{
		{"missing token", victim, ""},
		{"wrong token", victim, "AAAA" + form.Get("csrf_token")[4:]},
		{"another browser's token", victim, attackerForm.Get("csrf_token")},
		{"no cookie", e.ua(), form.Get("csrf_token")},
	}
	for _, tt := range tests {
		t.Run("sign-in "+tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tt.token == "" {
				f.Del("csrf_token")
			} else {
				f.Set("csrf_token", tt.token)
			}
			logBefore := e.logBuf.String()
			p := tt.b.post("/authorize", f)
			if p.Status != 400 || !p.isSignIn() || !strings.Contains(p.Body, "form has expired") {
				t.Fatalf("got %d %q %s", p.Status, p.Location, p.Body)
			}
			for _, c := range p.Header.Values("Set-Cookie") {
				if strings.HasPrefix(c, sessionCookieHTTP+"=") {
					t.Errorf("a session cookie was set: %s", c)
				}
			}
			if logs := e.logBuf.String()[len(logBefore):]; strings.Contains(logs, "login_") {
				t.Errorf("a credential check ran: %s", logs)
			}
			// The page again carries a token that works.
			if q := tt.b.signIn(p, aliceName, alicePassword); q.Status != http.StatusSeeOther {
				t.Errorf("the new form does not work: %d %s", q.Status, q.Body)
			}
		})
	}

	// Consent: a signed-in browser, a form posted without its token.
	b := e.ua()
	consent := b.follow(b.signIn(b.authorize(nil), aliceName, alicePassword))
	cf := consent.formOf(t)
	for _, tt := range []struct{ name, token string }{{"missing token", ""}, {"wrong token", attackerForm.Get("csrf_token")}} {
		t.Run("consent "+tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range cf {
				f[k] = v
			}
			f.Set("decision", "allow")
			if tt.token == "" {
				f.Del("csrf_token")
			} else {
				f.Set("csrf_token", tt.token)
			}
			p := b.post("/authorize", f)
			if p.Status != 400 || !p.isConsent() || p.Location != "" {
				t.Fatalf("got %d %q %s", p.Status, p.Location, p.Body)
			}
			alice, _ := e.store.GetUser(context.Background(), aliceName)
			if _, err := e.store.GetConsent(context.Background(), alice.ID, "app"); err == nil {
				t.Errorf("consent stored")
			}
		})
	}
}

// TestSignIn_WrongCredentials: a wrong password, an unknown user and a
// disabled user get the same page and message, which does not say which.
func TestSignIn_WrongCredentials(t *testing.T) {
	e := newAuthEnv(t)
	e.addUser("off", "off-pw", func(u *storage.User) { u.Disabled = true })
	var want string
	for _, c := range []struct{ user, pw string }{{aliceName, "nope"}, {"nobody", "nope"}, {"off", "off-pw"}, {"Bad Name!", "x"}, {aliceName, strings.Repeat("p", 5000)}} {
		b := e.ua()
		p := b.signIn(b.authorize(nil), c.user, c.pw)
		if p.Status != 400 || !p.isSignIn() || !strings.Contains(p.Body, msgWrongCredentials) {
			t.Fatalf("%s: got %d %s", c.user, p.Status, p.Body)
		}
		// The pages differ only in the CSRF token and the username.
		body := hiddenRE.ReplaceAllString(p.Body, "")
		body = strings.Replace(body, fmt.Sprintf(`value="%s"`, htmlEscape(c.user)), "", 1)
		if want == "" {
			want = body
		} else if body != want {
			t.Errorf("%s: the page differs:\n%s\nvs\n%s", c.user, body, want)
		}
	}
	for _, c := range []struct{ user, pw string }{{"", "x"}, {aliceName, ""}} {
		b := e.ua()
		if p := b.signIn(b.authorize(nil), c.user, c.pw); p.Status != 400 || !strings.Contains(p.Body, msgMissingFields) {
			t.Errorf("%q/%q: got %d %s", c.user, c.pw, p.Status, p.Body)
		}
	}
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "!", "!")
	return r.Replace(s)
}

// TestSignIn_ThrottleShared: a flood of wrong passwords on the page is
// throttled like the password grant, in the same counter: failures on the
// page throttle the grant for that user and address, and the other way
// round; then the page answers 429 with Retry-After.
func TestSignIn_ThrottleShared(t *testing.T) {
	e := newAuthEnv(t, withTrustedLoopback)
	e.addClient("pwapp", appSecret, nil)
	var delays []time.Duration
	e.srv.sleepFn = func(_ context.Context, d time.Duration) error { delays = append(delays, d); return nil }
	const attacker = "203.0.113.9"
	b := e.ua()
	b.addr = attacker
	var last page
	for i := 0; i < 50; i++ {
		last = b.signIn(b.authorize(nil), aliceName, "wrong")
		if last.Status == http.StatusTooManyRequests {
			break
		}
	}
	if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" || !strings.Contains(last.Body, "retry later") || !last.isSignIn() {
		t.Fatalf("the page was not throttled: %d %q %s", last.Status, last.Header.Get("Retry-After"), last.Body)
	}
	if len(delays) == 0 {
		t.Errorf("no increasing delay before the block")
	}
	// The grant shares the counter: the same user from the same address
	// is refused at /token too, even with the right password.
	r := e.postFrom(attacker, "/token", url.Values{"grant_type": {"password"}, "username": {aliceName}, "password": {alicePassword}}, "pwapp", appSecret)
	if r.Status != http.StatusTooManyRequests {
		t.Errorf("password grant after page failures: %d %s", r.Status, r.Raw)
	}
	// The right password on the page is refused too while blocked.
	if p := b.signIn(b.authorize(nil), aliceName, alicePassword); p.Status != http.StatusTooManyRequests {
		t.Errorf("right password while blocked: %d", p.Status)
	}
	// And the other way round: failures at /token block the page.
	e2 := newAuthEnv(t, withTrustedLoopback)
	e2.addClient("pwapp", appSecret, nil)
	e2.srv.sleepFn = func(context.Context, time.Duration) error { return nil }
	for i := 0; i < 50; i++ {
		if r := e2.postFrom(attacker, "/token", url.Values{"grant_type": {"password"}, "username": {aliceName}, "password": {"wrong"}}, "pwapp", appSecret); r.Status == http.StatusTooManyRequests {
			break
		}
	}
	b2 := e2.ua()
	b2.addr = attacker
	if p := b2.signIn(b2.authorize(nil), aliceName, alicePassword); p.Status != http.StatusTooManyRequests {
		t.Errorf("page after grant failures: %d", p.Status)
	}
	// Another address is not locked out.
	b3 := e2.ua()
	b3.addr = "198.51.100.3"
	if p := b3.signIn(b3.authorize(nil), aliceName, alicePassword); p.Status != http.StatusSeeOther {
		t.Errorf("the owner elsewhere: %d %s", p.Status, p.Body)
	}
}

// TestSignIn_SSO: one sign-in serves a second client without a password.
func TestSignIn_SSO(t *testing.T) {
	e := newAuthEnv(t)
	e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
	e.addClient("other", "", func(c *storage.Client) {
		c.Grants = []string{grantAuthorizationCode}
		c.Scopes = []string{"read"}
		c.RedirectURIs = []string{"https://other.example/cb"}
		c.FirstParty = true
	})
	b := e.ua()
	q1 := b.signIn(b.authorize(nil), aliceName, alicePassword).redirected(t, appRedirect+"?")
	e.clock.Advance(5 * time.Minute)
	q2 := b.authorize(map[string]string{"client_id": "other", "redirect_uri": "https://other.example/cb", "scope": "read"}).redirected(t, "https://other.example/cb?")
	c1, c2 := e.codeOf(q1.Get("code")), e.codeOf(q2.Get("code"))
	if c1.LoginSessionID != c2.LoginSessionID || !c1.AuthTime.Equal(c2.AuthTime) || c2.ClientID != "other" {
		t.Errorf("codes of one sign-in: %+v %+v", c1, c2)
	}
	// prompt=none with the session: a code, no page.
	b.authorize(map[string]string{"prompt": "none"}).redirected(t, appRedirect+"?code=")
}

// TestSignIn_PromptLoginAndMaxAge: prompt=login and an exceeded max_age
// show the sign-in page to a signed-in browser; signing in again gives a
// code with the new sign-in time.
func TestSignIn_PromptLoginAndMaxAge(t *testing.T) {
	e := newAuthEnv(t)
	e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
	b := e.signedInBrowser()
	e.clock.Advance(10 * time.Minute)
	for _, over := range []map[string]string{{"prompt": "login"}, {"max_age": "600"}, {"max_age": "0"}, {"prompt": "login consent"}} {
		p := b.authorize(over)
		if p.Status != 200 || !p.isSignIn() {
			t.Fatalf("%v: want the sign-in page, got %d %q", over, p.Status, p.Location)
		}
		p = b.signIn(p, aliceName, alicePassword)
		if over["prompt"] == "login consent" {
			// Signed in; consent is still asked (prompt=consent), once.
			p = b.follow(p)
			if !p.isConsent() {
				t.Fatalf("want the consent page, got %d %s", p.Status, p.Body)
			}
			p = b.decide(p, "allow")
		}
		q := p.redirected(t, appRedirect+"?")
		if ac := e.codeOf(q.Get("code")); !ac.AuthTime.Equal(e.clock.Now()) {
			t.Errorf("%v: auth time %v, want now %v", over, ac.AuthTime, e.clock.Now())
		}
		e.clock.Advance(11 * time.Minute)
	}
	// A max_age the sign-in is within: no page; one too large for a
	// time.Duration too.
	b.authorize(map[string]string{"max_age": "3600"}).redirected(t, appRedirect+"?code=")
	b.authorize(map[string]string{"max_age": "99999999999"}).redirected(t, appRedirect+"?code=")
	b.authorize(map[string]string{"max_age": "9223372036854775807"}).redirected(t, appRedirect+"?code=")
	// prompt=none with an exceeded max_age: login_required.
	e.clock.Advance(2 * time.Hour)
	b2 := e.signedInBrowser()
	e.clock.Advance(time.Minute)
	q := b2.authorize(map[string]string{"prompt": "none", "max_age": "30"}).redirected(t, appRedirect+"?")
	if q.Get("error") != "login_required" {
		t.Errorf("got %v", q)
	}
}

// TestSignIn_SessionEnds: a password change (SessionGen), disabling and
// deleting the user end the sign-in session; so do its idle and absolute
// limits, on the injected clock.
func TestSignIn_SessionEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(e *testEnv, b *uaBrowser, start time.Time)
	}{
		{"password change", func(e *testEnv, b *uaBrowser, start time.Time) {
			e.updateUser(aliceName, func(u *storage.User) { u.EndSessions(e.clock.Now(), "password changed") })
		}},
		{"disabled", func(e *testEnv, b *uaBrowser, start time.Time) {
			e.updateUser(aliceName, func(u *storage.User) { u.Disabled = true })
		}},
		{"deleted", func(e *testEnv, b *uaBrowser, start time.Time) {
			if err := e.store.DeleteUser(context.Background(), aliceName, e.clock.Now()); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"idle", func(e *testEnv, b *uaBrowser, start time.Time) { e.clock.Advance(e.cfg.LoginSessionIdleTTL) }},
		{"absolute", func(e *testEnv, b *uaBrowser, start time.Time) {
			// Used every 50 minutes, never idle, until the absolute end.
			for e.clock.Now().Add(50 * time.Minute).Before(start.Add(e.cfg.LoginSessionTTL)) {
				e.clock.Advance(50 * time.Minute)
				b.authorize(map[string]string{"prompt": "none"}).redirected(e.t, appRedirect+"?code=")
			}
			e.clock.Advance(50 * time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAuthEnv(t)
			e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
			start := e.clock.Now()
			b := e.signedInBrowser()
			e.clock.Advance(time.Second)
			b.authorize(map[string]string{"prompt": "none"}).redirected(t, appRedirect+"?code=")
			tt.end(e, b, start)
			q := b.authorize(map[string]string{"prompt": "none"}).redirected(t, appRedirect+"?")
			if q.Get("error") != "login_required" {
				t.Fatalf("session still usable: %v", q)
			}
			if p := b.authorize(nil); !p.isSignIn() {
				t.Fatalf("want the sign-in page, got %d %q", p.Status, p.Location)
			}
		})
	}
	t.Run("idle limit moves with use", func(t *testing.T) {
		e := newAuthEnv(t)
		e.updateClient("app", func(c *storage.Client) { c.FirstParty = true })
		b := e.signedInBrowser()
		for range 3 {
			e.clock.Advance(e.cfg.LoginSessionIdleTTL - time.Minute)
			b.authorize(map[string]string{"prompt": "none"}).redirected(t, appRedirect+"?code=")
		}
	})
}

// TestSignIn_Cookies: the session cookie is HttpOnly, SameSite=Lax, Path=/,
// its value stored only as a hash; on an https issuer it is
// __Host-authd_session and Secure, on plain http authd_session without
// either.
func TestSignIn_Cookies(t *testing.T) {
	e := newAuthEnv(t)
	b := e.ua()
	p := b.signIn(b.authorize(nil), aliceName, alicePassword)
	var session *http.Cookie
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == sessionCookieHTTP {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure {
		t.Fatalf("session cookie %+v", session)
	}
	ls, err := e.store.GetLoginSession(context.Background(), hashToken(session.Value))
	if err != nil || ls.Hash != hashToken(session.Value) || ls.ID == "" {
		t.Fatalf("stored session %+v %v", ls, err)
	}
	if len(session.Value) != 43 {
		t.Errorf("cookie value of %d characters, want 256 bits base64url", len(session.Value))
	}

	s := &Server{cfg: Config{Settings: config.Settings{Issuer: "https://id.example", LoginSessionTTL: time.Hour}}}
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	s.setCookie(c, s.sessionCookieName(), "v", 60)
	s.setCookie(c, s.csrfCookieName(), "v", 60)
	got := w.Header().Values("Set-Cookie")
	if len(got) != 2 || !strings.HasPrefix(got[0], "__Host-authd_session=v; Path=/;") || !strings.Contains(got[0], "; Secure") ||
		!strings.Contains(got[0], "; HttpOnly") || !strings.Contains(got[0], "SameSite=Lax") || strings.Contains(got[0], "Domain") ||
		!strings.HasPrefix(got[1], "__Host-authd_csrf=") {
		t.Errorf("https cookies %q", got)
	}
}

// TestSignIn_TimingEquality: through the sign-in page, an unknown user and
// a disabled user take the same time as a wrong password (the paired,
// randomly ordered comparison of package timingtest, as
// TestPasswordGrant_TimingEquality does for the grant).
func TestSignIn_TimingEquality(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	e := newAuthEnv(t, withTrustedLoopback, func(c *Config) {
		c.Hasher = password.New(password.Config{Params: timingParams, MaxConcurrent: 1, Wait: time.Minute})
	})
	e.addUser("off", "off-pw", func(u *storage.User) { u.Disabled = true })
	b := e.ua()
	form := b.authorize(nil).formOf(t)
	n := 0
	attempt := func(user, pw string) func() error {
		return func() error {
			n++
			b.addr = fmt.Sprintf("198.18.%d.%d", n/250, n%250) // fresh addresses: no throttling delay
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set("username", user)
			f.Set("password", pw)
			p := b.post("/authorize", f)
			if p.Status != 400 || !strings.Contains(p.Body, msgWrongCredentials) {
				return fmt.Errorf("%s: %d %s", user, p.Status, p.Body)
			}
			return nil
		}
	}
	wrong := attempt(aliceName, "nope")
	timingtest.Equal(t, "unknown user", "wrong password", attempt("nobody", "nope"), wrong, timingtest.Options{})
	timingtest.Equal(t, "disabled user", "wrong password", attempt("off", "off-pw"), wrong, timingtest.Options{})
}

// TestSignIn_CheapChecksFirst: a sign-in form whose request is invalid,
// or whose password is over the limit, is answered without a password
// hash and without a failure counted.
func TestSignIn_CheapChecksFirst(t *testing.T) {
	e := newAuthEnv(t)
	h := &countingHasher{PasswordHasher: e.srv.hasher}
	e.srv.hasher = h
	b := e.ua()
	form := b.authorize(nil).formOf(t)
	for _, tt := range []struct {
		name   string
		change map[string]string
	}{
		{"response_type", map[string]string{"response_type": "token"}},
		{"plain PKCE", map[string]string{"code_challenge_method": "plain"}},
		{"unregistered redirect", map[string]string{"redirect_uri": "https://evil.example/cb"}},
		{"scope", map[string]string{"scope": "a\\b"}},
		{"password too long", map[string]string{"password": strings.Repeat("p", 5000)}},
		{"username impossible", map[string]string{"username": "Bad Name!"}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("username", aliceName)
		f.Set("password", "wrong")
		for k, v := range tt.change {
			f.Set(k, v)
		}
		logBefore := len(e.logBuf.String())
		p := b.post("/authorize", f)
		if p.Status == 200 || p.Status >= 500 {
			t.Errorf("%s: %d", tt.name, p.Status)
		}
		if n := h.n.Load(); n != 0 || strings.Contains(e.logBuf.String()[logBefore:], "event=login_failed") {
			t.Errorf("%s: %d hashes, or a failure counted", tt.name, n)
		}
	}
	// The control: a wrong password costs one hash.
	if p := b.signIn(b.authorize(nil), aliceName, "wrong"); p.Status != 400 || h.n.Load() != 1 {
		t.Errorf("wrong password: %d, %d hashes", p.Status, h.n.Load())
	}
}
