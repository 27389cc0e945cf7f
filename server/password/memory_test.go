package password

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

// allocated is how many bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A hash reuses the working memory of the one before it, so that under a
// steady load of logins no 19 MiB is allocated, zeroed, collected and
// given back to the system per login (issue 16: that churn was about a
// fifth of the server's CPU at 16 concurrent logins). The bound allows two
// fresh allocations in case a collection took the idle memory meanwhile;
// allocating per hash, as before, is twelve.
func TestHasher_ReusesHashMemory(t *testing.T) {
	p := tiny
	p.Memory = 4 << 10 // 4 MiB: big enough to stand out from everything else
	h := New(Config{Params: p, MaxConcurrent: 1})
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	got := allocated(func() {
		for range n {
			if ok, _, err := h.Verify(ctx, phc, "correct horse"); !ok || err != nil {
				t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
			}
		}
	})
	if limit := uint64(2 * p.Memory << 10); got > limit {
		t.Errorf("%d verifications with %d KiB each allocated %d KiB, want at most %d KiB", n, p.Memory, got>>10, limit>>10)
	}
}

// Memory that is reused must not leak into the next hash: hashes of other
// passwords and parameters, computed in between in the same memory, do
// not change a hash's result, and concurrent hashes each get memory of
// their own.
func TestHasher_ReusedMemoryGivesSameResults(t *testing.T) {
	ctx := context.Background()
	big := tiny
	big.Memory, big.Time, big.Threads = 256, 3, 2
	h := New(Config{Params: tiny, MaxConcurrent: 2})
	hb := New(Config{Params: big, MaxConcurrent: 1})
	hashes := map[string]string{}
	for _, pw := range []string{"a", "bb", "ccc", "dddd"} {
		phc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		hashes[pw] = phc
		if pw == "bb" {
			// A stored hash with more memory than h's params.
			if hashes["big"], err = hb.Hash(ctx, "big"); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				for pw, phc := range hashes {
					ok, _, err := h.Verify(ctx, phc, pw)
					if !ok || err != nil {
						t.Errorf("Verify(%q) = %v, %v; want true, nil", pw, ok, err)
					}
					ok, _, err = h.Verify(ctx, phc, pw+"x")
					if ok || err != nil {
						t.Errorf("Verify(%q, wrong password) = %v, %v; want false, nil", pw, ok, err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// The pool never holds more Memory than there are slots, however many
// callers wait, and an idle Hasher's memory goes at the next collection.
func TestHasher_HashMemoryBoundedAndFreedWhenIdle(t *testing.T) {
	h := New(Config{Params: tiny, MaxConcurrent: 2})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 4 {
				if _, err := h.Hash(ctx, "pw"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	h.mem.mu.Lock()
	n := len(h.mem.free)
	h.mem.mu.Unlock()
	if n < 1 || n > 2 {
		t.Errorf("the pool holds %d Memory after 64 hashes by 16 callers in 2 slots, want 1 or 2", n)
	}
	runtime.GC()
	h.mem.mu.Lock()
	defer h.mem.mu.Unlock()
	for i, w := range h.mem.free {
		if w.Value() != nil {
			t.Errorf("free Memory %d survived a collection while idle", i)
		}
	}
}
