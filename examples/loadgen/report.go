package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stats are the run's counters, shared by every client goroutine.
type stats struct {
	lat *histogram // latency of every measured delivery
	lag *histogram // how late the scheduler handed out each measured message

	sent           atomic.Int64 // measured messages written
	expected       atomic.Int64 // Σ room members over measured messages written
	received       atomic.Int64 // measured deliveries received
	skipped        atomic.Int64 // measured messages not sent: the client's queue was full
	warmupSent     atomic.Int64
	warmupReceived atomic.Int64
	foreign        atomic.Int64 // messages of other rooms, or without a stamp

	mu         sync.Mutex
	serverErrs map[string]int64 // `error` events by code
	clientErrs map[string]int64 // the tool's own failures by kind
	firstErr   map[string]error // the first error of each client kind, for diagnosis
}

func newStats() *stats {
	return &stats{
		lat:        newHistogram(),
		lag:        newHistogram(),
		serverErrs: map[string]int64{},
		clientErrs: map[string]int64{},
		firstErr:   map[string]error{},
	}
}

func (s *stats) serverError(code string) {
	if code == "" {
		code = "(no code)"
	}
	s.mu.Lock()
	s.serverErrs[code]++
	s.mu.Unlock()
}

func (s *stats) clientError(kind string, err error) {
	s.mu.Lock()
	s.clientErrs[kind]++
	if _, ok := s.firstErr[kind]; !ok {
		s.firstErr[kind] = err
	}
	s.mu.Unlock()
}

// report prints the results of a run.
func (l *load) report(w io.Writer, res result) {
	st := l.stats
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	if res.interrupted != "" {
		p("interrupted while %s: partial report", res.interrupted)
	}
	p("connected: %d/%d clients in %v (%d room(s) of %d to %d clients)",
		res.connected, l.cfg.clients, res.connectTime.Round(time.Millisecond), l.cfg.rooms, res.sizes[0], res.sizes[1])
	if res.measured > 0 {
		secs := res.measured.Seconds()
		sent, expected, received := st.sent.Load(), st.expected.Load(), st.received.Load()
		p("sent: %d messages in %v measured (%.1f/s of %g/s offered), %d skipped (client queue full); warmup: %d sent, %d deliveries",
			sent, res.measured.Round(time.Millisecond), float64(sent)/secs, l.cfg.rate, st.skipped.Load(), st.warmupSent.Load(), st.warmupReceived.Load())
		ratio := 0.0
		if expected > 0 {
			ratio = float64(received) / float64(expected)
		}
		p("deliveries: %d received / %d expected (members × messages), delivery ratio %.4f, after waiting %v for the last",
			received, expected, ratio, res.drainWait.Round(time.Millisecond))
		p("throughput: %.1f deliveries/s", float64(received)/secs)
		h := st.lat
		p("latency (send → receipt, %d deliveries): p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (min %s, mean %s)",
			h.Count(), ms(h.Quantile(0.50)), ms(h.Quantile(0.90)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999)), ms(h.Max()), ms(h.Min()), ms(h.Mean()))
		var buckets []string
		for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, time.Second} {
			buckets = append(buckets, fmt.Sprintf("≤%v %.2f%%", d, 100*h.FractionBelow(d)))
		}
		p("latency distribution: %s", strings.Join(buckets, "  "))
		g := st.lag
		p("scheduler lag (due → handed to the client, not in the latency): p50 %s  p99 %s  max %s",
			ms(g.Quantile(0.50)), ms(g.Quantile(0.99)), ms(g.Max()))
	} else {
		p("sent: nothing measured")
	}
	if n := st.foreign.Load(); n > 0 {
		p("ignored: %d messages of other rooms (memberships left by earlier runs) or without a stamp", n)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.serverErrs) == 0 && len(st.clientErrs) == 0 {
		p("errors: none")
	} else {
		p("errors: server %s; client %s", counts(st.serverErrs), counts(st.clientErrs))
		for _, kind := range slices.Sorted(maps.Keys(st.firstErr)) {
			p("  first %s: %v", kind, st.firstErr[kind])
		}
	}
	p("closed: %d clients with 1000 in %v", res.connected, res.closeTime.Round(time.Millisecond))
}

// counts formats m as "code n, code n" by decreasing count, or "none".
func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// ms formats d in milliseconds with microsecond precision.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }
