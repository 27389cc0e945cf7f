package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/storage"
)

const (
	// pollInterval bounds how long Run waits between reloads of the key
	// set, so that changes made by another process are picked up.
	pollInterval = 30 * time.Second
	// retryInterval is Run's wait after a failed Tick.
	retryInterval = 5 * time.Second
	// minWait keeps Run from spinning on a transition that is due now.
	minWait = 10 * time.Millisecond
	// maxFresh bounds the fresh keys one change may use.
	maxFresh = 4
)

// Manager owns the signing keys. Sign, SignIDToken, Verify, VerifyIDToken,
// JWKS and Ready are safe for concurrent use and never block on storage or
// on each other; the other methods are safe for concurrent use and
// serialise among themselves.
type Manager struct {
	cfg   Config
	store Store
	log   *slog.Logger

	// state is the immutable snapshot the hot path reads.
	state atomic.Pointer[snapshot]
	// wake tells Run that the schedule may have changed.
	wake chan struct{}

	// mu serialises changes to the key set and to state.
	mu sync.Mutex
	// cache holds parsed keys by kid; guarded by mu.
	cache map[string]*material
	// pending holds keys prepared for a change in progress: they are in the
	// JWKS before the change commits, so that their PublishedAt is never
	// earlier than the moment they are served. Guarded by mu.
	pending map[string]*material

	// spare is a key generated ahead of time by Run, of algorithm
	// spareAlg; guarded by spareMu.
	spareMu  sync.Mutex
	spare    crypto.Signer
	spareAlg string

	// signSlots bounds concurrent signatures to GOMAXPROCS (see Sign).
	signSlots chan struct{}
}

// snapshot is one immutable view of the key set.
type snapshot struct {
	keys   []storage.Key        // as committed, in store order
	active *material            // nil when no key is active
	verify map[string]*material // active and retired keys: those whose tokens verify
	kids   []string             // the JWKS's kids, sorted
	jwks   []byte
	etag   string
	// algs are the algorithms of the active and next keys (SigningAlgs).
	algs []string
	// event is when the key set is next due to change; hasEvent is false
	// when nothing is scheduled.
	event    time.Time
	hasEvent bool
}

// New loads the signing keys from cfg.Store. On an empty store it generates
// the first active key and the first next key before it returns. With
// cfg.KEK it encrypts keys stored unencrypted; it fails with ErrWrongKEK,
// changing nothing, when the stored keys cannot be decrypted with cfg.KEK, or
// are encrypted and cfg.KEK is nil. It also makes any change that is due (a
// rotation missed while no server ran).
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.KEK = bytes.Clone(cfg.KEK)
	m := &Manager{
		cfg:     cfg,
		store:   cfg.Store,
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		cache:   make(map[string]*material),
		pending: make(map[string]*material),

		signSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	if cfg.KEK == nil {
		m.log.Warn("private signing keys are stored unencrypted; set --key-encryption-key-file")
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	// Open every stored key before writing anything, so that a wrong KEK
	// changes nothing.
	unencrypted := false
	for _, k := range stored {
		if _, err := m.material(k); err != nil {
			return nil, err
		}
		unencrypted = unencrypted || !k.Encrypted
	}
	if cfg.KEK != nil && unencrypted {
		if _, err := m.update(ctx, 0, func(p *plan) error { return p.encrypt(cfg.KEK) }); err != nil {
			return nil, fmt.Errorf("keys: encrypt stored keys: %w", err)
		}
	}
	if err := m.tickWith(ctx, func(p *plan) error { return p.switchAlg() }); err != nil {
		return nil, err
	}
	st := m.state.Load()
	if st.active == nil {
		return nil, errors.New("keys: no active key after loading")
	}
	m.log.Info("signing keys loaded", "active", st.active.kid, "published", len(st.kids), "encrypted", cfg.KEK != nil)
	return m, nil
}

// Run makes the scheduled changes until ctx ends: it calls Tick at each
// transition and at least every 30 seconds (to pick up changes made by other
// processes), and keeps one spare key generated ahead of time so that
// rotations need not wait for RSA key generation. Errors are logged and
// retried.
func (m *Manager) Run(ctx context.Context) {
	for {
		wait := pollInterval
		if err := m.Tick(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Error("keys: scheduled key change failed", "err", err)
			wait = retryInterval
		} else {
			m.fillSpare()
			if st := m.state.Load(); st.hasEvent {
				wait = min(wait, max(st.event.Sub(m.cfg.Now()), minWait))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Tick reloads the key set from the store and makes whatever change is due
// at the current time: removal of expired retired and revoked keys,
// promotion of the next key, publication of a new next key.
func (m *Manager) Tick(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tick(ctx)
}

func (m *Manager) tick(ctx context.Context) error {
	return m.tickWith(ctx, func(p *plan) error { return p.advance() })
}

// tickWith reloads the key set and applies fn if it changes anything (mu
// held).
func (m *Manager) tickWith(ctx context.Context, fn func(*plan) error) error {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list keys: %w", err)
	}
	need, changed := m.dryRun(stored, fn)
	if !changed {
		return m.install(stored)
	}
	_, err = m.update(ctx, need, fn)
	return err
}

// Rotate starts a rotation and returns the key that is, or will become,
// active. With now false the next key takes over at once if it has been
// published for at least 2×JWKSMaxAge, and otherwise as soon as it has been
// (Info.NextRotation). With now true it takes over at once regardless: an
// emergency, since verifiers that cached the JWKS before the next key was
// published may reject new tokens until they refetch. Either way a new next
// key is published when the next key takes over.
func (m *Manager) Rotate(ctx context.Context, now bool) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kid string
	var early bool
	keys, err := m.change(ctx, func(p *plan) error {
		var err error
		kid, err = p.rotate(now)
		early = p.activatedEarly()
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("keys: rotate: %w", err)
	}
	info := m.info(keys, kid)
	info.EarlyActivation = early
	return info, nil
}

// Revoke revokes the key kid: it leaves the JWKS at once and Verify refuses
// the tokens it signed. Revoking the active key makes the next key active at
// once (an emergency, like Rotate with now); revoking the only next key
// publishes a new one. The revoked key stays in the store as a record until
// its RemoveAt. Revoking a revoked key changes nothing. An unknown kid yields
// an error wrapping ErrNotFound (and storage.ErrNotFound).
func (m *Manager) Revoke(ctx context.Context, kid string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys, err := m.change(ctx, func(p *plan) error { return p.revoke(kid) })
	if err != nil {
		return Info{}, err
	}
	return m.info(keys, kid), nil
}

// List returns every stored key, newest first, as the store has it now.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	infos := make([]Info, 0, len(stored))
	for _, k := range stored {
		infos = append(infos, m.info(stored, k.ID))
	}
	slices.SortFunc(infos, func(a, b Info) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return infos, nil
}

// Active describes the active key as the Manager holds it in memory (the
// key set as of its last load or change: Run reloads it at least every 30
// seconds), without reading the store. It is safe for concurrent use and
// never blocks, like Sign. ok is false when no key is active.
func (m *Manager) Active() (info Info, ok bool) {
	st := m.state.Load()
	if st == nil || st.active == nil {
		return Info{}, false
	}
	return m.info(st.keys, st.active.kid), true
}

// info describes key kid of keys.
func (m *Manager) info(keys []storage.Key, kid string) Info {
	i := slices.IndexFunc(keys, func(k storage.Key) bool { return k.ID == kid })
	if i < 0 {
		return Info{ID: kid}
	}
	k := keys[i]
	info := Info{
		ID:          k.ID,
		State:       string(k.State),
		Bits:        k.Bits,
		Alg:         algOf(k),
		Encrypted:   k.Encrypted,
		CreatedAt:   k.CreatedAt,
		PublishedAt: k.PublishedAt,
		ActivatedAt: k.ActivatedAt,
		RetiredAt:   k.RetiredAt,
		RemoveAt:    k.RemoveAt,
		RevokedAt:   k.RevokedAt,
	}
	if a, n := activeKey(keys), candidate(keys); a >= 0 && n >= 0 && (a == i || n == i) {
		info.NextRotation = m.cfg.promoteAt(keys[a], keys[n])
	}
	if k.State == storage.KeyNext {
		// On a next key ActivatedAt is only the time a rotation was asked
		// for; NextRotation says when it happens.
		info.ActivatedAt = time.Time{}
	}
	return info
}

// change runs a plan against the current key set (mu held).
func (m *Manager) change(ctx context.Context, fn func(*plan) error) ([]storage.Key, error) {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	need, _ := m.dryRun(stored, fn)
	keys, err := m.update(ctx, need, fn)
	if err != nil {
		return nil, err
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return keys, nil
}

// dryRun runs fn on a copy of keys to learn whether it changes anything and
// how many fresh keys it needs.
func (m *Manager) dryRun(keys []storage.Key, fn func(*plan) error) (need int, changed bool) {
	pl := &pool{dry: true}
	p := &plan{cfg: m.cfg, now: m.cfg.Now(), pool: pl, keys: slices.Clone(keys)}
	if err := fn(p); err != nil {
		return 0, true
	}
	return pl.used, len(p.events) > 0
}

// update applies fn through Store.UpdateKeys and installs the result (mu
// held). It prepares need fresh keys first, publishing them in the JWKS, and
// more if fn asks for them. Unused fresh keys are kept as the spare.
func (m *Manager) update(ctx context.Context, need int, fn func(*plan) error) ([]storage.Key, error) {
	pl := &pool{}
	var fresh []*material
	defer func() {
		// Prepared keys are either committed now or not published at all.
		for i, mat := range fresh {
			delete(m.pending, mat.kid)
			if i >= pl.used {
				m.putSpare(string(mat.alg), mat.priv)
			}
		}
	}()
	prepare := func() error {
		k, mat, err := m.prepare()
		if err != nil {
			return err
		}
		pl.keys = append(pl.keys, k)
		fresh = append(fresh, mat)
		return nil
	}
	for range need {
		if err := prepare(); err != nil {
			return nil, m.abort(err)
		}
	}
	for {
		// Read the clock after the fresh keys are served.
		now := m.cfg.Now()
		var events []event
		keys, err := m.store.UpdateKeys(ctx, func(cur []storage.Key) ([]storage.Key, error) {
			pl.used = 0
			p := &plan{cfg: m.cfg, now: now, pool: pl, keys: slices.Clone(cur)}
			if err := fn(p); err != nil {
				return nil, err
			}
			events = p.events
			return p.keys, nil
		})
		if errors.Is(err, errNeedKey) && len(pl.keys) < maxFresh {
			if err := prepare(); err != nil {
				return nil, m.abort(err)
			}
			continue
		}
		if err != nil {
			// The write may have committed all the same (an error after
			// the commit): never offer these keys again.
			pl.used = len(fresh)
			return nil, m.abort(err)
		}
		// The used keys are in keys now; the unused ones leave the JWKS.
		for _, mat := range fresh {
			delete(m.pending, mat.kid)
		}
		if err := m.install(keys); err != nil {
			return nil, err
		}
		m.logEvents(events)
		return keys, nil
	}
}

// abort withdraws the keys published for a change that failed (mu held).
func (m *Manager) abort(err error) error {
	if len(m.pending) == 0 {
		return err
	}
	clear(m.pending)
	var keys []storage.Key
	if st := m.state.Load(); st != nil {
		keys = st.keys
	}
	if ierr := m.install(keys); ierr != nil {
		return errors.Join(err, ierr)
	}
	return err
}

// prepare makes a fresh key, from the spare or generated now, and publishes
// it in the JWKS before it is committed (mu held).
func (m *Manager) prepare() (storage.Key, *material, error) {
	alg := m.cfg.SigningAlg
	priv := m.takeSpare(alg)
	if priv == nil {
		var err error
		if priv, err = generate(alg, m.cfg.KeyBits); err != nil {
			return storage.Key{}, nil, err
		}
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return storage.Key{}, nil, err
	}
	mat, err := newMaterial(kid, alg, priv)
	if err != nil {
		return storage.Key{}, nil, err
	}
	private, encrypted, err := seal(kid, alg, priv, m.cfg.KEK)
	if err != nil {
		return storage.Key{}, nil, err
	}
	m.cache[kid] = mat
	m.pending[kid] = mat
	var keys []storage.Key
	if st := m.state.Load(); st != nil {
		keys = st.keys
	}
	if err := m.install(keys); err != nil {
		delete(m.pending, kid)
		return storage.Key{}, nil, err
	}
	k := storage.Key{
		ID:        kid,
		Private:   private,
		Encrypted: encrypted,
		Bits:      keyBits(priv),
		Alg:       alg,
		CreatedAt: m.cfg.Now(),
	}
	return k, mat, nil
}

// material returns the parsed key k, from the cache or opened now (mu held).
func (m *Manager) material(k storage.Key) (*material, error) {
	if mat, ok := m.cache[k.ID]; ok {
		return mat, nil
	}
	priv, err := open(k, m.cfg.KEK)
	if err != nil {
		return nil, err
	}
	mat, err := newMaterial(k.ID, algOf(k), priv)
	if err != nil {
		return nil, err
	}
	m.cache[k.ID] = mat
	return mat, nil
}

// install makes keys (plus the pending keys) the current snapshot (mu held).
// The JWKS body and ETag are rebuilt only when the set of published keys
// changes.
func (m *Manager) install(keys []storage.Key) error {
	st := &snapshot{keys: keys, verify: make(map[string]*material)}
	published := maps.Clone(m.pending)
	live := make(map[string]bool, len(keys))
	a := activeKey(keys)
	for i, k := range keys {
		live[k.ID] = true
		switch k.State {
		case storage.KeyNext, storage.KeyActive, storage.KeyRetired:
		default:
			continue
		}
		mat, err := m.material(k)
		if err != nil {
			return err
		}
		published[k.ID] = mat
		if k.State != storage.KeyNext {
			st.verify[k.ID] = mat
		}
		if i == a {
			st.active = mat
		}
	}
	for kid := range m.cache {
		if !live[kid] && m.pending[kid] == nil {
			delete(m.cache, kid)
		}
	}
	if st.active != nil {
		st.algs = []string{string(st.active.alg)}
	}
	for _, k := range keys {
		if k.State != storage.KeyNext {
			continue
		}
		if mat := published[k.ID]; mat != nil && !slices.Contains(st.algs, string(mat.alg)) {
			st.algs = append(st.algs, string(mat.alg))
		}
	}
	if old := m.state.Load(); old != nil && slices.Equal(old.algs, st.algs) {
		st.algs = old.algs
	}
	st.kids = slices.Sorted(maps.Keys(published))
	if old := m.state.Load(); old != nil && slices.Equal(old.kids, st.kids) {
		st.jwks, st.etag = old.jwks, old.etag
	} else {
		var b bytes.Buffer
		b.WriteString(`{"keys":[`)
		for i, kid := range st.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(published[kid].public)
		}
		b.WriteString("]}")
		sum := sha256.Sum256(b.Bytes())
		st.jwks = b.Bytes()
		st.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
	}
	st.event, st.hasEvent = m.cfg.nextEvent(keys)
	m.state.Store(st)
	return nil
}

func (m *Manager) logEvents(events []event) {
	for _, e := range events {
		switch e.what {
		case "activated":
			if e.early {
				m.log.Warn("signing key activated early; verifiers that cached the JWKS recently may reject new tokens until they refetch", "kid", e.kid)
			} else {
				m.log.Info("signing key activated", "kid", e.kid)
			}
		case "revoked":
			if e.early {
				m.log.Warn("active signing key revoked; verifiers that cached the JWKS may reject new tokens until they refetch", "kid", e.kid, "remove_at", e.at)
			} else {
				m.log.Warn("signing key revoked", "kid", e.kid, "remove_at", e.at)
			}
		case "repaired":
			m.log.Warn("signing key had no removal time; set one", "kid", e.kid, "remove_at", e.at)
		case "scheduled":
			m.log.Info("signing key rotation scheduled", "kid", e.kid, "at", e.at)
		case "replaced":
			m.log.Info("next signing key replaced by one of the configured --signing-alg; the active key signs until the new one has been published for the usual lead", "kid", e.kid, "alg", e.alg, "signing_alg", m.cfg.SigningAlg)
		case "retired":
			m.log.Info("signing key retired", "kid", e.kid, "remove_at", e.at)
		default:
			m.log.Info("signing key "+e.what, "kid", e.kid)
		}
	}
}

// fillSpare generates the spare key if there is none.
func (m *Manager) fillSpare() {
	alg := m.cfg.SigningAlg
	m.spareMu.Lock()
	have := m.spare != nil && m.spareAlg == alg
	m.spareMu.Unlock()
	if have {
		return
	}
	priv, err := generate(alg, m.cfg.KeyBits)
	if err != nil {
		m.log.Error("keys: generate spare key", "err", err)
		return
	}
	m.putSpare(alg, priv)
}

// takeSpare returns the spare key if it is one for alg (and of KeyBits for
// RS256), or nil.
func (m *Manager) takeSpare(alg string) crypto.Signer {
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	priv := m.spare
	if priv == nil || m.spareAlg != alg || (alg == algRS256 && keyBits(priv) != m.cfg.KeyBits) {
		return nil
	}
	m.spare = nil
	return priv
}

func (m *Manager) putSpare(alg string, priv crypto.Signer) {
	m.spareMu.Lock()
	defer m.spareMu.Unlock()
	if m.spare == nil || m.spareAlg != alg {
		m.spare, m.spareAlg = priv, alg
	}
}
