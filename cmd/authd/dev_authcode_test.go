package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// The authorization URL and the code exchange of the --dev output.
	devAuthorizeRE = regexp.MustCompile(`(?m)^\s+(http://\S+/authorize\?\S+)$`)
	devExchangeRE  = regexp.MustCompile(`curl -s -d grant_type=authorization_code -d client_id=(\S+) --data-urlencode 'redirect_uri=([^']+)' -d code_verifier=(\S+) -d code=(\S+) (\S+)`)
)

// TestServe_DevAuthorizationCode: serve --dev on an empty database also
// creates a demo public client for the authorization code flow and prints
// an authorization URL whose PKCE challenge is that of the verifier in the
// printed code exchange (SPEC 1); the password grant's demo output stays
// first, so that what reads it (authdtest.DevCredentials, TestServe_Dev)
// keeps working.
func TestServe_DevAuthorizationCode(t *testing.T) {
	dbPath := newDB(t)
	s := startServe(t, nil, "--db", dbPath, "serve", "--addr", "127.0.0.1:0", "--dev")
	addr, _ := s.addr(t)
	out := s.out.String()
	if curlRE.FindStringSubmatch(out) == nil {
		t.Fatalf("the password grant's curl is gone from the --dev output:\n%s", out)
	}
	if i, j := strings.Index(out, "client_secret:"), strings.Index(out, "/authorize?"); i < 0 || j < i {
		t.Errorf("the authorization URL comes before the demo credentials:\n%s", out)
	}
	m := devAuthorizeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no authorization URL in the --dev output:\n%s", out)
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatalf("the authorization URL does not parse: %v", err)
	}
	if u.Host != addr || u.Path != "/authorize" {
		t.Errorf("authorization URL %s, want http://%s/authorize?...", m[1], addr)
	}
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": "demo-app", "scope": "openid profile",
		"code_challenge_method": "S256", "redirect_uri": "http://127.0.0.1:8765/callback"} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization URL: %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("state")) < 16 {
		t.Errorf("authorization URL: state %q is too short", q.Get("state"))
	}
	x := devExchangeRE.FindStringSubmatch(out)
	if x == nil {
		t.Fatalf("no curl command for the code exchange in the --dev output:\n%s", out)
	}
	clientID, redirect, verifier, code, tokenURL := x[1], x[2], x[3], x[4], x[5]
	if clientID != "demo-app" || redirect != q.Get("redirect_uri") || tokenURL != "http://"+addr+"/token" || code == "" {
		t.Errorf("code exchange %q does not match the authorization URL", x[0])
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		t.Errorf("code_verifier %q: RFC 7636 §4.1 wants 43 to 128 characters", verifier)
	}
	sum := sha256.Sum256([]byte(verifier))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); q.Get("code_challenge") != want {
		t.Errorf("code_challenge %q is not the S256 of the printed verifier (%q)", q.Get("code_challenge"), want)
	}

	// The demo client, as registered.
	env := map[string]string{"AUTHD_DB": dbPath}
	r := mustCLI(t, env, "", "client", "show", "demo-app", "--json")
	var cl struct {
		Public       bool     `json:"public"`
		FirstParty   bool     `json:"first_party"`
		Grants       []string `json:"grants"`
		Scopes       []string `json:"scopes"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cl); err != nil {
		t.Fatal(err)
	}
	if !cl.Public || cl.FirstParty || !slices.Equal(cl.Grants, []string{"authorization_code", "refresh_token"}) ||
		!slices.Equal(cl.Scopes, []string{"openid", "profile"}) || !slices.Equal(cl.RedirectURIs, []string{"http://127.0.0.1:8765/callback"}) {
		t.Errorf("demo-app is %+v", cl)
	}

	// The flow as a newcomer walks it: open the URL, sign in as the demo
	// user, allow, copy the code, run the exchange.
	pw := regexp.MustCompile(`password:\s+(\S+)`).FindStringSubmatch(out)[1]
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var callback *url.URL
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), devAppRedirect) {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	page := fetchPage(t, hc, http.MethodGet, m[1], nil)
	page = fetchPage(t, hc, http.MethodPost, page.action, page.with("username", "demo", "password", pw))
	if callback == nil {
		fetchPage(t, hc, http.MethodPost, page.action, page.with("decision", "allow"))
	}
	if callback == nil || callback.Query().Get("state") != q.Get("state") || callback.Query().Get("code") == "" {
		t.Fatalf("the flow did not come back to %s with the code and state: %v", devAppRedirect, callback)
	}
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "code": {callback.Query().Get("code")}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tok["access_token"] == nil || tok["id_token"] == nil || tok["refresh_token"] == nil {
		t.Errorf("the printed code exchange: %d %v, want access, ID and refresh tokens", resp.StatusCode, tok)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// page is an HTML form of authd's pages: where it posts, and its hidden
// inputs.
type page struct {
	action string
	hidden url.Values
}

func (p page) with(kv ...string) url.Values {
	v := url.Values{}
	for k, vs := range p.hidden {
		v[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var (
	formActionRE  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// fetchPage sends a request and reads the form of the page it ends on;
// the zero page if it has none.
func fetchPage(t *testing.T, hc *http.Client, method, target string, form url.Values) page {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodGet {
		resp, err = hc.Get(target)
	} else {
		resp, err = hc.PostForm(target, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p page
	if m := formActionRE.FindSubmatch(b); m != nil {
		u, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			t.Fatal(err)
		}
		p.action = u.String()
	}
	p.hidden = url.Values{}
	for _, m := range hiddenInputRE.FindAllSubmatch(b, -1) {
		p.hidden.Add(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	return p
}
