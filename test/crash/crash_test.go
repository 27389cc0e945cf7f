// Package crash kills the real authd binary with SIGKILL at random moments
// while many clients log in, refresh and revoke, restarts it on the same
// file, and checks the durability invariants of SPEC §2.1 and §3 ("a 200
// response is sent only after its new state is durably on disk").
//
// The default run does 20 cycles of about a second of load each;
// AUTHD_LONG=1 runs 100 cycles with longer load.
package crash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
	"github.com/authd/authd/test/internal/authdtest"
)

// session is one login as the clients saw it: the chain of refresh tokens
// answered with 200, in order.
type session struct {
	user  string
	chain []string
	// inflight is the token of a refresh that got no answer before the
	// kill: the rotation may or may not be on disk.
	inflight string
	// revoked: a revocation (RFC 7009 or the user's sessions) was answered.
	revoked bool
	// revokeUnsure: a revocation got no answer; either state is right.
	revokeUnsure bool
	// destroyed: the reuse probe revoked the family on purpose.
	destroyed bool
	// retired: no longer used; its last token must stay unspent and be
	// accepted once at the end.
	retired bool
}

func (s *session) last() string { return s.chain[len(s.chain)-1] }

func (s *session) live() bool {
	return !s.revoked && !s.revokeUnsure && !s.destroyed && !s.retired && s.inflight == ""
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// crashRun holds the test's view of the world across cycles.
type crashRun struct {
	t        *testing.T
	base     string
	dev      authdtest.Dev
	victimPW string
	hc       *http.Client

	mu       sync.Mutex
	sessions []*session
	// victimEpoch is odd while a revocation of all the victim's sessions
	// is on its way; guarded by mu.
	victimEpoch int
	requests    atomic.Int64
	answered    atomic.Int64
	violation   atomic.Int64
	// inflight counts refreshes cut by a kill; unanswered those of them
	// whose rotation was on disk although no answer was sent. Guarded by mu.
	inflight, unanswered int
}

func (r *crashRun) violate(format string, args ...any) {
	r.violation.Add(1)
	r.t.Errorf("violation: "+format, args...)
}

// post sends one token-endpoint request and counts it.
func (r *crashRun) post(path string, form map[string]string) (authdtest.TokenAnswer, error) {
	r.requests.Add(1)
	a, err := authdtest.PostForm(r.hc, r.base, path, form, r.dev.ClientID, r.dev.Secret)
	if err == nil && a.Status == http.StatusOK {
		r.answered.Add(1)
	}
	return a, err
}

func (r *crashRun) login(user, pw string) (*session, error) {
	r.mu.Lock()
	e0 := r.victimEpoch
	r.mu.Unlock()
	a, err := r.post("/token", map[string]string{"grant_type": "password", "username": user, "password": pw})
	if err != nil {
		return nil, err
	}
	if a.Status != http.StatusOK || a.Str("refresh_token") == "" {
		return nil, fmt.Errorf("login %s: %d %s", user, a.Status, a.Raw)
	}
	s := &session{user: user, chain: []string{a.Str("refresh_token")}}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A login that overlapped a revocation of the victim's sessions may
	// have been committed before or after it.
	if user == "victim" && (e0%2 == 1 || e0 != r.victimEpoch) {
		s.revokeUnsure = true
	}
	r.sessions = append(r.sessions, s)
	return s, nil
}

func TestCrash_SIGKILL_Durability(t *testing.T) {
	cycles, load := 20, [2]time.Duration{300 * time.Millisecond, 1200 * time.Millisecond}
	if authdtest.Long() {
		cycles, load = 100, [2]time.Duration{500 * time.Millisecond, 4 * time.Second}
	}
	if testing.Short() {
		cycles = 5
	}
	bin := authdtest.Binary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	port := authdtest.FreePort(t)
	// A long grace makes the answer to a retried rotation deterministic
	// however long a restart takes.
	opts := authdtest.Options{DB: db, Port: port, Args: []string{"--dev", "--refresh-reuse-grace", "60s"}}
	p := authdtest.Start(t, bin, opts)
	r := &crashRun{t: t, base: p.URL, dev: p.DevCredentials(t), hc: &http.Client{Timeout: 20 * time.Second}}
	r.victimPW = "victim-password-1"
	if st, b := p.ControlJSON(t, http.MethodPost, "/admin/api/users", map[string]any{"username": "victim", "password": r.victimPW}); st != http.StatusCreated {
		t.Fatalf("create victim: %d %s", st, b)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))

	for cycle := 0; cycle < cycles; cycle++ {
		if cycle > 0 {
			p = authdtest.Start(t, bin, opts)
			r.base = p.URL
			r.verifyAfterRestart(cycle)
		}
		r.drive(p, rng.Uint64(), load[0]+time.Duration(rng.Int64N(int64(load[1]-load[0]))))
		r.checkDisk(db, cycle)
		if t.Failed() && r.violation.Load() > 20 {
			break
		}
	}
	// Final: every retired session's last token is accepted exactly once.
	p = authdtest.Start(t, bin, opts)
	r.base = p.URL
	r.finalAcceptOnce()
	p.Stop(30 * time.Second)
	t.Logf("crash durability: %d cycles, %d requests, %d answered 200, %d sessions, %d refreshes cut by a kill (%d of them committed unanswered), %d violations",
		cycles, r.requests.Load(), r.answered.Load(), len(r.sessions), r.inflight, r.unanswered, r.violation.Load())
}

// drive runs the load from several clients until the process is killed at
// the end of d.
func (r *crashRun) drive(p *authdtest.Proc, seed uint64, d time.Duration) {
	const workers = 6
	var dead atomic.Bool
	var wg sync.WaitGroup
	// Hand every live session to one worker: no two workers present the
	// same token.
	r.mu.Lock()
	var live []*session
	for _, s := range r.sessions {
		if s.live() {
			live = append(live, s)
		}
	}
	r.mu.Unlock()
	for w := 0; w < workers; w++ {
		var mine []*session
		for i := w; i < len(live); i += workers {
			mine = append(mine, live[i])
		}
		wg.Go(func() { r.worker(w, seed+uint64(w), mine, &dead) })
	}
	// The victim's sessions are all revoked at a random moment.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 99))
		time.Sleep(time.Duration(rng.Int64N(int64(d))))
		if dead.Load() {
			return
		}
		r.mu.Lock()
		var victims []*session
		for _, s := range r.sessions {
			if s.user == "victim" && !s.revoked {
				victims = append(victims, s)
			}
		}
		r.victimEpoch++
		r.mu.Unlock()
		r.requests.Add(1)
		req, _ := http.NewRequest(http.MethodDelete, "http://authd/admin/api/users/victim/sessions", nil)
		resp, err := p.Control().Do(req)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.victimEpoch++
		if err != nil || resp.StatusCode != http.StatusNoContent {
			for _, s := range victims {
				s.revokeUnsure = true
			}
			if err == nil {
				resp.Body.Close()
			}
			return
		}
		resp.Body.Close()
		r.answered.Add(1)
		for _, s := range victims {
			s.revoked = true
		}
	})
	time.Sleep(d)
	dead.Store(true)
	p.Kill()
	wg.Wait()
}

func (r *crashRun) worker(w int, seed uint64, mine []*session, dead *atomic.Bool) {
	rng := rand.New(rand.NewPCG(seed, uint64(w)))
	for !dead.Load() {
		if len(mine) < 4 {
			user, pw := r.dev.Username, r.dev.Password
			if w == 0 && rng.IntN(2) == 0 {
				user, pw = "victim", r.victimPW
			}
			s, err := r.login(user, pw)
			if err != nil {
				if !dead.Load() {
					r.violate("login while up: %v", err)
				}
				return
			}
			mine = append(mine, s)
			continue
		}
		i := rng.IntN(len(mine))
		s := mine[i]
		r.mu.Lock()
		usable := s.live()
		r.mu.Unlock()
		if !usable {
			mine = append(mine[:i], mine[i+1:]...)
			continue
		}
		switch x := rng.IntN(100); {
		case x < 4:
			r.mu.Lock()
			s.retired = true
			r.mu.Unlock()
		case x < 8:
			a, err := r.post("/revoke", map[string]string{"token": s.last(), "token_type_hint": "refresh_token"})
			r.mu.Lock()
			if err == nil && a.Status == http.StatusOK {
				s.revoked = true
			} else {
				s.revokeUnsure = true
				if !dead.Load() {
					r.violate("revoke while up: %v %d %s", err, a.Status, a.Raw)
				}
			}
			r.mu.Unlock()
			if err != nil {
				return
			}
		default:
			tok := s.last()
			a, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
			r.mu.Lock()
			switch {
			case err == nil && a.Status == http.StatusOK:
				s.chain = append(s.chain, a.Str("refresh_token"))
			case err == nil && a.Status == http.StatusBadRequest && (s.revoked || s.revokeUnsure):
				// The victim's sessions were revoked meanwhile.
			case err == nil && a.Status == http.StatusBadRequest && s.user == "victim":
				// The revocation of the victim's sessions may have been
				// committed but not answered yet.
				s.revokeUnsure = true
			default:
				s.inflight = tok
				if err == nil && !dead.Load() {
					r.violate("refresh while up: %d %s", a.Status, a.Raw)
				}
			}
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// checkDisk opens the file of the killed server through the storage API
// and checks every session against what the clients were told.
func (r *crashRun) checkDisk(path string, cycle int) {
	t := r.t
	db, err := bolt.Open(path, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		r.violate("cycle %d: the database does not open after SIGKILL: %v", cycle, err)
		return
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Ping(ctx); err != nil {
		r.violate("cycle %d: ping: %v", cycle, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sessions {
		var famID string
		for i, tok := range s.chain {
			rt, fam, err := db.GetRefreshToken(ctx, hashToken(tok))
			if err != nil {
				r.violate("cycle %d: token %d of a session answered with 200 is not on disk: %v", cycle, i, err)
				break
			}
			if famID == "" {
				famID = fam.ID
			} else if fam.ID != famID {
				r.violate("cycle %d: token %d is in family %s, not %s", cycle, i, fam.ID, famID)
			}
			if i < len(s.chain)-1 {
				if !rt.Spent() || rt.SuccessorHash != hashToken(s.chain[i+1]) {
					r.violate("cycle %d: token %d was rotated (answered) but is not spent towards its answered successor: %+v", cycle, i, rt)
				}
				continue
			}
			// The last answered token.
			if s.inflight == tok {
				r.inflight++
				if rt.Spent() {
					r.unanswered++
				}
			}
			if rt.Spent() {
				if s.inflight != tok && !s.destroyed {
					r.violate("cycle %d: the last answered token is spent though no request used it", cycle)
				} else if succ, _, err := db.GetRefreshToken(ctx, rt.SuccessorHash); err != nil || succ.FamilyID != famID {
					r.violate("cycle %d: a spent token's successor is missing (half rotation): %v", cycle, err)
				}
			}
			// Whether the family is alive is storage.Family.State's rule:
			// revoking a user's sessions is one write to the user, not a
			// mark on each family.
			var u *storage.User
			if got, err := db.GetUserByID(ctx, fam.UserID); err == nil {
				u = &got
			}
			var cl *storage.Client
			if got, err := db.GetClient(ctx, fam.ClientID); err == nil {
				cl = &got
			}
			state := fam.State(u, cl, time.Now())
			dead := state != storage.FamilyLive
			if dead && !s.revoked && !s.revokeUnsure && !s.destroyed {
				r.violate("cycle %d: family %s dead (%s: %s) though no revocation was asked", cycle, fam.ID, state, fam.RevokeReason)
			}
			if s.revoked && !dead {
				r.violate("cycle %d: family %s answered as revoked is live on disk (half-revoked)", cycle, fam.ID)
			}
		}
	}
	t.Logf("cycle %d: disk checked, %d sessions", cycle, len(r.sessions))
}

// verifyAfterRestart presents the last token of every session that was in
// use: a token answered and unused is accepted; a token whose rotation was
// in flight gets its one successor; revoked families stay revoked; and one
// session per cycle is probed for reuse detection.
func (r *crashRun) verifyAfterRestart(cycle int) {
	r.mu.Lock()
	var check []*session
	for _, s := range r.sessions {
		if !s.retired && !s.destroyed {
			check = append(check, s)
		}
	}
	r.mu.Unlock()
	probed := false
	for _, s := range check {
		switch {
		case s.revoked:
			a, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": s.last()})
			if err != nil || a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
				r.violate("cycle %d: token of a revoked family: %v %d %s", cycle, err, a.Status, a.Raw)
			}
			s.destroyed = true
		case s.revokeUnsure:
			s.destroyed = true
		default:
			tok := s.last()
			a, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
			if err != nil || a.Status != http.StatusOK {
				r.violate("cycle %d: answered, unused token refused after restart: %v %d %s", cycle, err, a.Status, a.Raw)
				s.destroyed = true
				continue
			}
			next := a.Str("refresh_token")
			// The same presentation again gets the same successor: one
			// rotation, no second branch.
			b, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
			if err != nil || b.Status != http.StatusOK || b.Str("refresh_token") != next {
				r.violate("cycle %d: retried rotation did not give the same successor: %v %d %s", cycle, err, b.Status, b.Raw)
			}
			s.chain = append(s.chain, next)
			s.inflight = ""
			if !probed && len(s.chain) >= 3 {
				probed = true
				r.probeReuse(cycle, s)
			}
		}
	}
}

// probeReuse presents a token two rotations old: reuse, so the whole family
// is revoked and its newest token refused too.
func (r *crashRun) probeReuse(cycle int, s *session) {
	old := s.chain[len(s.chain)-3]
	a, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": old})
	if err != nil || a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant" {
		r.violate("cycle %d: reuse of an old token: %v %d %s", cycle, err, a.Status, a.Raw)
	}
	b, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": s.last()})
	if err != nil || b.Status != http.StatusBadRequest {
		r.violate("cycle %d: newest token of a family revoked for reuse: %v %d %s", cycle, err, b.Status, b.Raw)
	}
	s.destroyed = true
}

// finalAcceptOnce presents the last token of every retired session (up to
// 200): accepted once, and after its successor was used, refused.
func (r *crashRun) finalAcceptOnce() {
	n := 0
	for _, s := range r.sessions {
		if !s.retired || s.revoked || s.revokeUnsure || n >= 200 {
			continue
		}
		n++
		tok := s.last()
		a, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
		if err != nil || a.Status != http.StatusOK {
			r.violate("final: retired, unused token refused: %v %d %s", err, a.Status, a.Raw)
			continue
		}
		b, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": a.Str("refresh_token")})
		if err != nil || b.Status != http.StatusOK {
			r.violate("final: successor refused: %v %d %s", err, b.Status, b.Raw)
			continue
		}
		c, err := r.post("/token", map[string]string{"grant_type": "refresh_token", "refresh_token": tok})
		if err != nil || c.Status != http.StatusBadRequest {
			r.violate("final: a token accepted twice: %v %d %s", err, c.Status, c.Raw)
		}
	}
	r.t.Logf("final: %d retired sessions accepted exactly once", n)
}
