package keys

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestManager_Run_RealTime runs the real clock through several rotations
// driven by Run, with concurrent signers and strict caching verifiers that
// fetch the JWKS, keep it for 2×JWKSMaxAge (max-age plus stale-while-revalidate) and never refetch early,
// not even on an unknown kid. No token may fail.
func TestManager_Run_RealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const (
		rotation = 300 * time.Millisecond
		maxAge   = 200 * time.Millisecond
		ttl      = 500 * time.Millisecond
		skew     = 100 * time.Millisecond
		// The test signs until tokens were signed by four keys (three
		// rotations): about 1.5s on an idle machine, where RSA key
		// generation takes 50-400ms under the race detector. On a busy
		// machine key generation, and so rotation, is slower; limit bounds
		// the wait.
		limit = 20 * time.Second
	)
	s := &memStore{}
	m := mustNew(t, Config{
		Store: s, Rotation: rotation, JWKSMaxAge: maxAge, AccessTTL: ttl, Skew: skew,
		Logger: testLogger(t),
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var run sync.WaitGroup
	run.Go(func() { m.Run(ctx) })

	var (
		mu       sync.Mutex
		tokens   []issued // in signing order
		failures []string
		verified int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}

	start := time.Now()
	stopSigning, stopVerifying := make(chan struct{}), make(chan struct{})
	var workers sync.WaitGroup
	for i := range 2 {
		workers.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stopSigning:
					return
				case <-tick.C:
				}
				at := time.Now() // iat: before the key is chosen
				tok, err := m.Sign(fmt.Appendf(nil, `{"signer":%d,"n":%d}`, i, n))
				if err != nil {
					fail("Sign: %v", err)
					continue
				}
				obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
				if err != nil {
					fail("parse own token: %v", err)
					continue
				}
				mu.Lock()
				tokens = append(tokens, issued{token: tok, kid: obj.Signatures[0].Protected.KeyID, at: at})
				mu.Unlock()
			}
		})
	}
	for i := range 3 {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			// Stagger the verifiers' cache cycles.
			first := time.NewTimer(time.Duration(i) * maxAge / 3)
			<-first.C
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var (
				set     map[string]jose.JSONWebKey
				fetched time.Time
			)
			for {
				select {
				case <-stopVerifying:
					return
				case <-tick.C:
				}
				mu.Lock()
				var sample []issued
				if n := len(tokens); n > 0 {
					sample = append(sample, tokens[n-1], tokens[rng.IntN(n)])
				}
				mu.Unlock()
				// The verifier's "now" is after it got the tokens.
				now := time.Now()
				if set == nil || now.Sub(fetched) >= 2*maxAge { // max-age plus stale-while-revalidate
					fetched = now // the request time: the conservative age
					body, _ := m.JWKS()
					var err error
					if set, err = jwksSet(body); err != nil {
						fail("JWKS: %v", err)
						return
					}
				}
				for _, tok := range sample {
					if now.After(tok.at.Add(ttl)) {
						continue // expired
					}
					if err := verifyWith(set, tok.token); err != nil {
						fail("verifier %d at %s: token signed at %s by %s, JWKS fetched at %s: %v",
							i, now.Sub(start), tok.at.Sub(start), tok.kid, fetched.Sub(start), err)
					}
					if _, err := m.Verify(tok.token); err != nil {
						fail("Verify at %s of token signed at %s: %v", now.Sub(start), tok.at.Sub(start), err)
					}
					mu.Lock()
					verified++
					mu.Unlock()
				}
			}
		})
	}
	kids := map[string]bool{}
	poll := time.NewTicker(10 * time.Millisecond)
	for len(kids) < 4 && time.Since(start) < limit {
		<-poll.C
		mu.Lock()
		for _, tok := range tokens {
			kids[tok.kid] = true
		}
		mu.Unlock()
	}
	poll.Stop()
	close(stopSigning)
	// Keep verifying until the last tokens have expired.
	expired := time.NewTimer(ttl + maxAge)
	<-expired.C
	close(stopVerifying)
	workers.Wait()
	cancel()
	run.Wait()
	t.Logf("%d tokens by %d keys, %d verifications in %s", len(tokens), len(kids), verified, time.Since(start))
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(failures)-10)
			break
		}
		t.Error(f)
	}
	if len(kids) < 4 {
		t.Errorf("tokens were signed by %d keys, want at least 4 (three rotations)", len(kids))
	}
	if verified < 100 {
		t.Errorf("only %d verifications", verified)
	}
}
