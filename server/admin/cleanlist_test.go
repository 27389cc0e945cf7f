package admin

import (
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/authd/authd/server/internal/scopes"
)

// TestCleanList_Cost: validating and deduplicating an admin list costs
// linear work up to the cap (it was quadratic), and a list beyond it is
// refused before any of its values is looked at.
func TestCleanList_Cost(t *testing.T) {
	ns := []int{1, 16, 32, 48, 64}
	costs := make([]cost, len(ns))
	for i, n := range ns {
		l := scopeList(n)
		costs[i] = costOf(20, func() {
			if _, e := cleanList("scopes", l, scopes.Valid); e != nil {
				t.Fatal(e)
			}
		})
	}
	t.Logf("N = %v: %v", ns, costs)
	assertLinear(t, "admin list values", ns, costs)
	over := costOf(20, func() { cleanList("scopes", scopeList(65), scopes.Valid) })
	huge := scopeList(16366)
	c := costOf(20, func() {
		if _, e := cleanList("scopes", huge, scopes.Valid); e == nil {
			t.Fatal("16366 values accepted")
		}
	})
	// scopeList(65) is built inside the first measure; the refusal itself
	// costs no more than the error.
	if c.allocs > over.allocs || c.bytes > over.bytes {
		t.Errorf("16366 values: %+v, want at most the cost of 65 (%+v)", c, over)
	}
}

// scopeList returns n distinct scope values s0 ... s(n-1).
func scopeList(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "s" + strconv.Itoa(i)
	}
	return out
}

// cost is what a call costs in measures that do not depend on the
// machine's speed or load: allocations and bytes allocated.
type cost struct{ allocs, bytes float64 }

// costOf measures f, run runs times after one warm-up run, with
// runtime.MemStats as testing.AllocsPerRun does.
func costOf(runs int, f func()) cost {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return cost{
		allocs: float64(after.Mallocs-before.Mallocs) / float64(runs),
		bytes:  float64(after.TotalAlloc-before.TotalAlloc) / float64(runs),
	}
}

// assertLinear fails unless the costs measured at ns grow linearly: the
// cost per added value, between successive points, must be about the same
// throughout, within a factor of two and an absolute slack for the
// measure's steps (maps and slices grow by doubling).
func assertLinear(t *testing.T, what string, ns []int, costs []cost) {
	t.Helper()
	for _, m := range []struct {
		name  string
		get   func(cost) float64
		slack float64
	}{{"allocations", func(c cost) float64 { return c.allocs }, 2}, {"bytes", func(c cost) float64 { return c.bytes }, 256}} {
		var slopes []float64
		for i := 1; i < len(ns); i++ {
			slopes = append(slopes, (m.get(costs[i])-m.get(costs[i-1]))/float64(ns[i]-ns[i-1]))
		}
		overall := (m.get(costs[len(ns)-1]) - m.get(costs[0])) / float64(ns[len(ns)-1]-ns[0])
		if hi := slices.Max(slopes); hi > 2*overall+m.slack {
			t.Errorf("%s: %s per added value %v, overall %.1f: not linear", what, m.name, slopes, overall)
		}
	}
}
