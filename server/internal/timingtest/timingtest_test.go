package timingtest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestCIRank(t *testing.T) {
	tests := []struct {
		n     int
		alpha float64
		want  int
	}{
		// 2·P(Bin(9,½) ≤ 1) = 20/512 ≤ 0.05 < 2·P(≤ 2) = 92/512.
		{9, 0.05, 2},
		{5, 0.05, 0}, // 2/32 > 0.05: too few
		{5, 0.07, 1},
		{11, 1e-3, 1},
		{10, 1e-3, 0},
		{21, 1e-6, 1},
		{20, 1e-6, 0},
		{61, 1e-6, 12},
		{101, 1e-6, 26},
		{2001, 1e-6, 891}, // no underflow for large n
	}
	for _, tt := range tests {
		if got := ciRank(tt.n, tt.alpha); got != tt.want {
			t.Errorf("ciRank(%d, %g) = %d, want %d", tt.n, tt.alpha, got, tt.want)
		}
	}
}

func TestBinomCDFHalf(t *testing.T) {
	if got := binomCDFHalf(4, 4); math.Abs(got-1) > 1e-12 {
		t.Errorf("P(Bin(4,½) ≤ 4) = %v, want 1", got)
	}
	if got := binomCDFHalf(4, 1); math.Abs(got-5.0/16) > 1e-12 {
		t.Errorf("P(Bin(4,½) ≤ 1) = %v, want 5/16", got)
	}
}

// clock is a synthetic clock: operations advance it by their cost.
type clock struct{ t time.Time }

func (c *clock) now() time.Time        { return c.t }
func (c *clock) spend(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) op(d time.Duration) func() error {
	return func() error { c.spend(d); return nil }
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// noisy returns an operation whose cost is base times a log-normal factor
// that spreads it over about 0.5× to 2×, like a busy machine.
func (c *clock) noisy(base time.Duration, r *rand.Rand) func() error {
	return func() error {
		c.spend(time.Duration(float64(base) * math.Exp(0.35*r.NormFloat64())))
		return nil
	}
}

func TestCompare_Synthetic(t *testing.T) {
	tests := []struct {
		name        string
		a, b        func(*clock, *rand.Rand) func() error
		wantUnequal bool
	}{
		{"equal", func(c *clock, _ *rand.Rand) func() error { return c.op(time.Millisecond) },
			func(c *clock, _ *rand.Rand) func() error { return c.op(time.Millisecond) }, false},
		{"equal, noisy", func(c *clock, r *rand.Rand) func() error { return c.noisy(time.Millisecond, r) },
			func(c *clock, r *rand.Rand) func() error { return c.noisy(time.Millisecond, r) }, false},
		{"within bounds", func(c *clock, r *rand.Rand) func() error { return c.noisy(900*time.Microsecond, r) },
			func(c *clock, r *rand.Rand) func() error { return c.noisy(time.Millisecond, r) }, false},
		{"100× faster", func(c *clock, _ *rand.Rand) func() error { return c.op(10 * time.Microsecond) },
			func(c *clock, _ *rand.Rand) func() error { return c.op(time.Millisecond) }, true},
		{"100× slower", func(c *clock, _ *rand.Rand) func() error { return c.op(100 * time.Millisecond) },
			func(c *clock, _ *rand.Rand) func() error { return c.op(time.Millisecond) }, true},
		{"27× faster, noisy", func(c *clock, r *rand.Rand) func() error { return c.noisy(time.Millisecond, r) },
			func(c *clock, r *rand.Rand) func() error { return c.noisy(27*time.Millisecond, r) }, true},
		{"3× slower, noisy", func(c *clock, r *rand.Rand) func() error { return c.noisy(3*time.Millisecond, r) },
			func(c *clock, r *rand.Rand) func() error { return c.noisy(time.Millisecond, r) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(20) {
				c := &clock{}
				noise := seeded(1000 + seed)
				r, err := Compare(tt.a(c, noise), tt.b(c, noise), Options{Now: c.now, Rand: seeded(seed)})
				if err != nil {
					t.Fatal(err)
				}
				if r.Unequal() != tt.wantUnequal {
					t.Fatalf("seed %d: Unequal() = %v, want %v: %v", seed, r.Unequal(), tt.wantUnequal, r)
				}
			}
		})
	}
}

// firstPays is a pair of equal operations where whichever runs first in a
// pair pays extra, as when the first one's allocations make the collector
// run during the second: the bias of a fixed order.
type firstPays struct {
	c     *clock
	first bool
}

func (f *firstPays) op() error {
	if f.first {
		f.c.spend(4 * time.Millisecond)
	} else {
		f.c.spend(time.Millisecond)
	}
	f.first = !f.first
	return nil
}

// zeroSource always flips the same coin: a always runs first.
type zeroSource struct{}

func (zeroSource) Uint64() uint64 { return 0 }

func TestCompare_RandomOrderRemovesBias(t *testing.T) {
	c := &clock{}
	f := &firstPays{c: c, first: true}
	r, err := Compare(f.op, f.op, Options{Now: c.now, Rand: seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Unequal() {
		t.Errorf("random order: %v, want equal", r)
	}
	if r.AFirst == 0 || r.AFirst == r.N {
		t.Errorf("a ran first in %d of %d pairs, want both orders", r.AFirst, r.N)
	}
	// The same operations in a fixed order look 4× apart.
	c, f = &clock{}, &firstPays{c: c, first: true}
	f.c = c
	r, err = Compare(f.op, f.op, Options{Now: c.now, Rand: rand.New(zeroSource{})})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Unequal() || r.AFirst != r.N {
		t.Errorf("fixed order: %v, want unequal with a first in every pair", r)
	}
}

// TestAnalyze_FalseAlarmRate: with equal operations and bounds [1, 1], an
// alarm is exactly an interval that misses the true median; it must happen
// at most Alpha of the time.
func TestAnalyze_FalseAlarmRate(t *testing.T) {
	const trials, alpha = 5000, 0.05
	r := seeded(7)
	alarms := 0
	ratios := make([]float64, 25)
	for range trials {
		for i := range ratios {
			// Heavy, skewed noise, symmetric in log around 1.
			x := math.Exp(2 * r.ExpFloat64())
			if r.IntN(2) == 0 {
				x = 1 / x
			}
			ratios[i] = x
		}
		res, err := Analyze(ratios, Options{Alpha: alpha, Lo: 1, Hi: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Unequal() {
			alarms++
		}
	}
	if rate := float64(alarms) / trials; rate > alpha {
		t.Errorf("false alarm rate %.4f, want at most %g", rate, alpha)
	}
}

func TestAnalyze_TooFew(t *testing.T) {
	if _, err := Analyze(make([]float64, 10), Options{}); err == nil {
		t.Error("Analyze(10 ratios) at alpha 1e-6: no error")
	}
}

func TestRatios_Error(t *testing.T) {
	boom := func() error { return errTest }
	ok := func() error { return nil }
	if _, _, err := Ratios(boom, ok, Options{Pairs: 3}); err == nil {
		t.Error("Ratios with a failing a: no error")
	}
	if _, _, err := Ratios(ok, boom, Options{Pairs: 3}); err == nil {
		t.Error("Ratios with a failing b: no error")
	}
}

type testErr struct{}

func (testErr) Error() string { return "test error" }

var errTest = testErr{}
