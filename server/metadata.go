package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// metadata is the RFC 8414 authorization server metadata document.
type metadata struct {
	Issuer                           string   `json:"issuer"`
	AuthorizationEndpoint            string   `json:"authorization_endpoint"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	JWKSURI                          string   `json:"jwks_uri"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	// PKCE (RFC 7636 §4.3): S256 only, required of every client.
	CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
	// RFC 9207: the authorization response carries iss.
	AuthorizationResponseIssParameter bool `json:"authorization_response_iss_parameter_supported"`
	// RFC 9068 access tokens are signed with the active key: its
	// algorithm, and the next key's during a change (SPEC 2.3).
	AccessTokenSigningAlgs []string `json:"access_token_signing_alg_values_supported"`
}

// openIDMetadata is the OpenID Provider metadata (OpenID Connect Discovery
// 1.0 §3, RP-Initiated Logout 1.0 §2.1): every field of the RFC 8414
// document and the OpenID ones (SPEC 2.7).
type openIDMetadata struct {
	metadata
	UserInfoEndpoint      string   `json:"userinfo_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	SubjectTypesSupported []string `json:"subject_types_supported"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported       []string `json:"scopes_supported"`
	ClaimsSupported       []string `json:"claims_supported"`
}

// oauthMetadata is the RFC 8414 document's content; algs are the signing
// algorithms in use (keys: SigningAlgs).
func oauthMetadata(issuer string, algs []string) metadata {
	base := strings.TrimSuffix(issuer, "/")
	return metadata{
		Issuer:                            issuer,
		AuthorizationEndpoint:             base + "/authorize",
		TokenEndpoint:                     base + "/token",
		JWKSURI:                           base + "/.well-known/jwks.json",
		RevocationEndpoint:                base + "/revoke",
		IntrospectionEndpoint:             base + "/introspect",
		GrantTypesSupported:               []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials},
		ResponseTypesSupported:            []string{"code"},
		TokenEndpointAuthMethods:          []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethods:     []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethods:  []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethods:              []string{"S256"},
		AuthorizationResponseIssParameter: true,
		AccessTokenSigningAlgs:            algs,
	}
}

// metadataDocuments are the two metadata bodies, built for one list of
// signing algorithms: once at start and again when the list changes (a
// change of --signing-alg), never per request.
type metadataDocuments struct {
	algs          []string // as the keys returned it (shared)
	oauth, openID []byte
}

// documents returns the metadata bodies for the signing algorithms in use,
// building them only when the keys' list has changed.
func (s *Server) documents() *metadataDocuments {
	algs := s.keys.SigningAlgs()
	d := s.metadataDocs.Load()
	if d != nil && slices.Equal(d.algs, algs) {
		return d
	}
	d = &metadataDocuments{
		algs:   algs,
		oauth:  metadataDocument(s.cfg.Issuer, algs),
		openID: openIDDocument(s.cfg.Issuer, algs),
	}
	s.metadataDocs.Store(d)
	return d
}

// metadataDocument builds the RFC 8414 metadata body.
func metadataDocument(issuer string, algs []string) []byte {
	return marshalDocument(oauthMetadata(issuer, algs))
}

// openIDDocument builds the OpenID Provider metadata body. ID tokens are
// signed with the active key, so id_token_signing_alg_values_supported
// lists the algorithms in use, without RS256 when no RSA key signs or will
// sign (SPEC 2.3, a documented departure from Discovery 1.0 §3).
func openIDDocument(issuer string, algs []string) []byte {
	base := strings.TrimSuffix(issuer, "/")
	return marshalDocument(openIDMetadata{
		metadata:              oauthMetadata(issuer, algs),
		UserInfoEndpoint:      base + "/userinfo",
		EndSessionEndpoint:    base + "/logout",
		SubjectTypesSupported: []string{"public"},
		IDTokenSigningAlgs:    algs,
		ScopesSupported:       []string{ScopeOpenID, ScopeProfile},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid",
			"preferred_username"},
	})
}

func marshalDocument(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // a fixed struct of strings always marshals
	}
	return append(b, '\n')
}

// The metadata documents may be cached for --jwks-max-age: they list the
// next key's algorithm, published 2 × --jwks-max-age before it signs.
func (s *Server) handleMetadata(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = s.metadataCacheControl
	c.Data(http.StatusOK, "application/json", s.documents().oauth)
}

func (s *Server) handleOpenIDMetadata(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = s.metadataCacheControl
	c.Data(http.StatusOK, "application/json", s.documents().openID)
}

// handleJWKS serves the pre-built JWKS with caching headers and answers a
// matching If-None-Match with 304 (SPEC §2.3). Nothing is built per
// request.
func (s *Server) handleJWKS(c *gin.Context) {
	body, etag := s.keys.JWKS()
	hv := s.jwksHeaders.Load()
	if hv == nil || hv.etag != etag {
		hv = &jwksHeaderValues{etag: etag, etagValue: []string{etag}, length: []string{strconv.Itoa(len(body))}}
		s.jwksHeaders.Store(hv)
	}
	h := c.Writer.Header()
	h["Cache-Control"] = s.jwksCacheControl
	h["Etag"] = hv.etagValue
	if etagMatch(c.Request.Header.Get("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = hv.length
	c.Status(http.StatusOK)
	if c.Request.Method != http.MethodHead {
		c.Writer.Write(body)
	}
}

var jsonContentType = []string{"application/json"}

// jwksHeaderValues are the header values of one JWKS body, shared by all
// responses until the key set changes (net/http only reads them; a slice
// of length and capacity 1 cannot be appended to in place).
type jwksHeaderValues struct {
	etag      string
	etagValue []string
	length    []string
}

// etagMatch implements the weak comparison of If-None-Match (RFC 9110
// §13.1.2).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	// One pass without allocating: the list may fill the headers' limit.
	for header != "" {
		var t string
		t, header, _ = strings.Cut(header, ",")
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == want {
			return true
		}
	}
	return false
}

func cacheControl(maxAge time.Duration) []string {
	n := strconv.Itoa(int(maxAge / time.Second))
	return []string{"public, max-age=" + n + ", stale-while-revalidate=" + n}
}
