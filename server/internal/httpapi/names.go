package httpapi

import "github.com/authd/authd/server/internal/scopes"

// Names that the OAuth endpoints and the admin API both use (SPEC §2.1,
// §2.5). Package server exports them under the same names.
const (
	// AdminScope is the scope of the admin API (defined with the other
	// scope rules).
	AdminScope = scopes.Admin
	// ConsoleClientID is the built-in public client of the web console.
	ConsoleClientID = "authd-console"

	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)
