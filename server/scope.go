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
