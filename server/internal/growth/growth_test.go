package growth

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func TestAssertLinear(t *testing.T) {
	ns := []int{1, 16, 32, 64}
	costsOf := func(f func(n float64) float64) []Cost {
		var cs []Cost
		for _, n := range ns {
			cs = append(cs, Cost{Allocs: f(float64(n)), Bytes: 64 * f(float64(n))})
		}
		return cs
	}
	tests := []struct {
		name string
		cost func(n float64) float64
		fail bool
	}{
		{"constant", func(n float64) float64 { return 10 }, false},
		{"linear", func(n float64) float64 { return 3 + 2*n }, false},
		{"quadratic", func(n float64) float64 { return n * n }, true},
		{"quadratic from a point", func(n float64) float64 {
			if n < 32 {
				return n
			}
			return n * n / 4
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			AssertLinear(r, tt.name, ns, costsOf(tt.cost))
			if got := len(r.failed) > 0; got != tt.fail {
				t.Errorf("failed = %v (%q), want %v", got, r.failed, tt.fail)
			}
		})
	}
}

func TestOf(t *testing.T) {
	var sink [][]byte
	c := Of(10, func() { sink = append(sink[:0], make([]byte, 4096)) })
	if c.Allocs < 1 || c.Bytes < 4096 {
		t.Errorf("Of(one 4 KiB allocation) = %+v, want at least 1 allocation and 4096 bytes", c)
	}
}
