package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// metadata is the RFC 8414 authorization server metadata document.
type metadata struct {
	Issuer                           string   `json:"issuer"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	JWKSURI                          string   `json:"jwks_uri"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	// RFC 9068 access tokens are RS256-signed.
	AccessTokenSigningAlgs []string `json:"access_token_signing_alg_values_supported"`
}

// metadataDocument builds the metadata body once; it changes only with the
// configuration.
func metadataDocument(issuer string) []byte {
	base := strings.TrimSuffix(issuer, "/")
	m := metadata{
		Issuer:                           issuer,
		TokenEndpoint:                    base + "/token",
		JWKSURI:                          base + "/.well-known/jwks.json",
		RevocationEndpoint:               base + "/revoke",
		IntrospectionEndpoint:            base + "/introspect",
		GrantTypesSupported:              []string{GrantPassword, GrantRefreshToken, GrantClientCredentials},
		ResponseTypesSupported:           []string{},
		TokenEndpointAuthMethods:         []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethods:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethods: []string{"client_secret_basic", "client_secret_post"},
		AccessTokenSigningAlgs:           []string{"RS256"},
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // a fixed struct of strings always marshals
	}
	return append(b, '\n')
}

func (s *Server) handleMetadata(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "application/json", s.metadata)
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
