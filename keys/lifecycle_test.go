package keys

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/config"
	"github.com/authd/authd/storage"
)

// checkState checks the invariants that hold after every change: one active
// key, which Sign uses; one next key; the JWKS is exactly the next, active and
// retired keys; the active key (but the first) was published for 2×JWKSMaxAge
// before it signed; nothing is overdue.
func checkState(t *testing.T, s *memStore, m *Manager, cfg Config, now time.Time, first string) {
	t.Helper()
	keys, _ := s.snapshot()
	active, next := byState(keys, storage.KeyActive), byState(keys, storage.KeyNext)
	if len(active) != 1 || len(next) != 1 {
		t.Fatalf("at %s: %d active and %d next keys, want 1 and 1", now, len(active), len(next))
	}
	if !m.Ready() {
		t.Fatalf("at %s: not ready", now)
	}
	if got := kidOf(t, mustSign(t, m, `{}`)); got != active[0] {
		t.Fatalf("at %s: signed with %s, want the active key %s", now, got, active[0])
	}
	body, _ := m.JWKS()
	var published []string
	for kid := range parseJWKS(t, body) {
		published = append(published, kid)
	}
	want := slices.Concat(next, active, byState(keys, storage.KeyRetired))
	slices.Sort(published)
	slices.Sort(want)
	if !slices.Equal(published, want) {
		t.Fatalf("at %s: JWKS has %v, want %v", now, published, want)
	}
	a := storedKey(t, keys, active[0])
	n := storedKey(t, keys, next[0])
	if a.ID != first && a.ActivatedAt.Before(a.PublishedAt.Add(cfg.publishLead())) {
		t.Fatalf("at %s: key %s active at %s, published only at %s", now, a.ID, a.ActivatedAt, a.PublishedAt)
	}
	if due := cfg.withDefaults().promoteAt(a, n); !now.Before(due) {
		t.Fatalf("at %s: promotion of %s was due at %s", now, n.ID, due)
	}
	for _, k := range keys {
		if (k.State == storage.KeyRetired || k.State == storage.KeyRevoked) && !now.Before(k.RemoveAt) {
			t.Fatalf("at %s: %s key %s still stored, RemoveAt %s", now, k.State, k.ID, k.RemoveAt)
		}
		if k.State == storage.KeyRetired && k.RemoveAt.Before(k.RetiredAt.Add(cfg.AccessTTL+cfg.Skew)) {
			t.Fatalf("retired key %s: RemoveAt %s too early for RetiredAt %s", k.ID, k.RemoveAt, k.RetiredAt)
		}
	}
}

// TestManager_Lifecycle drives the life cycle through simulated time and
// checks, at every step, the invariants, the exact schedule, and that every
// token verifies against every JWKS a strict caching verifier may hold while
// the token lives.
func TestManager_Lifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                        string
		rotation, maxAge, ttl, skew time.Duration
		span, minStep, maxStep      time.Duration
		// rotateEvery > 0 calls Rotate(ctx, false) every that many steps.
		rotateEvery  int
		minRotations int
	}{
		{
			name:     "daily",
			rotation: 24 * time.Hour, maxAge: 5 * time.Minute, ttl: 15 * time.Minute, skew: time.Minute,
			span: 10 * 24 * time.Hour, minStep: time.Minute, maxStep: 4 * time.Hour,
			rotateEvery: 41, minRotations: 9,
		},
		{
			name:     "rotation shorter than the cache",
			rotation: time.Minute, maxAge: 5 * time.Minute, ttl: 3 * time.Minute, skew: 10 * time.Second,
			span: 130 * time.Minute, minStep: 10 * time.Second, maxStep: 2 * time.Minute,
			minRotations: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := &memStore{}, newClock()
			cfg := testConfig(t, s, c)
			cfg.KeyRotation, cfg.JWKSMaxAge, cfg.AccessTTL, cfg.Skew = tt.rotation, tt.maxAge, tt.ttl, tt.skew
			m := mustNew(t, cfg)
			start := c.Now()
			keys, _ := s.snapshot()
			first := byState(keys, storage.KeyActive)[0]

			h := &jwksHistory{}
			h.observe(t, m, c.Now())
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.name))))
			var all, alive []issued
			rotations := 0
			for step := 1; c.Now().Before(start.Add(tt.span)); step++ {
				before, _ := s.snapshot()
				a := storedKey(t, before, byState(before, storage.KeyActive)[0])
				n := storedKey(t, before, byState(before, storage.KeyNext)[0])
				due := cfg.withDefaults().promoteAt(a, n)

				c.Advance(tt.minStep + time.Duration(rng.Int64N(int64(tt.maxStep-tt.minStep))))
				now := c.Now()
				manual := tt.rotateEvery > 0 && step%tt.rotateEvery == 0
				if manual {
					info, err := m.Rotate(t.Context(), false)
					if err != nil {
						t.Fatalf("Rotate: %v", err)
					}
					if info.ID != n.ID {
						t.Fatalf("Rotate returned %s, want the next key %s", info.ID, n.ID)
					}
					if ready := n.PublishedAt.Add(2 * tt.maxAge); now.Before(ready) && !info.NextRotation.Equal(ready) {
						t.Fatalf("Rotate: NextRotation %s, want %s", info.NextRotation, ready)
					}
				} else {
					mustTick(t, m)
				}
				h.observe(t, m, now)
				checkState(t, s, m, cfg, now, first)

				after, _ := s.snapshot()
				gotActive := byState(after, storage.KeyActive)[0]
				switch {
				case gotActive == a.ID:
					if !manual && !now.Before(due) {
						t.Fatalf("at %s: %s not promoted, due at %s", now, n.ID, due)
					}
				case gotActive == n.ID:
					rotations++
					if !manual && now.Before(due) {
						t.Fatalf("at %s: %s promoted before its time %s", now, n.ID, due)
					}
					if got := storedKey(t, after, n.ID).ActivatedAt; !got.Equal(now) {
						t.Fatalf("ActivatedAt %s, want %s", got, now)
					}
				default:
					t.Fatalf("at %s: active key %s is neither the old active %s nor the next %s", now, gotActive, a.ID, n.ID)
				}

				tok := mustSign(t, m, fmt.Sprintf(`{"step":%d}`, step))
				all = append(all, issued{token: tok, kid: kidOf(t, tok), at: now})
				alive = append(alive, all[len(all)-1])
				alive = slices.DeleteFunc(alive, func(tok issued) bool { return now.After(tok.at.Add(tt.ttl)) })
				for _, tok := range alive {
					if _, err := m.Verify(tok.token); err != nil {
						t.Fatalf("at %s: token signed at %s by %s: Verify: %v", now, tok.at, tok.kid, err)
					}
				}
			}
			if rotations < tt.minRotations {
				t.Errorf("%d rotations, want at least %d", rotations, tt.minRotations)
			}
			for _, tok := range all {
				// A cache may use its copy for max-age plus stale-while-revalidate.
				if err := h.check(tok, 2*tt.maxAge, tt.ttl); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// timeline describes the stored key set without kids (which are random), so
// that two runs with the same clock can be compared.
func timeline(keys []storage.Key, start time.Time) string {
	var b strings.Builder
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Sub(start).String()
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "%s pub=%s act=%s ret=%s rm=%s rev=%s; ", k.State,
			rel(k.PublishedAt), rel(k.ActivatedAt), rel(k.RetiredAt), rel(k.RemoveAt), rel(k.RevokedAt))
	}
	return b.String()
}

// TestManager_Restart runs the same clock twice, once with one manager and
// once restarting (New on the same store) at many points, including exactly
// at and just before each transition. The stored timelines must be the same:
// no rotation skipped or repeated.
func TestManager_Restart(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, restart bool) (timelines []string, rotations int) {
		s, c := &memStore{}, newClock()
		cfg := testConfig(t, s, c)
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.KeyRotation = 6 * time.Hour
		m := mustNew(t, cfg)
		start := c.Now()
		rng := rand.New(rand.NewPCG(7, 7))
		var out []string
		active := ""
		for step := range 60 {
			st := m.state.Load()
			switch step % 4 {
			case 0: // exactly at the next transition
				c.Advance(st.event.Sub(c.Now()))
			case 1: // just before it
				c.Advance(max(st.event.Sub(c.Now())-time.Nanosecond, 0))
			default:
				c.Advance(time.Duration(rng.Int64N(int64(3 * time.Hour))))
			}
			if restart && step%2 == 0 {
				m = mustNew(t, cfg)
			}
			mustTick(t, m)
			keys, _ := s.snapshot()
			out = append(out, timeline(keys, start))
			if a := byState(keys, storage.KeyActive)[0]; a != active {
				active = a
				rotations++
			}
		}
		return out, rotations
	}
	want, wantRotations := run(t, false)
	got, gotRotations := run(t, true)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d with restarts:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if gotRotations != wantRotations || wantRotations < 8 {
		t.Errorf("%d rotations with restarts, %d without; want the same, at least 8", gotRotations, wantRotations)
	}
}

// TestNew_CatchUp: after downtime of many periods, one promotion happens at
// once (not a burst), a fresh next key is published, and the schedule
// continues from then.
func TestNew_CatchUp(t *testing.T) {
	t.Parallel()
	s, c := &memStore{}, newClock()
	cfg := testConfig(t, s, c)
	m := mustNew(t, cfg)
	before, _ := s.snapshot()
	oldActive, oldNext := byState(before, storage.KeyActive)[0], byState(before, storage.KeyNext)[0]

	c.Advance(5*24*time.Hour + 3*time.Hour)
	now := c.Now()
	m = mustNew(t, cfg)
	after, writes := s.snapshot()
	if got := byState(after, storage.KeyActive); !slices.Equal(got, []string{oldNext}) {
		t.Fatalf("active %v, want the old next key %s", got, oldNext)
	}
	if got := storedKey(t, after, oldNext).ActivatedAt; !got.Equal(now) {
		t.Errorf("ActivatedAt %s, want now %s", got, now)
	}
	old := storedKey(t, after, oldActive)
	if old.State != storage.KeyRetired || !old.RetiredAt.Equal(now) || !old.RemoveAt.Equal(now.Add(def.AccessTTL+DefaultSkew)) {
		t.Errorf("old active key: state %s retired %s remove %s, want retired now, removed after TTL+skew", old.State, old.RetiredAt, old.RemoveAt)
	}
	next := storedKey(t, after, byState(after, storage.KeyNext)[0])
	if !next.PublishedAt.Equal(now) {
		t.Errorf("new next key published at %s, want now %s", next.PublishedAt, now)
	}
	if len(after) != 3 {
		t.Errorf("%d keys stored, want 3: %s", len(after), timeline(after, now))
	}

	// Nothing more is due: a tick writes nothing.
	mustTick(t, m)
	if _, w := s.snapshot(); w != writes {
		t.Errorf("idle Tick wrote to the store (%d writes, want %d)", w, writes)
	}
	info, err := m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range info {
		if i.State == "next" && !i.NextRotation.Equal(now.Add(def.KeyRotation)) {
			t.Errorf("next key NextRotation %s, want %s", i.NextRotation, now.Add(def.KeyRotation))
		}
	}
	c.Advance(def.KeyRotation)
	mustTick(t, m)
	final, _ := s.snapshot()
	if got := byState(final, storage.KeyActive); !slices.Equal(got, []string{next.ID}) {
		t.Errorf("after one more period active is %v, want %s", got, next.ID)
	}
}

func TestNew_EmptyStore(t *testing.T) {
	t.Parallel()
	s, c := &memStore{}, newClock()
	m := mustNew(t, testConfig(t, s, c))
	keys, writes := s.snapshot()
	if len(keys) != 2 || writes != 1 {
		t.Fatalf("%d keys in %d writes, want 2 in 1", len(keys), writes)
	}
	a := storedKey(t, keys, byState(keys, storage.KeyActive)[0])
	n := storedKey(t, keys, byState(keys, storage.KeyNext)[0])
	now := c.Now()
	if !a.PublishedAt.Equal(now) || !a.ActivatedAt.Equal(now) || !n.PublishedAt.Equal(now) || !n.ActivatedAt.IsZero() {
		t.Errorf("times: active pub %s act %s, next pub %s act %s; want all now, next not activated",
			a.PublishedAt, a.ActivatedAt, n.PublishedAt, n.ActivatedAt)
	}
	if a.Bits != 2048 || n.Bits != 2048 {
		t.Errorf("bits %d and %d, want 2048", a.Bits, n.Bits)
	}
	if !m.Ready() {
		t.Error("not ready after New")
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none for valid
	}{
		{"defaults", Config{Settings: config.Default(), Store: &memStore{}}, nil},
		{"4096", Config{Settings: with(func(s *config.Settings) { s.KeyBits = 4096 }), Store: &memStore{}}, nil},
		{"zero settings", Config{Store: &memStore{}}, []string{"--key-bits must be", "--key-rotation must be positive"}},
		{"everything wrong", Config{Settings: with(func(s *config.Settings) { s.KeyBits, s.KeyRotation = 1024, -1 }), Skew: -1, KEK: make([]byte, 16)},
			[]string{"no store", "2048, 3072 or 4096, not 1024", "--key-rotation must be positive", "clock skew must not be negative", "must be 32 bytes, got 16"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate: nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := New(t.Context(), Config{Settings: with(func(s *config.Settings) { s.KeyBits = 1000 }), Store: &memStore{}}); err == nil {
		t.Error("New with 1000 bits: nil error")
	}
}
