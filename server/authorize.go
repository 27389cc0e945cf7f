package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/storage"
)

// The authorization endpoint (RFC 6749 §3.1, §4.1; SPEC 2.6): GET with the
// request in the query, or POST with it in a form body. The sign-in and
// consent pages post their forms back here, with the request in hidden
// inputs and a step input naming the form; whatever they carry is
// validated again, entirely, as a new request.

// codePrefix marks authd authorization codes so that secret scanners find
// leaked ones.
const codePrefix = "authd_ac_"

// Lifetimes of a code (SPEC 2.6): it may be exchanged for 60 s; a spent
// one is remembered, so that a replay is recognised, for 10 minutes.
const (
	codeTTL        = 60 * time.Second
	codeRemembered = 10 * time.Minute
)

// maxAuthorizeQuery bounds the query string of GET /authorize, as
// maxFormBytes bounds a POST's body.
const maxAuthorizeQuery = maxFormBytes

// authorizeParams are the parameters of an authorization request that
// authd reads, in the order the pages carry them in hidden inputs. Others
// are ignored (RFC 6749 §3.1) and not carried.
var authorizeParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "resource",
}

// Steps: the form a POST comes from.
const (
	stepSignIn  = "signin"
	stepConsent = "consent"
)

// authzRequest is a parsed authorization request.
type authzRequest struct {
	// raw is what the request carried of authorizeParams, for the pages'
	// hidden inputs.
	raw form

	ClientID string
	// RedirectURI is where the answer goes: the redirect_uri given, or
	// the client's one registered URI; RedirectGiven says which.
	RedirectURI   string
	RedirectGiven bool

	// Scope is nil when the request has no scope parameter.
	Scope         []string
	State         string
	Nonce         string
	CodeChallenge string
	// PromptNone, PromptLogin and PromptConsent are the OpenID prompt
	// values.
	PromptNone, PromptLogin, PromptConsent bool
	// MaxAge is the OpenID max_age in seconds, -1 when absent.
	MaxAge    int64
	LoginHint string
	Resource  string
}

// readAuthorizeRequest reads the parameters of a request to /authorize:
// the query string of a GET, the form body of a POST (readForm: nothing in
// the query then). Both are parsed strictly (parseForm): a repeated
// parameter, malformed encoding or control characters are invalid_request.
func readAuthorizeRequest(r *http.Request) (form, *Error) {
	if r.Method == http.MethodPost {
		return readForm(r)
	}
	if len(r.URL.RawQuery) > maxAuthorizeQuery {
		return form{}, invalidRequest("request too large")
	}
	return parseForm(r.URL.RawQuery)
}

// parseAuthorize checks what can be checked of an authorization request
// without storage, in RFC order. It fills as much of ar as it can before
// an error, State first, so that an error can be redirected with it once
// the client and redirect URI are known valid. It is a parser of
// untrusted input (FuzzAuthorizeRequest).
func parseAuthorize(f form) (authzRequest, *Error) {
	ar := authzRequest{MaxAge: -1, ClientID: f.get("client_id"), State: f.get("state"), Nonce: f.get("nonce"), LoginHint: f.get("login_hint")}
	ar.raw = form{vals: map[string]string{}}
	for _, k := range authorizeParams {
		if v := f.get(k); v != "" {
			ar.raw.vals[k] = v
		}
	}
	switch rt := f.get("response_type"); rt {
	case "":
		return ar, invalidRequest("missing response_type")
	case "code":
	default:
		return ar, oauthErr(http.StatusBadRequest, "unsupported_response_type", "only response_type=code is supported")
	}
	switch m := f.get("code_challenge_method"); m {
	case "S256":
	case "":
		return ar, invalidRequest("code_challenge_method=S256 is required (PKCE, RFC 7636)")
	default:
		return ar, invalidRequest("code_challenge_method must be S256")
	}
	ar.CodeChallenge = f.get("code_challenge")
	if ar.CodeChallenge == "" {
		return ar, invalidRequest("code_challenge is required (PKCE, RFC 7636)")
	}
	if !validChallenge(ar.CodeChallenge) {
		return ar, invalidRequest("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	if f.get("scope") != "" {
		sc, e := scopeParam(f.get("scope"))
		if e != nil {
			return ar, e
		}
		ar.Scope = sc
	}
	if p := f.get("prompt"); p != "" {
		for _, v := range strings.Split(p, " ") {
			switch v {
			case "none":
				ar.PromptNone = true
			case "login":
				ar.PromptLogin = true
			case "consent":
				ar.PromptConsent = true
			default:
				return ar, invalidRequest("prompt must be none, login or consent")
			}
		}
		if ar.PromptNone && (ar.PromptLogin || ar.PromptConsent) {
			// OpenID Connect Core §3.1.2.1.
			return ar, invalidRequest("prompt=none cannot be combined with another value")
		}
	}
	if m := f.get("max_age"); m != "" {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 0 || m[0] == '+' || m[0] == '-' {
			return ar, invalidRequest("max_age must be a non-negative integer")
		}
		ar.MaxAge = n
	}
	if len(f.resources) > maxResources {
		return ar, oauthErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("at most %d resource values", maxResources))
	}
	for _, r := range f.resources {
		if r != f.resources[0] {
			return ar, oauthErr(http.StatusBadRequest, "invalid_target", "a token is issued for one resource at a time")
		}
	}
	ar.Resource = f.get("resource")
	if ar.Resource != "" {
		ar.raw.vals["resource"] = ar.Resource
	}
	return ar, nil
}

// validChallenge reports whether c is a PKCE code challenge: 43 to 128
// characters of RFC 7636's unreserved set (§4.2).
func validChallenge(c string) bool {
	if len(c) < 43 || len(c) > 128 {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~') {
			return false
		}
	}
	return true
}

// authorizeClient finds the request's client and the redirect URI the
// answer goes to. Its errors are shown on authd's error page, never
// redirected: until both are known valid, a redirect could send the
// browser anywhere (an open redirector).
func (s *Server) authorizeClient(ctx context.Context, f form) (storage.Client, string, bool, *Error) {
	id := f.get("client_id")
	if id == "" {
		return storage.Client{}, "", false, invalidRequest("missing client_id")
	}
	cl, err := s.client(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Client{}, "", false, invalidRequest("unknown client_id: the application is not registered with this server")
	}
	if err != nil {
		return storage.Client{}, "", false, serverError(err)
	}
	given := f.get("redirect_uri")
	if given == "" {
		if len(cl.RedirectURIs) != 1 {
			return storage.Client{}, "", false, invalidRequest("missing redirect_uri: the application has more than one (or no) registered redirect URI")
		}
		return cl, cl.RedirectURIs[0], false, nil
	}
	if !s.redirectRegistered(cl.RedirectURIs, given) {
		return storage.Client{}, "", false, invalidRequest("redirect_uri is not registered for this application")
	}
	// The answer goes where the request said: a loopback URI keeps the
	// port the app listens on.
	return cl, given, true, nil
}

// handleAuthorize serves GET and POST /authorize.
func (s *Server) handleAuthorize(c *gin.Context) {
	ctx := c.Request.Context()
	f, e := readAuthorizeRequest(c.Request)
	if e != nil {
		s.errorPage(c, e)
		return
	}
	cl, redirect, given, e := s.authorizeClient(ctx, f)
	if e != nil {
		s.errorPage(c, e)
		return
	}
	ar, e := parseAuthorize(f)
	ar.RedirectURI, ar.RedirectGiven = redirect, given
	if e != nil {
		s.redirectError(c, ar, e)
		return
	}
	if !slices.Contains(cl.Grants, GrantAuthorizationCode) {
		s.redirectError(c, ar, unauthorizedClient("the client may not use the authorization code flow"))
		return
	}
	if e := clientScope(cl, ar.Scope); e != nil {
		s.redirectError(c, ar, e)
		return
	}
	aud, e := s.audience(cl, ar.Resource, "")
	if e != nil {
		s.redirectError(c, ar, e)
		return
	}
	a := &authorization{s: s, c: c, ar: ar, cl: cl, aud: aud}
	step := ""
	if c.Request.Method == http.MethodPost {
		step = f.get("step")
	}
	switch step {
	case stepSignIn:
		a.signIn(ctx, f)
	case stepConsent:
		a.consent(ctx, f)
	default:
		// A plain authorization request (an unknown step is one too: the
		// forms authd renders send only the two steps above).
		a.proceed(ctx, nil, false)
	}
}

// authorization is one authorization request being served, once its
// client and redirect URI are valid and its parameters parsed.
type authorization struct {
	s   *Server
	c   *gin.Context
	ar  authzRequest
	cl  storage.Client
	aud string
	// username is the one the sign-in form was sent with, shown again
	// with its error.
	username string
	// signedInNow is set when this request signed the user in: consent
	// is then asked after a 303 back to /authorize (afterSignInURL).
	signedInNow bool
}

// proceed takes a valid request from its sign-in session to a code:
// signed-in (as found on the request when si is nil), then consent, then
// the code. consented is true when the user allowed the request in this
// very request (the consent form), so that prompt=consent is not asked
// again.
func (a *authorization) proceed(ctx context.Context, si *signedIn, consented bool) {
	s := a.s
	if si == nil {
		var err error
		si, err = s.currentSession(ctx, a.c.Request)
		if err != nil {
			s.errorPage(a.c, serverError(err))
			return
		}
		if si == nil || a.ar.PromptLogin || a.tooOld(si) {
			if a.ar.PromptNone {
				a.s.redirectError(a.c, a.ar, oauthErr(http.StatusBadRequest, "login_required", "the user is not signed in"))
				return
			}
			a.signInPage(http.StatusOK, "")
			return
		}
	}
	scope, e := grantScope(a.cl, si.user, a.ar.Scope)
	if e != nil {
		s.redirectError(a.c, a.ar, e)
		return
	}
	if !consented {
		need, err := a.needConsent(ctx, si.user, scope)
		if err != nil {
			s.errorPage(a.c, serverError(err))
			return
		}
		if need {
			if a.ar.PromptNone {
				s.redirectError(a.c, a.ar, oauthErr(http.StatusBadRequest, "consent_required", "the user has not allowed this application"))
				return
			}
			if a.signedInNow {
				s.redirectTo(a.c, a.ar.afterSignInURL())
				return
			}
			a.consentPage(http.StatusOK, si.user, scope, "")
			return
		}
	}
	a.issueCode(ctx, si, scope)
}

// tooOld reports whether the session's sign-in is older than the
// request's max_age allows (OpenID Connect Core §3.1.2.1): max_age=0 asks
// for a new sign-in every time.
func (a *authorization) tooOld(si *signedIn) bool {
	if a.ar.MaxAge < 0 {
		return false
	}
	// In whole seconds: max_age may be far beyond what a time.Duration
	// holds, which must not overflow into "too old".
	age := int64(a.s.now().Sub(si.session.AuthTime) / time.Second)
	return age >= a.ar.MaxAge
}

// issueCode stores a new code for the request and redirects the browser to
// the client with it (RFC 6749 §4.1.2, RFC 9207).
func (a *authorization) issueCode(ctx context.Context, si *signedIn, scope []string) {
	s := a.s
	code, err := newCode()
	if err != nil {
		s.errorPage(a.c, serverError(err))
		return
	}
	now := s.now()
	ac := storage.AuthCode{
		Hash: hashToken(code), ClientID: a.cl.ID, ClientInstance: a.cl.Instance,
		UserID: si.user.ID, UserGen: si.user.SessionGen,
		RedirectURI: a.ar.RedirectURI, RedirectURIGiven: a.ar.RedirectGiven,
		CodeChallenge: a.ar.CodeChallenge, Scope: scope, Audience: a.aud, Nonce: a.ar.Nonce,
		AuthTime: si.session.AuthTime, LoginSessionID: si.session.ID,
		IssuedAt: now, ExpiresAt: now.Add(codeTTL), ForgetAt: now.Add(codeRemembered),
	}
	if err := s.store.CreateCode(ctx, ac); err != nil {
		s.errorPage(a.c, serverError(err))
		return
	}
	s.log.Info("authorization code issued", "event", "code_issued", "user_id", si.user.ID, "client_id", a.cl.ID, "session_id", si.session.ID, "client_ip", s.clientIP(a.c.Request).String())
	q := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if a.ar.State != "" {
		q.Set("state", a.ar.State)
	}
	s.redirectTo(a.c, appendQuery(a.ar.RedirectURI, q.Encode()))
}

// newCode returns a fresh authorization code: 256 random bits, prefixed.
func newCode() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return codePrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// redirectError sends e to the client's redirect URI (RFC 6749 §4.1.2.1)
// with state and iss (RFC 9207). Only for requests whose client and
// redirect URI are valid; a storage failure is shown on the error page
// instead, as the client could do nothing with it.
func (s *Server) redirectError(c *gin.Context, ar authzRequest, e *Error) {
	if e.Status >= 500 {
		s.errorPage(c, e)
		return
	}
	q := url.Values{"error": {e.Code}, "iss": {s.cfg.Issuer}}
	if e.Description != "" {
		q.Set("error_description", e.Description)
	}
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	s.redirectTo(c, appendQuery(ar.RedirectURI, q.Encode()))
}

// redirectTo answers 303 See Other to location, with the pages' headers.
func (s *Server) redirectTo(c *gin.Context, location string) {
	pageHeaders(c)
	c.Header("Location", location)
	c.Status(http.StatusSeeOther)
}

// hidden returns the hidden inputs of the pages' forms: the request as
// received, the step and the CSRF token.
func (ar authzRequest) hidden(step, csrf string) []hiddenField {
	out := make([]hiddenField, 0, len(authorizeParams)+2)
	for _, k := range authorizeParams {
		if v := ar.raw.get(k); v != "" {
			out = append(out, hiddenField{k, v})
		}
	}
	return append(out, hiddenField{"step", step}, hiddenField{"csrf_token", csrf})
}
