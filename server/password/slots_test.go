package password

import (
	"context"
	"errors"
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
	n := len(s.lanes[0]) + len(s.lanes[1])
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
		got := len(s.lanes[lane])
		s.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("lane %d never had %d waiters", lane, n)
}
