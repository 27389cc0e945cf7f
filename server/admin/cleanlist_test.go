package admin

import (
	"github.com/authd/authd/server/internal/growth"
	"strconv"
	"testing"

	"github.com/authd/authd/server/internal/scopes"
)

// TestCleanList_Cost: validating and deduplicating an admin list costs
// linear work up to the cap (it was quadratic), and a list beyond it is
// refused before any of its values is looked at.
func TestCleanList_Cost(t *testing.T) {
	ns := []int{1, 16, 32, 48, 64}
	costs := make([]growth.Cost, len(ns))
	for i, n := range ns {
		l := scopeList(n)
		costs[i] = growth.Of(20, func() {
			if _, e := cleanList("scopes", l, scopes.Valid); e != nil {
				t.Fatal(e)
			}
		})
	}
	t.Logf("N = %v: %v", ns, costs)
	growth.AssertLinear(t, "admin list values", ns, costs)
	over := growth.Of(20, func() { cleanList("scopes", scopeList(65), scopes.Valid) })
	huge := scopeList(16366)
	c := growth.Of(20, func() {
		if _, e := cleanList("scopes", huge, scopes.Valid); e == nil {
			t.Fatal("16366 values accepted")
		}
	})
	// scopeList(65) is built inside the first measure; the refusal itself
	// costs no more than the error.
	if c.Allocs > over.Allocs || c.Bytes > over.Bytes {
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
