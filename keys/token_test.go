package keys

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/storage"
)

const testClaims = `{"sub":"u1","scope":"read"}`

var b64 = base64.RawURLEncoding

// signWith signs testClaims with key as alg, with the given extra protected
// headers, through go-jose.
func signWith(t testing.TB, alg jose.SignatureAlgorithm, key any, headers map[jose.HeaderKey]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range headers {
		opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign([]byte(testClaims))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rs256 builds a compact JWS by hand with an arbitrary header, signed with
// priv (nil: an empty signature).
func rs256(t testing.TB, header string, priv *rsa.PrivateKey) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(testClaims))
	if priv == nil {
		return input + "."
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// tokenFixture is a manager with a retired (revoked), an active and a next
// key, and their private keys.
type tokenFixture struct {
	m                     *Manager
	active, next, revoked *rsa.PrivateKey
	activeKID, nextKID    string
	revokedKID            string
	revokedToken          string
	revokedIDToken        string
}

func newTokenFixture(t testing.TB) tokenFixture {
	t.Helper()
	s, c := &memStore{}, newClock()
	m := mustNew(t, testConfig(t, s, c))
	revokedToken := mustSign(t, m, testClaims)
	revokedIDToken, err := m.SignIDToken([]byte(testClaims))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.snapshot()
	f := tokenFixture{
		m:              m,
		revokedKID:     byState(keys, storage.KeyRetired)[0],
		activeKID:      byState(keys, storage.KeyActive)[0],
		nextKID:        byState(keys, storage.KeyNext)[0],
		revokedToken:   revokedToken,
		revokedIDToken: revokedIDToken,
	}
	m.mu.Lock()
	f.active, f.next, f.revoked = m.cache[f.activeKID].priv.(*rsa.PrivateKey), m.cache[f.nextKID].priv.(*rsa.PrivateKey), m.cache[f.revokedKID].priv.(*rsa.PrivateKey)
	m.mu.Unlock()
	if _, err := m.Revoke(t.Context(), f.revokedKID); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestManager_SignVerify checks the header Sign produces and what Verify
// accepts and rejects. The fixture is shared: RSA key generation is slow.
func TestManager_SignVerify(t *testing.T) {
	t.Parallel()
	f := newTokenFixture(t)
	t.Run("Sign", func(t *testing.T) {
		tok := mustSign(t, f.m, testClaims)
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("token has %d parts, want 3", len(parts))
		}
		raw, err := b64.DecodeString(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		var header map[string]any
		if err := json.Unmarshal(raw, &header); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": f.activeKID}
		if !maps.Equal(header, want) {
			t.Errorf("header %s, want exactly %v", raw, want)
		}
		payload, err := f.m.Verify(tok)
		if err != nil || string(payload) != testClaims {
			t.Errorf("Verify = %s, %v; want %s", payload, err, testClaims)
		}
	})
	attacker, err := generateRSA(2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := f.activeKID
	good := mustSign(t, f.m, testClaims)
	parts := strings.Split(good, ".")

	// Secrets an attacker may try for HS256 with the public key (RFC 8725
	// §2.1): its JWK as published, the modulus, PKIX DER and PEM.
	body, _ := f.m.JWKS()
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&f.active.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hmacSecrets := map[string][]byte{
		"modulus": f.active.N.Bytes(),
		"DER":     der,
		"PEM":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
	}
	for _, k := range set.Keys {
		if bytes.Contains(k, []byte(kid)) {
			hmacSecrets["JWK"] = k
		}
	}

	atjwt := map[jose.HeaderKey]any{"kid": kid, jose.HeaderType: "at+jwt"}
	rejected := map[string]string{
		"empty":             "",
		"garbage":           "not a token",
		"two parts":         parts[0] + "." + parts[1],
		"four parts":        good + ".x",
		"bad base64":        parts[0] + ".!!!." + parts[2],
		"tampered payload":  parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2],
		"no signature":      parts[0] + "." + parts[1] + ".",
		"alg none":          rs256(t, `{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`, nil),
		"alg None":          rs256(t, `{"alg":"None","typ":"at+jwt","kid":"`+kid+`"}`, nil),
		"RS512":             signWith(t, jose.RS512, jose.JSONWebKey{Key: f.active, KeyID: kid}, atjwt),
		"PS256":             signWith(t, jose.PS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, atjwt),
		"unknown kid":       signWith(t, jose.RS256, jose.JSONWebKey{Key: attacker, KeyID: "nope"}, atjwt),
		"attacker with kid": signWith(t, jose.RS256, jose.JSONWebKey{Key: attacker, KeyID: kid}, atjwt),
		"embedded jwk": rs256(t, `{"alg":"RS256","typ":"at+jwt","kid":"`+kid+`","jwk":`+
			string(mustJSON(t, jose.JSONWebKey{Key: &attacker.PublicKey}))+`}`, attacker),
		"no kid":           signWith(t, jose.RS256, f.active, map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"}),
		"no typ":           signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, nil),
		"typ JWT":          signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "JWT"}),
		"typ not a string": rs256(t, `{"alg":"RS256","typ":1,"kid":"`+kid+`"}`, f.active),
		"unknown crit":     rs256(t, `{"alg":"RS256","typ":"at+jwt","kid":"`+kid+`","crit":["exp"],"exp":1}`, f.active),
		"next key":         signWith(t, jose.RS256, jose.JSONWebKey{Key: f.next, KeyID: f.nextKID}, atjwt),
		"revoked key":      f.revokedToken,
		"too long":         parts[0] + "." + strings.Repeat("A", MaxTokenSize) + "." + parts[2],
		"JSON serialization": func() string {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: f.active, KeyID: kid}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign([]byte(testClaims))
			if err != nil {
				t.Fatal(err)
			}
			return obj.FullSerialize()
		}(),
	}
	for name, secret := range hmacSecrets {
		rejected["HS256 with the public key as "+name] = signWith(t, jose.HS256, secret, atjwt)
	}
	for name, tok := range rejected {
		t.Run(name, func(t *testing.T) {
			payload, err := f.m.Verify(tok)
			if !isInvalid(err) {
				t.Errorf("Verify = %q, %v; want ErrInvalidToken", payload, err)
			}
		})
	}

	accepted := map[string]string{
		"Sign":            good,
		"typ application": signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "application/at+jwt"}),
		"typ upper case":  signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "AT+JWT"}),
		"header order":    rs256(t, `{"kid":"`+kid+`","typ":"at+jwt","alg":"RS256"}`, f.active),
	}
	for name, tok := range accepted {
		t.Run(name, func(t *testing.T) {
			payload, err := f.m.Verify(tok)
			if err != nil || string(payload) != testClaims {
				t.Errorf("Verify = %q, %v; want %s", payload, err, testClaims)
			}
		})
	}
}

// TestManager_SignVerifyIDToken checks the header SignIDToken produces and
// that ID tokens and access tokens cannot be taken for each other: Verify
// refuses an ID token and VerifyIDToken an access token (RFC 8725 §3.11).
func TestManager_SignVerifyIDToken(t *testing.T) {
	t.Parallel()
	f := newTokenFixture(t)
	kid := f.activeKID
	idTok, err := f.m.SignIDToken([]byte(testClaims))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("header", func(t *testing.T) {
		parts := strings.Split(idTok, ".")
		if len(parts) != 3 {
			t.Fatalf("token has %d parts, want 3", len(parts))
		}
		raw, err := b64.DecodeString(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		var header map[string]any
		if err := json.Unmarshal(raw, &header); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}
		if !maps.Equal(header, want) {
			t.Errorf("header %s, want exactly %v", raw, want)
		}
		payload, err := f.m.VerifyIDToken(idTok)
		if err != nil || string(payload) != testClaims {
			t.Errorf("VerifyIDToken = %s, %v; want %s", payload, err, testClaims)
		}
	})
	t.Run("ID token refused by Verify", func(t *testing.T) {
		if payload, err := f.m.Verify(idTok); !isInvalid(err) {
			t.Errorf("Verify(ID token) = %q, %v; want ErrInvalidToken", payload, err)
		}
	})
	t.Run("access token refused by VerifyIDToken", func(t *testing.T) {
		at := mustSign(t, f.m, testClaims)
		if payload, err := f.m.VerifyIDToken(at); !isInvalid(err) {
			t.Errorf("VerifyIDToken(access token) = %q, %v; want ErrInvalidToken", payload, err)
		}
	})

	attacker, err := generateRSA(2048)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(idTok, ".")
	jwt := map[jose.HeaderKey]any{"kid": kid, jose.HeaderType: "JWT"}
	rejected := map[string]string{
		"empty":                  "",
		"tampered payload":       parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2],
		"no signature":           parts[0] + "." + parts[1] + ".",
		"alg none":               rs256(t, `{"alg":"none","typ":"JWT","kid":"`+kid+`"}`, nil),
		"HS256 with the modulus": signWith(t, jose.HS256, f.active.N.Bytes(), jwt),
		"PS256":                  signWith(t, jose.PS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, jwt),
		"attacker with kid":      signWith(t, jose.RS256, jose.JSONWebKey{Key: attacker, KeyID: kid}, jwt),
		"no kid":                 signWith(t, jose.RS256, f.active, map[jose.HeaderKey]any{jose.HeaderType: "JWT"}),
		"no typ":                 signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, nil),
		"typ at+jwt":             signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"}),
		"typ application/at+jwt": signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid},
			map[jose.HeaderKey]any{jose.HeaderType: "application/at+jwt"}),
		"typ JWS":     signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "JWS"}),
		"next key":    signWith(t, jose.RS256, jose.JSONWebKey{Key: f.next, KeyID: f.nextKID}, jwt),
		"revoked key": f.revokedIDToken,
		"too long":    parts[0] + "." + strings.Repeat("A", MaxTokenSize) + "." + parts[2],
	}
	for name, tok := range rejected {
		t.Run("rejected/"+name, func(t *testing.T) {
			if payload, err := f.m.VerifyIDToken(tok); !isInvalid(err) {
				t.Errorf("VerifyIDToken = %q, %v; want ErrInvalidToken", payload, err)
			}
		})
	}
	accepted := map[string]string{
		"SignIDToken":     idTok,
		"typ lower case":  signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "jwt"}),
		"typ application": signWith(t, jose.RS256, jose.JSONWebKey{Key: f.active, KeyID: kid}, map[jose.HeaderKey]any{jose.HeaderType: "application/jwt"}),
		"header order":    rs256(t, `{"kid":"`+kid+`","typ":"JWT","alg":"RS256"}`, f.active),
	}
	for name, tok := range accepted {
		t.Run("accepted/"+name, func(t *testing.T) {
			payload, err := f.m.VerifyIDToken(tok)
			if err != nil || string(payload) != testClaims {
				t.Errorf("VerifyIDToken = %q, %v; want %s", payload, err, testClaims)
			}
		})
	}
}

// TestManager_VerifyIDToken_Retired: an ID token signed by a key that has
// since been retired (still published, not revoked) still verifies.
func TestManager_VerifyIDToken_Retired(t *testing.T) {
	t.Parallel()
	m := mustNew(t, testConfig(t, &memStore{}, newClock()))
	tok, err := m.SignIDToken([]byte(testClaims))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if payload, err := m.VerifyIDToken(tok); err != nil || string(payload) != testClaims {
		t.Errorf("VerifyIDToken after rotation = %q, %v; want %s", payload, err, testClaims)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzVerify(f *testing.F) {
	fx := newTokenFixture(f)
	good := mustSign(f, fx.m, testClaims)
	parts := strings.Split(good, ".")
	kid := fx.activeKID
	for _, seed := range []string{
		good,
		"",
		"a.b.c",
		"..",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		rs256(f, `{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`, nil),
		rs256(f, `{"alg":"RS256","typ":"at+jwt","kid":"`+kid+`","crit":["b64"],"b64":false}`, fx.active),
		rs256(f, `{"alg":"RS256","typ":"at+jwt","kid":"`+kid+`"}`, fx.active),
		signWith(f, jose.HS256, fx.active.N.Bytes(), map[jose.HeaderKey]any{"kid": kid, jose.HeaderType: "at+jwt"}),
		fx.revokedToken,
		fx.revokedIDToken,
		rs256(f, `{"alg":"RS256","typ":"JWT","kid":"`+kid+`"}`, fx.active),
		`{"payload":"e30","protected":"e30","signature":""}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for name, verify := range map[string]func(string) ([]byte, error){"Verify": fx.m.Verify, "VerifyIDToken": fx.m.VerifyIDToken} {
			payload, err := verify(token)
			if err != nil {
				if !isInvalid(err) {
					t.Fatalf("%s error %v does not wrap ErrInvalidToken", name, err)
				}
				continue
			}
			// Only tokens the active key signed verify, and every one
			// of them carries testClaims.
			if string(payload) != testClaims {
				t.Fatalf("%s accepted %q with payload %q", name, token, payload)
			}
		}
	})
}

// TestSign_Concurrent: many goroutines signing at once all get verifiable
// tokens, and the bound on concurrent signatures gives back every slot it
// took (a leaked slot would stall signing for good).
func TestSign_Concurrent(t *testing.T) {
	m := mustNew(t, testConfig(t, &memStore{}, newClock()))
	var wg sync.WaitGroup
	errs := make(chan error, 64*4)
	for g := range 64 {
		wg.Go(func() {
			for i := range 4 {
				claims := fmt.Appendf(nil, `{"g":%d,"i":%d}`, g, i)
				tok, err := m.Sign(claims)
				if err == nil {
					_, err = m.Verify(tok)
				}
				if err == nil {
					tok, err = m.SignIDToken(claims)
				}
				if err == nil {
					_, err = m.VerifyIDToken(tok)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(m.signSlots); n != 0 {
		t.Errorf("%d signing slots still taken after every Sign returned", n)
	}
	if c := cap(m.signSlots); c != runtime.GOMAXPROCS(0) {
		t.Errorf("%d signing slots, want one per CPU (%d)", c, runtime.GOMAXPROCS(0))
	}
}
