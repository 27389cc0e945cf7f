package password

import (
	"context"
	"net/netip"
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

// sourceKey carries the source a context's hashing waits as (see
// FromAddress).
type sourceKey struct{}

// FromAddress returns a context whose Hash and Verify calls, when they have
// to wait for a slot, take turns with those of other client addresses
// instead of queueing behind all that came before: a burst of logins from
// one address, such as the first wave of a flood before any of its
// failures is on record, delays a login from elsewhere by about one hash
// per address waiting, not by the whole burst. IPv6 addresses count by
// their /64, as the login throttle counts them.
func FromAddress(ctx context.Context, addr netip.Addr) context.Context {
	addr = addr.Unmap()
	if addr.Is6() {
		addr = netip.PrefixFrom(addr.WithZone(""), 64).Masked().Addr()
	}
	return context.WithValue(ctx, sourceKey{}, addr)
}

func source(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(sourceKey{}).(netip.Addr)
	return a
}

// slots is a counting semaphore with two lanes: a freed slot goes to a
// waiter of the high lane, and to the low lane only when the high lane is
// empty. Within a lane, sources take turns (see lane). It is safe for
// concurrent use.
type slots struct {
	mu    sync.Mutex
	size  int
	free  int
	lanes [2]lane // 0 high, 1 low
}

func newSlots(n int) *slots { return &slots{size: n, free: n} }

// acquire takes a slot for a caller of no particular source.
func (s *slots) acquire(ctx context.Context, wait time.Duration, low bool) (bool, error) {
	return s.acquireFrom(ctx, wait, low, netip.Addr{})
}

// acquireFrom takes a slot for a caller from src, waiting at most wait or
// until ctx is done. It reports false when none became free in time.
func (s *slots) acquireFrom(ctx context.Context, wait time.Duration, low bool, src netip.Addr) (bool, error) {
	l := &s.lanes[0]
	if low {
		l = &s.lanes[1]
	}
	s.mu.Lock()
	// A newcomer may take a free slot only when nobody it must yield to is
	// waiting (the high lane never yields to the low lane).
	if s.free > 0 && s.lanes[0].len() == 0 && (!low || s.lanes[1].len() == 0) {
		s.free--
		s.mu.Unlock()
		return true, nil
	}
	ch := make(chan struct{})
	l.push(src, ch)
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
	if l.remove(src, ch) {
		return false, err
	}
	// The slot was handed over just as the wait ended: it is ours.
	return true, nil
}

// release frees a slot, handing it to the next waiter if there is one.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.lanes {
		if ch := s.lanes[i].pop(); ch != nil {
			close(ch)
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

// lane is the waiters of one priority: a FIFO queue per source, and the
// sources with waiters in the order they take turns. Each waiter is in it
// once, so it holds no more than the requests waiting. The zero lane is
// empty.
type lane struct {
	n      int
	queues map[netip.Addr][]chan struct{}
	turns  []netip.Addr // each source with waiters, once
}

func (l *lane) len() int { return l.n }

func (l *lane) push(src netip.Addr, ch chan struct{}) {
	if l.queues == nil {
		l.queues = make(map[netip.Addr][]chan struct{})
	}
	q := l.queues[src]
	if len(q) == 0 {
		l.turns = append(l.turns, src)
	}
	l.queues[src] = append(q, ch)
	l.n++
}

// pop removes and returns the oldest waiter of the source whose turn it
// is, which then goes to the back of the turns; nil when none waits.
func (l *lane) pop() chan struct{} {
	if l.n == 0 {
		return nil
	}
	src := l.turns[0]
	q := l.queues[src]
	ch := q[0]
	q[0] = nil
	l.turns = slices.Delete(l.turns, 0, 1)
	if len(q) == 1 {
		delete(l.queues, src)
	} else {
		l.queues[src] = q[1:]
		l.turns = append(l.turns, src)
	}
	l.n--
	return ch
}

// remove takes ch, a waiter that gave up, out of src's queue; false when it
// is not there (it was popped).
func (l *lane) remove(src netip.Addr, ch chan struct{}) bool {
	q := l.queues[src]
	i := slices.Index(q, ch)
	if i < 0 {
		return false
	}
	q = slices.Delete(q, i, i+1)
	if len(q) == 0 {
		delete(l.queues, src)
		j := slices.Index(l.turns, src)
		l.turns = slices.Delete(l.turns, j, j+1)
	} else {
		l.queues[src] = q
	}
	l.n--
	return true
}
