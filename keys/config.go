package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd/config"
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

// DefaultSkew is the clock-skew margin of a zero Config.Skew.
const DefaultSkew = time.Minute

// KEKSize is the size in bytes of a key-encryption key.
const KEKSize = 32

// Config configures a Manager: authd's settings, of which the keys take
// KeyBits, KeyRotation, AccessTTL and JWKSMaxAge, and what the keys are given
// to work with.
type Config struct {
	// Settings are authd's settings (start from config.Default). KeyBits
	// applies to new keys only: existing keys keep their size.
	// KeyRotation is how often a new key becomes active; AccessTTL, the
	// longest lifetime of an access token, and JWKSMaxAge, how long
	// verifiers may cache the JWKS, set how long keys stay published.
	config.Settings

	Store Store
	// Skew is a margin for clock skew and for tokens signed while a
	// rotation commits (DefaultSkew if zero).
	Skew time.Duration
	// KEK is the 32-byte key-encryption key for private keys at rest. Nil
	// stores them unencrypted, and New logs a warning.
	KEK []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives audit events (default: discard).
	Logger *slog.Logger
}

// withDefaults returns c with the zero Skew, Now and Logger set.
func (c Config) withDefaults() Config {
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

// Validate reports every problem with c at once: those of c.Settings
// (config.Settings.Validate), and those of the store, the skew and the KEK.
func (c Config) Validate() error {
	var errs []error
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if c.Skew < 0 {
		errs = append(errs, fmt.Errorf("clock skew must not be negative, got %s", c.Skew))
	}
	if c.KEK != nil && len(c.KEK) != KEKSize {
		errs = append(errs, fmt.Errorf("key-encryption key must be %d bytes, got %d", KEKSize, len(c.KEK)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keys: config: %w", err)
	}
	return nil
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
