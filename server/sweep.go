package server

import (
	"context"
	"time"

	"github.com/authd/authd/storage"
)

// Sweep settings. Each Sweep call is one short write transaction of at most
// sweepBatch items, so that the write lock is never held long; between
// batches the sweeper yields so that token requests get their turn.
//
// A batch's cost is mostly the pages it dirties (the expiry index and the
// records it points to lie far apart) and its fsync, so batches are small:
// on the project's 2-core machine 500 items held the lock for 100–200 ms,
// far past the 50 ms budget. After each batch the sweeper pauses as long as
// the batch took, so it never takes more than half of the write lock's time.
const (
	sweepInterval = time.Minute
	sweepBatch    = 64
	sweepMinPause = 5 * time.Millisecond
)

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

// SweepOnce removes everything that has expired as of now, in batches.
func (s *Server) SweepOnce(ctx context.Context) storage.SweepStats {
	var total storage.SweepStats
	start := time.Now()
	for ctx.Err() == nil {
		batchStart := time.Now()
		st, err := s.store.Sweep(ctx, s.now(), sweepBatch)
		if err != nil {
			s.log.Warn("expiry sweep failed", "error", err)
			break
		}
		total.Tokens += st.Tokens
		total.Families += st.Families
		total.Denied += st.Denied
		if !st.More {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(max(sweepMinPause, time.Since(batchStart))):
		}
	}
	n := total.Tokens + total.Families + total.Denied
	if n > 0 {
		s.metrics.swept.WithLabelValues("refresh_token").Add(float64(total.Tokens))
		s.metrics.swept.WithLabelValues("family").Add(float64(total.Families))
		s.metrics.swept.WithLabelValues("denied_jti").Add(float64(total.Denied))
		s.log.Info("expired items swept", "event", "sweep", "tokens", total.Tokens, "families", total.Families, "denied", total.Denied, "duration", time.Since(start))
	}
	return total
}
