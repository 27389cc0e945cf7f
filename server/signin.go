package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Messages of the sign-in page. msgWrongCredentials is the one answer to
// a wrong password, an unknown user and a disabled user alike (SPEC 2.1).
const (
	msgWrongCredentials = "Wrong username or password."
	msgMissingFields    = "Enter your username and password."
	msgFormExpired      = "This form has expired or was not sent from this browser (authd needs cookies). Please try again."
	msgThrottled        = "Too many attempts. Please wait a moment and retry later."
	msgBusy             = "authd is busy. Please try again in a moment."
	msgSignInAgain      = "Please sign in again to continue."
)

// signInPage shows the sign-in form for the request, with msg above it
// when not empty. Its CSRF token is bound to the browser's CSRF cookie,
// set now if missing.
func (a *authorization) signInPage(status int, msg string) {
	csrf, err := a.s.csrfToken(a.c)
	if err != nil {
		a.s.errorPage(a.c, serverError(err))
		return
	}
	name := a.username
	if name == "" {
		name = a.ar.LoginHint
	}
	a.s.render(a.c, status, "signin", pageData{
		Title: "Sign in", ClientID: a.cl.ID, Username: name, Error: msg,
		Hidden: a.ar.hidden(stepSignIn, csrf),
	})
}

// signIn handles the sign-in form. A missing or wrong CSRF token shows the
// form again (400) before anything else happens: no credential check, no
// throttle count. The credentials are checked by checkPassword, the
// password grant's own check, so that failures here and at /token count
// in one throttle and take the same time for unknown users.
func (a *authorization) signIn(ctx context.Context, f form) {
	s := a.s
	if !s.csrfValid(a.c.Request, f.get("csrf_token")) {
		a.signInPage(http.StatusBadRequest, msgFormExpired)
		return
	}
	username, pw := f.get("username"), f.get("password")
	a.username = username
	if username == "" || pw == "" {
		a.signInPage(http.StatusBadRequest, msgMissingFields)
		return
	}
	addr := s.clientIP(a.c.Request)
	u, e := s.checkPassword(ctx, username, pw, addr, a.cl.ID)
	if e != nil {
		switch e.Code {
		case "invalid_grant", "invalid_request":
			a.signInPage(http.StatusBadRequest, msgWrongCredentials)
		case "slow_down":
			a.c.Header("Retry-After", retryAfter(e.RetryAfter))
			a.signInPage(http.StatusTooManyRequests, msgThrottled)
		case "temporarily_unavailable":
			a.c.Header("Retry-After", retryAfter(e.RetryAfter))
			a.signInPage(http.StatusServiceUnavailable, msgBusy)
		default:
			s.errorPage(a.c, e)
		}
		return
	}
	si, err := s.startSession(ctx, a.c, u)
	if err != nil {
		s.errorPage(a.c, serverError(err))
		return
	}
	s.log.Info("login ok", "event", "login_ok", "username", u.Username, "user_id", u.ID, "client_id", a.cl.ID, "client_ip", addr.String(), "via", "signin_page", "session_id", si.session.ID)
	a.signedInNow = true
	a.proceed(ctx, si, false)
}

// retryAfter is a Retry-After value: whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	n := int64((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return strconv.FormatInt(n, 10)
}

// afterSignInURL is where the browser goes after signing in when consent
// is still to be asked: /authorize again, with the request as a GET (so
// that reloading the page does not post the password again), relative to
// the page. The request's prompt=login and max_age are dropped: the user
// has just signed in, which is what they asked for, and keeping them would
// ask again.
func (ar authzRequest) afterSignInURL() string {
	q := url.Values{}
	for _, k := range authorizeParams {
		v := ar.raw.get(k)
		switch k {
		case "max_age":
			v = ""
		case "prompt":
			var keep []string
			for _, p := range strings.Split(v, " ") {
				if p != "login" {
					keep = append(keep, p)
				}
			}
			v = strings.Join(keep, " ")
		}
		if v != "" {
			q.Set(k, v)
		}
	}
	return "authorize?" + q.Encode()
}
