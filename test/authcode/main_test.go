// Package authcode proves the authorization code flow of SPEC §2.6 and the
// OpenID Connect of §2.7 from outside, against the real authd binary, with
// the libraries that apps use: golang.org/x/oauth2 (AuthCodeURL with
// S256ChallengeOption, Exchange with VerifierOption) and
// github.com/coreos/go-oidc/v3 (discovery, IDTokenVerifier, UserInfo).
//
// A test is a browser without JavaScript: an HTTP client with a cookie jar
// that reads the sign-in and consent pages as HTML, fills in the inputs it
// knows by name, sends every hidden input back unchanged, and follows the
// redirects to a loopback "app" (an httptest server) that receives the code.
// Users and clients are created with the authd CLI. The hostile cases of
// issue 14 that are visible from outside run here too, each its own test;
// browser_test.go drives the same flow in headless Chromium.
package authcode

import (
	"os"
	"testing"

	"github.com/authd/authd/test/internal/authdtest"
)

func TestMain(m *testing.M) { os.Exit(authdtest.Main(m)) }
