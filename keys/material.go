package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/storage"
)

// ErrWrongKEK is wrapped by New when the stored private keys cannot be
// decrypted with Config.KEK, or are encrypted and no KEK was given.
var ErrWrongKEK = errors.New("keys: wrong key-encryption key")

// The algorithms of authd's keys (config.SigningAlgs).
const (
	algRS256 = string(jose.RS256)
	algES256 = string(jose.ES256)
	algEdDSA = string(jose.EdDSA)
)

// algOf is the algorithm of a stored key: keys stored before authd had
// other algorithms have no Alg and are RS256.
func algOf(k storage.Key) string {
	if k.Alg == "" {
		return algRS256
	}
	return k.Alg
}

// material is a parsed key: everything the hot path needs, immutable.
type material struct {
	kid string
	// alg is the key's JWS algorithm; the only one Verify accepts for
	// tokens naming this kid.
	alg  jose.SignatureAlgorithm
	priv crypto.Signer    // *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	pub  crypto.PublicKey // priv's public key, what Verify checks with
	// signer signs access tokens (typ at+jwt); idSigner signs ID tokens:
	// the same key, typ JWT.
	signer, idSigner jose.Signer
	// public is the key's JWKS entry (RFC 7517 §4), only public parts.
	public []byte
}

// publicJWK is a JWKS entry: the public parts and nothing else (SPEC 2.3):
// n and e for RSA, crv, x and y for EC, crv and x for OKP.
type publicJWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// checkKind returns the public key of priv if priv is a key of the kind alg
// names: RSA for RS256, P-256 for ES256, Ed25519 for EdDSA.
func checkKind(alg string, priv any) (crypto.Signer, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		if alg == algRS256 {
			return k, nil
		}
	case *ecdsa.PrivateKey:
		if alg == algES256 && k.Curve == elliptic.P256() {
			return k, nil
		}
	case ed25519.PrivateKey:
		if alg == algEdDSA && len(k) == ed25519.PrivateKeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("a %T is not a key for %s", priv, alg)
}

// newMaterial checks priv against kid and alg and prepares it for signing.
func newMaterial(kid, alg string, priv crypto.Signer) (*material, error) {
	if _, err := checkKind(alg, priv); err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", kid, err)
	}
	pub := priv.Public()
	got, err := thumbprint(pub)
	if err != nil {
		return nil, err
	}
	if got != kid {
		return nil, fmt.Errorf("keys: key %s: thumbprint of the stored key is %s", kid, got)
	}
	entry := publicJWK{Use: "sig", Alg: alg, Kid: kid}
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		// A key parsed from its JWK has no CRT values; without them every
		// signature recomputes and re-checks them (about 8% of a
		// signature's cost). Compute them once here.
		k.Precompute()
		entry.Kty, entry.N, entry.E = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PrivateKey:
		// The uncompressed point 0x04 || X || Y, each coordinate the full
		// 32 bytes, as RFC 7518 §6.2.1.2 wants them.
		pt, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, fmt.Errorf("keys: key %s: public key: %w", kid, err)
		}
		entry.Kty, entry.Crv, entry.X, entry.Y = "EC", "P-256", b64(pt[1:33]), b64(pt[33:])
	case ed25519.PrivateKey:
		entry.Kty, entry.Crv, entry.X = "OKP", "Ed25519", b64(pub.(ed25519.PublicKey))
	}
	sigAlg := jose.SignatureAlgorithm(alg)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: sigAlg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(tokenType),
	)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: signer: %w", kid, err)
	}
	idSigner, err := jose.NewSigner(
		jose.SigningKey{Algorithm: sigAlg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(idTokenType),
	)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: ID token signer: %w", kid, err)
	}
	public, err := json.Marshal(entry)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: public JWK: %w", kid, err)
	}
	return &material{kid: kid, alg: sigAlg, priv: priv, pub: pub, signer: signer, idSigner: idSigner, public: public}, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url without
// padding: the key's kid. go-jose hashes the members RFC 7638 §3.2 requires
// for each kty: e, kty, n for RSA; crv, kty, x, y for EC; crv, kty, x for
// OKP (RFC 8037 §2).
func thumbprint(pub crypto.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// generate makes a new key for alg from crypto/rand: RSA of bits for
// RS256, P-256 for ES256, Ed25519 for EdDSA.
func generate(alg string, bits int) (crypto.Signer, error) {
	switch alg {
	case algRS256:
		return generateRSA(bits)
	case algES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate P-256 key: %w", err)
		}
		return priv, nil
	case algEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate Ed25519 key: %w", err)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("keys: no key kind for algorithm %q", alg)
}

// generateRSA makes a new RSA key from crypto/rand.
func generateRSA(bits int) (*rsa.PrivateKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %d-bit RSA key: %w", bits, err)
	}
	return priv, nil
}

// keyBits is the size listings show: the modulus of an RSA key, 256 for
// P-256 and Ed25519.
func keyBits(priv crypto.Signer) int {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return k.N.BitLen()
	case *ecdsa.PrivateKey:
		return k.Curve.Params().BitSize
	case ed25519.PrivateKey:
		return 256
	}
	return 0
}

// seal serialises priv as a private JWK and, with a KEK, encrypts it as a
// compact JWE (A256KW, A256GCM). Every kind of key is sealed the same way.
func seal(kid, alg string, priv crypto.Signer, kek []byte) (private []byte, encrypted bool, err error) {
	doc, err := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, false, fmt.Errorf("keys: key %s: marshal: %w", kid, err)
	}
	if kek == nil {
		return doc, false, nil
	}
	defer clear(doc)
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: jose.A256KW, Key: kek},
		(&jose.EncrypterOptions{}).WithContentType("jwk+json"))
	if err != nil {
		return nil, false, fmt.Errorf("keys: key %s: encrypter: %w", kid, err)
	}
	obj, err := enc.Encrypt(doc)
	if err != nil {
		return nil, false, fmt.Errorf("keys: key %s: encrypt: %w", kid, err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		return nil, false, fmt.Errorf("keys: key %s: encrypt: %w", kid, err)
	}
	return []byte(s), true, nil
}

// open recovers the private key of a stored key, decrypting it with kek if it
// is encrypted, and checks that it is of the kind its algorithm names and
// the key its kid names.
func open(k storage.Key, kek []byte) (crypto.Signer, error) {
	doc := k.Private
	if k.Encrypted {
		if kek == nil {
			return nil, fmt.Errorf("keys: key %s is encrypted and no key-encryption key was given: %w", k.ID, ErrWrongKEK)
		}
		obj, err := jose.ParseEncryptedCompact(string(k.Private),
			[]jose.KeyAlgorithm{jose.A256KW}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			return nil, fmt.Errorf("keys: key %s: malformed encrypted private key: %w", k.ID, err)
		}
		doc, err = obj.Decrypt(kek)
		if err != nil {
			return nil, fmt.Errorf("keys: decrypt key %s: %w", k.ID, ErrWrongKEK)
		}
		defer clear(doc)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(doc); err != nil {
		return nil, fmt.Errorf("keys: key %s: malformed private key: %w", k.ID, err)
	}
	priv, err := checkKind(algOf(k), jwk.Key)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: stored private key: %w", k.ID, err)
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	if kid != k.ID {
		return nil, fmt.Errorf("keys: key %s: stored private key has thumbprint %s", k.ID, kid)
	}
	return priv, nil
}

// LoadKEK reads a key-encryption key from a file. The file holds exactly 32
// raw bytes, or 32 bytes as 64 hexadecimal or 44 base64 characters (standard
// or URL alphabet), optionally surrounded by whitespace. Anything else is an
// error that says what was found.
func LoadKEK(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read key-encryption key: %w", err)
	}
	key, err := parseKEK(b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key file %s: %w", path, err)
	}
	return key, nil
}

func parseKEK(b []byte) ([]byte, error) {
	// 32 raw bytes, unless they are all text: a random key is that with
	// negligible probability, so it is a text file of the wrong length.
	if len(b) == KEKSize && !isText(b) {
		return nonZero(bytes.Clone(b))
	}
	text := bytes.TrimSpace(b)
	switch len(text) {
	case 2 * KEKSize:
		key := make([]byte, KEKSize)
		if _, err := hex.Decode(key, text); err != nil {
			return nil, fmt.Errorf("64 characters but not hexadecimal: %w", err)
		}
		return nonZero(key)
	case base64.StdEncoding.EncodedLen(KEKSize):
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			key := make([]byte, enc.DecodedLen(len(text)))
			n, err := enc.Decode(key, text)
			if err == nil && n == KEKSize {
				return nonZero(key[:n])
			}
		}
		return nil, errors.New("44 characters but not base64 of 32 bytes")
	}
	return nil, fmt.Errorf("want 32 raw bytes, 64 hexadecimal or 44 base64 characters, found %d bytes", len(b))
}

// isText reports whether b is printable ASCII and whitespace only.
func isText(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func nonZero(key []byte) ([]byte, error) {
	for _, c := range key {
		if c != 0 {
			return key, nil
		}
	}
	return nil, errors.New("the key is all zeros")
}
