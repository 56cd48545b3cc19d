package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestBuckets(t *testing.T) {
	is := is.New(t)
	is.Equal(bucketOf(maxTracked), numBuckets-1) // the last bucket holds the largest value
	for i := range numBuckets - 1 {
		hi := bucketMax(i)
		if bucketOf(hi) != i || bucketOf(hi+1) != i+1 {
			t.Fatalf("bucket %d: max %d is in bucket %d, max+1 in %d", i, hi, bucketOf(hi), bucketOf(hi+1))
		}
		if lo := bucketMax(i-1) + 1; i > 0 && float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subCount)
		}
	}
	is.Equal(bucketMax(numBuckets-1), int64(maxTracked)) // the buckets cover [0, maxTracked] without gaps
}

func TestQuantiles(t *testing.T) {
	is := is.New(t)
	h := newHistogram()
	r := rand.New(rand.NewPCG(1, 2))
	var samples []time.Duration
	for range 100000 {
		// Log-uniform between 10 µs and 1 s: every scale gets samples.
		d := time.Duration(math.Exp(math.Log(1e4) + r.Float64()*math.Log(1e5)))
		samples = append(samples, d)
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := samples[int(math.Ceil(q*float64(len(samples))))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount {
			t.Fatalf("p%g = %v, exact %v: off by more than 1/%d", q*100, got, exact, subCount)
		}
	}
	is.Equal(h.Count(), uint64(len(samples))) // every sample counted
	is.Equal(h.Min(), samples[0])             // extremes are exact
	is.Equal(h.Max(), samples[len(samples)-1])
	is.Equal(h.Quantile(1), h.Max())                                // the top quantile is the maximum
	is.Equal(h.FractionBelow(time.Second), 1.0)                     // every sample is at most 1 s
	is.True(math.Abs(h.FractionBelow(time.Millisecond)-0.4) < 0.01) // log-uniform: 2 of the 5 decades
}

func TestHistogramEdges(t *testing.T) {
	is := is.New(t)
	h := newHistogram()
	is.Equal(h.Quantile(0.5), time.Duration(0)) // empty: zeros, no panic
	is.Equal(h.Min(), time.Duration(0))
	is.Equal(h.Mean(), time.Duration(0))
	h.Record(-time.Second) // a clock that went backwards counts as 0
	h.Record(time.Hour)    // beyond the range counts as its top
	is.Equal(h.Min(), time.Duration(0))
	is.Equal(h.Max(), time.Duration(maxTracked))
	is.Equal(h.Quantile(0.5), time.Duration(0))

	c := newHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				c.Record(time.Duration(g*1000+i+1) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	is.Equal(c.Count(), uint64(8000))   // concurrent records are all counted
	is.Equal(c.Min(), time.Microsecond) // with exact extremes
	is.Equal(c.Max(), 8000*time.Microsecond)
	is.Equal(c.Mean(), 4000*time.Microsecond+500*time.Nanosecond)
}
