package server

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

func withSigningAlg(alg string) envOption {
	return func(c *Config) { c.SigningAlg = alg }
}

// metadataAlgs returns the signing algorithms the two metadata documents
// list: the OpenID document's id_token_signing_alg_values_supported and
// both documents' access_token_signing_alg_values_supported.
func metadataAlgs(t *testing.T, e *testEnv) (idAlgs, oidcATAlgs, oauthATAlgs []string) {
	t.Helper()
	var oidcDoc, oauthDoc struct {
		ID []string `json:"id_token_signing_alg_values_supported"`
		AT []string `json:"access_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal([]byte(e.get("/.well-known/openid-configuration")), &oidcDoc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(e.get("/.well-known/oauth-authorization-server")), &oauthDoc); err != nil {
		t.Fatal(err)
	}
	return oidcDoc.ID, oidcDoc.AT, oauthDoc.AT
}

func wantMetadataAlgs(t *testing.T, e *testEnv, stage string, want ...string) {
	t.Helper()
	id, at, oauthAT := metadataAlgs(t, e)
	for name, got := range map[string][]string{
		"openid-configuration id_token_signing_alg_values_supported":           id,
		"openid-configuration access_token_signing_alg_values_supported":       at,
		"oauth-authorization-server access_token_signing_alg_values_supported": oauthAT,
	} {
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s = %v, want %v", stage, name, got, want)
		}
	}
}

// TestSigningAlg_IDTokenGoOIDC: with each --signing-alg, an ID token from
// the code grant verifies with go-oidc's verifier, configured from the
// discovery document as an OIDC client is, including at_hash against the
// access token issued with it (VerifyAccessToken: SHA-512 for EdDSA); the
// metadata lists that algorithm alone; both tokens carry it.
func TestSigningAlg_IDTokenGoOIDC(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			e := newCodeEnv(t, withSigningAlg(alg))
			wantMetadataAlgs(t, e.testEnv, "start", alg)
			code, verifier := e.newCode(e.spa, nil)
			r := e.redeem(e.spa, "", code, verifier)
			if r.Status != 200 {
				t.Fatalf("redeem: %d %s", r.Status, r.Raw)
			}
			at, raw := r.str("access_token"), r.str("id_token")
			for _, tok := range []string{at, raw} {
				if h := jwsHeader(t, tok); h["alg"] != alg {
					t.Errorf("token header alg %v, want %s", h["alg"], alg)
				}
			}
			ctx := oidc.ClientContext(context.Background(), e.http.Client())
			p, err := oidc.NewProvider(ctx, e.url)
			if err != nil {
				t.Fatalf("NewProvider: %v", err)
			}
			v := p.Verifier(&oidc.Config{ClientID: e.spa.ID, Now: e.clock.Now})
			idt, err := v.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("go-oidc Verify: %v", err)
			}
			if err := idt.VerifyAccessToken(at); err != nil {
				t.Errorf("go-oidc VerifyAccessToken (at_hash): %v", err)
			}
			if err := idt.VerifyAccessToken(at + "x"); err == nil {
				t.Error("go-oidc VerifyAccessToken accepts another access token")
			}
			if _, err := e.keys.Verify(at); err != nil {
				t.Errorf("access token: %v", err)
			}
		})
	}
}

// TestSigningAlg_MetadataFollowsKeys: a restart with another --signing-alg
// lists both algorithms (the active key's and the new next key's) in both
// metadata documents until the new key signs, then the new one alone; the
// documents are rebuilt when the list changes, not per request.
func TestSigningAlg_MetadataFollowsKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wantMetadataAlgs(t, e, "RS256 start", "RS256")
	d := e.srv.documents()
	if e.srv.documents() != d {
		t.Error("metadata documents rebuilt without a change")
	}
	e.cfg.SigningAlg = "EdDSA"
	e.restart()
	wantMetadataAlgs(t, e, "restart with EdDSA", "RS256", "EdDSA")
	if info, _ := e.keys.Active(); info.Alg != "RS256" {
		t.Errorf("the active key after the restart is %s, want still RS256", info.Alg)
	}
	e.clock.Advance(e.cfg.KeyRotation)
	if err := e.keys.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if info, _ := e.keys.Active(); info.Alg != "EdDSA" {
		t.Fatalf("the active key after a rotation period is %s, want EdDSA", info.Alg)
	}
	wantMetadataAlgs(t, e, "after the switch", "EdDSA")
}

// jwsHeader decodes the protected header of a compact JWS.
func jwsHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return m
}

// TestATHash: the left half of the alg's hash (SHA-256 for RS256 and
// ES256, SHA-512 for EdDSA); no at_hash for an algorithm authd has no key
// for.
func TestATHash(t *testing.T) {
	const at = "eyJ.access.token"
	s256 := sha256.Sum256([]byte(at))
	s512 := sha512.Sum512([]byte(at))
	tests := []struct {
		alg, want string
		err       bool
	}{
		{"RS256", base64.RawURLEncoding.EncodeToString(s256[:16]), false},
		{"ES256", base64.RawURLEncoding.EncodeToString(s256[:16]), false},
		{"EdDSA", base64.RawURLEncoding.EncodeToString(s512[:32]), false},
		{"HS256", "", true},
		{"none", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := atHash(tt.alg, at)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("atHash(%q) = %q, %v; want %q, error %v", tt.alg, got, err, tt.want, tt.err)
		}
	}
}
