package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/test/internal/authdtest"
)

// The model: what SPEC §2.1 says the state of each family and token is.
type mUser struct {
	name, pw string
	disabled bool
	failed   int // failed logins sent
	families []*mFamily
}

type mFamily struct {
	user    *mUser
	dead    bool // revoked, reuse detected, or the user disabled
	expires time.Time
	tokens  []string // in order of issue
}

type mToken struct {
	fam     *mFamily
	spent   bool
	spentAt time.Time
	succ    string
	idleExp time.Time
}

// partition is one client's share of the world: one user and its
// families. Partitions are disjoint, so a worker's predictions do not
// depend on the others.
type partition struct {
	user   *mUser
	tokens map[string]*mToken
}

// prediction of one refresh: ok, and when ok and same is set, the refresh
// token the answer must carry.
type prediction struct {
	ok   bool
	same string
}

func (p *partition) predict(tok string, now time.Time, grace time.Duration) prediction {
	t := p.tokens[tok]
	if t == nil || p.user.disabled || t.fam.dead || !now.Before(t.fam.expires) {
		return prediction{}
	}
	if !t.spent {
		if !now.Before(t.idleExp) {
			return prediction{}
		}
		return prediction{ok: true}
	}
	if grace > 0 && now.Sub(t.spentAt) <= grace && !p.tokens[t.succ].spent {
		return prediction{ok: true, same: t.succ}
	}
	return prediction{}
}

// apply records the effect of a refresh of tok at now that the model
// predicted, given the answer's refresh token.
func (p *partition) apply(tok string, now time.Time, grace time.Duration, got string) {
	t := p.tokens[tok]
	if t == nil || p.user.disabled || t.fam.dead || !now.Before(t.fam.expires) {
		return
	}
	if !t.spent {
		if !now.Before(t.idleExp) {
			return
		}
		t.spent, t.spentAt, t.succ = true, now, got
		p.add(t.fam, got, now)
		return
	}
	if grace > 0 && now.Sub(t.spentAt) <= grace && !p.tokens[t.succ].spent {
		return
	}
	t.fam.dead = true // reuse
}

func (p *partition) add(f *mFamily, tok string, now time.Time) {
	idle := now.Add(idleTTL)
	if f.expires.Before(idle) {
		idle = f.expires
	}
	p.tokens[tok] = &mToken{fam: f, idleExp: idle}
	f.tokens = append(f.tokens, tok)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// TestRefresh_Model runs rounds of random operations from concurrent
// clients, each on its own user, with the clock fixed during a round and
// moved between rounds (inside and outside the grace, past the idle and
// absolute lifetimes), and checks every answer and the final stored state
// against the model.
func TestRefresh_Model(t *testing.T) {
	for _, grace := range []time.Duration{10 * time.Second, 0} {
		t.Run(fmt.Sprintf("grace=%s", grace), func(t *testing.T) {
			rounds, workers, ops := 40, 8, 12
			if authdtest.Long() {
				rounds = 300
			}
			if testing.Short() {
				rounds = 10
			}
			runModel(t, grace, rounds, workers, ops)
		})
	}
}

func runModel(t *testing.T, grace time.Duration, rounds, workers, ops int) {
	e := newEnv(t, grace)
	ctx := context.Background()
	parts := make([]*partition, workers)
	for i := range parts {
		u := &mUser{name: fmt.Sprintf("user%d", i), pw: fmt.Sprintf("password-%d", i)}
		if st := e.admin(http.MethodPost, "/admin/api/users", map[string]any{"username": u.name, "password": u.pw}); st != http.StatusCreated {
			t.Fatalf("create user: %d", st)
		}
		parts[i] = &partition{user: u, tokens: map[string]*mToken{}}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var failedLogins atomic.Int32
	var counts [8]atomic.Int64 // by operation
	for round := 0; round < rounds; round++ {
		now := e.clock.Now()
		var wg sync.WaitGroup
		for w, p := range parts {
			wseed := rng.Uint64()
			wg.Go(func() { e.worker(t, w, p, now, grace, ops, wseed, &failedLogins, &counts) })
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		// Between rounds, one client's user may be disabled or enabled
		// (SPEC: disabling revokes all the user's families).
		if rng.IntN(6) == 0 {
			p := parts[rng.IntN(len(parts))]
			dis := !p.user.disabled
			if st := e.admin(http.MethodPatch, "/admin/api/users/"+p.user.name, map[string]any{"disabled": dis}); st != http.StatusOK {
				t.Fatalf("patch user: %d", st)
			}
			p.user.disabled = dis
			if dis {
				for _, f := range p.user.families {
					f.dead = true
				}
			}
		}
		switch x := rng.IntN(100); {
		case x < 60:
			e.clock.Advance(time.Duration(rng.IntN(5000)) * time.Millisecond)
		case x < 85:
			e.clock.Advance(grace + time.Duration(1+rng.IntN(60))*time.Second)
		case x < 97:
			e.clock.Advance(idleTTL + time.Duration(rng.IntN(60))*time.Second)
		default:
			e.clock.Advance(refreshTTL)
		}
	}
	// The stored state agrees with the model.
	checked := 0
	for _, p := range parts {
		for tok, mt := range p.tokens {
			st, fam, err := e.store.GetRefreshToken(ctx, hashToken(tok))
			if err != nil {
				t.Errorf("token of %s missing from storage: %v", p.user.name, err)
				continue
			}
			checked++
			if st.Spent() != mt.spent {
				t.Errorf("token of %s: stored spent=%v, model %v", p.user.name, st.Spent(), mt.spent)
			}
			if mt.spent && st.SuccessorHash != hashToken(mt.succ) {
				t.Errorf("token of %s: stored successor differs from the answered one", p.user.name)
			}
			if !mt.fam.dead && fam.Revoked() {
				t.Errorf("family of %s revoked in storage (%s), live in the model", p.user.name, fam.RevokeReason)
			}
		}
	}
	var n [8]int64
	for i := range counts {
		n[i] = counts[i].Load()
	}
	t.Logf("model: %d rounds x %d clients x %d ops; logins %d, refreshes %d (ok %d), concurrent pairs %d, revocations %d, failed logins %d; %d stored tokens checked",
		rounds, workers, ops, n[0], n[1], n[2], n[3], n[4], failedLogins.Load(), checked)
}

// worker performs ops random operations on its partition at the fixed time
// now and checks each answer against the model.
func (e *env) worker(t *testing.T, w int, p *partition, now time.Time, grace time.Duration, ops int, seed uint64, failedLogins *atomic.Int32, counts *[8]atomic.Int64) {
	rng := rand.New(rand.NewPCG(seed, uint64(w)))
	all := func() []string {
		out := make([]string, 0, len(p.tokens))
		for _, f := range p.user.families {
			out = append(out, f.tokens...)
		}
		return out
	}
	pick := func() string {
		toks := all()
		if len(toks) == 0 {
			return ""
		}
		// Mostly the newest token of a family, sometimes any.
		if rng.IntN(4) > 0 {
			f := p.user.families[rng.IntN(len(p.user.families))]
			return f.tokens[len(f.tokens)-1]
		}
		return toks[rng.IntN(len(toks))]
	}
	for i := 0; i < ops; i++ {
		tok := pick()
		x := rng.IntN(100)
		switch {
		case tok == "" || x < 10:
			if p.user.disabled {
				// Stay within the free failures of the login throttle
				// (per user and address, and per address).
				if p.user.failed >= 4 || failedLogins.Load() >= 16 {
					continue
				}
				p.user.failed++
				failedLogins.Add(1)
			}
			counts[0].Add(1)
			a, err := e.token(map[string]string{"grant_type": "password", "username": p.user.name, "password": p.user.pw})
			if err != nil {
				t.Errorf("login: %v", err)
				return
			}
			if p.user.disabled {
				if a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
					t.Errorf("login of a disabled user: %d %s", a.Status, a.Raw)
				}
				continue
			}
			if a.Status != http.StatusOK || a.Str("refresh_token") == "" {
				t.Errorf("login: %d %s", a.Status, a.Raw)
				return
			}
			f := &mFamily{user: p.user, expires: now.Add(refreshTTL)}
			p.user.families = append(p.user.families, f)
			p.add(f, a.Str("refresh_token"), now)
		case x < 15:
			counts[4].Add(1)
			a, err := authdtest.PostForm(e.hc, e.url, "/revoke", map[string]string{"token": tok}, clientID, clientSecret)
			if err != nil || a.Status != http.StatusOK {
				t.Errorf("revoke: %v %d %s", err, a.Status, a.Raw)
				return
			}
			p.tokens[tok].fam.dead = true
		case x < 30:
			// Two concurrent presentations of the same token.
			counts[3].Add(1)
			want := p.predict(tok, now, grace)
			var as [2]authdtest.TokenAnswer
			var errs [2]error
			var wg sync.WaitGroup
			for j := range as {
				wg.Go(func() { as[j], errs[j] = e.refresh(tok) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Errorf("concurrent refresh: %v %v", errs[0], errs[1])
				return
			}
			oks := 0
			var got string
			for _, a := range as {
				if a.Status == http.StatusOK {
					oks++
					if got != "" && a.Str("refresh_token") != got {
						t.Errorf("two concurrent refreshes got different successors: two branches")
					}
					got = a.Str("refresh_token")
				} else if a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
					t.Errorf("concurrent refresh: %d %s", a.Status, a.Raw)
				}
			}
			switch {
			case !want.ok && oks > 0:
				t.Errorf("concurrent refresh: %d answered 200, model says refused", oks)
			case want.ok && want.same != "" && (oks != 2 || got != want.same):
				t.Errorf("concurrent retry inside the grace: %d answered 200, want 2 with the same successor", oks)
			case want.ok && want.same == "" && grace > 0 && oks != 2:
				t.Errorf("concurrent refresh of an unspent token inside the grace: %d answered 200, want 2 (one rotation, one idempotent retry)", oks)
			case want.ok && want.same == "" && grace == 0 && oks != 1:
				t.Errorf("concurrent refresh without grace: %d answered 200, want exactly 1", oks)
			}
			// The model applies the two presentations in turn.
			p.apply(tok, now, grace, got)
			p.apply(tok, now, grace, got)
		default:
			counts[1].Add(1)
			want := p.predict(tok, now, grace)
			a, err := e.refresh(tok)
			if err != nil {
				t.Errorf("refresh: %v", err)
				return
			}
			switch {
			case want.ok && a.Status != http.StatusOK:
				_, fam, _ := e.store.GetRefreshToken(context.Background(), hashToken(tok))
				mt := p.tokens[tok]
				t.Errorf("refresh: %d %s, model says ok (same=%v); stored family revoked %v (%s); model: %d tokens in family, spent %v, user disabled %v",
					a.Status, a.Raw, want.same != "", fam.Revoked(), fam.RevokeReason, len(mt.fam.tokens), mt.spent, p.user.disabled)
				return
			case !want.ok && (a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant"):
				t.Errorf("refresh: %d %s, model says invalid_grant", a.Status, a.Raw)
				return
			case want.same != "" && a.Str("refresh_token") != want.same:
				t.Errorf("retry inside the grace got another successor")
			}
			if a.Status == http.StatusOK {
				counts[2].Add(1)
			}
			p.apply(tok, now, grace, a.Str("refresh_token"))
		}
	}
}
