package keys

import "time"

// Info describes a signing key for listings: no key material.
type Info struct {
	ID          string    `json:"kid"`
	State       string    `json:"state"` // next, active, retired, revoked
	Bits        int       `json:"bits"`
	Alg         string    `json:"alg"` // RS256, ES256 or EdDSA
	Encrypted   bool      `json:"encrypted"`
	CreatedAt   time.Time `json:"created_at"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	RemoveAt    time.Time `json:"remove_at,omitzero"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
	// NextRotation is when this key is scheduled to change state next
	// (next→active, active→retired); zero if none is scheduled.
	NextRotation time.Time `json:"next_rotation,omitzero"`
	// EarlyActivation is set in the answer of a rotation that made a key
	// active before it had been published for the full lead (2×JWKS
	// max-age): verifiers that cached the JWKS before it was published may
	// reject new tokens until they refetch.
	EarlyActivation bool `json:"early_activation,omitempty"`
}
