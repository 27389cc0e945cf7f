package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

var allAlgs = []string{algRS256, algES256, algEdDSA}

// jwkFields are the members SPEC 2.3 allows in a JWKS entry of each kty:
// the public parts and nothing else.
var jwkFields = map[string][]string{
	"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
	"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
}

var ktyOf = map[string]string{algRS256: "RSA", algES256: "EC", algEdDSA: "OKP"}

// jwksEntries parses a JWKS body into its raw entries by kid, checking that
// each has exactly the public members of its kty, use sig, and an alg that
// goes with its kty.
func jwksEntries(t *testing.T, body []byte) map[string]map[string]any {
	t.Helper()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("JWKS body: %v", err)
	}
	out := make(map[string]map[string]any)
	for _, k := range raw.Keys {
		kty, _ := k["kty"].(string)
		got := slices.Sorted(maps.Keys(k))
		if want := jwkFields[kty]; want == nil || !slices.Equal(got, want) {
			t.Fatalf("JWKS entry of kty %q has members %v, want exactly %v", kty, got, want)
		}
		alg, _ := k["alg"].(string)
		if k["use"] != "sig" || ktyOf[alg] != kty {
			t.Fatalf("JWKS entry %v: want use sig and an alg of kty %s", k, kty)
		}
		if kty == "EC" && k["crv"] != "P-256" || kty == "OKP" && k["crv"] != "Ed25519" {
			t.Fatalf("JWKS entry %v: wrong curve", k)
		}
		out[k["kid"].(string)] = k
	}
	if _, err := jwksSet(body); err != nil {
		t.Fatal(err)
	}
	return out
}

// headerOf returns the protected header of a compact JWS.
func headerOf(t *testing.T, token string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	b, err := b64.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func algConfig(t testing.TB, s Store, c *clock, alg string) Config {
	cfg := testConfig(t, s, c)
	cfg.SigningAlg = alg
	return cfg
}

// TestThumbprint: the kid of each kind of key is its RFC 7638 thumbprint.
// RSA and Ed25519 against the RFCs' own examples (RFC 7638 §3.1, RFC 8037
// Appendix A.3), P-256 against the canonical JSON hashed here.
func TestThumbprint(t *testing.T) {
	t.Run("RSA RFC 7638", func(t *testing.T) {
		n, _ := b64.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
		got, err := thumbprint(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537})
		if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
			t.Errorf("thumbprint = %q, %v; want RFC 7638's NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", got, err)
		}
	})
	t.Run("Ed25519 RFC 8037", func(t *testing.T) {
		x, _ := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
		got, err := thumbprint(ed25519.PublicKey(x))
		if err != nil || got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
			t.Errorf("thumbprint = %q, %v; want RFC 8037's kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", got, err)
		}
	})
	t.Run("P-256 computed", func(t *testing.T) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pt, _ := priv.PublicKey.Bytes()
		canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(pt[1:33]), b64.EncodeToString(pt[33:]))
		sum := sha256.Sum256([]byte(canon))
		got, err := thumbprint(priv.Public())
		if want := b64.EncodeToString(sum[:]); err != nil || got != want {
			t.Errorf("thumbprint = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("Ed25519 computed", func(t *testing.T) {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(fmt.Appendf(nil, `{"crv":"Ed25519","kty":"OKP","x":"%s"}`, b64.EncodeToString(pub)))
		got, err := thumbprint(pub)
		if want := b64.EncodeToString(sum[:]); err != nil || got != want {
			t.Errorf("thumbprint = %q, %v; want %q", got, err, want)
		}
	})
}

// TestManager_Kinds takes a key of each kind through its whole life: next,
// active, retired, removed; and a revocation. At each stage the JWKS holds
// exactly the public members of its kty and the right keys, tokens carry
// the key's alg, and Verify accepts exactly the tokens of published,
// unrevoked keys that signed.
func TestManager_Kinds(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			s, c := &memStore{}, newClock()
			cfg := algConfig(t, s, c, alg)
			cfg.KEK = newKEK(t)
			m := mustNew(t, cfg)
			keys, _ := s.snapshot()
			first, next := byState(keys, storage.KeyActive)[0], byState(keys, storage.KeyNext)[0]
			for _, k := range keys {
				if k.Alg != alg || !k.Encrypted {
					t.Fatalf("stored key %s: alg %q encrypted %v, want %s encrypted", k.ID, k.Alg, k.Encrypted, alg)
				}
				if want := map[string]int{algRS256: 2048, algES256: 256, algEdDSA: 256}[alg]; k.Bits != want {
					t.Errorf("stored key %s: bits %d, want %d", k.ID, k.Bits, want)
				}
			}
			checkJWKS := func(stage string, want ...string) {
				t.Helper()
				body, _ := m.JWKS()
				got := slices.Sorted(maps.Keys(jwksEntries(t, body)))
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: JWKS kids %v, want %v", stage, got, want)
				}
				for kid, e := range jwksEntries(t, body) {
					if e["alg"] != alg || e["kty"] != ktyOf[alg] {
						t.Errorf("%s: JWKS entry %s: alg %v kty %v, want %s %s", stage, kid, e["alg"], e["kty"], alg, ktyOf[alg])
					}
					pub, _ := jwksSet(body)
					if tp, err := thumbprint(pub[kid].Key); err != nil || tp != kid {
						t.Errorf("%s: kid %s is not the thumbprint %s of its JWKS entry", stage, kid, tp)
					}
				}
			}
			checkJWKS("first start", first, next)

			tok := mustSign(t, m, testClaims)
			h := headerOf(t, tok)
			if h["alg"] != alg || h["kid"] != first || h["typ"] != "at+jwt" || len(h) != 3 {
				t.Errorf("access token header %v, want exactly alg %s, kid %s, typ at+jwt", h, alg, first)
			}
			idTok, err := m.SignIDToken([]byte(testClaims))
			if err != nil {
				t.Fatal(err)
			}
			if h := headerOf(t, idTok); h["alg"] != alg || h["typ"] != "JWT" || len(h) != 3 {
				t.Errorf("ID token header %v, want exactly alg %s, kid, typ JWT", h, alg)
			}
			if p, err := m.Verify(tok); err != nil || string(p) != testClaims {
				t.Fatalf("Verify: %q, %v", p, err)
			}
			if _, err := m.VerifyIDToken(idTok); err != nil {
				t.Fatalf("VerifyIDToken: %v", err)
			}
			if _, err := m.Verify(idTok); !isInvalid(err) {
				t.Errorf("Verify(ID token) = %v, want refused", err)
			}
			// A strict outside verifier, from the JWKS alone.
			body, _ := m.JWKS()
			set, _ := jwksSet(body)
			if err := verifyAlg(set, tok, alg); err != nil {
				t.Errorf("outside verifier: %v", err)
			}
			if info, ok := m.Active(); !ok || info.Alg != alg || info.ID != first {
				t.Errorf("Active() = %+v, want %s of %s", info, first, alg)
			}

			// next → active; the first key is retired and still verifies.
			c.Advance(cfg.KeyRotation)
			mustTick(t, m)
			keys, _ = s.snapshot()
			third := byState(keys, storage.KeyNext)[0]
			if got := byState(keys, storage.KeyActive); !slices.Equal(got, []string{next}) {
				t.Fatalf("after rotation active %v, want %s", got, next)
			}
			checkJWKS("after rotation", first, next, third)
			if _, err := m.Verify(tok); err != nil {
				t.Errorf("token of the retired key: %v", err)
			}
			tok2 := mustSign(t, m, testClaims)
			if kidOf(t, tok2) != next {
				t.Errorf("signed by %s, want the new active %s", kidOf(t, tok2), next)
			}

			// A restart with the same KEK opens every key of this kind.
			m2 := mustNew(t, cfg)
			if _, err := m2.Verify(tok); err != nil {
				t.Errorf("after restart, token of the retired key: %v", err)
			}
			if _, err := m2.Verify(mustSign(t, m2, testClaims)); err != nil {
				t.Errorf("after restart: %v", err)
			}

			// retired → removed.
			c.Advance(cfg.AccessTTL + DefaultSkew + time.Second)
			mustTick(t, m)
			checkJWKS("after removal", next, third)
			if _, err := m.Verify(tok); !isInvalid(err) {
				t.Errorf("token of a removed key: %v, want refused", err)
			}

			// Revoking the active key: its tokens stop verifying, the next
			// key signs.
			if _, err := m.Revoke(t.Context(), next); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Verify(tok2); !isInvalid(err) {
				t.Errorf("token of a revoked key: %v, want refused", err)
			}
			if kid := kidOf(t, mustSign(t, m, testClaims)); kid != third {
				t.Errorf("after revoking the active key, signed by %s, want %s", kid, third)
			}
			infos, err := m.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range infos {
				if in.Alg != alg {
					t.Errorf("List: key %s alg %q, want %s", in.ID, in.Alg, alg)
				}
			}
		})
	}
}

// verifyAlg verifies token against a JWKS as a strict outside verifier
// does: an explicit list of algorithms, the kid in the set, and the
// header's alg that of the JWK.
func verifyAlg(set map[string]jose.JSONWebKey, token string, algs ...string) error {
	var allowed []jose.SignatureAlgorithm
	for _, a := range algs {
		allowed = append(allowed, jose.SignatureAlgorithm(a))
	}
	obj, err := jose.ParseSignedCompact(token, allowed)
	if err != nil {
		return err
	}
	h := obj.Signatures[0].Protected
	k, ok := set[h.KeyID]
	if !ok {
		return fmt.Errorf("kid %s not in the cached JWKS", h.KeyID)
	}
	if k.Algorithm != h.Algorithm {
		return fmt.Errorf("token alg %s, key %s is %s", h.Algorithm, h.KeyID, k.Algorithm)
	}
	_, err = obj.Verify(k)
	return err
}

// TestKEK_EveryKind: with a KEK, no private part of any kind of key is in
// the store (the JWK "d" of each), a restart with the KEK opens them, one
// with another KEK or none changes nothing and fails with ErrWrongKEK; and
// keys stored unencrypted are migrated.
func TestKEK_EveryKind(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			s, c := &memStore{}, newClock()
			cfg := algConfig(t, s, c, alg)
			m := mustNew(t, cfg) // unencrypted
			tok := mustSign(t, m, testClaims)
			var ds []string
			m.mu.Lock()
			for _, mat := range m.cache {
				doc, _, err := seal(mat.kid, alg, mat.priv, nil)
				if err != nil {
					t.Fatal(err)
				}
				var jwk struct {
					D string `json:"d"`
				}
				if err := json.Unmarshal(doc, &jwk); err != nil || jwk.D == "" {
					t.Fatalf("private JWK without d: %v", err)
				}
				ds = append(ds, jwk.D)
			}
			m.mu.Unlock()
			privates := func() string {
				keys, _ := s.snapshot()
				var b strings.Builder
				for _, k := range keys {
					b.Write(k.Private)
				}
				return b.String()
			}
			for _, d := range ds {
				if !strings.Contains(privates(), d) {
					t.Fatal("test is broken: unencrypted store lacks the private part")
				}
			}
			cfg.KEK = newKEK(t)
			m = mustNew(t, cfg) // migrates
			raw := privates()
			for _, d := range ds {
				if strings.Contains(raw, d) {
					t.Error("a private part is in the store with a KEK")
				}
			}
			keys, writes := s.snapshot()
			for _, k := range keys {
				if !k.Encrypted || k.Alg != alg {
					t.Errorf("key %s: encrypted %v alg %q", k.ID, k.Encrypted, k.Alg)
				}
			}
			if _, err := m.Verify(tok); err != nil {
				t.Errorf("token signed before migration: %v", err)
			}
			m = mustNew(t, cfg)
			if _, err := m.Verify(tok); err != nil {
				t.Errorf("after restart with the KEK: %v", err)
			}
			for _, kek := range [][]byte{newKEK(t), nil} {
				bad := cfg
				bad.KEK = kek
				if _, err := New(t.Context(), bad); !errors.Is(err, ErrWrongKEK) {
					t.Errorf("New with KEK %x: %v, want ErrWrongKEK", kek, err)
				}
			}
			if _, w := s.snapshot(); w != writes {
				t.Errorf("%d writes after migration, want none", w-writes)
			}
		})
	}
}

// TestVerify_AlgorithmConfusion: a token is refused unless its alg is the
// alg of the key its kid names, and "none" or HMAC never verify.
func TestVerify_AlgorithmConfusion(t *testing.T) {
	attackers := map[string]crypto.Signer{}
	for _, alg := range allAlgs {
		k, err := generate(alg, 2048)
		if err != nil {
			t.Fatal(err)
		}
		attackers[alg] = k
	}
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			s, c := &memStore{}, newClock()
			m := mustNew(t, algConfig(t, s, c, alg))
			info, _ := m.Active()
			kid := info.ID
			m.mu.Lock()
			pub := m.cache[kid].pub
			public := m.cache[kid].public
			m.mu.Unlock()
			hdr := func(a string) string {
				return fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt"}`, a, kid)
			}
			input := func(a string) string {
				return b64.EncodeToString([]byte(hdr(a))) + "." + b64.EncodeToString([]byte(testClaims))
			}
			hs := func(secret []byte) string {
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(input("HS256")))
				return input("HS256") + "." + b64.EncodeToString(mac.Sum(nil))
			}
			// An HMAC confusion attack uses the public key as the secret.
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			tests := map[string]string{
				"none":                    input("none") + ".",
				"none with a signature":   input("none") + "." + b64.EncodeToString([]byte("x")),
				"HS256 with the JWK":      hs(public),
				"HS256 with the key DER":  hs(der),
				"RS512 header":            input("RS512") + "." + b64.EncodeToString(make([]byte, 256)),
				"PS256 header":            input("PS256") + "." + b64.EncodeToString(make([]byte, 256)),
				"ES384 header":            input("ES384") + "." + b64.EncodeToString(make([]byte, 96)),
				"lower-case alg":          input(strings.ToLower(alg)) + "." + b64.EncodeToString(make([]byte, 64)),
				"unknown kid, right alg":  signWith(t, jose.SignatureAlgorithm(alg), attackers[alg], map[jose.HeaderKey]any{"kid": "nope", "typ": "at+jwt"}),
				"attacker's key, our kid": signWith(t, jose.SignatureAlgorithm(alg), attackers[alg], map[jose.HeaderKey]any{"kid": kid, "typ": "at+jwt"}),
			}
			for _, other := range allAlgs {
				if other == alg {
					continue
				}
				tests[other+" header, "+alg+" kid"] = signWith(t, jose.SignatureAlgorithm(other), attackers[other],
					map[jose.HeaderKey]any{"kid": kid, "typ": "at+jwt"})
			}
			for name, tok := range tests {
				t.Run(name, func(t *testing.T) {
					if _, err := m.Verify(tok); !isInvalid(err) {
						t.Errorf("Verify = %v, want ErrInvalidToken", err)
					}
				})
			}
		})
	}
}

// TestVerify_HeaderAlgMustBeTheKeys checks verify's own rule, apart from
// what go-jose refuses: the key named by kid is given to verify with its
// alg replaced, as if the table mixed kinds up; the token, valid for the
// key, is refused for the alg mismatch.
func TestVerify_HeaderAlgMustBeTheKeys(t *testing.T) {
	s, c := &memStore{}, newClock()
	m := mustNew(t, algConfig(t, s, c, algES256))
	tok := mustSign(t, m, testClaims)
	st := m.state.Load()
	kid := st.active.kid
	fake := *st.active
	fake.alg = jose.EdDSA
	m.state.Store(&snapshot{keys: st.keys, active: st.active, verify: map[string]*material{kid: &fake}, jwks: st.jwks, etag: st.etag})
	if _, err := m.Verify(tok); !isInvalid(err) || !strings.Contains(err.Error(), "alg") {
		t.Errorf("Verify = %v, want refused for its alg", err)
	}
}

// cachingVerifier is a strict caching verifier (go-jose): it fetches the
// JWKS when its copy is older than 2×max-age (max-age plus
// stale-while-revalidate, the longest a conforming cache keeps it) and
// never otherwise: an unknown kid is a failure, not a refetch.
type cachingVerifier struct {
	fetched time.Time
	set     map[string]jose.JSONWebKey
	gen     int // counts fetches
}

func (v *cachingVerifier) refresh(t *testing.T, m *Manager, now time.Time, force bool) {
	if v.set != nil && !force {
		return
	}
	body, _ := m.JWKS()
	jwksEntries(t, body)
	set, err := jwksSet(body)
	if err != nil {
		t.Fatal(err)
	}
	v.set, v.fetched = set, now
	v.gen++
}

// TestManager_SwitchAlg switches RS256 → ES256 → EdDSA → RS256 by
// restarting with another --signing-alg while tokens are issued every
// minute, and verifies every live token at every minute with ten strict
// caching verifiers whose refetches fall at every phase of the cache
// lifetime. No token may fail. Each restart replaces only the next key.
func TestManager_SwitchAlg(t *testing.T) {
	const step = time.Minute
	s, c := &memStore{}, newClock()
	base := algConfig(t, s, c, algRS256)
	base.KeyRotation, base.JWKSMaxAge, base.AccessTTL = time.Hour, 5*time.Minute, 15*time.Minute
	lifetime := 2 * base.JWKSMaxAge
	period := int(lifetime / step)
	verifiers := make([]cachingVerifier, period)

	type tokenAt struct {
		tok, alg string
		at       time.Time
		id       bool
		// checked[i] is the generation of verifier i's copy the token was
		// last checked against; authd is the ETag authd last checked it
		// with. A check against the same copy again would tell nothing new.
		checked []int
		authd   string
	}
	var live []tokenAt
	failures, checked := 0, 0
	seen := map[string]bool{}
	minute := 0
	var m *Manager
	run := func(d time.Duration) {
		for end := c.Now().Add(d); c.Now().Before(end); {
			c.Advance(step)
			minute++
			mustTick(t, m)
			for i := range verifiers {
				verifiers[i].refresh(t, m, c.Now(), minute%period == i)
			}
			for _, id := range []bool{false, true} {
				var tok string
				var err error
				if id {
					tok, err = m.SignIDToken([]byte(testClaims))
				} else {
					tok, err = m.Sign([]byte(testClaims))
				}
				if err != nil {
					t.Fatal(err)
				}
				a, _ := headerOf(t, tok)["alg"].(string)
				seen[a] = true
				live = append(live, tokenAt{tok: tok, alg: a, at: c.Now(), id: id, checked: make([]int, len(verifiers))})
			}
			live = slices.DeleteFunc(live, func(x tokenAt) bool { return !c.Now().Before(x.at.Add(base.AccessTTL)) })
			_, etag := m.JWKS()
			for j := range live {
				x := &live[j]
				verify := m.Verify
				if x.id {
					verify = m.VerifyIDToken
				}
				if x.authd != etag {
					x.authd = etag
					if _, err := verify(x.tok); err != nil {
						failures++
						t.Errorf("minute %d: authd refuses a %s token of minute %s: %v", minute, x.alg, x.at.Format("15:04"), err)
					}
				}
				for i := range verifiers {
					if x.checked[i] == verifiers[i].gen {
						continue
					}
					x.checked[i] = verifiers[i].gen
					checked++
					if err := verifyAlg(verifiers[i].set, x.tok, allAlgs...); err != nil {
						failures++
						t.Errorf("minute %d: verifier %d (fetched %s) refuses a %s token of %s: %v",
							minute, i, verifiers[i].fetched.Format("15:04"), x.alg, x.at.Format("15:04"), err)
					}
				}
			}
		}
	}
	activeAlg := func() string {
		info, _ := m.Active()
		return info.Alg
	}

	m = mustNew(t, base)
	for i := range verifiers {
		verifiers[i].refresh(t, m, c.Now(), true)
	}
	run(90 * time.Minute)
	for _, alg := range []string{algES256, algEdDSA, algRS256} {
		// Restart five minutes before a scheduled rotation, so that the
		// new key's lead, not the rotation period, holds it back.
		info, _ := m.Active()
		run(info.NextRotation.Sub(c.Now()) - 5*time.Minute)
		before, _ := s.snapshot()
		prev := activeAlg()
		cfg := base
		cfg.SigningAlg = alg
		m = mustNew(t, cfg) // a restart with another --signing-alg
		after, writes := s.snapshot()
		checkReplacedNext(t, before, after, alg)
		if got := activeAlg(); got != prev {
			t.Fatalf("restart with %s: the active key is %s, want still %s", alg, got, prev)
		}
		if got := m.SigningAlgs(); !slices.Equal(got, []string{prev, alg}) {
			t.Errorf("during the change SigningAlgs = %v, want [%s %s]", got, prev, alg)
		}
		// The same settings again change nothing.
		m = mustNew(t, cfg)
		if _, w := s.snapshot(); w != writes {
			t.Errorf("a second start with %s wrote %d times", alg, w-writes)
		}
		// Until the new key has been published for 2×max-age, the old
		// kind signs; by the next scheduled rotation the new kind does.
		run(lifetime - step)
		if got := activeAlg(); got != prev {
			t.Fatalf("%s key active before it was published for the lead (active %s)", alg, got)
		}
		run(2 * step)
		if got := activeAlg(); got != alg {
			t.Fatalf("once published for the lead, the active key is %s, want %s", got, alg)
		}
		if got := m.SigningAlgs(); !slices.Equal(got, []string{alg}) {
			t.Errorf("after the change SigningAlgs = %v, want [%s]", got, alg)
		}
		run(30 * time.Minute)
	}
	if failures != 0 || checked == 0 {
		t.Fatalf("%d failures in %d checks", failures, checked)
	}
	for _, alg := range allAlgs {
		if !seen[alg] {
			t.Errorf("no token signed with %s", alg)
		}
	}
}

// checkReplacedNext checks that a start with --signing-alg alg changed
// only the next key: the others are as they were; the next key is one of
// alg (the same key if it was one of alg already).
func checkReplacedNext(t *testing.T, before, after []storage.Key, alg string) {
	t.Helper()
	others := func(keys []storage.Key) []storage.Key {
		return slices.DeleteFunc(slices.Clone(keys), func(k storage.Key) bool { return k.State == storage.KeyNext })
	}
	b, a := others(before), others(after)
	if len(a) != len(b) {
		t.Fatalf("restart with %s changed keys other than the next one:\nbefore %s\nafter %s", alg, timeline(b, time.Time{}), timeline(a, time.Time{}))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].State != b[i].State || !a[i].ActivatedAt.Equal(b[i].ActivatedAt) || !a[i].RemoveAt.Equal(b[i].RemoveAt) {
			t.Fatalf("restart with %s changed key %s: %s %s → %s %s", alg, b[i].ID, b[i].State, b[i].ActivatedAt, a[i].State, a[i].ActivatedAt)
		}
	}
	next := byState(after, storage.KeyNext)
	if len(next) != 1 {
		t.Fatalf("restart with %s: next keys %v, want one", alg, next)
	}
	if k := storedKey(t, after, next[0]); k.Alg != alg {
		t.Fatalf("restart with %s: next key is %s", alg, k.Alg)
	}
}

// TestNew_OldKeysWithoutAlg: keys stored before keys had an algorithm (no
// Alg) load as RS256 and are left as they are; a start with ES256 replaces
// only their next key.
func TestNew_OldKeysWithoutAlg(t *testing.T) {
	s, c := &memStore{}, newClock()
	cfg := algConfig(t, s, c, algRS256)
	m := mustNew(t, cfg)
	tok := mustSign(t, m, testClaims)
	s.mu.Lock()
	for i := range s.keys {
		s.keys[i].Alg = ""
	}
	s.mu.Unlock()
	before, writes := s.snapshot()

	m = mustNew(t, cfg)
	if _, w := s.snapshot(); w != writes {
		t.Errorf("start on old keys with RS256 wrote %d times, want none", w-writes)
	}
	if _, err := m.Verify(tok); err != nil {
		t.Errorf("token of an old key: %v", err)
	}
	infos, _ := m.List(t.Context())
	for _, in := range infos {
		if in.Alg != algRS256 {
			t.Errorf("old key %s listed as %q, want RS256", in.ID, in.Alg)
		}
	}
	if h := headerOf(t, mustSign(t, m, testClaims)); h["alg"] != algRS256 {
		t.Errorf("old key signs with %v", h["alg"])
	}

	cfg.SigningAlg = algES256
	m = mustNew(t, cfg)
	after, _ := s.snapshot()
	checkReplacedNext(t, before, after, algES256)
	if _, err := m.Verify(tok); err != nil {
		t.Errorf("token of an old key after the switch began: %v", err)
	}
}

// TestNew_KeyBitsChange: a changed --key-bits is not a change of kind: the
// published next key keeps its size, and keys generated from then on have
// the new one.
func TestNew_KeyBitsChange(t *testing.T) {
	s, c := &memStore{}, newClock()
	cfg := algConfig(t, s, c, algRS256)
	mustNew(t, cfg)
	_, writes := s.snapshot()
	cfg.Settings = with(func(st *config.Settings) { st.KeyBits = 3072 })
	m := mustNew(t, cfg)
	keys, w := s.snapshot()
	if w != writes {
		t.Errorf("a start with another --key-bits wrote %d times, want none", w-writes)
	}
	next := storedKey(t, keys, byState(keys, storage.KeyNext)[0])
	if next.Bits != 2048 {
		t.Errorf("next key has %d bits, want its own 2048", next.Bits)
	}
	c.Advance(cfg.KeyRotation)
	mustTick(t, m)
	keys, _ = s.snapshot()
	if k := storedKey(t, keys, byState(keys, storage.KeyNext)[0]); k.Bits != 3072 {
		t.Errorf("key published after the change has %d bits, want 3072", k.Bits)
	}
}

// TestManager_SignIDTokenWith: the claims are built for the alg of the key
// that signs them.
func TestManager_SignIDTokenWith(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			s, c := &memStore{}, newClock()
			m := mustNew(t, algConfig(t, s, c, alg))
			if got := m.SigningAlgs(); !slices.Equal(got, []string{alg}) {
				t.Errorf("SigningAlgs = %v, want [%s]", got, alg)
			}
			var asked string
			tok, err := m.SignIDTokenWith(func(a string) ([]byte, error) {
				asked = a
				return []byte(testClaims), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if h := headerOf(t, tok); asked != alg || h["alg"] != alg || h["typ"] != "JWT" {
				t.Errorf("claims built for %q, header %v; want %s", asked, h, alg)
			}
			if p, err := m.VerifyIDToken(tok); err != nil || string(p) != testClaims {
				t.Errorf("VerifyIDToken: %q, %v", p, err)
			}
			errBuild := errors.New("build")
			if _, err := m.SignIDTokenWith(func(string) ([]byte, error) { return nil, errBuild }); !errors.Is(err, errBuild) {
				t.Errorf("a failing build: %v", err)
			}
		})
	}
}
