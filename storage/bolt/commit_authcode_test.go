package bolt

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// TestDB_RedeemCode_GroupCommit: exchanges of different codes pending
// together share one commit (one fsync), like refreshes. The committer is
// held until all of them are queued, so the batch does not depend on
// scheduling.
func TestDB_RedeemCode_GroupCommit(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "authd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const n = 50
	hash := func(i int) string { return fmt.Sprintf("%064d", i) }
	for i := range n {
		c := storage.AuthCode{Hash: hash(i), ClientID: "app", UserID: "u1", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute), ForgetAt: t0.Add(10 * time.Minute)}
		if err := db.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	release := make(chan struct{})
	held := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		db.update(ctx, func(*bbolt.Tx) error {
			select {
			case <-held:
			default:
				close(held)
			}
			<-release
			return nil
		})
	})
	<-held
	before := db.Stats()
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.RedeemCode(ctx, hash(i), func(st storage.CodeState) (storage.CodeChange, error) {
				id := fmt.Sprint("f", i)
				c := st.Code
				c.SpentAt, c.FamilyID = t0, id
				f := storage.Family{ID: id, UserID: c.UserID, ClientID: c.ClientID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
				tok := storage.RefreshToken{Hash: "t" + hash(i), FamilyID: id, IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}
				return storage.CodeChange{Code: &c, Create: &f, First: &tok}, nil
			})
		})
	}
	for len(db.calls) < n { // every exchange queued behind the held write
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("exchange %d: %v", i, err)
		}
	}
	st := db.Stats()
	// The held write's commit, then one for all the exchanges.
	if w, c := st.Writes-before.Writes, st.Commits-before.Commits; w != n+1 || c != 2 {
		t.Errorf("%d queued exchanges: %d writes in %d commits, want %d in 2", n, w, c, n+1)
	}
}
