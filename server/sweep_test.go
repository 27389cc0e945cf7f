package server

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// slowSweepStore is a storage whose Sweep "takes" perItem of the sweep
// clock for every item it removes, from a backlog of pending items.
type slowSweepStore struct {
	storage.Storage
	clock   *testClock
	perItem time.Duration
	wait    time.Duration // for other writers, before the work; reported as WriteTime when set
	pending int
	limits  []int
	holds   []time.Duration
}

func (s *slowSweepStore) Sweep(_ context.Context, _ time.Time, limit int) (storage.SweepStats, error) {
	n := min(limit, s.pending)
	s.pending -= n
	d := time.Millisecond + time.Duration(n)*s.perItem // a commit plus the pages
	s.clock.Advance(s.wait + d)
	s.limits = append(s.limits, limit)
	s.holds = append(s.holds, d)
	st := storage.SweepStats{Tokens: n, More: s.pending > 0}
	if s.wait > 0 {
		st.WriteTime = d
	}
	return st, nil
}

// TestSweepBatchesFollowTheBudget: whatever a removal costs, the sweeper's
// transactions settle near sweepBudget, it pauses after each as long as
// the transaction took, it removes the whole backlog, and its metrics count
// every item.
func TestSweepBatchesFollowTheBudget(t *testing.T) {
	for _, tc := range []struct {
		perItem, wait time.Duration
	}{
		{2 * time.Microsecond, 0},
		{80 * time.Microsecond, 0},
		{2 * time.Millisecond, 0},
		// A store that reports WriteTime: the batch follows it, not
		// the 40 ms each call waited for other writers.
		{80 * time.Microsecond, 40 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%v per item, %v wait", tc.perItem, tc.wait), func(t *testing.T) {
			e := newEnv(t)
			clock := &testClock{t: time.Unix(0, 0)}
			st := &slowSweepStore{Storage: e.srv.store, clock: clock, perItem: tc.perItem, wait: tc.wait, pending: 200_000}
			e.srv.store = st
			e.srv.sweepClock = clock.Now
			var pauses []time.Duration
			e.srv.sweepSleep = func(_ context.Context, d time.Duration) error {
				pauses = append(pauses, d)
				clock.Advance(d)
				return nil
			}
			got := e.srv.SweepOnce(context.Background())
			if got.Tokens != 200_000 || st.pending != 0 {
				t.Fatalf("swept %d, %d left; want all 200000", got.Tokens, st.pending)
			}
			if st.limits[0] != sweepFirstBatch {
				t.Errorf("first batch %d, want %d", st.limits[0], sweepFirstBatch)
			}
			// Once settled (the last ten full batches), every transaction is
			// within a factor of two of the budget, unless the batch is
			// pinned at a bound.
			full := len(st.holds) - 1 // the last batch is what was left
			for i := max(0, full-10); i < full; i++ {
				l, d := st.limits[i], st.holds[i]
				if l == sweepMinBatch || l == sweepMaxBatch {
					continue
				}
				if d < sweepBudget/2 || d > 2*sweepBudget {
					t.Errorf("batch %d of %d items held the lock %v; budget %v", i, l, d, sweepBudget)
				}
			}
			for i, p := range pauses {
				if want := max(sweepMinPause, st.holds[i]); p != want {
					t.Fatalf("pause %d was %v after a batch of %v; want %v", i, p, st.holds[i], want)
				}
			}
			if len(pauses) != len(st.holds)-1 {
				t.Errorf("%d pauses for %d batches; want one between each", len(pauses), len(st.holds))
			}
			m := regexp.MustCompile(`authd_swept_total\{kind="refresh_token"\} (\d+)`).FindStringSubmatch(e.get("/metrics"))
			if m == nil {
				t.Fatal("authd_swept_total{kind=\"refresh_token\"} missing from /metrics")
			}
			if n, _ := strconv.Atoi(m[1]); n != 200_000 {
				t.Errorf("metrics count %d swept tokens, want 200000", n)
			}
		})
	}
}

func TestNextSweepBatch(t *testing.T) {
	for _, tc := range []struct {
		n    int
		took time.Duration
		want int
	}{
		{64, sweepBudget, 64},
		{64, sweepBudget / 2, 128},
		{64, sweepBudget / 100, 128}, // at most doubled
		{64, 0, 128},
		{64, 2 * sweepBudget, 32},
		{64, 100 * sweepBudget, 16}, // at most quartered
		{sweepMinBatch, time.Hour, sweepMinBatch},
		{sweepMaxBatch, time.Nanosecond, sweepMaxBatch},
	} {
		if got := nextSweepBatch(tc.n, tc.took); got != tc.want {
			t.Errorf("nextSweepBatch(%d, %v) = %d, want %d", tc.n, tc.took, got, tc.want)
		}
	}
}
