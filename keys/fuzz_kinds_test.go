package keys

import (
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerifyKinds is FuzzVerify for every kind of key: Verify and
// VerifyIDToken of a manager of each kind get arbitrary tokens, seeded with
// good tokens of each kind and with their headers' alg swapped. Neither
// panics; a token accepted carries the alg of the manager's keys and a
// payload that manager signed.
func FuzzVerifyKinds(f *testing.F) {
	ms := map[string]*Manager{}
	var seeds []string
	for _, alg := range allAlgs {
		s, c := &memStore{}, newClock()
		m := mustNew(f, algConfig(f, s, c, alg))
		ms[alg] = m
		tok := mustSign(f, m, testClaims)
		id, err := m.SignIDToken([]byte(testClaims))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, tok, id)
	}
	for _, s := range seeds {
		f.Add(s)
		h, rest, _ := strings.Cut(s, ".")
		for _, alg := range []string{"none", "HS256", "RS256", "ES256", "EdDSA", "PS256"} {
			hb, _ := b64.DecodeString(h)
			swapped := strings.Replace(string(hb), `"alg":"`, `"alg":"`+alg+`","x":"`, 1)
			f.Add(b64.EncodeToString([]byte(swapped)) + "." + rest)
		}
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, token string) {
		for alg, m := range ms {
			for _, verify := range []func(string) ([]byte, error){m.Verify, m.VerifyIDToken} {
				payload, err := verify(token)
				if err != nil {
					if !isInvalid(err) {
						t.Fatalf("%s: error %v does not wrap ErrInvalidToken", alg, err)
					}
					continue
				}
				obj, perr := jose.ParseSignedCompact(token, signingAlgs)
				if perr != nil {
					t.Fatalf("%s: accepted a token go-jose cannot parse: %v", alg, perr)
				}
				if got := obj.Signatures[0].Protected.Algorithm; got != alg {
					t.Fatalf("%s key accepted a token with alg %q", alg, got)
				}
				if string(payload) != testClaims {
					t.Fatalf("%s: accepted a payload no key signed: %q", alg, payload)
				}
			}
		}
	})
}
