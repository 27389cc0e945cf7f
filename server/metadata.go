package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// signingAlg is the algorithm of authd's signatures, access and ID tokens
// alike: that of the active key. The keys package signs with RS256 only.
const signingAlg = "RS256"

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
	// RFC 9068 access tokens are signed with the active key.
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

// oauthMetadata is the RFC 8414 document's content.
func oauthMetadata(issuer string) metadata {
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
		AccessTokenSigningAlgs:            []string{signingAlg},
	}
}

// metadataDocument builds the RFC 8414 metadata body once; it changes only
// with the configuration.
func metadataDocument(issuer string) []byte {
	return marshalDocument(oauthMetadata(issuer))
}

// openIDDocument builds the OpenID Provider metadata body once.
func openIDDocument(issuer string) []byte {
	base := strings.TrimSuffix(issuer, "/")
	return marshalDocument(openIDMetadata{
		metadata:              oauthMetadata(issuer),
		UserInfoEndpoint:      base + "/userinfo",
		EndSessionEndpoint:    base + "/logout",
		SubjectTypesSupported: []string{"public"},
		IDTokenSigningAlgs:    []string{signingAlg},
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

func (s *Server) handleMetadata(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "application/json", s.metadata)
}

func (s *Server) handleOpenIDMetadata(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "application/json", s.openIDMetadata)
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
