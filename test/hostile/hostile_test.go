// Package hostile runs a corpus of hostile requests against the real authd
// binary: malformed and oversized bodies, invalid UTF-8, NUL bytes, huge
// headers, slow clients, forged JWTs (alg none, HS256 keyed with the public
// key, unknown kid, expired, not yet valid, foreign issuer), and SQL and
// path-traversal strings in every field. Each request must get its
// documented answer, the server must stay healthy, and the logical state of
// the database (users, clients, families, keys, read through the storage
// API) must be the same before and after.
package hostile

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/test/internal/authdtest"
)

// The HTTP limits cmd/authd sets (serve.go); the slow-client cases check
// that the server enforces them.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	maxHeaderBytes    = 32 << 10
	// slack covers scheduling on a loaded machine.
	slack = 5 * time.Second
)

// hcase is one hostile request and the answer it must get.
type hcase struct {
	name   string
	method string
	path   string
	header http.Header
	body   string
	// raw, when set, is written to a TCP connection as is instead.
	raw string
	// want lists acceptable statuses; code the OAuth error, if any.
	want []int
	code string
	// check inspects the answer further.
	check func(status int, h http.Header, body string) error
}

type fixture struct {
	base      string
	issuer    string
	dev       authdtest.Dev
	access    string // a valid access token of the demo user
	refresh   string // a valid refresh token of the demo user
	userID    string
	priv      *rsa.PrivateKey
	kid       string
	publicPEM []byte
}

func TestHostile_Corpus(t *testing.T) {
	bin := authdtest.Binary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	opts := authdtest.Options{DB: db, Port: authdtest.FreePort(t), Args: []string{"--dev"}}
	p := authdtest.Start(t, bin, opts)
	fx := &fixture{base: p.URL, issuer: fmt.Sprintf("http://localhost:%d", opts.Port), dev: p.DevCredentials(t)}
	hc := &http.Client{Timeout: 20 * time.Second}
	a, err := authdtest.PostForm(hc, p.URL, "/token", map[string]string{"grant_type": "password", "username": fx.dev.Username, "password": fx.dev.Password}, fx.dev.ClientID, fx.dev.Secret)
	if err != nil || a.Status != http.StatusOK {
		t.Fatalf("login: %v %d %s", err, a.Status, a.Raw)
	}
	fx.access, fx.refresh = a.Str("access_token"), a.Str("refresh_token")
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Stderr())
	}
	before := authdtest.Dump(t, db)
	fx.loadKey(t, before)
	for _, u := range before.Users {
		if u.Username == fx.dev.Username {
			fx.userID = u.ID
		}
	}

	p = authdtest.Start(t, bin, opts)
	cases := fx.corpus()

	// Slow clients run alongside the corpus.
	var wg sync.WaitGroup
	slow := slowClients(t, p.Addr, &wg)

	statuses := map[int]int{}
	fx.run(t, cases, statuses)
	// RFC 7519 §2: NumericDate is a JSON number. A correctly signed token
	// whose exp or iat is a JSON string must be refused like any other
	// malformed token.
	t.Run("NumericDateAsString", func(t *testing.T) {
		var cs []hcase
		for _, claim := range []string{"exp", "iat"} {
			tok := signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { c[claim] = fmt.Sprint(c[claim]) }))
			cs = append(cs,
				hcase{name: "introspect " + claim + " as a string", method: http.MethodPost, path: "/introspect", header: fx.basicForm(), body: form("token", tok), want: []int{http.StatusOK}, check: inactiveBody},
				hcase{name: "admin API " + claim + " as a string", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + tok}}, want: []int{http.StatusUnauthorized}},
			)
		}
		fx.run(t, cs, statuses)
		cases = append(cases, cs...)
	})
	// Healthy while the slow clients still hang on.
	fx.healthy(t, hc)
	wg.Wait()
	for _, s := range slow() {
		t.Log(s)
	}
	fx.healthy(t, hc)
	if strings.Contains(p.Stderr(), "panic") {
		t.Errorf("the server logged a panic:\n%s", strings.Join(authdtest.Lines(p.Stderr(), "panic"), "\n"))
	}
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	after := authdtest.Dump(t, db)
	if before.Sum() != after.Sum() {
		b, _ := json.MarshalIndent(before, "", " ")
		a, _ := json.MarshalIndent(after, "", " ")
		t.Errorf("logical state changed: before %s\n%s\nafter %s\n%s", before.Sum(), b, after.Sum(), a)
	}
	t.Logf("hostile corpus: %d requests + %d slow clients, statuses %v, state checksum %s before and after", len(cases), len(slow()), statuses, after.Sum()[:16])
}

// run sends every case and checks its answer.
func (fx *fixture) run(t *testing.T, cases []hcase, statuses map[int]int) {
	t.Helper()
	for _, c := range cases {
		status, h, body, err := fx.send(c)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		statuses[status]++
		if !containsInt(c.want, status) {
			t.Errorf("%s: status %d, want one of %v; body %q", c.name, status, c.want, clip(body))
			continue
		}
		if status >= 500 {
			t.Errorf("%s: status %d", c.name, status)
		}
		if c.code != "" && status != http.StatusTooManyRequests {
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Error != c.code {
				t.Errorf("%s: body %q, want error %q", c.name, clip(body), c.code)
			}
		}
		if c.check != nil {
			if err := c.check(status, h, body); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		if strings.Contains(body, "root:x:0:0") {
			t.Errorf("%s: the answer contains /etc/passwd", c.name)
		}
	}
}

func (fx *fixture) basicForm() http.Header {
	return http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(fx.dev.ClientID+":"+fx.dev.Secret))},
	}
}

func inactiveBody(_ int, _ http.Header, body string) error {
	if body != `{"active":false}` {
		return fmt.Errorf("introspection %q, want {\"active\":false}", clip(body))
	}
	return nil
}

// healthy checks liveness, readiness, and that the valid tokens of the
// fixture still work without changing state (introspection, client
// credentials).
func (fx *fixture) healthy(t *testing.T, hc *http.Client) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := hc.Get(fx.base + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	a, err := authdtest.PostForm(hc, fx.base, "/introspect", map[string]string{"token": fx.access}, fx.dev.ClientID, fx.dev.Secret)
	if err != nil || a.Status != http.StatusOK || a.Body["active"] != true {
		t.Errorf("introspect the valid access token: %v %d %s", err, a.Status, a.Raw)
	}
	a, err = authdtest.PostForm(hc, fx.base, "/token", map[string]string{"grant_type": "client_credentials"}, fx.dev.ClientID, fx.dev.Secret)
	if err != nil || a.Status != http.StatusOK {
		t.Errorf("client_credentials: %v %d %s", err, a.Status, a.Raw)
	}
}

// loadKey reads the active private key from the dump, to forge tokens that
// are correctly signed but wrong in their claims.
func (fx *fixture) loadKey(t *testing.T, st authdtest.State) {
	t.Helper()
	for _, k := range st.Keys {
		if k.State != storage.KeyActive {
			continue
		}
		if k.Encrypted {
			t.Fatal("the active key is encrypted; the test runs without a KEK")
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.Private); err != nil {
			t.Fatalf("active key: %v", err)
		}
		priv, ok := jwk.Key.(*rsa.PrivateKey)
		if !ok {
			t.Fatalf("active key is %T", jwk.Key)
		}
		fx.priv, fx.kid = priv, k.ID
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		fx.publicPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		return
	}
	t.Fatal("no active key in the database")
}

// claims returns access-token claims of the demo user valid now, changed by
// mod.
func (fx *fixture) claims(mod func(map[string]any)) []byte {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": fx.issuer, "sub": fx.userID, "aud": fx.issuer, "exp": now + 600, "iat": now, "nbf": now,
		"jti": "hostile-" + fmt.Sprint(now), "client_id": fx.dev.ClientID, "scope": "read write", "preferred_username": fx.dev.Username,
	}
	if mod != nil {
		mod(c)
	}
	b, _ := json.Marshal(c)
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signRS256 signs payload with key under header fields hdr.
func signRS256(key *rsa.PrivateKey, kid, typ string, payload []byte) string {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		panic(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// forged are the JWTs every verifier of authd must refuse.
func (fx *fixture) forged() []struct{ name, token string } {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	valid := fx.claims(nil)
	hdr := func(alg string) string {
		return b64([]byte(`{"alg":"` + alg + `","typ":"at+jwt","kid":"` + fx.kid + `"}`))
	}
	mac := hmac.New(sha256.New, fx.publicPEM)
	mac.Write([]byte(hdr("HS256") + "." + b64(valid)))
	hs256 := hdr("HS256") + "." + b64(valid) + "." + b64(mac.Sum(nil))
	admin := fx.claims(func(c map[string]any) { c["scope"] = "authd:admin" })
	return []struct{ name, token string }{
		{"alg none", hdr("none") + "." + b64(valid) + "."},
		{"alg none without signature part", hdr("none") + "." + b64(valid)},
		{"HS256 keyed with the public key", hs256},
		{"unknown kid", signRS256(other, "no-such-kid", "at+jwt", valid)},
		{"right kid, other key", signRS256(other, fx.kid, "at+jwt", valid)},
		{"expired", signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))},
		{"not yet valid", signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }))},
		{"foreign issuer", signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { c["iss"] = "https://evil.example" }))},
		{"typ JWT instead of at+jwt", signRS256(fx.priv, fx.kid, "JWT", valid)},
		{"no jti", signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { delete(c, "jti") }))},
		{"payload tampered after signing", tamper(signRS256(fx.priv, fx.kid, "at+jwt", valid), admin)},
		{"garbage", "a.b.c"},
		{"SQL", "' OR '1'='1"},
		{"oversized", strings.Repeat("A", 20000) + "." + strings.Repeat("B", 20000) + ".C"},
	}
}

// tamper replaces the payload of a compact JWS, keeping the signature.
func tamper(tok string, payload []byte) string {
	parts := strings.Split(tok, ".")
	return parts[0] + "." + b64(payload) + "." + parts[2]
}

func form(kv ...string) string {
	v := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		v = append(v, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
	}
	return strings.Join(v, "&")
}

var hostileStrings = []struct{ name, s string }{
	{"SQL quote", "' OR '1'='1' --"},
	{"SQL union", "x\" UNION SELECT * FROM users; --"},
	{"SQL drop", "'; DROP TABLE users; --"},
	{"path traversal", "../../../../etc/passwd"},
	{"encoded traversal", "..%2f..%2f..%2fetc%2fpasswd"},
	{"Windows traversal", `..\..\..\windows\win.ini`},
}

func (fx *fixture) corpus() []hcase {
	formCT := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	basic := func(h http.Header) http.Header {
		h = h.Clone()
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(fx.dev.ClientID+":"+fx.dev.Secret)))
		return h
	}
	auth := basic(formCT)
	bad := []int{http.StatusBadRequest}
	// Failed logins may be throttled; 429 is then the documented answer.
	badLogin := []int{http.StatusBadRequest, http.StatusTooManyRequests}
	unauth := []int{http.StatusUnauthorized}
	inactive := inactiveBody
	bearerChallenge := func(status int, h http.Header, _ string) error {
		if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			return fmt.Errorf("WWW-Authenticate %q, want a Bearer challenge", h.Get("WWW-Authenticate"))
		}
		return nil
	}
	basicChallenge := func(status int, h http.Header, _ string) error {
		if h.Get("WWW-Authenticate") != `Basic realm="authd"` {
			return fmt.Errorf("WWW-Authenticate %q, want the Basic challenge", h.Get("WWW-Authenticate"))
		}
		return nil
	}
	login := func(user, pw string) string {
		return form("grant_type", "password", "username", user, "password", pw)
	}
	post := func(name, path string, h http.Header, body string, want []int, code string) hcase {
		return hcase{name: name, method: http.MethodPost, path: path, header: h, body: body, want: want, code: code}
	}
	cs := []hcase{
		// Bodies and content types.
		post("empty body", "/token", auth, "", bad, "invalid_request"),
		post("JSON body", "/token", basic(http.Header{"Content-Type": {"application/json"}}), `{"grant_type":"password"}`, bad, "invalid_request"),
		post("text/plain", "/token", basic(http.Header{"Content-Type": {"text/plain"}}), login("demo", "x"), bad, "invalid_request"),
		post("no content type", "/token", basic(http.Header{}), login("demo", "x"), bad, "invalid_request"),
		post("multipart", "/token", basic(http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}), "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\npassword\r\n--x--", bad, "invalid_request"),
		post("latin-1 charset", "/token", basic(http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=iso-8859-1"}}), login("demo", "x"), bad, "invalid_request"),
		post("malformed content type", "/token", basic(http.Header{"Content-Type": {"application/x-www-form-urlencoded; ;;=="}}), login("demo", "x"), bad, "invalid_request"),
		post("oversized body", "/token", auth, login("demo", "x")+"&pad="+strings.Repeat("a", 70<<10), bad, "invalid_request"),
		post("oversized single value", "/token", auth, "grant_type=password&username="+strings.Repeat("u", 65<<10), bad, "invalid_request"),
		post("truncated escape", "/token", auth, "grant_type=password&username=%", bad, "invalid_request"),
		post("bad escape", "/token", auth, "grant_type=password&username=%zz&password=x", bad, "invalid_request"),
		post("invalid UTF-8 escaped", "/token", auth, "grant_type=password&username=%ff%fe&password=x", bad, "invalid_request"),
		post("invalid UTF-8 raw", "/token", auth, "grant_type=password&username=\xff\xfe&password=x", bad, "invalid_request"),
		post("overlong UTF-8", "/token", auth, "grant_type=password&username=%c0%af&password=x", bad, "invalid_request"),
		post("NUL escaped", "/token", auth, "grant_type=password&username=de%00mo&password=x", bad, "invalid_request"),
		post("NUL raw", "/token", auth, "grant_type=password&username=de\x00mo&password=x", bad, "invalid_request"),
		post("CRLF in a value", "/token", auth, "grant_type=password%0d%0aX-Evil:%201&username=demo&password=x", bad, "invalid_request"),
		post("semicolon separator", "/token", auth, "grant_type=password;username=demo", bad, "invalid_request"),
		post("repeated parameter", "/token", auth, "grant_type=password&grant_type=password&username=demo&password=x", bad, "invalid_request"),
		post("conflicting grant types", "/token", auth, "grant_type=password&grant_type=refresh_token&username=demo&password=x", bad, "invalid_request"),
		post("repeated username", "/token", auth, "grant_type=password&username=demo&username=admin&password=x", bad, "invalid_request"),
		post("parameters in the query", "/token?grant_type=password&username=demo&password=x", auth, "", bad, "invalid_request"),
		post("empty query with body", "/token?", auth, login("demo", "x"), badLogin, ""),
		post("missing grant_type", "/token", auth, "username=demo&password=x", bad, "invalid_request"),
		post("unknown grant_type", "/token", auth, "grant_type=magic", bad, "unsupported_grant_type"),
		post("authorization_code without code_verifier", "/token", auth, "grant_type=authorization_code&code=x", bad, "invalid_grant"),
		post("implicit-style grant", "/token", auth, "grant_type=token", bad, "unsupported_grant_type"),
		post("missing password", "/token", auth, "grant_type=password&username=demo", bad, "invalid_request"),
		post("password too long", "/token", auth, login("demo", strings.Repeat("p", 5000)), bad, "invalid_request"),
		post("username too long", "/token", auth, login(strings.Repeat("u", 300), "x"), badLogin, "invalid_grant"),
		post("wrong password", "/token", auth, login("demo", "wrong"), badLogin, "invalid_grant"),
		post("unicode username", "/token", auth, login("ユーザー", "x"), badLogin, "invalid_grant"),
		post("malformed scope", "/token", auth, form("grant_type", "password", "username", "demo", "password", "x", "scope", `read"\`), bad, "invalid_scope"),
		post("resource not registered", "/token", auth, form("grant_type", "password", "username", "demo", "password", "x", "resource", "https://evil.example"), bad, "invalid_target"),
		post("client_credentials wants admin", "/token", auth, form("grant_type", "client_credentials", "scope", "authd:admin"), bad, "invalid_scope"),
		{name: "chunked oversized body", method: http.MethodPost, path: "/token", header: auth, body: "\x00chunked" + strings.Repeat("a", 70<<10), want: bad, code: "invalid_request"},

		// Client authentication.
		{name: "wrong secret", method: http.MethodPost, path: "/token", header: withAuth(formCT, "Basic "+base64.StdEncoding.EncodeToString([]byte(fx.dev.ClientID+":wrong"))), body: "grant_type=client_credentials", want: unauth, code: "invalid_client", check: basicChallenge},
		{name: "malformed Basic", method: http.MethodPost, path: "/token", header: withAuth(formCT, "Basic %%%not-base64"), body: "grant_type=client_credentials", want: unauth, code: "invalid_client", check: basicChallenge},
		{name: "Basic without colon", method: http.MethodPost, path: "/token", header: withAuth(formCT, "Basic "+base64.StdEncoding.EncodeToString([]byte("demo-client"))), body: "grant_type=client_credentials", want: unauth, code: "invalid_client"},
		{name: "Basic with NUL", method: http.MethodPost, path: "/token", header: withAuth(formCT, "Basic "+base64.StdEncoding.EncodeToString([]byte("demo-client%00:x"))), body: "grant_type=client_credentials", want: unauth, code: "invalid_client"},
		post("two auth methods", "/token", auth, form("grant_type", "client_credentials", "client_id", fx.dev.ClientID, "client_secret", fx.dev.Secret), bad, "invalid_request"),
		// SPEC 2.1: two Authorization headers are refused, not the first believed.
		{name: "two Authorization headers", method: http.MethodPost, path: "/token", header: twoAuth(auth), body: "grant_type=client_credentials", want: bad, code: "invalid_request"},
		{name: "two Authorization headers at revocation", method: http.MethodPost, path: "/revoke", header: twoAuth(auth), body: form("token", fx.refresh), want: bad, code: "invalid_request"},
		{name: "two Authorization headers at introspection", method: http.MethodPost, path: "/introspect", header: twoAuth(auth), body: form("token", fx.access), want: bad, code: "invalid_request"},
		{name: "two Content-Type headers", method: http.MethodPost, path: "/token", header: twoContentTypes(auth), body: "grant_type=client_credentials", want: bad, code: "invalid_request"},
		post("no client authentication", "/token", formCT, "grant_type=client_credentials", unauth, "invalid_client"),
		post("post auth wrong secret", "/token", formCT, form("grant_type", "client_credentials", "client_id", fx.dev.ClientID, "client_secret", "nope"), unauth, "invalid_client"),
		post("public console client with a secret", "/token", formCT, form("grant_type", "password", "client_id", "authd-console", "client_secret", "x", "username", "demo", "password", "x"), unauth, "invalid_client"),

		// Refresh tokens.
		post("refresh token malformed", "/token", auth, form("grant_type", "refresh_token", "refresh_token", "authd_rt_short"), bad, "invalid_grant"),
		post("refresh token unknown", "/token", auth, form("grant_type", "refresh_token", "refresh_token", "authd_rt_"+b64(make([]byte, 32))), bad, "invalid_grant"),
		post("refresh token missing", "/token", auth, "grant_type=refresh_token", bad, "invalid_request"),
		post("refresh token widening scope", "/token", auth, form("grant_type", "refresh_token", "refresh_token", fx.refresh, "scope", "read write authd:admin"), bad, "invalid_scope"),
		post("refresh token of another client", "/token", formCT, form("grant_type", "refresh_token", "client_id", "authd-console", "refresh_token", fx.refresh), bad, "invalid_grant"),

		// Revocation and introspection.
		post("revoke unauthenticated", "/revoke", formCT, form("token", fx.refresh), unauth, "invalid_client"),
		post("revoke of another client's token", "/revoke", formCT, form("client_id", "authd-console", "token", fx.refresh), []int{http.StatusOK}, ""),
		post("revoke unknown refresh token", "/revoke", auth, form("token", "authd_rt_"+b64(make([]byte, 32))), []int{http.StatusOK}, ""),
		post("revoke garbage", "/revoke", auth, form("token", "x.y.z", "token_type_hint", "../../etc/passwd"), []int{http.StatusOK}, ""),
		post("revoke missing token", "/revoke", auth, "", bad, "invalid_request"),
		post("introspect missing token", "/introspect", auth, "", bad, "invalid_request"),
		post("introspect by a public client", "/introspect", formCT, form("client_id", "authd-console", "token", fx.access), unauth, "invalid_client"),
		{name: "introspect refresh token unknown", method: http.MethodPost, path: "/introspect", header: auth, body: form("token", "authd_rt_"+b64(make([]byte, 32))), want: []int{http.StatusOK}, check: inactive},

		// Methods and paths.
		{name: "GET /token", method: http.MethodGet, path: "/token", want: []int{http.StatusMethodNotAllowed}},
		{name: "PUT /token", method: http.MethodPut, path: "/token", header: auth, body: "grant_type=client_credentials", want: []int{http.StatusMethodNotAllowed}},
		{name: "TRACE /token", method: "TRACE", path: "/token", want: []int{http.StatusMethodNotAllowed}},
		{name: "invalid UTF-8 path", method: http.MethodGet, path: "/%ff%fe", want: []int{http.StatusNotFound}},
		{name: "console path traversal", method: http.MethodGet, path: "/admin/..%2f..%2f..%2f..%2fetc%2fpasswd", want: []int{http.StatusNotFound, http.StatusBadRequest, http.StatusMovedPermanently, http.StatusUnauthorized}},
		{name: "admin API traversal", method: http.MethodGet, path: "/admin/api/users/..%2f..%2fetc%2fpasswd", want: unauth, check: bearerChallenge},

		// Raw HTTP the Go client would refuse to send.
		{name: "huge header", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxHeaderBytes+8<<10) + "\r\n\r\n", want: []int{http.StatusRequestHeaderFieldsTooLarge}},
		{name: "many headers", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", 1000) + "\r\n", want: []int{http.StatusRequestHeaderFieldsTooLarge}},
		{name: "NUL in a header", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", want: bad},
		{name: "NUL in the path", raw: "GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n", want: bad},
		{name: "invalid UTF-8 header", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\n\r\n", want: []int{http.StatusOK}},
		{name: "garbage request line", raw: "GARBAGE\r\n\r\n", want: bad},
		{name: "no Host", raw: "GET /healthz HTTP/1.1\r\n\r\n", want: bad},
		{name: "negative Content-Length", raw: "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: -5\r\n\r\n", want: bad},
		{name: "two Content-Lengths", raw: "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcdefg", want: bad},
		{name: "truncated body", raw: "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=password&user", want: bad, code: "invalid_request"},
		{name: "hostile request id", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ../../<script>' OR 1=1\r\n\r\n", want: []int{http.StatusOK}, check: func(_ int, h http.Header, _ string) error {
			if id := h.Get("X-Request-Id"); strings.ContainsAny(id, "<>'./ ") {
				return fmt.Errorf("hostile request id echoed: %q", id)
			}
			return nil
		}},
		{name: "spoofed X-Forwarded-For", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4, ' OR 1=1\r\n\r\n", want: []int{http.StatusOK}},
		{name: "huge If-None-Match", method: http.MethodGet, path: "/.well-known/jwks.json", header: http.Header{"If-None-Match": {strings.Repeat(`"x",`, 4000)}}, want: []int{http.StatusOK}},
	}

	// Forged JWTs at introspection and at the admin API.
	for _, f := range fx.forged() {
		cs = append(cs,
			hcase{name: "introspect " + f.name, method: http.MethodPost, path: "/introspect", header: auth, body: form("token", f.token), want: []int{http.StatusOK}, check: inactive},
			hcase{name: "admin API " + f.name, method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + f.token}}, want: unauth, check: bearerChallenge},
		)
	}
	cs = append(cs,
		hcase{name: "admin API without a token", method: http.MethodGet, path: "/admin/api/users", want: unauth, check: bearerChallenge},
		hcase{name: "admin API with Basic", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Basic YTpi"}}, want: unauth, check: bearerChallenge},
		hcase{name: "admin API two Authorization headers", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + fx.access, "Bearer " + fx.access}}, want: bad},
		hcase{name: "admin API non-admin token", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + fx.access}}, want: []int{http.StatusForbidden}, code: "insufficient_scope"},
		// SPEC 2.5: a token with authd:admin not issued to authd-console, or
		// whose user is not an admin, is 401 invalid_token.
		hcase{name: "admin API forged admin scope of a non-admin", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { c["scope"] = "authd:admin" }))}}, want: unauth, code: "invalid_token"},
		hcase{name: "admin API forged console token of a non-admin", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + signRS256(fx.priv, fx.kid, "at+jwt", fx.claims(func(c map[string]any) { c["scope"] = "authd:admin"; c["client_id"] = "authd-console" }))}}, want: unauth, code: "invalid_token"},
		hcase{name: "admin API create with a non-admin token", method: http.MethodPost, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer " + fx.access}, "Content-Type": {"application/json"}}, body: `{"username":"evil","password":"evil-password","admin":true}`, want: []int{http.StatusForbidden}},
		hcase{name: "admin API bearer with SQL", method: http.MethodGet, path: "/admin/api/users", header: http.Header{"Authorization": {"Bearer ' OR '1'='1"}}, want: unauth, check: bearerChallenge},
	)

	// Hostile strings in every field of every grant.
	for _, h := range hostileStrings {
		cs = append(cs,
			post("username "+h.name, "/token", auth, login(h.s, "x"), badLogin, "invalid_grant"),
			post("password "+h.name, "/token", auth, login("demo", h.s), badLogin, "invalid_grant"),
			post("scope "+h.name, "/token", auth, form("grant_type", "client_credentials", "scope", h.s), bad, ""),
			post("refresh token "+h.name, "/token", auth, form("grant_type", "refresh_token", "refresh_token", h.s), bad, "invalid_grant"),
			post("resource "+h.name, "/token", auth, form("grant_type", "client_credentials", "resource", h.s), bad, "invalid_target"),
			post("grant_type "+h.name, "/token", auth, form("grant_type", h.s), bad, "unsupported_grant_type"),
			post("client_id "+h.name, "/token", formCT, form("grant_type", "client_credentials", "client_id", h.s, "client_secret", h.s), unauth, "invalid_client"),
			hcase{name: "Basic id " + h.name, method: http.MethodPost, path: "/token", header: withAuth(formCT, "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(h.s)+":"+url.QueryEscape(h.s)))), body: "grant_type=client_credentials", want: unauth, code: "invalid_client"},
			post("revoke token "+h.name, "/revoke", auth, form("token", h.s), []int{http.StatusOK}, ""),
			hcase{name: "introspect token " + h.name, method: http.MethodPost, path: "/introspect", header: auth, body: form("token", h.s), want: []int{http.StatusOK}, check: inactive},
			hcase{name: "admin path " + h.name, method: http.MethodGet, path: "/admin/api/users/" + url.PathEscape(h.s), want: unauth},
		)
	}
	return cs
}

// twoAuth repeats the Authorization header of h.
func twoAuth(h http.Header) http.Header {
	h = h.Clone()
	h["Authorization"] = append(h["Authorization"], h["Authorization"]...)
	return h
}

// twoContentTypes adds a second Content-Type header to h.
func twoContentTypes(h http.Header) http.Header {
	h = h.Clone()
	h["Content-Type"] = append(h["Content-Type"], "application/json")
	return h
}

func withAuth(h http.Header, v string) http.Header {
	h = h.Clone()
	h.Set("Authorization", v)
	return h
}

// send performs one case and returns the answer.
func (fx *fixture) send(c hcase) (int, http.Header, string, error) {
	if c.raw != "" {
		return rawRequest(fx.base, c.raw)
	}
	var body io.Reader = strings.NewReader(c.body)
	chunked := strings.HasPrefix(c.body, "\x00chunked")
	if chunked {
		// A reader of unknown length makes the client send it chunked.
		body = io.MultiReader(strings.NewReader(strings.TrimPrefix(c.body, "\x00chunked")))
	}
	req, err := http.NewRequest(c.method, fx.base+c.path, body)
	if err != nil {
		return 0, nil, "", err
	}
	if c.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

// rawRequest writes raw to a new connection and reads one response.
func rawRequest(base, raw string) (int, http.Header, string, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, nil, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return 0, nil, "", err
	}
	if tc, ok := conn.(*net.TCPConn); ok && strings.Contains(raw, "Content-Length: 100") {
		tc.CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, "", fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

func containsInt(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
