package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/server/password"
)

// TestDefault: every default is the one of SPEC §1's table of `authd serve`
// flags (and, for the flags SPEC does not list, the documented ones).
func TestDefault(t *testing.T) {
	d := Default()
	tests := []struct {
		flag      string
		got, want any
	}{
		{"--addr", d.Addr, "127.0.0.1:8080"},
		{"--issuer", d.Issuer, ""}, // http://localhost:PORT, filled in by serve
		{"--audience", d.Audience, ""},
		{"--access-ttl", d.AccessTTL, 15 * time.Minute},
		{"--refresh-ttl", d.RefreshTTL, 720 * time.Hour},
		{"--refresh-idle-ttl", d.RefreshIdleTTL, 168 * time.Hour},
		{"--refresh-reuse-grace", d.RefreshReuseGrace, 10 * time.Second},
		{"--login-session-ttl", d.LoginSessionTTL, 12 * time.Hour},
		{"--login-session-idle-ttl", d.LoginSessionIdleTTL, time.Hour},
		{"--key-rotation", d.KeyRotation, 24 * time.Hour},
		{"--key-bits", d.KeyBits, 2048},
		{"--signing-alg", d.SigningAlg, "RS256"},
		{"--jwks-max-age", d.JWKSMaxAge, 5 * time.Minute},
		{"--key-encryption-key-file", d.KEKFile, ""},
		{"--tls-cert", d.TLSCert, ""},
		{"--tls-key", d.TLSKey, ""},
		{"--trusted-proxies", len(d.TrustedProxies), 0},
		{"--dev", d.Dev, false},
		{"--log-format", d.LogFormat, "text"},
		{"--argon2-*", d.Argon2, password.DefaultParams},
		{"--max-concurrent-hashes", d.MaxConcurrentHashes, 0},
		{"--hash-wait", d.HashWait, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("default of %s: got %v, want %v", tt.flag, tt.got, tt.want)
			}
		})
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

// TestSettings_Validate: each rule on its own, and several problems at
// once, each reported.
func TestSettings_Validate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Settings)
		want []string // one substring per expected problem; none for valid
	}{
		{"defaults", func(*Settings) {}, nil},
		{"no grace", func(s *Settings) { s.RefreshReuseGrace = 0 }, nil},
		{"https issuer", func(s *Settings) { s.Issuer = "https://auth.example" }, nil},
		{"loopback issuer", func(s *Settings) { s.Issuer = "http://127.0.0.1:9000" }, nil},
		{"4096 bits", func(s *Settings) { s.KeyBits = 4096 }, nil},
		{"proxies", func(s *Settings) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }, nil},
		{"tls pair", func(s *Settings) { s.TLSCert, s.TLSKey = "c.pem", "k.pem" }, nil},
		{"ES256", func(s *Settings) { s.SigningAlg = "ES256" }, nil},
		{"EdDSA", func(s *Settings) { s.SigningAlg = "EdDSA" }, nil},
		{"signing alg", func(s *Settings) { s.SigningAlg = "HS256" }, []string{`--signing-alg must be RS256, ES256 or EdDSA, not "HS256"`}},
		{"signing alg case", func(s *Settings) { s.SigningAlg = "es256" }, []string{`--signing-alg must be RS256, ES256 or EdDSA, not "es256"`}},
		{"no signing alg", func(s *Settings) { s.SigningAlg = "" }, []string{`--signing-alg must be RS256, ES256 or EdDSA, not ""`}},
		{"key bits", func(s *Settings) { s.KeyBits = 1024 }, []string{"--key-bits must be 2048, 3072 or 4096, not 1024"}},
		{"zero access ttl", func(s *Settings) { s.AccessTTL = 0 }, []string{"--access-ttl must be positive"}},
		{"negative refresh ttl", func(s *Settings) { s.RefreshTTL = -time.Second }, []string{"--refresh-ttl must be positive"}},
		{"zero idle ttl", func(s *Settings) { s.RefreshIdleTTL = 0 }, []string{"--refresh-idle-ttl must be positive"}},
		{"zero rotation", func(s *Settings) { s.KeyRotation = 0 }, []string{"--key-rotation must be positive"}},
		{"zero jwks max age", func(s *Settings) { s.JWKSMaxAge = 0 }, []string{"--jwks-max-age must be positive"}},
		{"zero login session ttl", func(s *Settings) { s.LoginSessionTTL = 0 }, []string{"--login-session-ttl must be positive"}},
		{"negative login idle ttl", func(s *Settings) { s.LoginSessionIdleTTL = -time.Minute }, []string{"--login-session-idle-ttl must be positive"}},
		{"negative grace", func(s *Settings) { s.RefreshReuseGrace = -1 }, []string{"--refresh-reuse-grace must not be negative"}},
		{"cert without key", func(s *Settings) { s.TLSCert = "c.pem" }, []string{"--tls-cert and --tls-key must be given together"}},
		{"key without cert", func(s *Settings) { s.TLSKey = "k.pem" }, []string{"--tls-cert and --tls-key must be given together"}},
		{"log format", func(s *Settings) { s.LogFormat = "xml" }, []string{`--log-format must be text or json, not "xml"`}},
		{"argon2 invalid", func(s *Settings) { s.Argon2.Threads = 0 }, []string{"argon2 parameters: threads must be at least 1"}},
		{"argon2 too small", func(s *Settings) { s.Argon2.Memory = 512 }, []string{"--argon2-memory must be at least 1024 KiB"}},
		{"negative hashes", func(s *Settings) { s.MaxConcurrentHashes = -1 }, []string{"--max-concurrent-hashes must not be negative"}},
		{"zero hash wait", func(s *Settings) { s.HashWait = 0 }, []string{"--hash-wait must be positive"}},
		{"http issuer", func(s *Settings) { s.Issuer = "http://auth.example" }, []string{"--issuer: ", "must use https unless it is on loopback"}},
		{"relative issuer", func(s *Settings) { s.Issuer = "/auth" }, []string{"must be an absolute http(s) URL"}},
		{"issuer with query", func(s *Settings) { s.Issuer = "https://a.example/?x=1" }, []string{"must not have a query or fragment"}},
		{"several at once", func(s *Settings) {
			s.KeyBits, s.AccessTTL, s.RefreshReuseGrace, s.LogFormat, s.HashWait = 1, -time.Second, -time.Second, "", 0
		}, []string{"--key-bits", "--access-ttl", "--refresh-reuse-grace", "--log-format", "--hash-wait"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			tt.edit(&s)
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to say %q", err, w)
				}
			}
			// One error per problem: a caller can list them.
			var j interface{ Unwrap() []error }
			if !errors.As(err, &j) {
				t.Fatalf("Validate() = %T, want a joined error", err)
			}
			if tt.name == "several at once" && len(j.Unwrap()) != len(tt.want) {
				t.Errorf("Validate() reported %d problems, want %d: %q", len(j.Unwrap()), len(tt.want), err)
			}
		})
	}
}

// TestSettings_ValidateZero: the zero Settings is not a configuration; it
// says what is missing rather than choosing for the caller.
func TestSettings_ValidateZero(t *testing.T) {
	err := Settings{}.Validate()
	if err == nil {
		t.Fatal("Settings{}.Validate() = nil, want problems")
	}
	for _, w := range []string{"--key-bits", "--signing-alg", "--access-ttl", "--refresh-ttl", "--refresh-idle-ttl", "--key-rotation", "--jwks-max-age", "--log-format", "argon2", "--hash-wait"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Settings{}.Validate() = %q, does not mention %s", err, w)
		}
	}
}
