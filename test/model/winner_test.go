package model

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/test/internal/authdtest"
)

// TestRefresh_ConcurrentOneWinner presents one fresh refresh token from N
// clients at once, 1,000 times: exactly one rotation happens. With the
// grace every client gets that one successor (the idempotent answer);
// without it exactly one client gets 200 and the others invalid_grant.
func TestRefresh_ConcurrentOneWinner(t *testing.T) {
	trials, n := 1000, 8
	if authdtest.Long() {
		trials = 5000
	}
	if testing.Short() {
		trials = 100
	}
	for _, grace := range []time.Duration{10 * time.Second, 0} {
		t.Run(fmt.Sprintf("grace=%s", grace), func(t *testing.T) {
			e := newEnv(t, grace)
			ctx := context.Background()
			if st := e.admin(http.MethodPost, "/admin/api/users", map[string]any{"username": "racer", "password": "racer-password"}); st != http.StatusCreated {
				t.Fatalf("create user: %d", st)
			}
			u, err := e.store.GetUser(ctx, "racer")
			if err != nil {
				t.Fatal(err)
			}
			winners := 0
			for trial := 0; trial < trials/2; trial++ {
				tok := e.family(u)
				var wg sync.WaitGroup
				answers := make([]authdtest.TokenAnswer, n)
				errs := make([]error, n)
				start := make(chan struct{})
				for i := 0; i < n; i++ {
					wg.Go(func() {
						<-start
						answers[i], errs[i] = e.refresh(tok)
					})
				}
				close(start)
				wg.Wait()
				oks, succ := 0, map[string]bool{}
				for i, a := range answers {
					if errs[i] != nil {
						t.Fatalf("trial %d: %v", trial, errs[i])
					}
					switch {
					case a.Status == http.StatusOK:
						oks++
						succ[a.Str("refresh_token")] = true
					case a.Status != http.StatusBadRequest || a.Str("error") != "invalid_grant":
						t.Fatalf("trial %d: %d %s", trial, a.Status, a.Raw)
					}
				}
				if len(succ) != 1 {
					t.Fatalf("trial %d: %d distinct successors, want exactly 1", trial, len(succ))
				}
				if grace > 0 && oks != n {
					t.Fatalf("trial %d: %d of %d answered 200 inside the grace, want all with the one successor", trial, oks, n)
				}
				if grace == 0 && oks != 1 {
					t.Fatalf("trial %d: %d answered 200 without grace, want exactly 1", trial, oks)
				}
				// Storage: the token is spent towards that one successor.
				st, _, err := e.store.GetRefreshToken(ctx, hashToken(tok))
				if err != nil {
					t.Fatal(err)
				}
				for s := range succ {
					if !st.Spent() || st.SuccessorHash != hashToken(s) {
						t.Fatalf("trial %d: stored token %+v does not lead to the answered successor", trial, st)
					}
				}
				winners++
			}
			t.Logf("grace %s: %d trials of %d concurrent refreshes, exactly one rotation each", grace, winners, n)
		})
	}
}

// family stores a new family with a fresh refresh token for u directly,
// as a login would, and returns the token.
func (e *env) family(u storage.User) string {
	e.t.Helper()
	var b [32]byte
	rand.Read(b[:])
	tok := "authd_rt_" + base64.RawURLEncoding.EncodeToString(b[:])
	var id [16]byte
	rand.Read(id[:])
	now := e.clock.Now()
	cl, err := e.store.GetClient(context.Background(), clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	f := storage.Family{ID: base64.RawURLEncoding.EncodeToString(id[:]), UserID: u.ID, ClientID: clientID, Scope: []string{"read"},
		UserGen: u.SessionGen, AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(refreshTTL),
		ClientInstance: cl.Instance}
	rt := storage.RefreshToken{Hash: hashToken(tok), FamilyID: f.ID, IssuedAt: now, IdleExpiresAt: now.Add(idleTTL)}
	if err := e.store.CreateFamily(context.Background(), f, rt); err != nil {
		e.t.Fatal(err)
	}
	return tok
}
