package keys

import (
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/storage"
)

// ErrNotFound is wrapped by Revoke for a kid that is not in the store. It
// wraps storage.ErrNotFound, so callers may test for either.
var ErrNotFound = fmt.Errorf("no such key: %w", storage.ErrNotFound)

// errNeedKey is returned by a plan that needs more fresh keys than its pool
// holds; the caller prepares one more and runs the plan again.
var errNeedKey = errors.New("keys: need a fresh key")

// pool hands prepared keys to a plan. A plan may run more than once (the
// store retries UpdateKeys functions), so the pool is rewound before each
// run. A dry pool hands out placeholders and only counts.
type pool struct {
	keys []storage.Key
	used int
	dry  bool
}

func (p *pool) take() (storage.Key, error) {
	if p.dry {
		p.used++
		return storage.Key{ID: fmt.Sprintf("dry-run-%d", p.used)}, nil
	}
	if p.used == len(p.keys) {
		return storage.Key{}, errNeedKey
	}
	k := p.keys[p.used]
	p.used++
	return k, nil
}

// event is one change a plan made, logged after it is committed.
type event struct {
	what string // published, activated, retired, removed, revoked, scheduled, repaired, replaced
	kid  string
	alg  string    // for replaced: the algorithm of the withdrawn key
	at   time.Time // for scheduled: when; for retired and revoked: RemoveAt
	// early is set on an activation that happened before the key had been
	// published for 2×JWKSMaxAge, and on the revocation of the active key:
	// emergencies that verifiers caching the JWKS may notice.
	early bool
}

// plan computes a new key set from the committed one. It is a pure function
// of the keys, the time and the pool, as a storage update function must be.
type plan struct {
	cfg    Config
	now    time.Time
	pool   *pool
	keys   []storage.Key
	events []event
}

func (p *plan) note(e event) { p.events = append(p.events, e) }

func (p *plan) find(kid string) int {
	for i, k := range p.keys {
		if k.ID == kid {
			return i
		}
	}
	return -1
}

// activeKey returns the index of the active key, or -1. Should a damaged set
// hold several, the most recently activated one counts.
func activeKey(keys []storage.Key) int {
	a := -1
	for i, k := range keys {
		if k.State == storage.KeyActive && (a < 0 || k.ActivatedAt.After(keys[a].ActivatedAt)) {
			a = i
		}
	}
	return a
}

// candidate returns the index of the next key that becomes active next: the
// one published first. -1 if there is none.
func candidate(keys []storage.Key) int {
	n := -1
	for i, k := range keys {
		if k.State != storage.KeyNext {
			continue
		}
		if n < 0 || k.PublishedAt.Before(keys[n].PublishedAt) ||
			(k.PublishedAt.Equal(keys[n].PublishedAt) && k.ID < keys[n].ID) {
			n = i
		}
	}
	return n
}

// promoteAt is when next is due to replace active: its scheduled time (the
// regular period after active's activation, or earlier if Rotate asked), but
// never before next has been published for 2×JWKSMaxAge.
func (c Config) promoteAt(active, next storage.Key) time.Time {
	at := active.ActivatedAt.Add(c.KeyRotation)
	if !next.ActivatedAt.IsZero() && next.ActivatedAt.Before(at) {
		at = next.ActivatedAt
	}
	return later(at, next.PublishedAt.Add(c.publishLead()))
}

// nextEvent returns when the key set is next due to change. ok is false when
// nothing is scheduled; a zero time with ok means "now".
func (c Config) nextEvent(keys []storage.Key) (at time.Time, ok bool) {
	a, n := activeKey(keys), candidate(keys)
	if a < 0 || n < 0 {
		return time.Time{}, true
	}
	at, ok = c.promoteAt(keys[a], keys[n]), true
	for _, k := range keys {
		if (k.State == storage.KeyRetired || k.State == storage.KeyRevoked) && k.RemoveAt.Before(at) {
			at = k.RemoveAt
		}
	}
	return at, ok
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// advance makes every change that is due at p.now: removals, promotion of the
// next key, and a fresh next key when there is none. After it, exactly one
// key is active and one is next.
func (p *plan) advance() error {
	kept := make([]storage.Key, 0, len(p.keys)+1)
	for _, k := range p.keys {
		if k.State == storage.KeyRetired || k.State == storage.KeyRevoked {
			if k.RemoveAt.IsZero() {
				k.RemoveAt = later(later(k.RetiredAt, k.RevokedAt), p.now).Add(p.cfg.retention())
				p.note(event{what: "repaired", kid: k.ID, at: k.RemoveAt})
			}
			if !p.now.Before(k.RemoveAt) {
				p.note(event{what: "removed", kid: k.ID})
				continue
			}
		}
		kept = append(kept, k)
	}
	p.keys = kept

	a := activeKey(p.keys)
	for i := range p.keys {
		if i != a && p.keys[i].State == storage.KeyActive {
			p.retire(i)
		}
	}
	n := candidate(p.keys)
	switch {
	case a < 0 && n < 0:
		i, err := p.publish()
		if err != nil {
			return err
		}
		p.activate(i)
	case a < 0:
		p.activate(n)
	case n >= 0 && !p.now.Before(p.cfg.promoteAt(p.keys[a], p.keys[n])):
		p.activate(n)
	}
	if candidate(p.keys) < 0 {
		if _, err := p.publish(); err != nil {
			return err
		}
	}
	return nil
}

// publish adds a fresh key from the pool as a next key and returns its index.
func (p *plan) publish() (int, error) {
	k, err := p.pool.take()
	if err != nil {
		return -1, err
	}
	if p.find(k.ID) >= 0 {
		return -1, fmt.Errorf("keys: fresh key %s is already stored", k.ID)
	}
	k.State = storage.KeyNext
	k.PublishedAt = p.now
	k.ActivatedAt, k.RetiredAt, k.RemoveAt, k.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	p.keys = append(p.keys, k)
	p.note(event{what: "published", kid: k.ID})
	return len(p.keys) - 1, nil
}

// activate makes key i the active key and retires the one it replaces.
func (p *plan) activate(i int) {
	replaced := false
	for j := range p.keys {
		if j != i && p.keys[j].State == storage.KeyActive {
			p.retire(j)
			replaced = true
		}
	}
	k := &p.keys[i]
	early := replaced && p.now.Before(k.PublishedAt.Add(p.cfg.publishLead()))
	k.State = storage.KeyActive
	k.ActivatedAt = p.now
	p.note(event{what: "activated", kid: k.ID, early: early})
}

func (p *plan) retire(i int) {
	k := &p.keys[i]
	k.State = storage.KeyRetired
	k.RetiredAt = p.now
	k.RemoveAt = p.now.Add(p.cfg.retention())
	p.note(event{what: "retired", kid: k.ID, at: k.RemoveAt})
}

// rotate is Rotate's plan. It returns the kid of the key that is, or is
// scheduled to become, active.
func (p *plan) rotate(immediate bool) (string, error) {
	if err := p.advance(); err != nil {
		return "", err
	}
	for _, e := range p.events {
		if e.what == "activated" {
			// A due rotation just happened: that was the rotation asked for.
			return e.kid, nil
		}
	}
	n := candidate(p.keys)
	earliest := p.keys[n].PublishedAt.Add(p.cfg.publishLead())
	if !immediate && p.now.Before(earliest) {
		if !p.keys[n].ActivatedAt.Equal(earliest) {
			p.keys[n].ActivatedAt = earliest
			p.note(event{what: "scheduled", kid: p.keys[n].ID, at: earliest})
		}
		return p.keys[n].ID, nil
	}
	kid := p.keys[n].ID
	p.activate(n)
	if _, err := p.publish(); err != nil {
		return "", err
	}
	return kid, nil
}

// activatedEarly reports whether the plan activated a key that had been
// published for less than the publication lead.
func (p *plan) activatedEarly() bool {
	for _, e := range p.events {
		if e.what == "activated" && e.early {
			return true
		}
	}
	return false
}

// revoke is Revoke's plan.
func (p *plan) revoke(kid string) error {
	if err := p.advance(); err != nil {
		return err
	}
	i := p.find(kid)
	if i < 0 {
		return fmt.Errorf("keys: revoke %s: %w", kid, ErrNotFound)
	}
	k := &p.keys[i]
	if k.State == storage.KeyRevoked {
		return nil
	}
	wasActive := k.State == storage.KeyActive
	if wasActive {
		k.RetiredAt = p.now
	}
	k.State = storage.KeyRevoked
	k.RevokedAt = p.now
	k.RemoveAt = later(k.RemoveAt, p.now.Add(p.cfg.retention()))
	p.note(event{what: "revoked", kid: k.ID, at: k.RemoveAt, early: wasActive})
	if wasActive {
		n := candidate(p.keys)
		if n < 0 {
			var err error
			if n, err = p.publish(); err != nil {
				return err
			}
		}
		p.activate(n)
	}
	if candidate(p.keys) < 0 {
		if _, err := p.publish(); err != nil {
			return err
		}
	}
	return nil
}

// switchAlg is New's plan for a changed --signing-alg (SPEC 2.3): after
// advance, every next key of another algorithm is withdrawn (a next key has
// signed nothing, so no token needs it) and a fresh next key of
// p.cfg.SigningAlg is published in its place. It becomes active on the
// usual schedule: not before it has been published for 2×JWKSMaxAge, so a
// verifier that caches the JWKS has it before it meets a token it signed.
// The active key keeps signing until then. A next key of the right
// algorithm is kept whatever its size: --key-bits applies to keys generated
// from now on.
func (p *plan) switchAlg() error {
	if err := p.advance(); err != nil {
		return err
	}
	kept := p.keys[:0:0]
	for _, k := range p.keys {
		if k.State == storage.KeyNext && algOf(k) != p.cfg.SigningAlg {
			p.note(event{what: "replaced", kid: k.ID, alg: algOf(k)})
			continue
		}
		kept = append(kept, k)
	}
	p.keys = kept
	if candidate(p.keys) < 0 {
		if _, err := p.publish(); err != nil {
			return err
		}
	}
	return nil
}

// encrypt is New's migration plan: every unencrypted key is sealed with kek.
func (p *plan) encrypt(kek []byte) error {
	for i, k := range p.keys {
		if k.Encrypted {
			continue
		}
		priv, err := open(k, nil)
		if err != nil {
			return err
		}
		private, encrypted, err := seal(k.ID, algOf(k), priv, kek)
		if err != nil {
			return err
		}
		p.keys[i].Private, p.keys[i].Encrypted = private, encrypted
		p.note(event{what: "encrypted", kid: k.ID})
	}
	return nil
}
