package server

import (
	"context"
	"time"

	"github.com/authd/authd/keys"
)

// Keys is what the server needs of the signing keys. *keys.Manager
// implements it.
type Keys interface {
	// Sign signs the JSON claims as an RFC 9068 access token (header
	// {"alg":ALG,"typ":"at+jwt","kid":...}, ALG the active key's) with the
	// active key.
	Sign(claims []byte) (string, error)
	// Verify checks a compact JWS (RS256, ES256 or EdDSA: the alg of the
	// key its kid names) against the published, unrevoked
	// keys (explicit algorithm list, typ at+jwt) and returns its payload.
	// It does not check claims such as exp.
	Verify(token string) (payload []byte, err error)
	// SignIDToken signs the JSON claims as an OpenID Connect ID token
	// (header {"alg":ALG,"typ":"JWT","kid":...}) with the active key.
	SignIDToken(claims []byte) (string, error)
	// SignIDTokenWith is SignIDToken with claims built for the alg of the
	// key that signs them (at_hash depends on it).
	SignIDTokenWith(claims func(alg string) ([]byte, error)) (string, error)
	// SigningAlgs are the algorithms of the keys that sign or will sign
	// (active, and next during a change of --signing-alg); shared, not to
	// be modified, the same slice until the key set changes.
	SigningAlgs() []string
	// VerifyIDToken is Verify for ID tokens: typ JWT, never at+jwt.
	VerifyIDToken(token string) (payload []byte, err error)
	// JWKS returns the pre-serialised JWKS document and its ETag (quoted).
	// The slice must not be modified.
	JWKS() (body []byte, etag string)
	// Ready reports whether a key is active.
	Ready() bool
	// Active describes the active key from memory, without reading the
	// store (for the metrics); ok is false when no key is active.
	Active() (info keys.Info, ok bool)

	// Management, for the admin API and the CLI.
	List(ctx context.Context) ([]keys.Info, error)
	Rotate(ctx context.Context, now bool) (keys.Info, error)
	Revoke(ctx context.Context, kid string) (keys.Info, error)
}

// PasswordHasher hashes and verifies user passwords. *password.Hasher
// implements it.
type PasswordHasher interface {
	// Hash returns a PHC string of pw with the current parameters.
	Hash(ctx context.Context, pw string) (string, error)
	// Verify checks pw against the PHC string. rehash is true when the hash
	// uses other parameters or another algorithm than the current ones and
	// should be replaced after a successful login. err is password.ErrBusy
	// when no hashing slot became free in time, or ctx's error.
	Verify(ctx context.Context, phc, pw string) (ok, rehash bool, err error)
	// VerifyDummy spends the same time as Verify with a wrong password, for
	// unknown or disabled users, so that timing reveals nothing.
	VerifyDummy(ctx context.Context, pw string) error
}

// Clock returns the current time. Tests inject their own.
type Clock func() time.Time
