package main

import (
	"math/bits"
	"time"
)

// hist is a latency histogram with log-linear buckets, in the manner of HDR
// histograms: values below 128 ns are kept exactly, larger ones in 64
// buckets per power of two. A percentile read from it is the midpoint of
// its bucket, within 0.8 % of the true value. The zero value is empty and
// ready to use; it is not safe for concurrent use (each load worker keeps
// its own and they are merged at the end).
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const histBuckets = 64 * 64

func histBucket(d time.Duration) int {
	if d < 0 {
		d = 0
	}
	u := uint64(d)
	if u < 128 {
		return int(u)
	}
	shift := bits.Len64(u) - 7
	return shift*64 + int(u>>shift)
}

// histValue is the midpoint of bucket i.
func histValue(i int) time.Duration {
	if i < 128 {
		return time.Duration(i)
	}
	shift := i/64 - 1
	sub := uint64(i%64 + 64)
	return time.Duration(sub<<shift + (uint64(1)<<shift)/2)
}

func (h *hist) record(d time.Duration) {
	h.counts[histBucket(d)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the latency below which a fraction q of the recorded
// values lie (q in [0, 1]); 0 when nothing was recorded.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histValue(i), h.max)
		}
	}
	return h.max
}
