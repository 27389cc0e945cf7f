package bolt

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSlowTransactionLogged: a write transaction that holds the lock past
// slowCommit is reported once, with its work and commit parts, and counted
// in the longest-hold statistic; quick ones are not reported.
func TestSlowTransactionLogged(t *testing.T) {
	var logs bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	db, err := Open(filepath.Join(t.TempDir(), "a.db"), &Options{
		NoSync: true, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(work time.Duration) {
		t.Helper()
		if err := db.update(t.Context(), func(tx *bbolt.Tx) error {
			clock.Advance(work)
			b, err := tx.CreateBucketIfNotExists([]byte("slow-test"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(time.Millisecond)
	if strings.Contains(logs.String(), "slow write transaction") {
		t.Fatalf("a 1 ms transaction was reported: %s", logs.String())
	}
	write(80 * time.Millisecond)
	line := logs.String()
	for _, want := range []string{"slow write transaction", "held=80ms", "work=80ms", "commit=0s", "writes=1", "slow_total=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}
	// The commit wrote the bucket's page, the root's and the meta page.
	if m := regexp.MustCompile(` pages=(\d+) page_write_sync=\S+ `).FindStringSubmatch(line); m == nil || m[1] == "0" {
		t.Errorf("log %q lacks the pages the commit wrote and their write time", line)
	}
	if got := db.Stats().CommitMax; got != 80*time.Millisecond {
		t.Errorf("CommitMax %v, want 80ms", got)
	}
	// A second slow one within the same second is counted, not logged.
	write(60 * time.Millisecond)
	if n := strings.Count(logs.String(), "slow write transaction"); n != 1 {
		t.Errorf("%d warnings for two slow transactions %v apart; want 1", n, 60*time.Millisecond)
	}
	clock.Advance(time.Second)
	write(70 * time.Millisecond)
	if !strings.Contains(logs.String(), "slow_total=3") {
		t.Errorf("third slow transaction a second later not logged with its count: %s", logs.String())
	}
	if got := db.Stats().SlowCommits; got != 3 {
		t.Errorf("Stats().SlowCommits = %d after three slow transactions and one quick one, want 3", got)
	}
}
