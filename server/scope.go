package server

import (
	"errors"
	"fmt"
	"slices"

	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/storage"
)

// AdminScope grants access to the admin API.
const AdminScope = scopes.Admin

// parseScope splits a scope parameter (RFC 6749 §3.3) into its tokens,
// dropping duplicates and keeping order, within the limits of SPEC §2.1
// (scopes.Parse): linear work, at most 64 values of at most 128 bytes.
func parseScope(s string) ([]string, bool) {
	out, err := scopes.Parse(s)
	return out, err == nil
}

// scopeParam is parseScope with the invalid_scope answer that says which
// rule the parameter broke.
func scopeParam(s string) ([]string, *Error) {
	out, err := scopes.Parse(s)
	switch {
	case errors.Is(err, scopes.ErrTooMany):
		return nil, invalidScope(fmt.Sprintf("scope holds more than %d values", scopes.MaxValues))
	case errors.Is(err, scopes.ErrTooLong):
		return nil, invalidScope(fmt.Sprintf("a scope value is longer than %d bytes", scopes.MaxLen))
	case err != nil:
		return nil, invalidScope("malformed scope")
	}
	return out, nil
}

// validScopeToken reports whether tok may be a scope value: registered for
// a user or a client, or requested (scopes.Valid).
func validScopeToken(tok string) bool { return scopes.Valid(tok) }

// userMay reports whether u may be granted scope. openid and profile are
// not permissions of the user: every user may have them, when the client
// does (SPEC 2.7).
func userMay(u storage.User, scope string) bool {
	switch scope {
	case AdminScope:
		return u.Admin
	case ScopeOpenID, ScopeProfile:
		return true
	}
	return len(u.Scopes) == 0 || slices.Contains(u.Scopes, scope)
}

// clientMay reports whether cl may be granted scope: it is one of the
// client's scopes, and authd:admin only for the built-in console client
// (SPEC 2.1), whatever other clients were registered with.
func clientMay(cl storage.Client, scope string) bool {
	if scope == AdminScope && cl.ID != ConsoleClientID {
		return false
	}
	return slices.Contains(cl.Scopes, scope)
}

// grantScope decides the scope of a password grant: the requested scopes
// must all be the client's and the user's; with none requested, the grant
// is those of the client's scopes that the user may have.
func grantScope(cl storage.Client, u storage.User, requested []string) ([]string, *Error) {
	if requested == nil {
		var out []string
		for _, sc := range cl.Scopes {
			if clientMay(cl, sc) && userMay(u, sc) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	for _, sc := range requested {
		if !clientMay(cl, sc) || !userMay(u, sc) {
			return nil, invalidScope("the requested scope is invalid, unknown, or exceeds what was granted")
		}
	}
	return requested, nil
}

// refreshScope decides the scope of a refresh's access token (SPEC §2.1):
// the requested scope (by default the family's) ∩ the family's ∩ what the
// client and the user may have now, read at every refresh so that
// narrowing either takes effect at the next one. invalid_grant when the
// family had a scope and none of it remains; invalid_scope when some
// remains but none of what was requested.
func refreshScope(requested, family []string, u storage.User, cl storage.Client) ([]string, *Error) {
	want := family
	if requested != nil {
		want = requested
	}
	may := func(sc string) bool {
		return clientMay(cl, sc) && userMay(u, sc)
	}
	if len(family) > 0 && !slices.ContainsFunc(family, may) {
		return nil, invalidGrant("refresh token revoked: none of its scope is granted any more")
	}
	var out []string
	for _, sc := range want {
		if slices.Contains(family, sc) && may(sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 && len(want) > 0 {
		return nil, invalidScope("the requested scope is no longer granted")
	}
	return out, nil
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// clientScope checks the part of a requested scope that depends on the
// client alone (clientMay), so that /authorize refuses what no sign-in
// could grant before it asks the user for a password, and before
// prompt=none would answer login_required instead. The scope is named:
// the client's registration is its developer's to know, and scope values
// hold no quote or backslash (RFC 6749 §3.3, scopes.Valid).
func clientScope(cl storage.Client, requested []string) *Error {
	for _, sc := range requested {
		if !clientMay(cl, sc) {
			return invalidScope(fmt.Sprintf("scope %s is not registered for this client", sc))
		}
	}
	return nil
}
