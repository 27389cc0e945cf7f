package keys

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func TestManager_Rotate(t *testing.T) {
	t.Parallel()
	t.Run("next key published long enough takes over at once", func(t *testing.T) {
		s, c := &memStore{}, newClock()
		m := mustNew(t, testConfig(t, s, c))
		before, _ := s.snapshot()
		oldActive, next := byState(before, storage.KeyActive)[0], byState(before, storage.KeyNext)[0]
		oldToken := mustSign(t, m, `{}`)

		c.Advance(2 * def.JWKSMaxAge)
		info, err := m.Rotate(t.Context(), false)
		if err != nil {
			t.Fatal(err)
		}
		now := c.Now()
		if info.ID != next || info.State != "active" || !info.ActivatedAt.Equal(now) {
			t.Errorf("Rotate = %s %s activated %s, want %s active at %s", info.ID, info.State, info.ActivatedAt, next, now)
		}
		if !info.NextRotation.Equal(now.Add(def.KeyRotation)) {
			t.Errorf("NextRotation %s, want %s", info.NextRotation, now.Add(def.KeyRotation))
		}
		after, _ := s.snapshot()
		if got := storedKey(t, after, oldActive).State; got != storage.KeyRetired {
			t.Errorf("old active key is %s, want retired", got)
		}
		newNext := byState(after, storage.KeyNext)
		if len(newNext) != 1 || newNext[0] == next || !storedKey(t, after, newNext[0]).PublishedAt.Equal(now) {
			t.Errorf("next keys %v: want one new key published now", newNext)
		}
		if got := kidOf(t, mustSign(t, m, `{}`)); got != next {
			t.Errorf("signed with %s, want %s", got, next)
		}
		if _, err := m.Verify(oldToken); err != nil {
			t.Errorf("token of the retired key: %v", err)
		}
	})

	t.Run("young next key is scheduled, and the schedule survives a restart", func(t *testing.T) {
		s, c := &memStore{}, newClock()
		cfg := testConfig(t, s, c)
		m := mustNew(t, cfg)
		before, _ := s.snapshot()
		oldActive, next := byState(before, storage.KeyActive)[0], byState(before, storage.KeyNext)[0]
		due := storedKey(t, before, next).PublishedAt.Add(2 * def.JWKSMaxAge)
		_, etag := m.JWKS()

		c.Advance(2 * time.Minute)
		for range 2 { // asking twice changes nothing more
			info, err := m.Rotate(t.Context(), false)
			if err != nil {
				t.Fatal(err)
			}
			if info.ID != next || info.State != "next" || !info.NextRotation.Equal(due) {
				t.Errorf("Rotate = %s %s at %s, want %s next at %s", info.ID, info.State, info.NextRotation, next, due)
			}
		}
		if _, e := m.JWKS(); e != etag {
			t.Error("scheduling a rotation changed the JWKS ETag")
		}
		if got := kidOf(t, mustSign(t, m, `{}`)); got != oldActive {
			t.Errorf("signed with %s before the scheduled time, want %s", got, oldActive)
		}

		m = mustNew(t, cfg)
		c.Advance(due.Sub(c.Now()) - time.Nanosecond)
		mustTick(t, m)
		if got := kidOf(t, mustSign(t, m, `{}`)); got != oldActive {
			t.Errorf("signed with %s just before the scheduled time, want %s", got, oldActive)
		}
		c.Advance(time.Nanosecond)
		mustTick(t, m)
		if got := kidOf(t, mustSign(t, m, `{}`)); got != next {
			t.Errorf("signed with %s at the scheduled time, want %s", got, next)
		}
		after, _ := s.snapshot()
		if got := storedKey(t, after, next).ActivatedAt; !got.Equal(due) {
			t.Errorf("ActivatedAt %s, want %s", got, due)
		}
	})

	t.Run("now takes over at once regardless", func(t *testing.T) {
		s, c := &memStore{}, newClock()
		m := mustNew(t, testConfig(t, s, c))
		before, _ := s.snapshot()
		next := byState(before, storage.KeyNext)[0]
		c.Advance(time.Second)
		info, err := m.Rotate(t.Context(), true)
		if err != nil {
			t.Fatal(err)
		}
		if info.ID != next || info.State != "active" {
			t.Errorf("Rotate(now) = %s %s, want %s active", info.ID, info.State, next)
		}
		if got := kidOf(t, mustSign(t, m, `{}`)); got != next {
			t.Errorf("signed with %s, want %s", got, next)
		}
		after, _ := s.snapshot()
		if n := byState(after, storage.KeyNext); len(n) != 1 || n[0] == next {
			t.Errorf("next keys %v, want one new one", n)
		}
	})
}

func TestManager_Revoke(t *testing.T) {
	t.Parallel()
	// setup returns a manager whose store holds a retired, an active and a
	// next key, and a token signed by each of the first two.
	setup := func(t *testing.T) (m *Manager, s *memStore, c *clock, retired, active, next, oldTok, tok string) {
		s, c = &memStore{}, newClock()
		m = mustNew(t, testConfig(t, s, c))
		oldTok = mustSign(t, m, `{"n":1}`)
		c.Advance(2 * def.JWKSMaxAge)
		if _, err := m.Rotate(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		tok = mustSign(t, m, `{"n":2}`)
		keys, _ := s.snapshot()
		return m, s, c, byState(keys, storage.KeyRetired)[0], byState(keys, storage.KeyActive)[0],
			byState(keys, storage.KeyNext)[0], oldTok, tok
	}
	published := func(t *testing.T, m *Manager, kid string) bool {
		body, _ := m.JWKS()
		_, ok := parseJWKS(t, body)[kid]
		return ok
	}

	t.Run("active", func(t *testing.T) {
		m, s, c, _, active, next, _, tok := setup(t)
		c.Advance(time.Second)
		info, err := m.Revoke(t.Context(), active)
		if err != nil {
			t.Fatal(err)
		}
		now := c.Now()
		if info.ID != active || info.State != "revoked" || !info.RevokedAt.Equal(now) {
			t.Errorf("Revoke = %s %s at %s, want %s revoked now", info.ID, info.State, info.RevokedAt, active)
		}
		if published(t, m, active) {
			t.Error("revoked key still in the JWKS")
		}
		if _, err := m.Verify(tok); !isInvalid(err) {
			t.Errorf("Verify of the revoked key's token: %v, want ErrInvalidToken", err)
		}
		if got := kidOf(t, mustSign(t, m, `{}`)); got != next {
			t.Errorf("signing with %s, want the former next key %s", got, next)
		}
		keys, _ := s.snapshot()
		if n := byState(keys, storage.KeyNext); len(n) != 1 || n[0] == next {
			t.Errorf("next keys %v, want one new one", n)
		}
		// The record stays until RemoveAt, then goes.
		k := storedKey(t, keys, active)
		c.Advance(k.RemoveAt.Sub(now) - time.Nanosecond)
		mustTick(t, m)
		keys, _ = s.snapshot()
		storedKey(t, keys, active)
		c.Advance(time.Nanosecond)
		mustTick(t, m)
		keys, _ = s.snapshot()
		if slices.Contains(byState(keys, storage.KeyRevoked), active) {
			t.Error("revoked key still stored after its RemoveAt")
		}
	})

	t.Run("next, and an unknown kid", func(t *testing.T) {
		m, s, _, _, active, next, _, tok := setup(t)
		if _, err := m.Revoke(t.Context(), next); err != nil {
			t.Fatal(err)
		}
		if published(t, m, next) {
			t.Error("revoked next key still in the JWKS")
		}
		keys, _ := s.snapshot()
		if got := byState(keys, storage.KeyActive); !slices.Equal(got, []string{active}) {
			t.Errorf("active %v, want %s unchanged", got, active)
		}
		n := byState(keys, storage.KeyNext)
		if len(n) != 1 || n[0] == next || !published(t, m, n[0]) {
			t.Errorf("next keys %v, want a new, published one", n)
		}
		if _, err := m.Verify(tok); err != nil {
			t.Errorf("Verify of the active key's token: %v", err)
		}

		_, writes := s.snapshot()
		_, err := m.Revoke(t.Context(), "no-such-kid")
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Revoke(unknown) = %v, want ErrNotFound wrapping storage.ErrNotFound", err)
		}
		if _, after := s.snapshot(); after != writes {
			t.Error("Revoke(unknown) wrote to the store")
		}
	})

	t.Run("retired, twice", func(t *testing.T) {
		m, s, c, retired, _, _, oldTok, tok := setup(t)
		if _, err := m.Verify(oldTok); err != nil {
			t.Fatalf("retired key's token before revocation: %v", err)
		}
		first, err := m.Revoke(t.Context(), retired)
		if err != nil {
			t.Fatal(err)
		}
		if published(t, m, retired) {
			t.Error("revoked retired key still in the JWKS")
		}
		if _, err := m.Verify(oldTok); !isInvalid(err) {
			t.Errorf("Verify of the revoked key's token: %v, want ErrInvalidToken", err)
		}
		if _, err := m.Verify(tok); err != nil {
			t.Errorf("Verify of the active key's token: %v", err)
		}

		// Revoking it again changes nothing.
		keys, _ := s.snapshot()
		c.Advance(time.Minute)
		second, err := m.Revoke(t.Context(), retired)
		if err != nil {
			t.Fatal(err)
		}
		if !second.RevokedAt.Equal(first.RevokedAt) || !second.RemoveAt.Equal(first.RemoveAt) {
			t.Errorf("second Revoke changed the times: %+v, was %+v", second, first)
		}
		if after, _ := s.snapshot(); timeline(after, time.Time{}) != timeline(keys, time.Time{}) {
			t.Error("second Revoke changed the key set")
		}
	})
}

func TestManager_JWKS(t *testing.T) {
	t.Parallel()
	s, c := &memStore{}, newClock()
	cfg := testConfig(t, s, c)
	m := mustNew(t, cfg)
	body, etag := m.JWKS()
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag %s is not a quoted strong ETag", etag)
	}
	keys, _ := s.snapshot()
	set := parseJWKS(t, body)
	if len(set) != 2 {
		t.Fatalf("JWKS has %d keys, want 2 (active and next)", len(set))
	}
	for _, k := range keys {
		pub, ok := set[k.ID].Key.(*rsa.PublicKey)
		if !ok {
			t.Fatalf("key %s: %T in the JWKS, want an RSA public key", k.ID, set[k.ID].Key)
		}
		kid, err := thumbprint(pub)
		if err != nil || kid != k.ID {
			t.Errorf("kid %s is not the RFC 7638 thumbprint %s (%v)", k.ID, kid, err)
		}
	}

	same := func(what string) {
		t.Helper()
		b, e := m.JWKS()
		if e != etag || !bytes.Equal(b, body) {
			t.Errorf("%s changed the JWKS", what)
		}
	}
	changed := func(what string) {
		t.Helper()
		b, e := m.JWKS()
		if e == etag || bytes.Equal(b, body) {
			t.Errorf("%s did not change the JWKS", what)
		}
		body, etag = b, e
	}

	c.Advance(time.Hour)
	mustTick(t, m)
	same("an idle Tick")
	if _, e := mustNew(t, cfg).JWKS(); e != etag {
		t.Error("a restarted manager serves another ETag for the same set")
	}
	c.Advance(def.KeyRotation)
	mustTick(t, m)
	changed("a rotation (new next key)")
	c.Advance(cfg.withDefaults().retention())
	mustTick(t, m)
	changed("the removal of the retired key")
	c.Advance(time.Hour)
	mustTick(t, m)
	same("an idle Tick")
}

// TestManager_Rotate_StoreFailure: a failed write leaves the served state as
// it was: the key prepared for it is withdrawn from the JWKS.
func TestManager_Rotate_StoreFailure(t *testing.T) {
	t.Parallel()
	s, c := &memStore{}, newClock()
	m := mustNew(t, testConfig(t, s, c))
	body, etag := m.JWKS()
	before, writes := s.snapshot()
	active := byState(before, storage.KeyActive)[0]

	c.Advance(time.Hour)
	s.mu.Lock()
	s.fail = errors.New("disk full")
	s.mu.Unlock()
	if _, err := m.Rotate(t.Context(), false); err == nil {
		t.Fatal("Rotate with a failing store: nil error")
	}
	if b, e := m.JWKS(); e != etag || !bytes.Equal(b, body) {
		t.Error("a failed rotation changed the JWKS")
	}
	if _, w := s.snapshot(); w != writes {
		t.Error("a failed rotation wrote to the store")
	}
	if got := kidOf(t, mustSign(t, m, `{}`)); got != active {
		t.Errorf("signing with %s after a failed rotation, want %s", got, active)
	}
	info, err := m.Rotate(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != "active" || info.ID == active {
		t.Errorf("retry: Rotate = %s %s, want a new active key", info.ID, info.State)
	}
}
