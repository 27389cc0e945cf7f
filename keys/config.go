package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd/storage"
)

// Store is the part of storage.Storage the keys package needs.
type Store interface {
	// ListKeys returns every stored key.
	ListKeys(ctx context.Context) ([]storage.Key, error)
	// UpdateKeys applies fn to the whole key set atomically and returns the
	// committed set. fn may run more than once.
	UpdateKeys(ctx context.Context, fn func([]storage.Key) ([]storage.Key, error)) ([]storage.Key, error)
}

// Defaults for the zero values of Config.
const (
	DefaultBits       = 2048
	DefaultRotation   = 24 * time.Hour
	DefaultAccessTTL  = 15 * time.Minute
	DefaultJWKSMaxAge = 5 * time.Minute
	DefaultSkew       = time.Minute
)

// KEKSize is the size in bytes of a key-encryption key.
const KEKSize = 32

// Config configures a Manager. Every field but Store has a default for its
// zero value.
type Config struct {
	Store Store
	// Bits is the RSA modulus size of new keys: 2048 (default), 3072 or
	// 4096. Existing keys keep their size.
	Bits int
	// Rotation is how often a new key becomes active (default 24h).
	Rotation time.Duration
	// AccessTTL is the longest lifetime of an access token (default 15m).
	AccessTTL time.Duration
	// JWKSMaxAge is how long verifiers may cache the JWKS (default 5m).
	JWKSMaxAge time.Duration
	// Skew is a margin for clock skew and for tokens signed while a
	// rotation commits (default 1m).
	Skew time.Duration
	// KEK is the 32-byte key-encryption key for private keys at rest. Nil
	// stores them unencrypted, and New logs a warning.
	KEK []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives audit events (default: discard).
	Logger *slog.Logger
}

// withDefaults returns c with the zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Bits == 0 {
		c.Bits = DefaultBits
	}
	if c.Rotation == 0 {
		c.Rotation = DefaultRotation
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c at once. Zero values are valid: they
// select the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("keys: config: no store"))
	}
	switch c.Bits {
	case 2048, 3072, 4096:
	default:
		errs = append(errs, fmt.Errorf("keys: config: key bits must be 2048, 3072 or 4096, got %d", c.Bits))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"key rotation", c.Rotation},
		{"access token lifetime", c.AccessTTL},
		{"JWKS max age", c.JWKSMaxAge},
		{"clock skew", c.Skew},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("keys: config: %s must not be negative, got %s", d.name, d.v))
		}
	}
	if c.KEK != nil && len(c.KEK) != KEKSize {
		errs = append(errs, fmt.Errorf("keys: config: key-encryption key must be %d bytes, got %d", KEKSize, len(c.KEK)))
	}
	return errors.Join(errs...)
}

// retention is how long a key stays published (or, revoked, recorded) after
// it stopped signing: until every token it signed has expired, and never less
// than one JWKS cache lifetime.
func (c Config) retention() time.Duration {
	return max(c.AccessTTL+c.Skew, c.JWKSMaxAge)
}

// publishLead is how long a key must have been in the JWKS before it may
// sign. The JWKS is served with max-age=N and stale-while-revalidate=N, so a
// conforming cache may use a copy for up to 2N after fetching it; a key
// published 2N ago is in every copy still in use.
func (c Config) publishLead() time.Duration { return 2 * c.JWKSMaxAge }
