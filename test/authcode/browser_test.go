package authcode

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
)

// chromiumPath is where Debian's chromium package puts the browser (the
// console's browser test, server/console_test.go, uses the same).
const chromiumPath = "/usr/bin/chromium"

// chromium drives one headless Chromium tab.
type chromium struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// newChromium starts headless Chromium with a fresh profile that reaches
// only loopback. The test is skipped without Chromium or with -short.
func newChromium(t *testing.T) *chromium {
	t.Helper()
	if testing.Short() {
		t.Skip("the browser test is not short")
	}
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
	c := &chromium{t: t, ctx: ctx}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	msgs := chromedp.Console(lctx)
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.messages = append(c.messages, m)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return c
}

// do runs steps, failing the test with what on error or after 20 seconds.
func (c *chromium) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v (page: %s)", what, err, c.location())
	}
}

// waitFor evaluates the JavaScript expression until it is true, for up to
// 15 seconds. An evaluation that fails because the page is navigating is
// tried again in the next page.
func (c *chromium) waitFor(what, expr string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("wait for %s: not true after 15 s (last error %v; page %s)", what, last, c.location())
}

// location is the tab's URL (empty when it cannot be read).
func (c *chromium) location() string {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
	return s
}

// atApp waits until the tab is at the app's path and returns its query.
func (c *chromium) atApp(e *env, path string) url.Values {
	c.t.Helper()
	c.waitFor("the app at "+path, "location.href.startsWith("+jsString(e.appURL(path)+"?")+")")
	u, err := url.Parse(c.location())
	if err != nil {
		c.t.Fatal(err)
	}
	return u.Query()
}

// problems returns the page's exceptions and the Content-Security-Policy
// violations it reported.
func (c *chromium) problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.messages {
		if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
			out = append(out, m.String())
		}
	}
	return out
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAuthCode_Browser drives the flow in headless Chromium: the app sends
// the browser to /authorize, the user signs in on the page and allows on
// the consent page, the browser follows the 303s to the app with a code
// (so no form-action rule blocks it), which exchanges it; a second client
// gets a code with no password asked (single sign-on); RP-initiated logout
// returns to the app; the next authorization asks for the password again.
func TestAuthCode_Browser(t *testing.T) {
	c := newChromium(t)
	e := newEnv(t)
	e.fixture()
	p := e.provider()
	web := e.config(p, "web", "/cb", oidc.ScopeOpenID, "profile", "read")

	r := newRequest()
	c.do("open the authorization URL", chromedp.Navigate(r.url(web)))
	c.do("the sign-in page", chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)))
	c.do("type the wrong password",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not alice's password\r"),
	)
	c.waitFor("the page again", `document.readyState === "complete" && !!document.querySelector("input[name=password]") && document.querySelector("input[name=password]").value === ""`)
	c.waitFor("the username cleared", `(document.querySelector("input[name=username]").value = "") === ""`)
	c.do("sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), alicePassword+"\r"),
	)
	c.do("the consent page", chromedp.WaitVisible(chromedp.CSS(`[name=decision][value=allow]`)))
	c.do("allow", chromedp.Click(chromedp.CSS(`[name=decision][value=allow]`)))
	q := c.atApp(e, "/cb")
	if q.Get("state") != r.state || q.Get("iss") != e.issuer || q.Get("code") == "" {
		t.Fatalf("at the app: %v, want code, state %q and iss %q", q, r.state, e.issuer)
	}
	tok := e.exchange(web, r, q.Get("code"))
	idt, claims := verifyID(t, p, "web", tok)
	if idt.Nonce != r.nonce {
		t.Errorf("nonce %q, want %q", idt.Nonce, r.nonce)
	}

	// Single sign-on: the first-party tool gets its code without a page.
	tool := e.config(p, "tool", "/tool/cb", oidc.ScopeOpenID)
	r = newRequest()
	c.do("open tool's authorization URL", chromedp.Navigate(r.url(tool)))
	q = c.atApp(e, "/tool/cb")
	if q.Get("state") != r.state || q.Get("code") == "" {
		t.Fatalf("SSO at tool: %v", q)
	}
	toolTok := e.exchange(tool, r, q.Get("code"))
	if _, tc := verifyID(t, p, "tool", toolTok); tc.Sid != claims.Sid {
		t.Errorf("tool's sid %q, want the sign-in's %q", tc.Sid, claims.Sid)
	}

	// Logout, back to tool.
	lo := url.Values{"id_token_hint": {toolTok.Extra("id_token").(string)}, "post_logout_redirect_uri": {e.appURL("/tool/cb")}, "state": {"bye"}}
	c.do("log out", chromedp.Navigate(e.issuer+"/logout?"+lo.Encode()))
	if q = c.atApp(e, "/tool/cb"); q.Get("state") != "bye" {
		t.Errorf("after logout at the app: %v, want state=bye", q)
	}
	r = newRequest()
	c.do("authorize after logout", chromedp.Navigate(r.url(web)))
	c.do("the sign-in page after logout", chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))

	for _, pr := range c.problems() {
		t.Errorf("browser: %s", pr)
	}
}

// TestAuthCode_BrowserFraming: a page of another origin that frames the
// sign-in page gets nothing: Chromium refuses the frame for the page's
// frame-ancestors 'none' (clickjacking, SPEC §2.6).
func TestAuthCode_BrowserFraming(t *testing.T) {
	c := newChromium(t)
	e := newEnv(t)
	e.fixture()
	web := e.config(nil, "web", "/cb", oidc.ScopeOpenID, "read")
	src := newRequest().url(web)
	c.do("open the app's page that frames the sign-in page", chromedp.Navigate(e.appURL("/frame?src="+url.QueryEscape(src))))
	c.waitFor("the framing page", `document.readyState === "complete"`)
	refused := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.messages {
			if strings.Contains(m.Text, "frame-ancestors") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(15 * time.Second); !refused() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !refused() {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("Chromium reported no frame-ancestors refusal; console: %v", c.messages)
	}
}
