package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
)

// The user agent of the authorization code flow tests: a cookie jar, and no
// redirect followed, so that every 303 and its Location are seen.

const (
	appRedirect    = "https://app.example/cb"
	loopbackCB     = "http://127.0.0.1/cb"
	testVerifier   = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 Appendix B
	testChallenge  = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	aliceName      = "alice"
	alicePassword  = "alice-pw-123"
	errNotRedirect = "not a redirect"
)

type uaBrowser struct {
	t    testing.TB
	e    *testEnv
	c    *http.Client
	addr string // X-Forwarded-For, when set (withTrustedLoopback)
}

func (e *testEnv) ua() *uaBrowser {
	jar, _ := cookiejar.New(nil)
	return &uaBrowser{t: e.t, e: e, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an answer of /authorize or /logout.
type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (b *uaBrowser) do(req *http.Request) page {
	b.t.Helper()
	if b.addr != "" {
		req.Header.Set("X-Forwarded-For", b.addr)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Location: resp.Header.Get("Location")}
}

// get requests path (absolute, or relative to /, as a Location may be).
func (b *uaBrowser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.url+"/"+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *uaBrowser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// authorize sends an authorization request of the test client with
// overrides of the defaults; an empty value removes a parameter.
func (b *uaBrowser) authorize(over map[string]string) page {
	b.t.Helper()
	return b.get("/authorize?" + authQuery(over))
}

func authQuery(over map[string]string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {appRedirect},
		"scope": {"openid read"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {testChallenge}, "code_challenge_method": {"S256"},
	}
	for k, v := range over {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

var (
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
)

// formOf returns the hidden inputs of the page's one form.
func (p page) formOf(t testing.TB) url.Values {
	t.Helper()
	if n := strings.Count(p.Body, "<form "); n != 1 {
		t.Fatalf("page has %d forms, want 1: %d %s", n, p.Status, p.Body)
	}
	if m := formRE.FindStringSubmatch(p.Body); m == nil || m[1] != "authorize" {
		t.Fatalf("form action: %v", m)
	}
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(p.Body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// signIn posts the sign-in form of page p.
func (b *uaBrowser) signIn(p page, user, pw string) page {
	b.t.Helper()
	f := p.formOf(b.t)
	if f.Get("step") != "signin" {
		b.t.Fatalf("not the sign-in page: %d %s", p.Status, p.Body)
	}
	f.Set("username", user)
	f.Set("password", pw)
	return b.post("/authorize", f)
}

// decide posts the consent form of page p with decision.
func (b *uaBrowser) decide(p page, decision string) page {
	b.t.Helper()
	f := p.formOf(b.t)
	if f.Get("step") != "consent" {
		b.t.Fatalf("not the consent page: %d %s", p.Status, p.Body)
	}
	f.Set("decision", decision)
	return b.post("/authorize", f)
}

// follow requests the Location of a 303 to authd itself.
func (b *uaBrowser) follow(p page) page {
	b.t.Helper()
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("%s: %d %s", errNotRedirect, p.Status, p.Body)
	}
	return b.get(p.Location)
}

// isSignIn and isConsent tell the pages apart.
func (p page) isSignIn() bool  { return strings.Contains(p.Body, `name="step" value="signin"`) }
func (p page) isConsent() bool { return strings.Contains(p.Body, `name="step" value="consent"`) }

// redirected checks that p is a 303 to the client's redirect URI prefix
// and returns the parameters it carries.
func (p page) redirected(t testing.TB, prefix string) url.Values {
	t.Helper()
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, prefix) {
		t.Fatalf("want 303 to %s, got %d Location %q body %.300s", prefix, p.Status, p.Location, p.Body)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// codeOf returns the stored state of a code, read through RedeemCode with
// a function that changes nothing.
func (e *testEnv) codeOf(code string) storage.AuthCode {
	e.t.Helper()
	var got storage.AuthCode
	errStop := errors.New("stop")
	err := e.store.RedeemCode(context.Background(), hashToken(code), func(st storage.CodeState) (storage.CodeChange, error) {
		got = st.Code
		return storage.CodeChange{}, errStop
	})
	if err != errStop {
		e.t.Fatalf("code %q: %v", code, err)
	}
	return got
}

// newAuthEnv is a server with user alice and the public client app of the
// code flow (not first-party), registered with appRedirect and a loopback
// URI.
func newAuthEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	e := newEnv(t, opts...)
	e.addUser(aliceName, alicePassword, nil)
	e.addClient("app", "", func(c *storage.Client) {
		c.Grants = []string{grantAuthorizationCode, GrantRefreshToken}
		c.Scopes = []string{"openid", "profile", "read", "write"}
		c.RedirectURIs = []string{appRedirect, loopbackCB}
	})
	return e
}

// signedInBrowser is a uaBrowser signed in as alice (through the first-party
// client "fp", so no consent is stored for app).
func (e *testEnv) signedInBrowser() *uaBrowser {
	e.t.Helper()
	if _, err := e.store.GetClient(context.Background(), "fp"); err != nil {
		e.addClient("fp", "", func(c *storage.Client) {
			c.Grants = []string{grantAuthorizationCode}
			c.Scopes = []string{"openid", "read"}
			c.RedirectURIs = []string{"https://fp.example/cb"}
			c.FirstParty = true
		})
	}
	b := e.ua()
	p := b.authorize(map[string]string{"client_id": "fp", "redirect_uri": "https://fp.example/cb"})
	if !p.isSignIn() {
		e.t.Fatalf("want the sign-in page: %d %s", p.Status, p.Body)
	}
	q := b.signIn(p, aliceName, alicePassword).redirected(e.t, "https://fp.example/cb?")
	if q.Get("code") == "" {
		e.t.Fatalf("no code: %v", q)
	}
	return b
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
