// Package config holds authd's settings in one place: the Settings struct
// (the flags of `authd serve`, SPEC §1), their defaults in one function,
// Default, and one Validate that reports every problem at once.
//
// Each package takes its part of the same Settings: server.Config and
// keys.Config embed it next to what they need beyond settings (storage,
// clock, logger), so that a value such as the access-token lifetime, which
// both the token endpoint and the key schedule read, exists once. The
// command line (cmd/authd) starts from Default, applies flags and the
// environment, and builds both from the result.
//
// The zero Settings is not valid: a program or test starts from Default
// and changes what it means to change.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/authd/authd/server/password"
)

// Settings are authd's settings. Every field is a flag of `authd serve` of
// the same name (AccessTTL is --access-ttl); Default gives the defaults of
// SPEC §1.
type Settings struct {
	// Addr is the listen address.
	Addr string
	// Issuer is the iss claim and metadata issuer, e.g.
	// http://localhost:8080. Empty means http://localhost:PORT of the
	// listener, which `authd serve` fills in once it listens; a server
	// needs it set.
	Issuer string
	// Audience is the default aud of access tokens; empty means the issuer.
	Audience string

	// AccessTTL is the access token lifetime; the key schedule keeps a
	// retired key published at least this long.
	AccessTTL time.Duration
	// RefreshTTL is the absolute lifetime of a refresh-token family.
	RefreshTTL time.Duration
	// RefreshIdleTTL: a refresh token unused this long expires.
	RefreshIdleTTL time.Duration
	// RefreshReuseGrace is the window in which a just-rotated refresh
	// token gets the same answer again; 0 disables the grace.
	RefreshReuseGrace time.Duration

	// LoginSessionTTL is the absolute lifetime of a browser sign-in
	// session (the __Host-authd_session cookie of the authorization code
	// flow); LoginSessionIdleTTL ends one unused this long.
	LoginSessionTTL     time.Duration
	LoginSessionIdleTTL time.Duration

	// KeyRotation is how often a new signing key becomes active.
	KeyRotation time.Duration
	// KeyBits is the RSA modulus size of new keys: 2048, 3072 or 4096.
	KeyBits int
	// SigningAlg is the JWS algorithm of new keys: "RS256" (RSA of
	// KeyBits), "ES256" (P-256) or "EdDSA" (Ed25519). A change goes through
	// the next → active schedule (SPEC 2.3).
	SigningAlg string
	// JWKSMaxAge is the Cache-Control max-age of the JWKS.
	JWKSMaxAge time.Duration
	// KEKFile names the file of the 32-byte key that encrypts private keys
	// at rest; empty stores them unencrypted.
	KEKFile string

	// TLSCert and TLSKey name PEM files; both or neither.
	TLSCert, TLSKey string
	// TrustedProxies: X-Forwarded-For is believed only from these.
	TrustedProxies []netip.Prefix
	// Dev creates a demo client and user on an empty database.
	Dev bool
	// LogFormat is "text" or "json".
	LogFormat string

	// Argon2 are the parameters of new password hashes (--argon2-memory,
	// --argon2-time, --argon2-threads); salt and key lengths are
	// password.DefaultParams'.
	Argon2 password.Params
	// MaxConcurrentHashes bounds password hashing; 0 means GOMAXPROCS.
	MaxConcurrentHashes int
	// HashWait is how long a login waits for a hashing slot before 503.
	HashWait time.Duration
}

// SigningAlgs are the values of --signing-alg, the JWS algorithms of
// authd's keys.
var SigningAlgs = []string{"RS256", "ES256", "EdDSA"}

// Default returns the default settings: the table of SPEC §1 and the
// password hashing defaults.
func Default() Settings {
	return Settings{
		Addr:                "127.0.0.1:8080",
		AccessTTL:           15 * time.Minute,
		RefreshTTL:          720 * time.Hour,
		RefreshIdleTTL:      168 * time.Hour,
		RefreshReuseGrace:   10 * time.Second,
		LoginSessionTTL:     12 * time.Hour,
		LoginSessionIdleTTL: time.Hour,
		KeyRotation:         24 * time.Hour,
		KeyBits:             2048,
		SigningAlg:          "RS256",
		JWKSMaxAge:          5 * time.Minute,
		LogFormat:           "text",
		Argon2:              password.DefaultParams,
		HashWait:            2 * time.Second,
	}
}

// Validate reports every problem of s at once, one error per problem
// (errors.Join), each naming the flag it concerns.
func (s Settings) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch s.KeyBits {
	case 2048, 3072, 4096:
	default:
		add("--key-bits must be 2048, 3072 or 4096, not %d", s.KeyBits)
	}
	if !slices.Contains(SigningAlgs, s.SigningAlg) {
		add("--signing-alg must be RS256, ES256 or EdDSA, not %q", s.SigningAlg)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--access-ttl", s.AccessTTL}, {"--refresh-ttl", s.RefreshTTL},
		{"--refresh-idle-ttl", s.RefreshIdleTTL}, {"--key-rotation", s.KeyRotation},
		{"--jwks-max-age", s.JWKSMaxAge},
		{"--login-session-ttl", s.LoginSessionTTL}, {"--login-session-idle-ttl", s.LoginSessionIdleTTL},
	} {
		if d.v <= 0 {
			add("%s must be positive", d.flag)
		}
	}
	if s.RefreshReuseGrace < 0 {
		add("--refresh-reuse-grace must not be negative")
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		add("--tls-cert and --tls-key must be given together")
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		add("--log-format must be text or json, not %q", s.LogFormat)
	}
	if err := s.Argon2.Validate(); err != nil {
		add("argon2 parameters: %w", err)
	} else if s.Argon2.Memory < 1024 || s.Argon2.Time < 1 {
		add("--argon2-memory must be at least 1024 KiB and --argon2-time at least 1")
	}
	if s.MaxConcurrentHashes < 0 {
		add("--max-concurrent-hashes must not be negative")
	}
	if s.HashWait <= 0 {
		add("--hash-wait must be positive")
	}
	if s.Issuer != "" {
		if err := ValidateIssuer(s.Issuer); err != nil {
			add("--issuer: %w", err)
		}
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
