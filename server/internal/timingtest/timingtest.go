// Package timingtest tells, in tests, whether two operations take the same
// time, by a method that a busy machine cannot make fail.
//
// # Method
//
// The operations run in n pairs, a and b back to back, in an order chosen
// by a fair coin for each pair; each pair gives one ratio, a's time over
// b's. Load that changes from pair to pair hits both members of a pair
// alike and cancels in the ratio, and the coin spreads over both members
// whatever falls on the first or the second of two runs (a garbage
// collection triggered by the first one's allocations, a cache warmed by
// it), so it adds noise but no bias.
//
// The verdict is a statistical test on the median of the ratios. The k-th
// smallest and k-th largest of n ratios bound a distribution-free
// confidence interval of their median (binomial order statistics): the
// median lies below the k-th smallest ratio only when fewer than k ratios
// are below it, which has probability P(Bin(n, ½) ≤ k-1), and likewise
// above. k is the largest for which both tails together stay within Alpha.
// The operations are declared unequal only when the whole interval lies
// outside [Lo, Hi] (by default [0.8, 1.25]).
//
// # False alarms
//
// When a and b do the same work, the coin makes each ratio as likely to be
// above 1 as below it whatever the machine's load does, so the number of
// ratios below 1 is exactly Bin(n, ½) and a false alarm (an interval
// entirely outside [0.8, 1.25], which must exclude 1) has probability at
// most Alpha, 10⁻⁶ by default, on any machine. When they differ by a
// factor within the bounds, the interval covers the true median with
// probability at least 1-Alpha for independent pairs, and a false alarm is
// at least as unlikely. A real leak of a factor 2 or more moves nearly
// every ratio past a bound and is caught with certainty.
package timingtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Defaults of Options.
const (
	DefaultPairs = 61
	DefaultAlpha = 1e-6
	DefaultLo    = 0.8
	DefaultHi    = 1.25
)

// Options configure Compare. Zero fields take the defaults.
type Options struct {
	// Pairs is the number of pairs run; Analyze needs enough of them for
	// Alpha.
	Pairs int
	// Alpha bounds the probability of a false alarm (see the package
	// documentation).
	Alpha float64
	// Lo and Hi bound the ratio a/b that counts as equal.
	Lo, Hi float64
	// Now is the clock that times the runs; time.Now if nil. Tests of this
	// package give operations a synthetic cost with it.
	Now func() time.Time
	// Rand flips the coins that order each pair; a randomly seeded
	// generator if nil.
	Rand *rand.Rand
}

func (o *Options) setDefaults() {
	if o.Pairs == 0 {
		o.Pairs = DefaultPairs
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.Lo == 0 {
		o.Lo = DefaultLo
	}
	if o.Hi == 0 {
		o.Hi = DefaultHi
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
}

// Result is the verdict on a sample of ratios.
type Result struct {
	N int
	// Median is the sample median of the ratios; [CILo, CIHi] is its
	// confidence interval at 1-Alpha, the K-th smallest and K-th largest
	// ratio.
	Median, CILo, CIHi float64
	K                  int
	Alpha              float64
	Lo, Hi             float64
	// AFirst counts the pairs in which a ran first.
	AFirst int
}

// Unequal reports whether the whole confidence interval lies outside
// [Lo, Hi].
func (r Result) Unequal() bool { return r.CIHi < r.Lo || r.CILo > r.Hi }

func (r Result) String() string {
	return fmt.Sprintf("median ratio %.3f, CI [%.3f, %.3f] at alpha %g (order statistics %d and %d of %d; a first in %d pairs), bounds [%.2f, %.2f]",
		r.Median, r.CILo, r.CIHi, r.Alpha, r.K, r.N+1-r.K, r.N, r.AFirst, r.Lo, r.Hi)
}

// Analyze returns the verdict on ratios with the options' Alpha and bounds.
// It needs enough ratios for a confidence interval at that Alpha (11 for
// 10⁻³, 21 for 10⁻⁶).
func Analyze(ratios []float64, o Options) (Result, error) {
	o.setDefaults()
	n := len(ratios)
	k := ciRank(n, o.Alpha)
	if k == 0 {
		return Result{}, fmt.Errorf("timingtest: %d ratios are too few for a confidence interval at alpha %g", n, o.Alpha)
	}
	s := slices.Clone(ratios)
	slices.Sort(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Result{N: n, Median: med, CILo: s[k-1], CIHi: s[n-k], K: k, Alpha: o.Alpha, Lo: o.Lo, Hi: o.Hi}, nil
}

// ciRank returns the largest k for which [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] is a confidence
// interval of the median at level 1-alpha: 2·P(Bin(n, ½) ≤ k-1) ≤ alpha.
// It returns 0 when no k qualifies.
func ciRank(n int, alpha float64) int {
	k := 0
	for j := 1; 2*j <= n+1; j++ {
		if 2*binomCDFHalf(n, j-1) > alpha {
			break
		}
		k = j
	}
	return k
}

// binomCDFHalf returns P(Bin(n, ½) ≤ k), summed in log space so that large
// n do not underflow.
func binomCDFHalf(n, k int) float64 {
	lgn, _ := math.Lgamma(float64(n + 1))
	var p float64
	for i := 0; i <= k; i++ {
		a, _ := math.Lgamma(float64(i + 1))
		b, _ := math.Lgamma(float64(n - i + 1))
		p += math.Exp(lgn - a - b - float64(n)*math.Ln2)
	}
	return p
}

// Ratios runs a and b in o.Pairs pairs, in random order within each pair,
// and returns a's time over b's for each pair and the number of pairs in
// which a ran first. It stops at the first error.
func Ratios(a, b func() error, o Options) (ratios []float64, aFirst int, err error) {
	o.setDefaults()
	timed := func(f func() error) (time.Duration, error) {
		start := o.Now()
		err := f()
		return o.Now().Sub(start), err
	}
	ratios = make([]float64, 0, o.Pairs)
	for range o.Pairs {
		var da, db time.Duration
		var errA, errB error
		if o.Rand.IntN(2) == 0 {
			aFirst++
			da, errA = timed(a)
			db, errB = timed(b)
		} else {
			db, errB = timed(b)
			da, errA = timed(a)
		}
		if errA != nil {
			return nil, 0, fmt.Errorf("timingtest: a: %w", errA)
		}
		if errB != nil {
			return nil, 0, fmt.Errorf("timingtest: b: %w", errB)
		}
		// A clock too coarse to see a run counts it as one tick.
		ratios = append(ratios, float64(max(da, 1))/float64(max(db, 1)))
	}
	return ratios, aFirst, nil
}

// Compare runs a and b as Ratios does and returns the verdict.
func Compare(a, b func() error, o Options) (Result, error) {
	o.setDefaults()
	ratios, aFirst, err := Ratios(a, b, o)
	if err != nil {
		return Result{}, err
	}
	r, err := Analyze(ratios, o)
	r.AFirst = aFirst
	return r, err
}

// Equal fails t when a and b do not take the same time by the test of the
// package documentation, naming them in the message; it logs the verdict
// either way. An error of a or b is fatal.
func Equal(t testing.TB, nameA, nameB string, a, b func() error, o Options) Result {
	t.Helper()
	r, err := Compare(a, b, o)
	if err != nil {
		t.Fatalf("%s vs %s: %v", nameA, nameB, err)
	}
	t.Logf("%s / %s: %v", nameA, nameB, r)
	if r.Unequal() {
		t.Errorf("%s takes %.2f× the time of %s: the whole confidence interval [%.3f, %.3f] lies outside [%.2f, %.2f]",
			nameA, r.Median, nameB, r.CILo, r.CIHi, r.Lo, r.Hi)
	}
	return r
}
