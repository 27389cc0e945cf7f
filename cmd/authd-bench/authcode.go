package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/html"
)

// The authorization code flow (issue 14, SPEC §2.6).
//
// code-exchange measures POST /token with grant_type=authorization_code:
// one code spent, one refresh-token family created, an access token and
// an ID token signed. Its ceiling, "ceiling sign×2+write", does the two
// signatures and one durable commit. Codes are made before each measured
// slice, outside it, through /authorize with signed-in session cookies
// (one per seeded user, prompt=none, the first-party codeClientID), as many
// as the slice can spend: the ceiling's rate in the same group bounds the
// exchange's, and codes live 60 s, longer than a slice.
//
// authcode-round measures one whole browserless sign-in: GET /authorize
// (the sign-in page), POST the form with the password (303 with a code),
// POST /token; with a new cookie jar each round, so each pays one
// argon2id hash, and its ceiling is the raw argon2id rate.

const (
	codeClientID = "bench-web" // confidential, first-party: authorization_code, refresh_token
	codeRedirect = "http://127.0.0.1/cb"
	// codeVerifier is the PKCE verifier of every benchmark code: each
	// code is fresh, the verifier need not be.
	codeVerifier = "bench-code-verifier-0123456789-0123456789-0123456789"
)

var codeScopes = []string{"openid", "profile", "api:read"}

// codeClient adds codeClientID through the authd CLI (over the running
// server's control socket), once per run.
func (e *env) codeClient(ctx context.Context) error {
	if e.codeAuth != "" {
		return nil
	}
	secret := generateSecret()
	args := []string{"client", "add", codeClientID, "--secret-stdin", "--first-party",
		"--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", codeRedirect,
		"--scope", strings.Join(codeScopes, ",")}
	if _, err := e.authd.cli(ctx, secret+"\n", args...); err != nil {
		return err
	}
	e.codeAuth = basicAuth(codeClientID, secret)
	return nil
}

// authorizeURL is codeClientID's authorization request with the S256
// challenge of codeVerifier.
func authorizeURL(base string, extra url.Values) string {
	sum := sha256.Sum256([]byte(codeVerifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {codeClientID}, "redirect_uri": {codeRedirect},
		"scope": {strings.Join(codeScopes, " ")}, "state": {"bench"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return base + "/authorize?" + q.Encode()
}

func exchangeForm(code string) string {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {codeRedirect}, "code_verifier": {codeVerifier}}.Encode()
}

// noFollow is c's HTTP client (same transport) that returns redirects
// instead of following them.
func noFollow(c *http.Client, jar http.CookieJar) *http.Client {
	n := *c
	n.Jar = jar
	n.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &n
}

// signInForm reads the sign-in page's form: its absolute action and its
// fields (hidden ones as they are).
func signInForm(page *url.URL, body io.Reader) (*url.URL, url.Values, error) {
	doc, err := html.Parse(body)
	if err != nil {
		return nil, nil, err
	}
	var action *url.URL
	var vals url.Values
	var walk func(n *html.Node, in *url.Values) bool
	walk = func(n *html.Node, in *url.Values) bool {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if a.Key == k {
						return a.Val
					}
				}
				return ""
			}
			switch n.Data {
			case "form":
				if strings.EqualFold(attr("method"), "post") {
					v := url.Values{}
					for c := n.FirstChild; c != nil; c = c.NextSibling {
						walk(c, &v)
					}
					if v.Has("password") {
						act, err := page.Parse(attr("action"))
						if err == nil {
							action, vals = act, v
							return true
						}
					}
				}
				return false
			case "input":
				if in != nil && attr("name") != "" {
					switch strings.ToLower(attr("type")) {
					case "submit", "button", "image", "checkbox", "radio":
					default:
						in.Add(attr("name"), attr("value"))
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if walk(c, in) {
				return true
			}
		}
		return false
	}
	if !walk(doc, nil) {
		return nil, nil, errors.New("no sign-in form with a password input on the page")
	}
	return action, vals, nil
}

// codeFrom reads the code of a redirect to codeRedirect.
func codeFrom(resp *http.Response) (string, error) {
	if resp.StatusCode/100 != 3 {
		return "", &statusError{code: resp.StatusCode}
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(loc.String(), codeRedirect+"?") {
		return "", fmt.Errorf("redirect to %q, want %s", truncate(loc.String(), 100), codeRedirect)
	}
	code := loc.Query().Get("code")
	if code == "" {
		return "", fmt.Errorf("no code in the redirect: error=%s", loc.Query().Get("error"))
	}
	return code, nil
}

// signIn walks the sign-in page as user with hc (whose jar keeps the
// cookies) and returns the code of the redirect that follows.
func signIn(ctx context.Context, hc *http.Client, base, user, password string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL(base, nil), nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return "", fmt.Errorf("sign-in page: %w", &statusError{code: resp.StatusCode})
	}
	action, vals, err := signInForm(req.URL, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	vals.Set("username", user)
	vals.Set("password", password)
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = hc.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("sign-in form: %w", &statusError{code: resp.StatusCode})
	}
	return codeFrom(resp)
}

// codeSource makes fresh codes through /authorize with the signed-in
// session cookies of the seeded users.
type codeSource struct {
	base    string
	clients []*http.Client // one signed-in jar each
	mu      sync.Mutex
	codes   []string
	next    atomic.Int64
}

func (e *env) newCodeSource(ctx context.Context, c client) (*codeSource, error) {
	s := &codeSource{base: c.base}
	for i, u := range e.seed.users {
		jar, _ := cookiejar.New(nil)
		hc := noFollow(c.http, jar)
		if _, err := signIn(ctx, hc, c.base, u, passwordOf(i)); err != nil {
			return nil, fmt.Errorf("sign in as %s: %w", u, err)
		}
		s.clients = append(s.clients, hc)
	}
	return s, nil
}

// fill replaces the pool by n fresh codes, made by conns workers.
func (s *codeSource) fill(ctx context.Context, n, conns int) error {
	codes := make([]string, n)
	var next atomic.Int64
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for w := range conns {
		hc := s.clients[w%len(s.clients)]
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL(s.base, url.Values{"prompt": {"none"}}), nil)
				if err != nil {
					errs <- err
					return
				}
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if codes[i], err = codeFrom(resp); err != nil {
					errs <- fmt.Errorf("make a code: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	s.mu.Lock()
	s.codes = codes
	s.next.Store(0)
	s.mu.Unlock()
	return nil
}

// take returns the next unspent code.
func (s *codeSource) take() (string, bool) {
	i := s.next.Add(1) - 1
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= int64(len(s.codes)) {
		return "", false
	}
	return s.codes[i], true
}

// left is how many codes of the pool are unspent.
func (s *codeSource) left() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(0, int64(len(s.codes))-s.next.Load())
}

var idTokenKey = []byte(`"id_token":"`)

// codeExchangeWorker spends one code of src per request; the answer must
// carry an ID token and a refresh token.
func (e *env) codeExchangeWorker(c client, src *codeSource) func(int) (requestFunc, error) {
	return func(int) (requestFunc, error) {
		buf := make([]byte, 0, 8192)
		return func(ctx context.Context) error {
			code, ok := src.take()
			if !ok {
				return errors.New("code pool exhausted")
			}
			if err := c.post(ctx, "/token", exchangeForm(code), e.codeAuth, http.StatusOK, &buf); err != nil {
				return err
			}
			if !strings.Contains(string(buf), string(idTokenKey)) || jsonString(buf, "refresh_token") == "" {
				return fmt.Errorf("no id_token or refresh_token in %s", truncate(string(buf), 120))
			}
			return nil
		}, nil
	}
}

// roundWorker signs in from scratch (a new cookie jar each round) and
// exchanges the code: a whole browserless authorization code round.
func (e *env) roundWorker(c client) func(int) (requestFunc, error) {
	return func(i int) (requestFunc, error) {
		u := i % len(e.seed.users)
		buf := make([]byte, 0, 8192)
		return func(ctx context.Context) error {
			jar, _ := cookiejar.New(nil)
			code, err := signIn(ctx, noFollow(c.http, jar), c.base, e.seed.users[u], passwordOf(u))
			if err != nil {
				var se *statusError
				if errors.As(err, &se) && se.code == http.StatusServiceUnavailable {
					return errRefused
				}
				return err
			}
			return c.post(ctx, "/token", exchangeForm(code), e.codeAuth, http.StatusOK, &buf)
		}, nil
	}
}

// codePoolSize is how many codes a slice of spec may spend: the rate of
// the ceiling measured so far in the group (an upper bound of the
// exchange's) over the whole slice, with a margin; a first guess before
// the ceiling has a figure.
func codePoolSize(ceiling *leg, s loadSpec) int {
	rate := ceiling.res.RPS()
	if rate <= 0 {
		rate = 2000
	}
	n := int(rate*(s.Warmup+s.Duration).Seconds()*1.5) + 4*s.Conns
	return min(max(n, 100), 500_000)
}
