package server

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// Config is everything server.New needs: the settings (config.Settings,
// whose defaults are config.Default) and what the server is given to work
// with. Validate reports every problem at once.
type Config struct {
	// Settings are authd's settings; the server reads the issuer and
	// audience, the token lifetimes, the JWKS max-age, the trusted proxies
	// and the password hashing settings. Issuer must be set.
	config.Settings

	Storage storage.Storage
	Keys    Keys
	// Hasher hashes user passwords; built from Settings.Argon2,
	// MaxConcurrentHashes and HashWait if nil.
	Hasher PasswordHasher
	// Logger receives the request log and audit events; discard if nil.
	Logger *slog.Logger
	// Collectors are extra Prometheus collectors served at /metrics, such
	// as the storage backend's.
	Collectors []prometheus.Collector
	// Now is the clock; time.Now if nil.
	Now Clock
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, config.ValidateIssuer(c.Issuer))
	}
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Storage == nil {
		errs = append(errs, errors.New("no storage"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("no signing keys"))
	}
	return errors.Join(errs...)
}
