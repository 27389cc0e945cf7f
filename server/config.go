package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd/authd/storage"
)

// Config is everything server.New needs. Defaults are set by
// (*Config).SetDefaults; Validate reports every problem at once.
type Config struct {
	// Issuer is the iss claim and metadata issuer, e.g. http://localhost:8080.
	Issuer string
	// Audience is the default aud of access tokens; the issuer if empty.
	Audience string

	AccessTTL         time.Duration // default 15m
	RefreshTTL        time.Duration // absolute family lifetime, default 720h
	RefreshIdleTTL    time.Duration // default 168h
	RefreshReuseGrace time.Duration // 0 disables the grace (the CLI default is 10s)

	// JWKSMaxAge is the Cache-Control max-age of the JWKS (default 5m).
	JWKSMaxAge time.Duration

	// TrustedProxies: X-Forwarded-For is believed only from these.
	TrustedProxies []netip.Prefix

	// MaxConcurrentHashes bounds password hashing (default GOMAXPROCS).
	MaxConcurrentHashes int
	// HashWait is how long a login waits for a hashing slot before 503.
	HashWait time.Duration

	Storage storage.Storage
	Keys    Keys
	// Hasher hashes user passwords; built from the defaults if nil.
	Hasher PasswordHasher
	Logger *slog.Logger
	// Collectors are extra Prometheus collectors served at /metrics, such
	// as the storage backend's.
	Collectors []prometheus.Collector
	// Now is the clock; time.Now if nil.
	Now Clock
}

// SetDefaults fills the zero fields that have defaults.
func (c *Config) SetDefaults() {
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 720 * time.Hour
	}
	if c.RefreshIdleTTL == 0 {
		c.RefreshIdleTTL = 168 * time.Hour
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = 5 * time.Minute
	}
	if c.HashWait == 0 {
		c.HashWait = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if err := ValidateIssuer(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if c.AccessTTL <= 0 {
		errs = append(errs, errors.New("access-ttl must be positive"))
	}
	if c.RefreshTTL <= 0 {
		errs = append(errs, errors.New("refresh-ttl must be positive"))
	}
	if c.RefreshIdleTTL <= 0 {
		errs = append(errs, errors.New("refresh-idle-ttl must be positive"))
	}
	if c.RefreshReuseGrace < 0 {
		errs = append(errs, errors.New("refresh-reuse-grace must not be negative"))
	}
	if c.Storage == nil {
		errs = append(errs, errors.New("no storage"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("no signing keys"))
	}
	return errors.Join(errs...)
}

// ValidateIssuer checks that issuer is an absolute URL without query or
// fragment, and https unless its host is loopback (RFC 8414 §2).
func ValidateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("issuer %q must be an absolute http(s) URL", issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q must not have a query or fragment", issuer)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("issuer %q must use https unless it is on loopback", issuer)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
