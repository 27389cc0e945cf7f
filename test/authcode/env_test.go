package authcode

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/authd/authd/test/internal/authdtest"
)

// Passwords of the fixture's users.
const (
	alicePassword = "alice's long password"
	bobPassword   = "bob's long password"
)

// env is one running authd, its database, and a loopback app.
type env struct {
	t      *testing.T
	bin    string
	db     string
	p      *authdtest.Proc
	issuer string // http://127.0.0.1:PORT, the --issuer
	app    *httptest.Server

	secrets map[string]string // client id → secret
}

// newEnv starts authd with --issuer on 127.0.0.1 (so that go-oidc's
// discovery, which requires the issuer to be the URL it was given, reaches
// it), and the app.
func newEnv(t *testing.T, args ...string) *env {
	t.Helper()
	bin := authdtest.Binary(t)
	db := filepath.Join(t.TempDir(), "authd.db")
	port := authdtest.FreePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := authdtest.Start(t, bin, authdtest.Options{DB: db, Port: port, Args: append([]string{"--issuer", issuer}, args...)})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/frame" {
			// A page of the app that frames src (the framing test).
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>frame</title><iframe id="f" src="%s" width="600" height="400"></iframe>`, html.EscapeString(r.URL.Query().Get("src")))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "app: %s\n", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	return &env{t: t, bin: bin, db: db, p: p, issuer: issuer, app: app, secrets: map[string]string{}}
}

// cli runs an authd management command against the running server (over
// its control socket) and returns its standard output.
func (e *env) cli(stdin string, args ...string) string {
	e.t.Helper()
	code, out, errOut := authdtest.Run(e.t, e.bin, stdin, append([]string{"--db", e.db, "--socket", e.p.Socket}, args...)...)
	if code != 0 {
		e.t.Fatalf("authd %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (e *env) addUser(name, password string, scopes ...string) {
	e.t.Helper()
	args := []string{"user", "add", name, "--password-stdin"}
	if len(scopes) > 0 {
		args = append(args, "--scope", strings.Join(scopes, ","))
	}
	e.cli(password+"\n", args...)
}

// clientSpec is a client to add with `authd client add`.
type clientSpec struct {
	ID                 string
	Public, FirstParty bool
	Grants, Scopes     []string
	RedirectURIs       []string
}

// addClient adds c; a confidential client gets a random secret, kept in
// e.secrets.
func (e *env) addClient(c clientSpec) {
	e.t.Helper()
	args := []string{"client", "add", c.ID}
	for _, g := range c.Grants {
		args = append(args, "--grant", g)
	}
	if len(c.Scopes) > 0 {
		args = append(args, "--scope", strings.Join(c.Scopes, ","))
	}
	for _, u := range c.RedirectURIs {
		args = append(args, "--redirect-uri", u)
	}
	if c.FirstParty {
		args = append(args, "--first-party")
	}
	stdin := ""
	if c.Public {
		args = append(args, "--public")
	} else {
		e.secrets[c.ID] = randString(24)
		stdin = e.secrets[c.ID] + "\n"
		args = append(args, "--secret-stdin")
	}
	e.cli(stdin, args...)
}

// appURL is an address of the app.
func (e *env) appURL(path string) string { return e.app.URL + path }

// fixture adds the users and clients most tests use:
//
//	alice, bob                 users (alice may have read and write)
//	web   confidential, third-party, redirect APP/cb and APP/cb2
//	tool  confidential, first-party, redirect APP/tool/cb
//	spa   public, third-party, redirect APP/spa/cb and http://127.0.0.1/loop/cb (any port)
//	pw    confidential, password grant only, no redirect URI
func (e *env) fixture() {
	e.t.Helper()
	e.addUser("alice", alicePassword, "read", "write")
	e.addUser("bob", bobPassword)
	code := []string{"authorization_code", "refresh_token"}
	scopes := []string{"openid", "profile", "read"}
	e.addClient(clientSpec{ID: "web", Grants: code, Scopes: scopes, RedirectURIs: []string{e.appURL("/cb"), e.appURL("/cb2")}})
	e.addClient(clientSpec{ID: "tool", FirstParty: true, Grants: code, Scopes: scopes, RedirectURIs: []string{e.appURL("/tool/cb")}})
	e.addClient(clientSpec{ID: "spa", Public: true, Grants: code, Scopes: scopes, RedirectURIs: []string{e.appURL("/spa/cb"), "http://127.0.0.1/loop/cb"}})
	e.addClient(clientSpec{ID: "pw", Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid", "read"}})
}

// ctx carries the HTTP client that x/oauth2 and go-oidc use.
func (e *env) ctx() context.Context {
	hc := &http.Client{Timeout: 30 * time.Second}
	ctx := context.WithValue(e.t.Context(), oauth2.HTTPClient, hc)
	return oidc.ClientContext(ctx, hc)
}

// provider discovers authd with go-oidc.
func (e *env) provider() *oidc.Provider {
	e.t.Helper()
	p, err := oidc.NewProvider(e.ctx(), e.issuer)
	if err != nil {
		e.t.Fatalf("oidc.NewProvider(%s): %v", e.issuer, err)
	}
	return p
}

// config is the x/oauth2 configuration of a client with the endpoints of
// the discovery document, or those of SPEC §2 when p is nil (for the tests
// that are not about discovery). A public client sends its id in the body
// (what x/oauth2 calls AuthStyleInParams: no secret).
func (e *env) config(p *oidc.Provider, id, redirectPath string, scopes ...string) *oauth2.Config {
	ep := oauth2.Endpoint{AuthURL: e.issuer + "/authorize", TokenURL: e.issuer + "/token"}
	if p != nil {
		ep = p.Endpoint()
	}
	secret := e.secrets[id]
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: ep, RedirectURL: e.appURL(redirectPath), Scopes: scopes}
}

// request is one authorization request's secrets, as an app keeps them.
type request struct {
	verifier, state, nonce string
}

func newRequest() request {
	return request{verifier: oauth2.GenerateVerifier(), state: randString(12), nonce: randString(12)}
}

// url is the authorization URL, with the S256 challenge and the nonce.
func (r request) url(cfg *oauth2.Config, extra ...oauth2.AuthCodeOption) string {
	return cfg.AuthCodeURL(r.state, append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.verifier), oidc.Nonce(r.nonce)}, extra...)...)
}

// exchange trades the code for tokens with x/oauth2.
func (e *env) exchange(cfg *oauth2.Config, r request, code string) *oauth2.Token {
	e.t.Helper()
	tok, err := cfg.Exchange(e.ctx(), code, oauth2.VerifierOption(r.verifier))
	if err != nil {
		e.t.Fatalf("exchange the code of %s: %v", cfg.ClientID, err)
	}
	return tok
}

// token posts a form to /token with Basic credentials of id (none for a
// public client, whose id then goes in the form) and decodes the answer.
func (e *env) token(id string, form map[string]string) authdtest.TokenAnswer {
	e.t.Helper()
	return e.tokenPath("/token", id, form)
}

// tokenPath is token for another client-authenticated endpoint (/revoke,
// /introspect).
func (e *env) tokenPath(path, id string, form map[string]string) authdtest.TokenAnswer {
	e.t.Helper()
	secret, ok := e.secrets[id]
	if !ok {
		form["client_id"] = id
		id = ""
	}
	a, err := authdtest.PostForm(&http.Client{Timeout: 30 * time.Second}, e.p.URL, path, form, id, secret)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	return a
}

func randString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hop is one answer on the way of a navigation.
type hop struct {
	Method string
	Status int
	URL    *url.URL
	Header http.Header
	Body   string
}

func (h hop) String() string {
	return fmt.Sprintf("%s %s → %d %s", h.Method, truncate(h.URL.Redacted(), 300), h.Status, truncate(h.Header.Get("Location"), 300))
}

// browser is a browser without JavaScript: a cookie jar, and redirects
// followed one at a time so that each is seen.
type browser struct {
	t   *testing.T
	e   *env
	jar *cookiejar.Jar
	hc  *http.Client
	// Header is added to every request (e.g. Origin).
	Header http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, jar: jar, hc: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends req and follows redirects (303, 302, 301 as GET) up to ten;
// it returns every answer, the last one last.
func (b *browser) do(req *http.Request) []hop {
	b.t.Helper()
	var hops []hop
	for range 10 {
		for k, v := range b.Header {
			req.Header[k] = v
		}
		resp, err := b.hc.Do(req)
		if err != nil {
			b.t.Fatalf("%s %s: %v", req.Method, truncate(req.URL.Redacted(), 300), err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		h := hop{Method: req.Method, Status: resp.StatusCode, URL: req.URL, Header: resp.Header, Body: string(body)}
		hops = append(hops, h)
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return hops
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("%v: bad Location: %v", h, err)
		}
		if !b.follows(next) {
			return hops // an app the test does not run: the Location is the answer
		}
		if req, err = http.NewRequestWithContext(b.t.Context(), http.MethodGet, next.String(), nil); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Fatalf("more than ten redirects: %v", hops)
	return nil
}

// follows reports whether the browser follows a redirect to u: to authd
// and to the test's app, not elsewhere (no request leaves loopback, and a
// redirect to an unreachable app still shows its query).
func (b *browser) follows(u *url.URL) bool {
	iss, _ := url.Parse(b.e.issuer)
	app, _ := url.Parse(b.e.app.URL)
	return (u.Scheme == "http" || u.Scheme == "https") && (u.Host == iss.Host || u.Host == app.Host)
}

func (b *browser) get(rawURL string) []hop {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser submits one.
func (b *browser) post(target *url.URL, vals url.Values) []hop {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, target.String(), strings.NewReader(vals.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submit submits f of the page as a browser would: its fields as they are,
// then set's values in place of theirs, and the button name=value if one
// is given.
func (b *browser) submit(page hop, f form, set url.Values, button string) []hop {
	b.t.Helper()
	vals := f.values()
	for k, v := range set {
		vals[k] = v
	}
	if button != "" {
		k, v, _ := strings.Cut(button, "=")
		vals.Add(k, v)
	}
	target, err := page.URL.Parse(f.Action)
	if err != nil {
		b.t.Fatalf("form action %q: %v", f.Action, err)
	}
	return b.post(target, vals)
}

// cookie returns the value of the browser's cookie name for authd.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.issuer)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// walk is what an authorization request met on its way.
type walk struct {
	SignIn, Consent bool
	// SignInPost is the answer to the sign-in form (the first of its hops).
	SignInPost hop
	// Callback is the query the app received, nil if it was not reached.
	Callback url.Values
	// At is the app's path that was reached.
	At   string
	Last hop
	Hops []hop
}

// authorize follows an authorization URL like a user: it signs in as user
// with password when the sign-in page comes (stops there when user is
// empty), answers the consent page with decision (stops there when empty),
// and ends at the app or on another page.
func (b *browser) authorize(authURL, user, password, decision string) walk {
	b.t.Helper()
	var w walk
	hops := b.get(authURL)
	for range 6 {
		w.Hops = append(w.Hops, hops...)
		last := hops[len(hops)-1]
		w.Last = last
		if strings.HasPrefix(last.URL.String(), b.e.app.URL+"/") {
			w.Callback = last.URL.Query()
			w.At = last.URL.Path
			return w
		}
		if loc, err := last.URL.Parse(last.Header.Get("Location")); err == nil && last.Status/100 == 3 && !b.follows(loc) {
			w.Callback = loc.Query() // at an app elsewhere
			w.At = loc.Scheme + "://" + loc.Host + loc.Path
			return w
		}
		if f, ok := signInForm(last); ok {
			if w.SignIn && w.SignInPost.Status != 0 {
				return w // the page again: wrong credentials
			}
			w.SignIn = true
			if user == "" {
				return w
			}
			hops = b.submit(last, f, url.Values{"username": {user}, "password": {password}}, "")
			w.SignInPost = hops[0]
			continue
		}
		if f, ok := consentForm(last); ok {
			w.Consent = true
			if decision == "" {
				return w
			}
			hops = b.submit(last, f, nil, "decision="+decision)
			continue
		}
		return w
	}
	b.t.Fatalf("authorize: no end after six pages: %v", w.Hops)
	return w
}

// code is the code of a walk that must have reached the app with one.
func (w walk) code(t *testing.T, state string) string {
	t.Helper()
	if w.Callback == nil {
		t.Fatalf("the app was not reached; the last answer: %v\n%s", w.Last, truncate(w.Last.Body, 2000))
	}
	if e := w.Callback.Get("error"); e != "" {
		t.Fatalf("the app got error=%s (%s)", e, w.Callback.Get("error_description"))
	}
	if got := w.Callback.Get("state"); got != state {
		t.Fatalf("state = %q, want %q", got, state)
	}
	c := w.Callback.Get("code")
	if c == "" {
		t.Fatalf("no code in the callback %v", w.Callback)
	}
	return c
}

// signIn signs alice in on a fresh browser through web (consent allowed)
// and returns the browser.
func (e *env) signedIn(p *oidc.Provider, user, password string) *browser {
	e.t.Helper()
	b := e.browser()
	r := newRequest()
	w := b.authorize(r.url(e.config(p, "web", "/cb", "openid", "profile", "read")), user, password, "allow")
	w.code(e.t, r.state)
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// form is an HTML form as a browser sees it.
type form struct {
	Method, Action string
	Fields         []field // what the form sends (checkboxes only when checked)
	Buttons        []field // named submit buttons
}

type field struct{ Name, Value, Type string }

func (f form) values() url.Values {
	v := url.Values{}
	for _, x := range f.Fields {
		v.Add(x.Name, x.Value)
	}
	return v
}

func (f form) field(name string) (field, bool) {
	for _, x := range f.Fields {
		if x.Name == name {
			return x, true
		}
	}
	return field{}, false
}

func (f form) button(name, value string) bool {
	for _, x := range f.Buttons {
		if x.Name == name && x.Value == value {
			return true
		}
	}
	return false
}

// forms parses the forms of an HTML page.
func forms(body string) []form {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return nil
	}
	var out []form
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := map[string]string{}
			has := map[string]bool{}
			for _, at := range n.Attr {
				a[at.Key] = at.Val
				has[at.Key] = true
			}
			switch n.Data {
			case "form":
				out = append(out, form{Method: strings.ToLower(a["method"]), Action: a["action"]})
				prev := cur
				cur = &out[len(out)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				// out may have grown (nested forms are not HTML); keep the pointer right.
				cur = prev
				return
			case "input":
				if cur != nil && a["name"] != "" && !has["disabled"] {
					typ := strings.ToLower(a["type"])
					switch typ {
					case "submit", "image", "button":
						cur.Buttons = append(cur.Buttons, field{a["name"], a["value"], typ})
					case "checkbox", "radio":
						if has["checked"] {
							v := a["value"]
							if !has["value"] {
								v = "on"
							}
							cur.Fields = append(cur.Fields, field{a["name"], v, typ})
						}
					default:
						cur.Fields = append(cur.Fields, field{a["name"], a["value"], typ})
					}
				}
			case "button":
				if cur != nil && a["name"] != "" {
					typ := strings.ToLower(a["type"])
					if typ == "" || typ == "submit" {
						cur.Buttons = append(cur.Buttons, field{a["name"], a["value"], "submit"})
					}
				}
			case "textarea":
				if cur != nil && a["name"] != "" {
					var sb strings.Builder
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						if c.Type == html.TextNode {
							sb.WriteString(c.Data)
						}
					}
					cur.Fields = append(cur.Fields, field{a["name"], sb.String(), "textarea"})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// signInForm finds the sign-in form of SPEC §2.6 on a page: a POST form
// with inputs named username and password.
func signInForm(h hop) (form, bool) {
	if h.Status == http.StatusOK || h.Status == http.StatusUnauthorized || h.Status == http.StatusBadRequest {
		for _, f := range forms(h.Body) {
			_, u := f.field("username")
			_, p := f.field("password")
			if f.Method == "post" && u && p {
				return f, true
			}
		}
	}
	return form{}, false
}

// consentForm finds the consent form: a POST form with submit buttons
// decision=allow and decision=deny.
func consentForm(h hop) (form, bool) {
	if h.Status == http.StatusOK {
		for _, f := range forms(h.Body) {
			if f.Method == "post" && f.button("decision", "allow") && f.button("decision", "deny") {
				return f, true
			}
		}
	}
	return form{}, false
}

// jwtPart decodes part i (0 header, 1 claims) of a compact JWS.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", truncate(tok, 80))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("JWS part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWS part %d: %v", i, err)
	}
	return m
}
