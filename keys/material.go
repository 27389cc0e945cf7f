package keys

import (
	"bytes"
	"crypto"
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

// material is a parsed key: everything the hot path needs, immutable.
type material struct {
	kid    string
	priv   *rsa.PrivateKey
	signer jose.Signer
	// idSigner signs ID tokens: the same key, typ JWT.
	idSigner jose.Signer
	// public is the key's JWKS entry (RFC 7517 §4), only public parts.
	public []byte
}

// publicJWK is a JWKS entry: the public parts and nothing else.
type publicJWK struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// newMaterial checks priv against kid and prepares it for signing.
func newMaterial(kid string, priv *rsa.PrivateKey) (*material, error) {
	got, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if got != kid {
		return nil, fmt.Errorf("keys: key %s: thumbprint of the stored key is %s", kid, got)
	}
	// A key parsed from its JWK has no CRT values; without them every
	// signature recomputes and re-checks them (about 8% of a signature's
	// cost). Compute them once here.
	priv.Precompute()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(tokenType),
	)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: signer: %w", kid, err)
	}
	idSigner, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(idTokenType),
	)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: ID token signer: %w", kid, err)
	}
	public, err := json.Marshal(publicJWK{
		Kty: "RSA",
		Use: "sig",
		Alg: string(jose.RS256),
		Kid: kid,
		N:   base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
	})
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: public JWK: %w", kid, err)
	}
	return &material{kid: kid, priv: priv, signer: signer, idSigner: idSigner, public: public}, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url without
// padding: the key's kid.
func thumbprint(pub *rsa.PublicKey) (string, error) {
	sum, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// generate makes a new RSA key from crypto/rand.
func generate(bits int) (*rsa.PrivateKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %d-bit RSA key: %w", bits, err)
	}
	return priv, nil
}

// seal serialises priv as a private JWK and, with a KEK, encrypts it as a
// compact JWE (A256KW, A256GCM).
func seal(kid string, priv *rsa.PrivateKey, kek []byte) (private []byte, encrypted bool, err error) {
	doc, err := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}.MarshalJSON()
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
// is encrypted, and checks that it is the key its kid names.
func open(k storage.Key, kek []byte) (*rsa.PrivateKey, error) {
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
	priv, ok := jwk.Key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keys: key %s: not an RSA private key (%T)", k.ID, jwk.Key)
	}
	kid, err := thumbprint(&priv.PublicKey)
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
