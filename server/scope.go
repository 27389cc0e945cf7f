package server

import (
	"slices"
	"strings"

	"github.com/authd/authd/storage"
)

// AdminScope grants access to the admin API.
const AdminScope = "authd:admin"

// parseScope splits a scope parameter (RFC 6749 §3.3) into its tokens,
// dropping duplicates and keeping order. Each token is one or more of
// %x21 / %x23-5B / %x5D-7E.
func parseScope(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	var out []string
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		if !validScopeToken(tok) {
			return nil, false
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out, true
}

func validScopeToken(tok string) bool {
	if tok == "" || len(tok) > 256 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		b := tok[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return false
		}
	}
	return true
}

// userMay reports whether u may be granted scope.
func userMay(u storage.User, scope string) bool {
	if scope == AdminScope {
		return u.Admin
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

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
