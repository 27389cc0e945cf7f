package keys

import (
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// tokenType is the typ header of access tokens (RFC 9068 §2.1).
const tokenType = "at+jwt"

// idTokenType is the typ header of ID tokens (RFC 7519 §5.1).
const idTokenType = "JWT"

// MaxTokenSize is the largest token Verify parses.
const MaxTokenSize = 16 << 10

// ErrNotReady is returned by Sign and SignIDToken when no key is active.
var ErrNotReady = errors.New("keys: no active signing key")

// ErrInvalidToken is wrapped by every error Verify and VerifyIDToken
// return.
var ErrInvalidToken = errors.New("keys: invalid token")

// signingAlgs is the explicit list of algorithms Verify accepts (RFC 8725
// §3.1): those of authd's keys. A token must moreover carry the algorithm of
// the key its kid names (verify), so that no key is used with an algorithm
// it was not made for.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// Sign signs claims, a JSON object the caller has built, as a compact JWS
// with the active key. The protected header is exactly
// {"alg":ALG,"kid":...,"typ":"at+jwt"} (RFC 9068 §2.1), ALG the active
// key's algorithm (RS256, ES256 or EdDSA). It uses only the
// in-memory active key: no storage access, no lock. ErrNotReady if no key is
// active.
func (m *Manager) Sign(claims []byte) (string, error) {
	return m.sign(claims, false)
}

// SignIDToken signs claims as an OpenID Connect ID token: like Sign, with
// the same active key and the same bound on concurrent signatures, but the
// protected header is exactly {"alg":ALG,"kid":...,"typ":"JWT"}, so that
// an ID token is never taken for an access token (RFC 9068 §4, RFC 8725
// §3.11) nor an access token for an ID token (VerifyIDToken).
func (m *Manager) SignIDToken(claims []byte) (string, error) {
	return m.sign(claims, true)
}

// SignIDTokenWith is SignIDToken with claims that depend on the
// algorithm of the key that signs (the at_hash of OpenID Connect Core 1.0
// §3.1.3.6 is the left half of that algorithm's hash): claims is called
// with the active key's alg, and its result is signed with that same key,
// even if another key becomes active meanwhile.
func (m *Manager) SignIDTokenWith(claims func(alg string) ([]byte, error)) (string, error) {
	st := m.state.Load()
	if st == nil || st.active == nil {
		return "", ErrNotReady
	}
	b, err := claims(string(st.active.alg))
	if err != nil {
		return "", err
	}
	return m.signWith(st, b, true)
}

// SigningAlgs returns the algorithms of the keys that sign or will sign:
// the active key's first, then the next key's when it is of another kind
// (during a change of --signing-alg, SPEC 2.3). The slice is shared until
// the key set changes, and must not be modified.
func (m *Manager) SigningAlgs() []string {
	return m.state.Load().algs
}

func (m *Manager) sign(claims []byte, idToken bool) (string, error) {
	st := m.state.Load()
	if st == nil || st.active == nil {
		return "", ErrNotReady
	}
	return m.signWith(st, claims, idToken)
}

func (m *Manager) signWith(st *snapshot, claims []byte, idToken bool) (string, error) {
	signer := st.active.signer
	if idToken {
		signer = st.active.idSigner
	}
	// At most one signature per CPU at a time: a signature is a millisecond
	// or more of pure CPU, and with more of them runnable than there are
	// CPUs the scheduler time-slices them against everything else, so a
	// goroutine holding the database's write lock (a commit, a sweep) waits
	// behind a queue of signatures instead of behind one.
	m.signSlots <- struct{}{}
	obj, err := signer.Sign(claims)
	<-m.signSlots
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	token, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return token, nil
}

// Verify checks token, a compact JWS, and returns its payload. It accepts
// only the algorithm of the key the kid names (RS256, ES256 or EdDSA),
// a typ header of "at+jwt" or "application/at+jwt" (any case,
// RFC 9068 §4), and a kid naming a published, unrevoked key that is or was
// active (a next key has signed nothing). It does not look at the claims.
// Every error wraps ErrInvalidToken.
func (m *Manager) Verify(token string) ([]byte, error) {
	return m.verify(token, tokenType)
}

// VerifyIDToken is Verify for ID tokens (SignIDToken): the typ header must
// be "JWT" or "application/jwt" (any case); an access token (typ at+jwt) or
// a token without typ is refused. Every error wraps ErrInvalidToken.
func (m *Manager) VerifyIDToken(token string) ([]byte, error) {
	return m.verify(token, idTokenType)
}

// verify checks token's signature and that its typ header is want or
// "application/"+want, in any case.
func (m *Manager) verify(token, want string) ([]byte, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenSize)
	}
	obj, err := jose.ParseSignedCompact(token, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature, got %d", ErrInvalidToken, len(obj.Signatures))
	}
	h := obj.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, want) && !strings.EqualFold(typ, "application/"+want) {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrInvalidToken, typ, want)
	}
	if h.KeyID == "" {
		return nil, fmt.Errorf("%w: no kid", ErrInvalidToken)
	}
	key := m.state.Load().verify[h.KeyID]
	if key == nil {
		return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, h.KeyID)
	}
	if h.Algorithm != string(key.alg) {
		return nil, fmt.Errorf("%w: alg %q, but key %s is %s", ErrInvalidToken, h.Algorithm, h.KeyID, key.alg)
	}
	payload, err := obj.Verify(key.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return payload, nil
}

// JWKS returns the JWK Set (RFC 7517 §5) of the next, active and retired keys,
// only their public parts, and its strong ETag (quoted). Both are built once
// per change of the set; the body must not be modified.
func (m *Manager) JWKS() (body []byte, etag string) {
	st := m.state.Load()
	return st.jwks, st.etag
}

// Ready reports whether a key is active and loaded, so that Sign works.
func (m *Manager) Ready() bool {
	st := m.state.Load()
	return st != nil && st.active != nil
}
