package server

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/authd/authd/storage"
)

// OpenID Connect scopes (Core 1.0 §5.4). They are not permissions of the
// user: every user may have them when the client does (SPEC 2.7, userMay).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
)

// idTokenSpec is what an ID token says beyond what the access token issued
// with it says: the sign-in it comes from. The authorization code grant
// fills it from the code, a refresh of a family that came from a code from
// the family (without nonce: OpenID Connect Core 1.0 §12.2).
type idTokenSpec struct {
	authTime time.Time
	nonce    string
	sid      string
}

// idTokenClaims are the claims of an authd ID token (OpenID Connect Core
// 1.0 §2, §3.1.3.6).
type idTokenClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	AuthorizedParty   string `json:"azp"`
	AccessTokenHash   string `json:"at_hash"`
	SessionID         string `json:"sid,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
}

// idTokenFor returns the ID token to issue with an access token of scope
// from a sign-in: one when the scope holds openid, nil otherwise.
func idTokenFor(scope []string, spec idTokenSpec) *idTokenSpec {
	if !slices.Contains(scope, ScopeOpenID) {
		return nil
	}
	return &spec
}

// familyIDToken is the ID token of a refresh of fam with an access token of
// scope: only for a family that came from the authorization code grant
// (LoginSessionID set), never for one from the password grant.
func familyIDToken(fam storage.Family, scope []string) *idTokenSpec {
	if fam.LoginSessionID == "" {
		return nil
	}
	return idTokenFor(scope, idTokenSpec{authTime: fam.AuthTime, sid: fam.LoginSessionID})
}

// signIDToken signs the ID token of user u for client cl that accompanies
// the access token at of the given scope (SPEC 2.7): aud and azp are the
// client id, exp is the access token's, at_hash binds it to at, and
// preferred_username is there with scope profile.
func (s *Server) signIDToken(spec idTokenSpec, u storage.User, cl storage.Client, scope []string, at string, now time.Time) (string, error) {
	claims := idTokenClaims{
		Issuer: s.cfg.Issuer, Subject: u.ID, Audience: cl.ID,
		Expiry: now.Add(s.cfg.AccessTTL).Unix(), IssuedAt: now.Unix(),
		Nonce: spec.nonce, AuthorizedParty: cl.ID, SessionID: spec.sid,
	}
	if !spec.authTime.IsZero() {
		claims.AuthTime = spec.authTime.Unix()
	}
	if slices.Contains(scope, ScopeProfile) {
		claims.PreferredUsername = u.Username
	}
	// at_hash depends on the alg of the key that signs: the keys tell it
	// and sign with that key.
	return s.keys.SignIDTokenWith(func(alg string) ([]byte, error) {
		h, err := atHash(alg, at)
		if err != nil {
			return nil, err
		}
		claims.AccessTokenHash = h
		return json.Marshal(claims)
	})
}

// atHash is the at_hash of an access token (OpenID Connect Core 1.0
// §3.1.3.6): the left half of its hash with the hash function of the ID
// token's alg, base64url. SHA-256 for RS256 and ES256; SHA-512 for EdDSA
// with Ed25519, as clients compute it: go-oidc's IDToken.VerifyAccessToken
// (github.com/coreos/go-oidc/v3/oidc/oidc.go) hashes the access token of an
// EdDSA ID token with sha512.New() and compares the left half.
func atHash(alg, at string) (string, error) {
	switch alg {
	case "RS256", "ES256":
		sum := sha256.Sum256([]byte(at))
		return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
	case "EdDSA":
		sum := sha512.Sum512([]byte(at))
		return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
	}
	return "", fmt.Errorf("server: no at_hash for signing algorithm %q", alg)
}
