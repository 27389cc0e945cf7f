package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// memStore is an in-memory Store. Like a real backend it hands out copies,
// and it runs every update function twice (a backend may retry), keeping the
// second result. It refuses to commit a set without exactly one active key.
type memStore struct {
	mu     sync.Mutex
	keys   []storage.Key
	writes int
	// fail, if set, makes the next UpdateKeys fail with it.
	fail error
}

func copyKeys(keys []storage.Key) []storage.Key {
	out := make([]storage.Key, len(keys))
	for i, k := range keys {
		k.Private = slices.Clone(k.Private)
		out[i] = k
	}
	return out
}

func (s *memStore) ListKeys(ctx context.Context) ([]storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyKeys(s.keys), nil
}

func (s *memStore) UpdateKeys(ctx context.Context, fn func([]storage.Key) ([]storage.Key, error)) ([]storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail; err != nil {
		s.fail = nil
		return nil, fmt.Errorf("memstore: update keys: %w", err)
	}
	var out []storage.Key
	for range 2 {
		var err error
		out, err = fn(copyKeys(s.keys))
		if err != nil {
			return nil, fmt.Errorf("memstore: update keys: %w", err)
		}
	}
	active := 0
	seen := map[string]bool{}
	for _, k := range out {
		if k.State == storage.KeyActive {
			active++
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("memstore: duplicate kid %s", k.ID)
		}
		seen[k.ID] = true
	}
	if active != 1 {
		return nil, fmt.Errorf("memstore: refusing a key set with %d active keys", active)
	}
	s.keys = copyKeys(out)
	s.writes++
	return copyKeys(out), nil
}

func (s *memStore) snapshot() ([]storage.Key, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyKeys(s.keys), s.writes
}

// raw is everything the store holds, as a backend would serialise it.
func (s *memStore) raw(t *testing.T) []byte {
	t.Helper()
	keys, _ := s.snapshot()
	b, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// def are the default settings, which the tests start from.
var def = config.Default()

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testConfig is a configuration with the default durations on a manual
// clock.
func testConfig(t testing.TB, s Store, c *clock) Config {
	return Config{Settings: config.Default(), Store: s, Now: c.Now, Logger: testLogger(t)}
}

func mustNew(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func mustTick(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

func mustSign(t testing.TB, m *Manager, claims string) string {
	t.Helper()
	tok, err := m.Sign([]byte(claims))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// byState returns the kids of the stored keys in state s.
func byState(keys []storage.Key, s storage.KeyState) []string {
	var kids []string
	for _, k := range keys {
		if k.State == s {
			kids = append(kids, k.ID)
		}
	}
	return kids
}

func storedKey(t *testing.T, keys []storage.Key, kid string) storage.Key {
	t.Helper()
	for _, k := range keys {
		if k.ID == kid {
			return k
		}
	}
	t.Fatalf("key %s not in store", kid)
	return storage.Key{}
}

// parseJWKS parses a JWKS body the way a verifier does, and checks that it
// carries only public parts.
func parseJWKS(t *testing.T, body []byte) map[string]jose.JSONWebKey {
	t.Helper()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("JWKS body: %v", err)
	}
	want := []string{"alg", "e", "kid", "kty", "n", "use"}
	for _, k := range raw.Keys {
		var got []string
		for name := range k {
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("JWKS entry has members %v, want exactly %v", got, want)
		}
		if k["kty"] != "RSA" || k["use"] != "sig" || k["alg"] != "RS256" {
			t.Fatalf("JWKS entry %v: want kty RSA, use sig, alg RS256", k)
		}
	}
	set, err := jwksSet(body)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// jwksSet parses a JWKS body into its keys by kid.
func jwksSet(body []byte) (map[string]jose.JSONWebKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("JWKS body: %w", err)
	}
	out := make(map[string]jose.JSONWebKey)
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("JWKS key %s is not public", k.KeyID)
		}
		out[k.KeyID] = k
	}
	return out, nil
}

// verifyWith checks token against a JWKS as a strict verifier would: the kid
// must be in the set it holds.
func verifyWith(set map[string]jose.JSONWebKey, token string) error {
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return err
	}
	kid := obj.Signatures[0].Protected.KeyID
	k, ok := set[kid]
	if !ok {
		return fmt.Errorf("kid %s not in the cached JWKS", kid)
	}
	_, err = obj.Verify(k)
	return err
}

// fetch is one JWKS as it was served from at until the next fetch.
type fetch struct {
	at  time.Time
	set map[string]jose.JSONWebKey
}

// issued is a token and when it was signed.
type issued struct {
	token string
	kid   string
	at    time.Time
}

// jwksHistory records the JWKS as it changes over time, and checks tokens
// against every copy a strict caching verifier may hold during their life.
type jwksHistory struct {
	fetches []fetch
	etag    string
}

// observe records the JWKS served from now on.
func (h *jwksHistory) observe(t *testing.T, m *Manager, now time.Time) {
	t.Helper()
	body, etag := m.JWKS()
	if etag == h.etag {
		return
	}
	h.etag = etag
	h.fetches = append(h.fetches, fetch{at: now, set: parseJWKS(t, body)})
}

// check verifies tok against every JWKS a verifier could hold while tok is
// alive: a copy fetched at any time in [at-maxAge, at+ttl].
func (h *jwksHistory) check(tok issued, maxAge, ttl time.Duration) error {
	from, to := tok.at.Add(-maxAge), tok.at.Add(ttl)
	for i, f := range h.fetches {
		end := time.Time{}
		if i+1 < len(h.fetches) {
			end = h.fetches[i+1].at
		}
		// f was served during [f.at, end).
		if !end.IsZero() && !end.After(from) {
			continue
		}
		if f.at.After(to) {
			break
		}
		if err := verifyWith(f.set, tok.token); err != nil {
			return fmt.Errorf("token signed at %s by %s, JWKS served from %s: %w", tok.at, tok.kid, f.at, err)
		}
	}
	return nil
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	obj, err := jose.ParseSignedCompact(token, signingAlgs)
	if err != nil {
		t.Fatal(err)
	}
	return obj.Signatures[0].Protected.KeyID
}

func isInvalid(err error) bool { return errors.Is(err, ErrInvalidToken) }

// with returns the default settings changed by fn.
func with(fn func(*config.Settings)) config.Settings {
	s := config.Default()
	fn(&s)
	return s
}
