package server

import (
	"errors"
	"fmt"
	"slices"

	"github.com/authd/authd/server/internal/scopes"
	"github.com/authd/authd/storage"
)

// AdminScope grants access to the admin API.
const AdminScope = "authd:admin"

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

// userMay reports whether u may be granted scope.
func userMay(u storage.User, scope string) bool {
	if scope == AdminScope {
		return u.Admin
	}
	return len(u.Scopes) == 0 || slices.Contains(u.Scopes, scope)
}

// grantScope decides the scope of a password grant: the requested scopes
// must all be the client's and the user's; with none requested, the grant
// is those of the client's scopes that the user may have.
func grantScope(cl storage.Client, u storage.User, requested []string) ([]string, *Error) {
	if requested == nil {
		var out []string
		for _, sc := range cl.Scopes {
			if userMay(u, sc) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	for _, sc := range requested {
		if !slices.Contains(cl.Scopes, sc) || !userMay(u, sc) {
			return nil, invalidScope("the requested scope is invalid, unknown, or exceeds what was granted")
		}
	}
	return requested, nil
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
