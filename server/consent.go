package server

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/authd/authd/storage"
)

// Consent (SPEC 2.6): a client that is not first-party gets the user's
// approval of the scopes it asks for once; the approval is remembered per
// (user, client) with the scopes allowed, and covers later requests for
// those scopes or fewer from the same client instance. A wider scope, a
// client deleted and registered again (another Instance) or prompt=consent
// asks again.

const msgChoose = "Choose Allow or Deny."

// scopeWords says what a scope lets the client do, in words a user
// understands; scopes without words are shown as they are.
var scopeWords = map[string]string{
	"openid":   "Confirm your identity",
	"profile":  "See your username",
	AdminScope: "Administer this authd server",
}

func describeScopes(scope []string) []string {
	out := make([]string, len(scope))
	for i, sc := range scope {
		if w, ok := scopeWords[sc]; ok {
			out[i] = w
		} else {
			out[i] = sc
		}
	}
	return out
}

// needConsent reports whether the request must show the consent page.
func (a *authorization) needConsent(ctx context.Context, u storage.User, scope []string) (bool, error) {
	if a.ar.PromptConsent {
		return true, nil
	}
	if a.cl.FirstParty {
		return false, nil
	}
	c, err := a.s.store.GetConsent(ctx, u.ID, a.cl.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !(c.ClientInstance == a.cl.Instance && subset(scope, c.Scopes)), nil
}

// consentPage shows the consent form for scope.
func (a *authorization) consentPage(status int, u storage.User, scope []string, msg string) {
	csrf, err := a.s.csrfToken(a.c)
	if err != nil {
		a.s.errorPage(a.c, serverError(err))
		return
	}
	a.s.render(a.c, status, "consent", pageData{
		Title: "Allow access", ClientID: a.cl.ID, Username: u.Username, Error: msg,
		Scopes: describeScopes(scope), Hidden: a.ar.hidden(stepConsent, csrf),
	})
}

// consent handles the consent form. It needs the browser's live sign-in
// session (else the sign-in page) and a valid CSRF token (else the form
// again, 400, nothing stored). allow remembers the union of the scopes
// allowed before and now and goes on to the code; deny redirects with
// access_denied.
//
// max_age is checked again here, prompt=login is not: the consent page is
// reached only from a session that satisfied the request (prompt=login
// itself is dropped by the 303 after signing in, afterSignInURL), and the
// code carries the sign-in time (auth_time) for the client to check.
func (a *authorization) consent(ctx context.Context, f form) {
	s := a.s
	si, err := s.currentSession(ctx, a.c.Request)
	if err != nil {
		s.errorPage(a.c, serverError(err))
		return
	}
	if si == nil || a.tooOld(si) {
		if a.ar.PromptNone {
			s.redirectError(a.c, a.ar, oauthErr(http.StatusBadRequest, "login_required", "the user is not signed in"))
			return
		}
		a.signInPage(http.StatusOK, msgSignInAgain)
		return
	}
	scope, e := grantScope(a.cl, si.user, a.ar.Scope)
	if e != nil {
		s.redirectError(a.c, a.ar, e)
		return
	}
	if !s.csrfValid(a.c.Request, f.get("csrf_token")) {
		a.consentPage(http.StatusBadRequest, si.user, scope, msgFormExpired)
		return
	}
	switch f.get("decision") {
	case "allow":
	case "deny":
		s.log.Info("consent denied", "event", "consent_denied", "user_id", si.user.ID, "client_id", a.cl.ID)
		s.redirectError(a.c, a.ar, oauthErr(http.StatusBadRequest, "access_denied", "the user denied the request"))
		return
	default:
		a.consentPage(http.StatusBadRequest, si.user, scope, msgChoose)
		return
	}
	now := s.now()
	c := storage.Consent{UserID: si.user.ID, ClientID: a.cl.ID, ClientInstance: a.cl.Instance, Scopes: slices.Clone(scope), GrantedAt: now, UpdatedAt: now}
	old, err := s.store.GetConsent(ctx, si.user.ID, a.cl.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		s.errorPage(a.c, serverError(err))
		return
	case old.ClientInstance == a.cl.Instance:
		c.GrantedAt = old.GrantedAt
		c.Scopes = slices.Clone(old.Scopes)
		for _, sc := range scope {
			if !slices.Contains(c.Scopes, sc) {
				c.Scopes = append(c.Scopes, sc)
			}
		}
	}
	if err := s.store.PutConsent(ctx, c); err != nil {
		s.errorPage(a.c, serverError(err))
		return
	}
	s.log.Info("consent given", "event", "consent_given", "user_id", si.user.ID, "client_id", a.cl.ID, "scope", c.Scopes)
	a.proceed(ctx, si, true)
}
