package server

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
)

// Sweep settings. Each Sweep call is one write, and the time it keeps
// other writes waiting (storage.SweepStats.WriteTime: on bbolt, its hold
// of the write lock) is what token requests wait behind, so a batch is
// sized by time, not by count: the sweeper aims at sweepBudget per
// transaction and adjusts the next batch's size from how long the last one
// took. A batch's cost is mostly the pages it dirties (expired records lie
// at random places in their buckets) plus one fsync, so the right count
// depends on the disk and the size of the file: on the project's 2-core
// machine 64 items took about 5 ms at 100k families, and 1,000 items
// 100–600 ms at 1M.
//
// After each batch the sweeper pauses as long as the batch took, so it
// never takes more than half of the write lock's time. A smaller budget
// buys little: each transaction also rewrites the branch pages above its
// leaves and pays two fsyncs, and at 1M expired families a 5 ms budget
// swept 2.7 times slower than 10 ms under the same load, while the longest
// holds were the disk's own fsync stalls either way.
const (
	sweepInterval   = time.Minute
	sweepBudget     = 10 * time.Millisecond
	sweepFirstBatch = 64
	sweepMinBatch   = 8
	sweepMaxBatch   = 4096
	sweepMinPause   = 5 * time.Millisecond
)

// nextSweepBatch is the size of the batch after one of n items that took
// took: n scaled by budget/took, but at most doubled and at least quartered
// at a time, so that one slow or fast outlier does not swing it far.
func nextSweepBatch(n int, took time.Duration) int {
	f := 2.0
	if took > 0 {
		f = min(max(float64(sweepBudget)/float64(took), 0.25), 2)
	}
	return min(max(int(float64(n)*f), sweepMinBatch), sweepMaxBatch)
}

// Run does the server's background work until ctx ends: it removes expired
// refresh tokens, dead families and deny-list entries every minute. Its
// cost follows what expired, not the size of the database (the storage
// walks a time-ordered expiry index).
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		s.SweepOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepOnce removes everything that has expired as of now, in batches. The
// swept-items metrics move after every batch, so a long sweep's progress
// shows while it runs. Calls are serialised.
func (s *Server) SweepOnce(ctx context.Context) storage.SweepStats {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	var total storage.SweepStats
	start := s.sweepClock()
	batches := 0
	for ctx.Err() == nil {
		t0 := s.sweepClock()
		st, err := s.store.Sweep(ctx, s.now(), s.sweepBatch)
		if err != nil {
			s.log.Warn("expiry sweep failed", "error", err)
			break
		}
		took := s.sweepClock().Sub(t0)
		if st.WriteTime > 0 {
			took = st.WriteTime // without the wait for other writers
		}
		batches++
		total.Tokens += st.Tokens
		total.Families += st.Families
		total.Denied += st.Denied
		s.metrics.swept.WithLabelValues("refresh_token").Add(float64(st.Tokens))
		s.metrics.swept.WithLabelValues("family").Add(float64(st.Families))
		s.metrics.swept.WithLabelValues("denied_jti").Add(float64(st.Denied))
		if !st.More {
			break
		}
		// Only a full batch says how long a batch of this size takes.
		s.sweepBatch = nextSweepBatch(s.sweepBatch, took)
		if err := s.sweepSleep(ctx, max(sweepMinPause, took)); err != nil {
			break
		}
	}
	if n := total.Tokens + total.Families + total.Denied; n > 0 {
		s.log.Info("expired items swept", "event", "sweep", "tokens", total.Tokens, "families", total.Families, "denied", total.Denied,
			"transactions", batches, "next_batch", s.sweepBatch, "duration", s.sweepClock().Sub(start))
	}
	return total
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
