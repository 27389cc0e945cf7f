package password

import (
	"context"
	"slices"
	"sync"
	"time"
)

// lowPriorityKey marks a context whose hashing may wait behind others.
type lowPriorityKey struct{}

// Deprioritize returns a context whose Hash and Verify calls wait behind
// every call from a context not so marked. The server marks logins from
// addresses with recent failures, so that under a flood of wrong
// passwords the hashing slots go first to everyone else and valid logins
// still get through.
func Deprioritize(ctx context.Context) context.Context {
	return context.WithValue(ctx, lowPriorityKey{}, true)
}

func lowPriority(ctx context.Context) bool {
	v, _ := ctx.Value(lowPriorityKey{}).(bool)
	return v
}

// slots is a counting semaphore with two FIFO lanes: a freed slot goes to
// the oldest waiter of the high lane, and to the low lane only when the
// high lane is empty. It is safe for concurrent use.
type slots struct {
	mu    sync.Mutex
	size  int
	free  int
	lanes [2][]chan struct{} // 0 high, 1 low
}

func newSlots(n int) *slots { return &slots{size: n, free: n} }

// acquire takes a slot, waiting at most wait or until ctx is done. It
// reports false when none became free in time.
func (s *slots) acquire(ctx context.Context, wait time.Duration, low bool) (bool, error) {
	lane := 0
	if low {
		lane = 1
	}
	s.mu.Lock()
	// A newcomer may take a free slot only when nobody it must yield to is
	// waiting (the high lane never yields to the low lane).
	if s.free > 0 && len(s.lanes[0]) == 0 && (lane == 0 || len(s.lanes[1]) == 0) {
		s.free--
		s.mu.Unlock()
		return true, nil
	}
	ch := make(chan struct{})
	s.lanes[lane] = append(s.lanes[lane], ch)
	s.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case <-ch:
		return true, nil
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.lanes[lane], ch); i >= 0 {
		s.lanes[lane] = slices.Delete(s.lanes[lane], i, i+1)
		return false, err
	}
	// The slot was handed over just as the wait ended: it is ours.
	return true, nil
}

// release frees a slot, handing it to the next waiter if there is one.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for lane := range s.lanes {
		if q := s.lanes[lane]; len(q) > 0 {
			close(q[0])
			s.lanes[lane] = q[1:]
			return
		}
	}
	s.free++
}

// inUse reports how many slots are taken.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size - s.free
}
