package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram is a fixed-size log-linear histogram of durations in nanoseconds, in the manner of
// HdrHistogram: values below 2·subCount are counted exactly, and every power of two above is cut
// into subCount equal buckets, so that a bucket's width is under 1/subCount (0.8%) of its
// values. Values above maxTracked (about 137 s) count as maxTracked. Record is safe for
// concurrent use and allocates nothing; read the results once recording has stopped.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64 // valid when n > 0
	max    atomic.Int64
}

const (
	subBits    = 7
	subCount   = 1 << subBits
	maxTracked = 1<<37 - 1
	numBuckets = (37-subBits)*subCount + subCount // bucketOf(maxTracked) + 1
)

func newHistogram() *histogram {
	h := &histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketOf returns the bucket of v, which must be in [0, maxTracked].
func bucketOf(v int64) int {
	u := uint64(v)
	if u < 2*subCount {
		return int(u)
	}
	e := bits.Len64(u) - subBits - 1 // u>>e is in [subCount, 2·subCount)
	return e*subCount + int(u>>e)
}

// bucketMax returns the largest value counted in bucket i.
func bucketMax(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	e := i/subCount - 1
	m := int64(i - e*subCount)
	return (m+1)<<e - 1
}

// Record counts one duration; negative ones count as 0.
func (h *histogram) Record(d time.Duration) {
	v := min(max(int64(d), 0), maxTracked)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// Count returns how many durations were recorded.
func (h *histogram) Count() uint64 { return h.n.Load() }

// Min and Max return the exact extremes (0 when empty).
func (h *histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	return time.Duration(h.min.Load())
}

func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the exact mean (0 when empty).
func (h *histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the duration under which a fraction q of the recorded ones fall: the upper
// bound of the bucket holding the rank ⌈q·n⌉, clamped to [Min, Max]. 0 when empty.
func (h *histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			return min(max(time.Duration(bucketMax(i)), h.Min()), h.Max())
		}
	}
	return h.Max()
}

// FractionBelow returns the fraction of recorded durations at most d, to the bucket width: the
// bucket that holds d counts whole.
func (h *histogram) FractionBelow(d time.Duration) float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	var cum uint64
	last := bucketOf(min(max(int64(d), 0), maxTracked))
	for i := 0; i <= last; i++ {
		cum += h.counts[i].Load()
	}
	return float64(cum) / float64(n)
}
