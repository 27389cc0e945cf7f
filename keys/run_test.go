package keys

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authd/authd/storage"
)

// countingStore is a memStore that counts ListKeys calls and signals each
// one on lists. Every Tick starts with one, under Manager.mu.
type countingStore struct {
	*memStore
	n     atomic.Int64
	lists chan struct{}
}

func (s *countingStore) ListKeys(ctx context.Context) ([]storage.Key, error) {
	keys, err := s.memStore.ListKeys(ctx)
	s.n.Add(1)
	select {
	case s.lists <- struct{}{}:
	default: // a signal is already pending
	}
	return keys, err
}

// TestManager_Run_Concurrent lets Run make several rotations while
// concurrent signers and strict caching verifiers work: the verifiers fetch
// the JWKS, keep it for 2×JWKSMaxAge (max-age plus stale-while-revalidate)
// and never refetch early, not even on an unknown kid. No token may fail.
//
// Time is a manual clock. At each step the test advances it, wakes Run,
// and, while Run ticks, lets each signer sign one token and each verifier
// check two; the step ends when Run has finished its tick at the new time
// and the workers are done. So the outcome does not depend on how fast the
// machine is: a busy machine makes the test slower, never wrong.
func TestManager_Run_Concurrent(t *testing.T) {
	const (
		rotation = 300 * time.Millisecond
		maxAge   = 200 * time.Millisecond
		ttl      = 500 * time.Millisecond
		skew     = 100 * time.Millisecond
		// Four keys (three rotations) sign by 1.2s of simulated time (a
		// next key may take over 2×maxAge after it was published); span
		// bounds the simulated time.
		span = 20 * rotation
		// tickWait bounds the wait for Run to tick once woken. It matters
		// only when Run is broken: a sound Run ticks at once.
		tickWait = time.Minute
	)
	c := newClock()
	s := &countingStore{memStore: &memStore{}, lists: make(chan struct{}, 1)}
	cfg := testConfig(t, s, c)
	cfg.KeyRotation, cfg.JWKSMaxAge, cfg.AccessTTL, cfg.Skew = rotation, maxAge, ttl, skew
	m := mustNew(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var run sync.WaitGroup
	run.Go(func() { m.Run(ctx) })

	var (
		mu       sync.Mutex // guards tokens, failures, verified
		tokens   []issued   // in signing order
		failures []string
		verified int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}

	start := c.Now()
	sign := func(i, n int) {
		at := c.Now() // iat: before the key is chosen
		tok, err := m.Sign(fmt.Appendf(nil, `{"signer":%d,"n":%d}`, i, n))
		if err != nil {
			fail("Sign: %v", err)
			return
		}
		obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			fail("parse own token: %v", err)
			return
		}
		mu.Lock()
		tokens = append(tokens, issued{token: tok, kid: obj.Signatures[0].Protected.KeyID, at: at})
		mu.Unlock()
	}

	// verifier is a strict caching verifier; each one is used by one
	// goroutine at a time.
	type verifier struct {
		i       int
		rng     *rand.Rand
		set     map[string]jose.JSONWebKey
		fetched time.Time
	}
	verify := func(v *verifier) {
		now := c.Now()
		// Stagger the verifiers' cache cycles.
		if now.Before(start.Add(time.Duration(v.i) * maxAge / 3)) {
			return
		}
		mu.Lock()
		var sample []issued
		if n := len(tokens); n > 0 {
			sample = append(sample, tokens[n-1], tokens[v.rng.IntN(n)])
		}
		mu.Unlock()
		if v.set == nil || now.Sub(v.fetched) >= 2*maxAge { // max-age plus stale-while-revalidate
			v.fetched = now // the request time: the conservative age
			body, _ := m.JWKS()
			var err error
			if v.set, err = jwksSet(body); err != nil {
				fail("JWKS: %v", err)
				return
			}
		}
		for _, tok := range sample {
			if now.After(tok.at.Add(ttl)) {
				continue // expired
			}
			if err := verifyWith(v.set, tok.token); err != nil {
				fail("verifier %d at %s: token signed at %s by %s, JWKS fetched at %s: %v",
					v.i, now.Sub(start), tok.at.Sub(start), tok.kid, v.fetched.Sub(start), err)
			}
			if _, err := m.Verify(tok.token); err != nil {
				fail("Verify at %s of token signed at %s: %v", now.Sub(start), tok.at.Sub(start), err)
			}
			mu.Lock()
			verified++
			mu.Unlock()
		}
	}
	verifiers := make([]*verifier, 3)
	for i := range verifiers {
		verifiers[i] = &verifier{i: i, rng: rand.New(rand.NewPCG(uint64(i), 1))}
	}

	// step advances the clock by 5 to 50 ms and wakes Run; meanwhile each
	// verifier checks two tokens and, if signing, each of two signers signs
	// one. It returns when the workers are done and Run has finished a tick
	// that began after the advance.
	rng := rand.New(rand.NewPCG(7, 7))
	step := func(n int, signing bool) {
		c.Advance(5*time.Millisecond + time.Duration(rng.Int64N(int64(45*time.Millisecond))))
		before := s.n.Load()
		select {
		case m.wake <- struct{}{}:
		default: // a wake is already pending
		}
		var workers sync.WaitGroup
		if signing {
			for i := range 2 {
				workers.Go(func() { sign(i, n) })
			}
		}
		for _, v := range verifiers {
			workers.Go(func() { verify(v) })
		}
		bound := time.NewTimer(tickWait)
		defer bound.Stop()
		for s.n.Load() <= before {
			select {
			case <-s.lists:
			case <-bound.C:
				t.Fatalf("Run did not tick within %s of being woken", tickWait)
			}
		}
		// The tick that called ListKeys holds m.mu until it has installed
		// the new key set.
		m.mu.Lock()
		m.mu.Unlock()
		workers.Wait()
	}

	kids := map[string]bool{}
	n := 0
	for ; len(kids) < 4 && c.Now().Before(start.Add(span)); n++ {
		step(n, true)
		mu.Lock()
		for _, tok := range tokens {
			kids[tok.kid] = true
		}
		mu.Unlock()
	}
	// Keep verifying until the last tokens have expired.
	for end := c.Now().Add(ttl + maxAge); c.Now().Before(end); n++ {
		step(n, false)
	}
	cancel()
	run.Wait()
	t.Logf("%d tokens by %d keys, %d verifications in %d steps, %s of simulated time",
		len(tokens), len(kids), verified, n, c.Now().Sub(start))
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(failures)-10)
			break
		}
		t.Error(f)
	}
	if len(kids) < 4 {
		t.Errorf("tokens were signed by %d keys in %s of simulated time, want at least 4 (three rotations)", len(kids), span)
	}
	if verified < 100 {
		t.Errorf("only %d verifications", verified)
	}
}
