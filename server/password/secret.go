package password

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// SecretPrefix starts every generated client secret, so that secret
// scanners can recognise leaked ones.
const SecretPrefix = "authd_cs_"

// MinFastSecretLen is the length, in bytes, from which HashSecret treats a
// secret as high-entropy and stores a salted HMAC-SHA-256 of it instead of an
// argon2id hash. A generated secret is 52 bytes long.
const MinFastSecretLen = 32

const sha256Prefix = "$sha256$"

// GenerateSecret returns a new client secret: SecretPrefix followed by 32
// random bytes in unpadded base64url.
func GenerateSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret returns the hash of a client secret to store.
//
// A secret of at least MinFastSecretLen bytes is hashed as
// "$sha256$<salt>$<mac>", where mac is HMAC-SHA-256 keyed with a random
// 16-byte salt, both in unpadded standard base64: a generated secret has 256
// bits of entropy, so a slow hash would add nothing but latency. A shorter
// secret, chosen by an operator and possibly guessable, is hashed with
// argon2id and DefaultParams.
//
// Hashing a short secret takes the time and memory of one argon2id hash; it
// does not take a Hasher's slot. Verify secrets with a SecretVerifier.
func HashSecret(secret string) string {
	if len(secret) >= MinFastSecretLen {
		salt := make([]byte, 16)
		rand.Read(salt)
		return sha256Prefix + b64.EncodeToString(salt) + "$" + b64.EncodeToString(secretMAC(salt, secret))
	}
	p := DefaultParams
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	return encodePHC(p, salt, argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen))
}

func secretMAC(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// SecretVerifier verifies client secrets against hashes made by
// HashSecret. It holds no secret of its own beyond a random per-verifier
// key, and is safe for concurrent use. The server owns one, built on its
// password Hasher.
//
// # What a verification costs
//
// The work depends only on the presented secret, never on the stored hash
// or on whether there is one, so that an unknown client id costs the same
// as a wrong secret whatever kind of secret the client has:
//
//   - A secret of MinFastSecretLen bytes or more can only match a salted
//     HMAC-SHA-256 hash, since HashSecret stores every such secret so: it
//     costs one HMAC, against the stored hash or, when there is none or it
//     is of another kind or malformed, against a dummy. It never waits for
//     a hashing slot, so clients with generated secrets never queue behind
//     password hashes.
//   - A shorter, non-empty secret can only match an argon2id hash: it costs
//     one argon2id verification in the Hasher, taking one of its slots
//     (and waiting behind others when ctx is marked with Deprioritize),
//     against the stored hash or a dummy one with the parameters HashSecret
//     uses (see NewSecretVerifier). Successful verifications are remembered in a cache of at most
//     SecretCacheSize entries (least recently used evicted first), keyed by
//     an HMAC-SHA-256, under the verifier's key, of the hash and the
//     secret, so a client with such a secret pays the argon2id cost once
//     per process rather than on every request. Failures are never cached.
//     The cache holds no secret: a changed secret has a new hash and so a
//     new key, and stale entries age out.
//   - The empty secret matches nothing and costs nothing.
type SecretVerifier struct {
	h Verifier

	// dummyPHC is an argon2id hash with the stored hashes' parameters, and
	// dummySalt and dummyMAC a fast hash, that no secret matches: the
	// stand-ins when the stored hash cannot match the presented secret.
	dummyPHC            string
	dummySalt, dummyMAC []byte

	cacheKey []byte
	cache    *lruSet
}

// Verifier checks a password against a stored hash in bounded hashing, as
// Hasher.Verify does; *Hasher implements it.
type Verifier interface {
	Verify(ctx context.Context, phc, pw string) (ok, rehash bool, err error)
}

// SecretCacheSize bounds the cache of successful argon2id secret
// verifications of a SecretVerifier.
const SecretCacheSize = 1024

// NewSecretVerifier returns a SecretVerifier that runs argon2id
// verifications in h, normally the server's *Hasher. p are the parameters
// of the stored argon2id hashes, with which an unknown client or a hash of
// another kind costs one verification: DefaultParams, those of HashSecret,
// when zero. (Tests that store hashes made with cheaper parameters pass
// those.) NewSecretVerifier panics if p are set and invalid.
func NewSecretVerifier(h Verifier, p Params) *SecretVerifier {
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("password: invalid params: %v", err))
	}
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	v := &SecretVerifier{
		h:         h,
		dummyPHC:  encodePHC(p, salt, key),
		dummySalt: make([]byte, 16),
		dummyMAC:  make([]byte, sha256.Size),
		cacheKey:  make([]byte, 32),
		cache:     newLRUSet(SecretCacheSize),
	}
	rand.Read(v.dummySalt)
	rand.Read(v.dummyMAC)
	rand.Read(v.cacheKey)
	return v
}

// Verify reports whether secret matches hash, a HashSecret result, in
// constant time; hash is empty when there is no such client, and then
// Verify does the work of a wrong secret (see SecretVerifier). A malformed
// hash never matches. The error, with ok false, is ErrBusy when no hashing
// slot became free in time, or ctx's error.
func (v *SecretVerifier) Verify(ctx context.Context, hash, secret string) (ok bool, err error) {
	switch {
	case secret == "":
		return false, nil
	case len(secret) >= MinFastSecretLen:
		salt, want, valid := parseFastSecret(hash)
		if !valid {
			salt, want = v.dummySalt, v.dummyMAC
		}
		match := subtle.ConstantTimeCompare(secretMAC(salt, secret), want) == 1
		return valid && match, nil
	}
	ck := v.key(hash, secret)
	phc := v.dummyPHC
	if strings.HasPrefix(hash, argon2idPrefix) {
		if v.cache.contains(ck) {
			return true, nil
		}
		if _, _, _, err := ParsePHC(hash); err == nil {
			phc = hash
		}
	}
	match, _, err := v.h.Verify(ctx, phc, secret)
	if err != nil {
		return false, err
	}
	if !match || phc != hash {
		return false, nil
	}
	v.cache.add(ck)
	return true, nil
}

// parseFastSecret parses "$sha256$<salt>$<mac>".
func parseFastSecret(hash string) (salt, mac []byte, ok bool) {
	rest, ok := strings.CutPrefix(hash, sha256Prefix)
	if !ok {
		return nil, nil, false
	}
	saltB64, macB64, ok := strings.Cut(rest, "$")
	if !ok || len(saltB64) > 64 || len(macB64) != b64.EncodedLen(sha256.Size) || !isB64(saltB64) || !isB64(macB64) {
		return nil, nil, false
	}
	salt, err := b64.DecodeString(saltB64)
	if err != nil || len(salt) < MinSaltLen {
		return nil, nil, false
	}
	mac, err = b64.DecodeString(macB64)
	if err != nil {
		return nil, nil, false
	}
	return salt, mac, true
}

// key returns the cache key of a successful verification of secret
// against hash.
func (v *SecretVerifier) key(hash, secret string) [32]byte {
	m := hmac.New(sha256.New, v.cacheKey)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(hash)))
	m.Write(n[:])
	m.Write([]byte(hash))
	m.Write([]byte(secret))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// lruSet is a set of fixed-size keys bounded to max entries, evicting the
// least recently used. It is safe for concurrent use.
type lruSet struct {
	mu    sync.Mutex
	max   int
	order *list.List // of [32]byte, most recent first
	items map[[32]byte]*list.Element
}

func newLRUSet(max int) *lruSet {
	return &lruSet{max: max, order: list.New(), items: make(map[[32]byte]*list.Element)}
}

func (c *lruSet) contains(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if ok {
		c.order.MoveToFront(e)
	}
	return ok
}

func (c *lruSet) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.([32]byte))
	}
	c.items[k] = c.order.PushFront(k)
}

func (c *lruSet) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
