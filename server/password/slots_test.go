package password

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestSlots_HighLaneFirst: a freed slot goes to the oldest high-priority
// waiter even when low-priority ones waited longer.
func TestSlots_HighLaneFirst(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if ok, _ := s.acquire(ctx, time.Hour, false); !ok {
		t.Fatal("first acquire failed")
	}
	order := make(chan string, 3)
	start := func(name string, low bool) {
		go func() {
			if ok, err := s.acquire(ctx, time.Hour, low); !ok || err != nil {
				t.Errorf("%s: %v %v", name, ok, err)
			}
			order <- name
			s.release()
		}()
	}
	start("low1", true)
	waitLane(t, s, 1, 1)
	start("low2", true)
	waitLane(t, s, 1, 2)
	start("high", false)
	waitLane(t, s, 0, 1)
	s.release()
	got := []string{<-order, <-order, <-order}
	want := []string{"high", "low1", "low2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	if n := s.inUse(); n != 0 {
		t.Errorf("%d slots in use at the end", n)
	}
}

func TestSlots_TimeoutLeavesNoWaiter(t *testing.T) {
	s := newSlots(1)
	s.acquire(context.Background(), time.Hour, false)
	ok, err := s.acquire(context.Background(), time.Millisecond, true)
	if ok || err != nil {
		t.Fatalf("acquire with every slot taken: %v %v, want a timeout", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := s.acquire(ctx, time.Hour, false); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled acquire: %v %v", ok, err)
	}
	s.mu.Lock()
	n := s.lanes[0].len() + s.lanes[1].len()
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d waiters left behind", n)
	}
	s.release()
	if ok, _ := s.acquire(context.Background(), time.Millisecond, true); !ok {
		t.Fatal("slot not free after release")
	}
}

// TestHasher_DeprioritizedWaits: with the only slot taken, a deprioritized
// Verify queues in the low lane and a normal one in the high lane, so a
// freed slot goes to the normal one first (the lanes' order itself is
// TestSlots_HighLaneFirst's). Which of the two Verify calls returns first
// is not asserted: the first releases the slot to the second before it
// reports, so either may report first.
func TestHasher_DeprioritizedWaits(t *testing.T) {
	h := newTiny(t, 1, time.Hour)
	phc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	release := fill(h)
	done := make(chan error, 2)
	go func() {
		_, _, err := h.Verify(Deprioritize(context.Background()), phc, "pw")
		done <- err
	}()
	waitLane(t, h.sem, 1, 1)
	go func() {
		_, _, err := h.Verify(context.Background(), phc, "pw")
		done <- err
	}()
	waitLane(t, h.sem, 0, 1)
	release()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// waitLane waits until lane has n waiters: the goroutines under test have
// queued, whatever the scheduler did.
func waitLane(t *testing.T, s *slots, lane, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := s.lanes[lane].len()
		s.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("lane %d never had %d waiters", lane, n)
}

// TestSlots_SourcesTakeTurns: within a lane, waiters of different sources
// (client addresses) take turns for freed slots, each source's own in the
// order they came, so that a burst of many waiters from one source does
// not make one from another wait behind all of them (issue 16: a valid
// login waited 1.99 s behind a login flood's first wave, which reached
// the normal lane before any of its failures was on record).
func TestSlots_SourcesTakeTurns(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if ok, _ := s.acquire(ctx, time.Hour, false); !ok {
		t.Fatal("first acquire failed")
	}
	order := make(chan string, 8)
	// done counts the goroutines that have released their slot: each
	// reports its turn before it releases, so the last report comes
	// before the last release.
	var done sync.WaitGroup
	start := func(name, key string, n int) {
		done.Add(1)
		go func() {
			defer done.Done()
			if ok, err := s.acquireFrom(ctx, time.Hour, false, netip.MustParseAddr(key)); !ok || err != nil {
				t.Errorf("%s: %v %v", name, ok, err)
			}
			order <- name
			s.release()
		}()
		waitLane(t, s, 0, n)
	}
	for i := range 5 {
		start(fmt.Sprintf("flood%d", i), "192.0.2.1", i+1)
	}
	start("user", "198.51.100.7", 6)
	start("flood5", "192.0.2.1", 7)
	s.release()
	var got []string
	for range 7 {
		got = append(got, <-order)
	}
	want := []string{"flood0", "user", "flood1", "flood2", "flood3", "flood4", "flood5"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	done.Wait()
	if n := s.inUse(); n != 0 {
		t.Errorf("%d slots in use at the end", n)
	}
}

// TestSlots_SourceLeavesQueueOnTimeout: a source whose only waiter gave up
// has no turn left to take, and the others are served as before.
func TestSlots_SourceLeavesQueueOnTimeout(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	s.acquire(ctx, time.Hour, false)
	if ok, _ := s.acquireFrom(ctx, time.Millisecond, false, netip.MustParseAddr("192.0.2.1")); ok {
		t.Fatal("acquire with every slot taken succeeded")
	}
	done := make(chan struct{})
	go func() {
		if ok, _ := s.acquireFrom(ctx, time.Hour, false, netip.MustParseAddr("192.0.2.2")); !ok {
			t.Error("b: no slot")
		}
		close(done)
	}()
	waitLane(t, s, 0, 1)
	s.release()
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.lanes[0].len() + s.lanes[1].len(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}

// TestHasher_AddressesTakeTurns: Verify calls marked with FromAddress take
// turns by address; IPv6 addresses count by /64, as the login throttle
// counts them.
func TestHasher_AddressesTakeTurns(t *testing.T) {
	h := newTiny(t, 1, time.Hour)
	phc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	release := fill(h)
	done := make(chan string, 4)
	verify := func(name, addr string, n int) {
		ctx := FromAddress(context.Background(), netip.MustParseAddr(addr))
		go func() {
			h.Verify(ctx, phc, "pw")
			done <- name
		}()
		waitLane(t, h.sem, 0, n)
	}
	verify("flood0", "2001:db8::1", 1)
	verify("flood1", "2001:db8::2", 2) // the same /64
	verify("flood2", "2001:db8::3", 3)
	verify("user", "127.0.0.1", 4)
	release()
	got := []string{<-done, <-done, <-done, <-done}
	want := []string{"flood0", "user", "flood1", "flood2"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}
