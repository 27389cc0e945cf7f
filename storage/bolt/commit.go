package bolt

import (
	"time"

	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// call is one write waiting for the committer.
type call struct {
	fn  func(tx *bbolt.Tx) error
	err chan error // buffered, receives exactly one result
}

// update runs fn in a write transaction shared with other pending writes and
// returns once that transaction is durably committed, or fn's error as is
// (its changes then discarded). fn may run more than once, each time in a
// fresh transaction, so it must have no effects outside tx except results it
// overwrites on each run.
//
// ctx is checked only before the write is queued: once queued, the write is
// carried out and update waits for its outcome, so that a nil error always
// means "on disk" and a non-nil one "not applied" (unless the commit itself
// failed).
func (db *DB) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{fn: fn, err: make(chan error, 1)}
	db.mu.RLock()
	if db.closed.Load() {
		db.mu.RUnlock()
		return storage.ErrClosed
	}
	select {
	case db.calls <- c:
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	db.mu.RUnlock()
	return <-c.err
}

// commitLoop is the committer: it takes the first pending write at once,
// drains whatever else is queued, up to maxBatch, and commits them together.
// It ends when Close closes db.calls and every queued write is answered.
func (db *DB) commitLoop() {
	defer close(db.drained)
	batch := make([]*call, 0, maxBatch)
	for c := range db.calls {
		batch = append(batch[:0], c)
	drain:
		for len(batch) < maxBatch {
			select {
			case c, ok := <-db.calls:
				if !ok {
					break drain
				}
				batch = append(batch, c)
			default:
				break drain
			}
		}
		db.runBatch(batch)
		clear(batch)
	}
}

// runBatch commits calls in one transaction. If a function fails, the
// transaction is rolled back, the failed function is set aside and the rest
// run again together; then each failed function runs alone and its caller
// gets that run's result. Errors of the commit itself go to every caller in
// the transaction.
func (db *DB) runBatch(calls []*call) {
	var failed []*call
	for len(calls) > 0 {
		failIdx := -1
		err := db.timedUpdate(len(calls), func(tx *bbolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failIdx = i
					return err
				}
			}
			return nil
		})
		if failIdx >= 0 {
			failed = append(failed, calls[failIdx])
			calls = append(calls[:failIdx:failIdx], calls[failIdx+1:]...)
			continue
		}
		if err == nil {
			db.commits.Add(1)
		}
		db.writes.Add(uint64(len(calls)))
		for _, c := range calls {
			c.err <- commitErr(err)
		}
		break
	}
	for _, c := range failed {
		var fnErr error
		err := db.timedUpdate(1, func(tx *bbolt.Tx) error {
			fnErr = safely(c.fn, tx)
			return fnErr
		})
		switch {
		case fnErr != nil:
			err = fnErr
		case err == nil:
			db.commits.Add(1)
		default:
			err = commitErr(err)
		}
		db.writes.Add(1)
		c.err <- err
	}
}

// commitErr wraps an error of bbolt's commit; nil stays nil.
func commitErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("commit: %w", err)
}

// safely runs fn and turns a panic into an error, so that one bad write
// cannot take the committer (and every pending caller) down.
func safely(fn func(tx *bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
	}()
	return fn(tx)
}

// slowCommit is the write-lock hold past which a transaction is reported.
const slowCommit = 50 * time.Millisecond

// timedUpdate runs one write transaction and records how long it held the
// write lock (including its fsync). A hold past slowCommit is logged, at
// most once a second, split into the writes' own work and bbolt's commit,
// with the pages the commit wrote and the time bbolt took to write and
// fsync them: a slow disk shows as a long write of few pages, a large
// batch as many pages.
func (db *DB) timedUpdate(writes int, fn func(*bbolt.Tx) error) error {
	start := db.now()
	var worked time.Time
	var done *bbolt.Tx // its statistics stay readable after the commit
	err := db.db.Update(func(tx *bbolt.Tx) error {
		done = tx
		err := fn(tx)
		worked = db.now()
		return err
	})
	end := db.now()
	d := uint64(end.Sub(start))
	db.commitNanos.Add(d)
	for {
		old := db.commitMaxNanos.Load()
		if d <= old || db.commitMaxNanos.CompareAndSwap(old, d) {
			break
		}
	}
	if time.Duration(d) > slowCommit {
		n := db.slowCommits.Add(1)
		if last := db.slowLogged.Load(); end.UnixNano()-last >= int64(time.Second) && db.slowLogged.CompareAndSwap(last, end.UnixNano()) {
			work, commit := time.Duration(0), time.Duration(d)
			if !worked.IsZero() {
				work, commit = worked.Sub(start), end.Sub(worked)
			}
			var st bbolt.TxStats
			if done != nil {
				st = done.Stats()
			}
			db.log.Warn("slow write transaction", "held", time.Duration(d), "work", work, "commit", commit,
				"pages", st.GetWrite(), "page_write_sync", st.GetWriteTime(), "writes", writes, "slow_total", n)
		}
	}
	return err
}

// callerError carries the error of a caller's function (UpdateUser's fn,
// UpdateRefresh's, ...) out of a write transaction, so that the method
// returns it as is: storage's convention for every method that takes a
// function.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }
func (e callerError) Unwrap() error { return e.err }

// wrapErr returns the error of a caller's function (a callerError) as is,
// and any other error wrapped: fmt.Errorf(format, args..., err), so format
// ends in %w.
func wrapErr(err error, format string, args ...any) error {
	if ce, ok := err.(callerError); ok {
		return ce.err
	}
	return fmt.Errorf(format, append(args, err)...)
}
