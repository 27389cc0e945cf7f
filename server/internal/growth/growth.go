// Package growth measures how the cost of a call grows with its input in
// measures that do not depend on the machine's speed or load (allocations
// and bytes allocated), for tests that prove an input is handled in linear
// time (SPEC §2.1: no input makes the server do super-linear work).
package growth

import (
	"runtime"
	"testing"
)

// Cost is what one call costs: allocations and bytes allocated.
type Cost struct{ Allocs, Bytes float64 }

// Of measures f, run runs times after one warm-up run, with
// runtime.MemStats as testing.AllocsPerRun does.
func Of(runs int, f func()) Cost {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return Cost{
		Allocs: float64(after.Mallocs-before.Mallocs) / float64(runs),
		Bytes:  float64(after.TotalAlloc-before.TotalAlloc) / float64(runs),
	}
}

// AssertLinear fails t unless the costs measured at ns (ascending) grow at
// most linearly: the cost per value at the largest N must be at most twice
// the cost per value at the smallest N of at least a quarter of it (plus an
// absolute slack for the measure's steps: maps and slices grow by
// doubling). A fixed overhead only lowers the cost per value as N grows;
// quadratic growth multiplies it by the ratio of the two Ns (4 for the
// usual 16 and 64). Totals are compared, not differences between close
// points, so that the allocations of other goroutines during a measurement
// do not decide the verdict.
func AssertLinear(t testing.TB, what string, ns []int, costs []Cost) {
	t.Helper()
	last := len(ns) - 1
	ref := -1
	for i, n := range ns {
		if n > 0 && 4*n >= ns[last] {
			ref = i
			break
		}
	}
	if ref < 0 || ref == last {
		t.Errorf("%s: the sizes %v have no point between a quarter of the largest and the largest", what, ns)
		return
	}
	for _, m := range []struct {
		name  string
		get   func(Cost) float64
		slack float64
	}{{"allocations", func(c Cost) float64 { return c.Allocs }, 2}, {"bytes", func(c Cost) float64 { return c.Bytes }, 256}} {
		perRef := (m.get(costs[ref]) + m.slack) / float64(ns[ref])
		perLast := m.get(costs[last]) / float64(ns[last])
		if perLast > 2*perRef {
			t.Errorf("%s: %s per value %.1f at N = %d, %.1f at N = %d: not linear", what, m.name, perLast, ns[last], perRef, ns[ref])
		}
	}
}
