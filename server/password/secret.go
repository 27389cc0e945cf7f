package password

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"runtime"
	"strings"
	"sync"
	"time"

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
// does not take a Hasher's slot.
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

// VerifySecret reports whether secret matches a hash made by HashSecret,
// comparing in constant time. A malformed hash never matches.
//
// For argon2id hashes, successful verifications are remembered in an
// in-process cache of at most SecretCacheSize entries (least recently used
// evicted first), keyed by an HMAC-SHA-256, under a random per-process key,
// of the hash and the secret. A confidential client with a short secret
// therefore pays the argon2id cost once per process, not on every request,
// and failures are never cached. The cache holds no secret: a changed
// secret has a new hash and so a new key, and stale entries age out.
//
// Argon2id verifications of secrets run at most GOMAXPROCS at a time,
// separately from any Hasher; a call that cannot start one within two
// seconds reports false. Clients already in the cache are not affected by
// such a flood of wrong secrets.
func VerifySecret(hash, secret string) bool {
	if rest, ok := strings.CutPrefix(hash, sha256Prefix); ok {
		return verifyFastSecret(rest, secret)
	}
	if !strings.HasPrefix(hash, argon2idPrefix) || len(secret) > MaxPasswordLen {
		return false
	}
	ck := secretCacheKey(hash, secret)
	if secretCache.contains(ck) {
		return true
	}
	p, salt, key, err := ParsePHC(hash)
	if err != nil {
		return false
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case secretSem <- struct{}{}:
	case <-t.C:
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	<-secretSem
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false
	}
	secretCache.add(ck)
	return true
}

func verifyFastSecret(rest, secret string) bool {
	saltB64, macB64, ok := strings.Cut(rest, "$")
	if !ok || len(saltB64) > 64 || len(macB64) != b64.EncodedLen(sha256.Size) || !isB64(saltB64) || !isB64(macB64) {
		return false
	}
	salt, err := b64.DecodeString(saltB64)
	if err != nil || len(salt) < MinSaltLen {
		return false
	}
	want, err := b64.DecodeString(macB64)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(secretMAC(salt, secret), want) == 1
}

// SecretCacheSize bounds the cache of successful argon2id secret
// verifications.
const SecretCacheSize = 1024

var (
	secretSem      = make(chan struct{}, runtime.GOMAXPROCS(0))
	secretCacheKey = func() func(hash, secret string) [32]byte {
		k := make([]byte, 32)
		rand.Read(k)
		return func(hash, secret string) [32]byte {
			m := hmac.New(sha256.New, k)
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(hash)))
			m.Write(n[:])
			m.Write([]byte(hash))
			m.Write([]byte(secret))
			var out [32]byte
			m.Sum(out[:0])
			return out
		}
	}()
	secretCache = newLRUSet(SecretCacheSize)
)

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
