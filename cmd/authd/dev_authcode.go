package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
)

// The demo public client that authd serve --dev creates for the
// authorization code flow (SPEC 1). Nothing needs to listen on its
// redirect URI: the browser lands on an error page whose address bar holds
// the code.
const (
	devAppID       = "demo-app"
	devAppRedirect = "http://127.0.0.1:8765/callback"

	grantAuthorizationCode = "authorization_code"
)

// printDevAuthCode prints the demo app's authorization URL and the curl
// command of its code exchange, for the server at base.
func (a *app) printDevAuthCode(base string) {
	authURL, exchange := devAuthCode(base)
	fmt.Fprintf(a.stdout, `The authorization code flow, as apps use it: the public client %s
(redirect URI %s, where nothing needs to listen).
Open this URL in a browser and sign in as %s:

  %s

The browser then lands on %s?code=...&state=...;
copy the code from its address bar, within 60 seconds, into:

  %s

`, devAppID, devAppRedirect, devUsername, authURL, devAppRedirect, exchange)
}

// devAuthCode returns an authorization URL of the demo app with a freshly
// generated PKCE verifier's S256 challenge (RFC 7636 §4.2) and a state,
// and the curl command that exchanges its code with that verifier.
func devAuthCode(base string) (authURL, exchange string) {
	var v, st [32]byte
	rand.Read(v[:])
	rand.Read(st[:16])
	verifier := base64.RawURLEncoding.EncodeToString(v[:])
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {devAppID},
		"redirect_uri":          {devAppRedirect},
		"scope":                 {"openid profile"},
		"state":                 {base64.RawURLEncoding.EncodeToString(st[:16])},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	authURL = base + "/authorize?" + q.Encode()
	exchange = fmt.Sprintf("curl -s -d grant_type=authorization_code -d client_id=%s --data-urlencode 'redirect_uri=%s' -d code_verifier=%s -d code=PASTE_THE_CODE_HERE %s/token",
		devAppID, devAppRedirect, verifier, base)
	return authURL, exchange
}
