package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// chromiumPath is where Debian's chromium package puts the browser; .ci/run
// installs it.
const chromiumPath = "/usr/bin/chromium"

// browser drives one headless Chromium tab for a test.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
	shotDir  string
	shots    int
}

// newBrowser starts headless Chromium with a fresh profile. It reaches only
// loopback: every host name but 127.0.0.1 fails to resolve, and the
// browser's own background services are off. The test is skipped when
// Chromium is not installed.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("the browser test needs Chromium at %s (apt-get install chromium; .ci/run installs it)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx, shotDir: os.Getenv("AUTHD_CONSOLE_SCREENSHOTS")}

	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	msgs := chromedp.Console(lctx)
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return b
}

// do runs steps, failing the test with what on error or after 20 seconds.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls the JavaScript expression until it is true.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	b.do("wait for "+what, chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))(ctx, t)
		return chromedp.Void{}, err
	}))
}

// eval evaluates a JavaScript expression into a string.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// shot saves a PNG of the page when AUTHD_CONSOLE_SCREENSHOTS names a
// directory; it is for looking at the console while changing it.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shotDir == "" {
		return
	}
	b.shots++
	// A laptop and a phone.
	for _, size := range []struct {
		name string
		w, h int64
	}{{"wide", 1280, 900}, {"phone", 390, 844}} {
		var png []byte
		err := chromedp.Do(b.ctx,
			chromedp.EmulateViewport(size.w, size.h),
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				var err error
				png, err = chromedp.FullScreenshot(100)(ctx, t)
				return err
			}),
		)
		if err != nil {
			b.t.Fatalf("screenshot: %v", err)
		}
		p := filepath.Join(b.shotDir, fmt.Sprintf("%02d-%s-%s.png", b.shots, name, size.name))
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("restore the viewport", chromedp.EmulateViewport(1280, 900))
}

// problems returns the errors and warnings the page logged, such as
// exceptions, Content-Security-Policy violations and files that failed to
// load. The browser's network log of a 400 (the wrong password) and of a
// 401 (an expired access token, answered by a refresh) is expected.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if m.Source == "network" && (strings.Contains(m.Text, "status of 400") || strings.Contains(m.Text, "status of 401")) {
			continue
		}
		// authd's sign-in page (/authorize, web/pages) names no icon, so
		// Chromium asks for /favicon.ico; that is the pages', not the
		// console's (reported with issue 14).
		if m.Source == "network" && strings.HasSuffix(m.URL, "/favicon.ico") {
			continue
		}
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			out = append(out, m.String()+" ("+m.URL+")")
		}
	}
	return out
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rowWith is a JavaScript expression: whether a row of tbody has a header
// cell whose text is name.
func rowWith(tbody, name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#%s tr > th')].some(th => th.textContent.trim() === %s)`, tbody, jsString(name))
}

// TestConsole_Browser drives the console in headless Chromium through an
// operator's day: sign in through authd's sign-in page (the authorization
// code flow with PKCE), add a user, a confidential client and a client of
// the code flow, read the one-time secret, revoke a session and a consent,
// rotate the signing key, sign out. Each step is checked in the storage and
// through the API.
func TestConsole_Browser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
	b := newBrowser(t)
	e := newEnv(t)
	ctx := context.Background()
	root := e.addUser("root", "correct horse battery staple", func(u *storage.User) { u.Admin = true })

	// A forged authorization response (login CSRF: an attacker's code
	// sent to the operator's browser) and one from another issuer are
	// refused without a token request, and leave the address bar.
	tokenCalls := func() int { return strings.Count(e.logBuf.String(), " path=/token ") }
	b.do("a forged sign-in answer", chromedp.Navigate(e.url+"/admin/?code=attackers-code&state=guessed&iss="+url.QueryEscape(e.url)),
		chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.waitFor("the refusal", `document.querySelector('#login-error').textContent.includes('does not belong to a sign-in of this console')`)
	if got := b.eval(`location.search`); got != "" {
		t.Errorf("the forged answer stays in the address bar: %q", got)
	}
	b.eval(`(sessionStorage.setItem('authd-console-signin', JSON.stringify({verifier: 'v'.repeat(43), state: 'st', view: ''})), '')`)
	b.do("an answer from another issuer", chromedp.Navigate(e.url+"/admin/?code=c&state=st&iss=https%3A%2F%2Fevil.example"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.waitFor("the refusal", `document.querySelector('#login-error').textContent.includes('another server')`)
	if got := b.eval(`String(sessionStorage.length)`); got != "0" {
		t.Errorf("sessionStorage holds %s items after a refused answer, want none", got)
	}
	if n := tokenCalls(); n != 0 {
		t.Errorf("the console called the token endpoint %d times for refused answers", n)
	}

	// Sign in: the console sends the browser to authd's sign-in page, which
	// sends it back with a code that the console exchanges.
	b.do("open the console", chromedp.Navigate(e.url+"/admin#sessions"))
	b.do("login form", chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.waitFor("the issuer", `document.querySelector('#issuer-value').textContent === `+jsString(e.url))
	b.waitFor("the sign-in button", `!document.querySelector('#login-form button[type=submit]').disabled`)
	b.do("go to the sign-in page",
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("input#username")),
	)
	if got := b.eval(`location.pathname`); got != "/authorize" {
		t.Errorf("the sign-in page is at %s, want /authorize", got)
	}
	q, err := url.ParseQuery(b.eval(`location.search.slice(1)`))
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("client_id") != ConsoleClientID || q.Get("redirect_uri") != e.url+"/admin/" || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("scope") != AdminScope || q.Get("response_type") != "code" {
		t.Errorf("the console's authorization request: %v", q)
	}
	b.do("sign in with a wrong password",
		chromedp.SendKeys(chromedp.CSS("input#username"), "root"),
		chromedp.SendKeys(chromedp.CSS("input#password"), "not the password"),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("[role=alert]")),
	)
	b.shot("login-failed")
	if got := b.eval(`document.querySelector('input#password').value`); got != "" {
		t.Error("the password field keeps the wrong password")
	}
	b.do("sign in",
		chromedp.SendKeys(chromedp.CSS("input#password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#sessions")),
	)
	b.waitFor("the session list", `document.querySelector('#sessions').dataset.state === 'ready'`)
	if got := b.eval(`document.querySelector('#who-name').textContent`); got != "root" {
		t.Errorf("signed in as %q, want root", got)
	}
	if got := b.eval(`location.href`); got != e.url+"/admin/#sessions" {
		t.Errorf("after sign-in the address is %s, want %s/admin/#sessions (no code, state or token in it, the tab kept)", got, e.url)
	}
	if got := b.eval(`String(sessionStorage.length)`); got != "0" {
		t.Errorf("sessionStorage holds %s items after the sign-in, want none", got)
	}
	fams, err := storage.ListAllFamilies(ctx, e.store, storage.FamilyFilter{UserID: root.ID})
	if err != nil || len(fams) != 1 || fams[0].ClientID != ConsoleClientID || fams[0].LoginSessionID == "" {
		t.Fatalf("after sign-in: families of root = %+v, %v; want one of %s from a sign-in session", fams, err, ConsoleClientID)
	}
	consoleFamily := fams[0].ID
	b.do("open the users tab", chromedp.Click(chromedp.CSS(`.tabs a[href="#users"]`)),
		chromedp.WaitVisible(chromedp.CSS("#users")))
	b.waitFor("the user list", rowWith("users-body", "root (you)"))

	// Add a user.
	b.do("add a user",
		chromedp.Click(chromedp.CSS("#user-add")),
		chromedp.WaitVisible(chromedp.CSS("#user-add-dialog")),
		chromedp.SendKeys(chromedp.CSS("#user-add-username"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#user-add-password"), "alice's long password"),
		chromedp.SendKeys(chromedp.CSS("#user-add-scopes"), "read, write"),
	)
	b.shot("add-user")
	b.do("submit the user", chromedp.Click(chromedp.CSS("#user-add-dialog button[type=submit]")),
		chromedp.WaitNotVisible(chromedp.CSS("#user-add-dialog")))
	b.waitFor("alice in the list", rowWith("users-body", "alice"))
	b.shot("users")
	alice, err := e.store.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("alice was not created: %v", err)
	}
	if alice.Admin || !slices.Equal(alice.Scopes, []string{"read", "write"}) {
		t.Errorf("alice: admin %v, scopes %q; want false, [read write]", alice.Admin, alice.Scopes)
	}

	// Add a confidential client and read its one-time secret.
	b.do("open the clients tab", chromedp.Click(chromedp.CSS(`.tabs a[href="#clients"]`)),
		chromedp.WaitVisible(chromedp.CSS("#clients")))
	b.waitFor("the client list", rowWith("clients-body", ConsoleClientID))
	b.do("add a client",
		chromedp.Click(chromedp.CSS("#client-add")),
		chromedp.WaitVisible(chromedp.CSS("#client-add-dialog")),
		chromedp.SendKeys(chromedp.CSS("#client-add-id"), "billing"),
		chromedp.Click(chromedp.CSS(`#client-add-dialog input[value=client_credentials]`)),
		chromedp.SendKeys(chromedp.CSS("#client-add-scopes"), "read write"),
		chromedp.SendKeys(chromedp.CSS("#client-add-audiences"), "https://billing.example"),
		chromedp.Click(chromedp.CSS("#client-add-dialog button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#secret-dialog")),
	)
	b.shot("client-secret")
	secret := b.eval(`document.querySelector('#secret-value').value`)
	if len(secret) < 32 {
		t.Fatalf("one-time secret = %q, want a generated secret", secret)
	}
	if !strings.Contains(b.eval(`document.querySelector('#secret-dialog').textContent`), "Shown only once") {
		t.Error("the secret dialog does not say the secret is shown only once")
	}
	b.do("close the secret", chromedp.Click(chromedp.CSS("#secret-dialog button[type=submit]")),
		chromedp.WaitNotVisible(chromedp.CSS("#secret-dialog")))
	b.waitFor("billing in the list", rowWith("clients-body", "billing"))
	b.waitFor("the secret to leave the page", `document.querySelector('#secret-value').value === ''`)
	if strings.Contains(b.eval(`document.documentElement.outerHTML + document.querySelector('#secret-value').value`), secret) {
		t.Error("the client secret is still in the page after its dialog closed")
	}
	billing, err := e.store.GetClient(ctx, "billing")
	if err != nil {
		t.Fatalf("billing was not created: %v", err)
	}
	if billing.Public || !slices.Equal(billing.Grants, []string{GrantPassword, GrantRefreshToken, GrantClientCredentials}) ||
		!slices.Equal(billing.Audiences, []string{"https://billing.example"}) {
		t.Errorf("billing = %+v; want confidential with three grants and one audience", billing)
	}

	// A client of the authorization code flow.
	b.do("add a client of the code flow",
		chromedp.Click(chromedp.CSS("#client-add")),
		chromedp.WaitVisible(chromedp.CSS("#client-add-dialog")),
		chromedp.SendKeys(chromedp.CSS("#client-add-id"), "webapp"),
		chromedp.Click(chromedp.CSS(`#client-add-dialog input[name=type][value=public]`)),
		chromedp.Click(chromedp.CSS(`#client-add-dialog input[value=password]`)),
		chromedp.Click(chromedp.CSS(`#client-add-dialog input[value=authorization_code]`)),
		chromedp.SendKeys(chromedp.CSS("#client-add-scopes"), "openid profile"),
		chromedp.Click(chromedp.CSS("#client-add-dialog button[type=submit]")),
	)
	b.waitFor("the missing redirect URI", `document.querySelector('#client-add-dialog .form-error').textContent.includes('redirect URI')`)
	b.do("give the redirect URIs",
		chromedp.SendKeys(chromedp.CSS("#client-add-redirect-uris"), "https://webapp.example/cb\nhttp://127.0.0.1/cb?x=1,2"),
		chromedp.Click(chromedp.CSS(`#client-add-dialog input[name=firstParty]`)),
		chromedp.Click(chromedp.CSS("#client-add-dialog button[type=submit]")),
		chromedp.WaitNotVisible(chromedp.CSS("#client-add-dialog")),
	)
	b.waitFor("webapp in the list", rowWith("clients-body", "webapp"))
	b.shot("clients")
	webapp, err := e.store.GetClient(ctx, "webapp")
	if err != nil {
		t.Fatalf("webapp was not created: %v", err)
	}
	if !webapp.Public || !webapp.FirstParty || !slices.Equal(webapp.Grants, []string{GrantRefreshToken, GrantAuthorizationCode}) ||
		!slices.Equal(webapp.RedirectURIs, []string{"https://webapp.example/cb", "http://127.0.0.1/cb?x=1,2"}) {
		t.Errorf("webapp = %+v; want public, first party, refresh_token and authorization_code, two redirect URIs", webapp)
	}

	// The secret from the page works: alice signs in through billing.
	tok := e.login("billing", secret, "alice", "alice's long password")
	if tok.Status != http.StatusOK {
		t.Fatalf("login with the console's secret: %d %s", tok.Status, tok.Raw)
	}
	aliceRT := tok.str("refresh_token")
	fams, err = storage.ListAllFamilies(ctx, e.store, storage.FamilyFilter{UserID: alice.ID})
	if err != nil || len(fams) != 1 {
		t.Fatalf("families of alice = %+v, %v; want one", fams, err)
	}
	aliceFamily := fams[0].ID

	// List the sessions, filter by alice, revoke hers.
	b.do("open the sessions tab", chromedp.Click(chromedp.CSS(`.tabs a[href="#sessions"]`)),
		chromedp.WaitVisible(chromedp.CSS("#sessions")))
	b.waitFor("both sessions", `document.querySelectorAll('#sessions-body tr').length === 2`)
	b.waitFor("the console's own session", `!!document.querySelector('#sessions-body tr[data-session="`+consoleFamily+`"]')`)
	b.shot("sessions")
	b.do("filter by alice",
		chromedp.SendKeys(chromedp.CSS("#sessions-user"), "alice"),
		chromedp.Click(chromedp.CSS("#sessions-filter button[type=submit]")),
	)
	b.waitFor("alice's session alone", `document.querySelectorAll('#sessions-body tr').length === 1 && !!document.querySelector('#sessions-body tr[data-session="`+aliceFamily+`"]')`)
	b.do("revoke alice's session",
		chromedp.Click(chromedp.CSS(`#sessions-body tr[data-session="`+aliceFamily+`"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")),
	)
	b.shot("confirm-revoke")
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitNotPresent(chromedp.CSS(`#sessions-body tr[data-session="`+aliceFamily+`"]`)))
	b.waitFor("the notice", `document.querySelector('#notice').textContent.includes('revoked')`)
	f, err := e.store.GetFamily(ctx, aliceFamily)
	if err != nil || !f.Revoked() {
		t.Errorf("alice's family after revocation: revoked %v, err %v; want revoked", f.Revoked(), err)
	}
	if r := e.refresh("billing", secret, aliceRT); r.Status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
		t.Errorf("refresh of the revoked session: %d %s; want 400 invalid_grant", r.Status, r.Raw)
	}

	// A consent of alice for billing, revoked in the Consents tab.
	e.putConsent(alice, "billing", "read")
	e.putConsent(root, "billing", "write")
	b.do("open the consents tab", chromedp.Click(chromedp.CSS(`.tabs a[href="#consents"]`)),
		chromedp.WaitVisible(chromedp.CSS("#consents")))
	b.waitFor("both consents", `document.querySelectorAll('#consents-body tr').length === 2`)
	b.do("filter by alice",
		chromedp.SendKeys(chromedp.CSS("#consents-user"), "alice"),
		chromedp.Click(chromedp.CSS("#consents-filter button[type=submit]")),
	)
	b.waitFor("alice's consent alone", `document.querySelectorAll('#consents-body tr').length === 1 && !!document.querySelector('#consents-body tr[data-consent="alice/billing"]')`)
	b.shot("consents")
	b.do("revoke alice's consent",
		chromedp.Click(chromedp.CSS(`#consents-body tr[data-consent="alice/billing"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-dialog")),
	)
	b.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitNotPresent(chromedp.CSS(`#consents-body tr[data-consent="alice/billing"]`)))
	b.waitFor("the consent notice", `document.querySelector('#notice').textContent.includes('revoked')`)
	if _, err := e.store.GetConsent(ctx, alice.ID, "billing"); !errorsIsNotFound(err) {
		t.Errorf("alice's consent after revocation: %v, want not found", err)
	}
	if _, err := e.store.GetConsent(ctx, root.ID, "billing"); err != nil {
		t.Errorf("root's consent after revoking alice's: %v", err)
	}

	// Rotate the signing key. The next key has been published for two JWKS
	// max-ages, so it takes over at once even when the console waits for safety.
	before := activeKID(t, e)
	e.clock.Advance(10 * time.Minute)
	b.do("open the keys tab", chromedp.Click(chromedp.CSS(`.tabs a[href="#keys"]`)),
		chromedp.WaitVisible(chromedp.CSS("#keys")))
	b.waitFor("the active key", `!!document.querySelector('#keys-body tr[data-kid="`+before+`"]')`)
	b.do("rotate",
		chromedp.Click(chromedp.CSS("#key-rotate")),
		chromedp.WaitVisible(chromedp.CSS("#key-rotate-dialog")),
	)
	b.shot("rotate")
	b.do("confirm the rotation", chromedp.Click(chromedp.CSS("#key-rotate-dialog button[type=submit]")),
		chromedp.WaitNotVisible(chromedp.CSS("#key-rotate-dialog")))
	b.waitFor("the rotation notice", `document.querySelector('#notice').textContent.includes('now the active signing key')`)
	after := activeKID(t, e)
	if after == before {
		t.Fatalf("the active key is still %s after rotation", before)
	}
	b.waitFor("the new active key in the table", `(document.querySelector('#keys-body tr[data-kid="`+after+`"]')?.textContent || '').includes('active')`)
	b.shot("keys")

	// Access tokens expire on the server's clock. The console answers the
	// 401 by refreshing once (the Sessions tab makes two calls at a time)
	// and retrying. The second expiry shows that it kept the newest refresh
	// token: presenting the spent one again would be reuse, which revokes
	// the session.
	calls := tokenCalls()
	for _, tab := range []string{"sessions", "users"} {
		e.clock.Advance(16 * time.Minute)
		b.eval(`document.querySelector('#` + tab + `').dataset.state = 'stale'`)
		b.do("open the "+tab+" tab after the access token expired", chromedp.Click(chromedp.CSS(`.tabs a[href="#`+tab+`"]`)))
		b.waitFor("the "+tab+" tab to load", `document.querySelector('#`+tab+`').dataset.state === 'ready'`)
		f, err := e.store.GetFamily(ctx, consoleFamily)
		if err != nil || f.Revoked() || !f.LastUsedAt.Equal(e.clock.Now()) {
			t.Fatalf("console session after expiry: %+v, %v; want live and refreshed at %v", f, err, e.clock.Now())
		}
	}
	if got := tokenCalls() - calls; got != 2 {
		t.Errorf("the console called the token endpoint %d times for two expiries, want 2 (one refresh each)", got)
	}
	if got := b.eval(`document.querySelector('#who-name').textContent`); got != "root" {
		t.Errorf("after refreshes signed in as %q, want root", got)
	}

	// A reload forgets the tokens; the browser's sign-in session signs the
	// console in again without a password (a second family).
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.waitFor("the sign-in button", `!document.querySelector('#login-form button[type=submit]').disabled`)
	b.do("sign in again", chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#users")))
	b.waitFor("the user list", rowWith("users-body", "root (you)"))
	fams, err = storage.ListAllFamilies(ctx, e.store, storage.FamilyFilter{UserID: root.ID})
	if err != nil || len(fams) != 2 {
		t.Fatalf("after the second sign-in: families of root = %+v, %v; want two", fams, err)
	}
	for _, f := range fams {
		if f.ID != consoleFamily {
			consoleFamily = f.ID
		}
	}

	// Sign out: the console's session is revoked on the server, and the
	// browser's sign-in session ends, so the next sign-in asks for the
	// password.
	b.do("sign out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.waitFor("the signed-out message", `document.querySelector('#login-message').textContent === 'You are signed out.'`)
	b.shot("signed-out")
	f, err = e.store.GetFamily(ctx, consoleFamily)
	if err != nil || !f.Revoked() {
		t.Errorf("the console's family after sign-out: revoked %v, err %v; want revoked", f.Revoked(), err)
	}
	if b.eval(`String(document.querySelector('#app-view').hidden)`) != "true" {
		t.Error("the app view is still shown after sign-out")
	}
	b.do("sign in after signing out", chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("input#password")))

	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page logged problems:\n%s", strings.Join(p, "\n"))
	}
}

func activeKID(t *testing.T, e *testEnv) string {
	t.Helper()
	ks, err := e.keys.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.State == "active" {
			return k.ID
		}
	}
	t.Fatalf("no active key in %+v", ks)
	return ""
}
