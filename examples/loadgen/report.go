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
	refused        atomic.Int64 // measured messages the server refused (`error` naming them)
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
		p("sent: %d messages in %v measured (%.1f/s of %g/s offered), %d skipped (client queue full), %d refused by the server; warmup: %d sent, %d deliveries",
			sent, res.measured.Round(time.Millisecond), float64(sent)/secs, l.cfg.rate, st.skipped.Load(), st.refused.Load(), st.warmupSent.Load(), st.warmupReceived.Load())
		ratio := 0.0
		if expected > 0 {
			ratio = float64(received) / float64(expected)
		}
		p("deliveries: %d received / %d expected (members × messages not refused), delivery ratio %.4f, after waiting %v for the last",
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
	srv := l.serverFigures(res)
	if srv.valid {
		p("server (pid %s): %.0f CPU-ms from the end of the warmup to the last delivery, %s per 1000 measured deliveries; RSS %.1f MiB before connecting, %.1f MiB connected (%.1f KiB per connection), peak %.1f MiB",
			pidList(l.cfg.serverPIDs), srv.cpuMs, srv.cpuPer1000, mib(res.procBase.rss), mib(res.procConnected.rss), srv.kibPerConn, mib(srv.peak))
	}
	if l.cfg.row != "" {
		// | scenario | deliveries/s | p50 | p99 | lost | errors | CPU-ms / 1000 deliveries | peak RSS | KiB/conn |
		secs := max(res.measured.Seconds(), 1e-9)
		lost := max(0, st.expected.Load()-st.received.Load())
		h := st.lat
		rate, p50, p99 := "-", "-", "-"
		if !l.cfg.idle {
			rate = fmt.Sprintf("%.0f", float64(st.received.Load())/secs)
			p50, p99 = ms1(h.Quantile(0.50)), ms1(h.Quantile(0.99))
		}
		lostCell := fmt.Sprintf("%d", lost)
		if n := closes(st.clientErrs); n > 0 {
			lostCell += fmt.Sprintf(" (%d closed)", n)
		}
		kib := "-"
		if l.cfg.idle && srv.valid {
			kib = fmt.Sprintf("%.1f", srv.kibPerConn)
		}
		errs := int64(0)
		for _, n := range st.serverErrs {
			errs += n
		}
		for k, n := range st.clientErrs {
			if !strings.HasPrefix(k, "closed_") && k != "connection_lost" { // counted as lost
				errs += n
			}
		}
		fmt.Fprintf(w, "ROW | %s | %s | %s | %s | %s | %d | %s | %.0f MiB | %s |\n", l.cfg.row, rate, p50, p99, lostCell, errs, srv.cpuPer1000, mib(srv.peak), kib)
	}
}

// serverStats are the figures derived from the server's /proc samples.
type serverStats struct {
	valid      bool
	cpuMs      float64
	cpuPer1000 string // "-" when nothing was delivered
	kibPerConn float64
	peak       int64
}

func (l *load) serverFigures(res result) serverStats {
	if !res.procTo.valid || !res.procFrom.valid {
		return serverStats{cpuPer1000: "-"}
	}
	s := serverStats{valid: true, peak: res.procTo.peak, cpuPer1000: "-"}
	s.cpuMs = float64(res.procTo.cpu-res.procFrom.cpu) / float64(time.Millisecond)
	if n := l.stats.received.Load(); n > 0 && !l.cfg.idle {
		s.cpuPer1000 = fmt.Sprintf("%.1f", s.cpuMs/(float64(n)/1000))
	}
	if res.connected > 0 && res.procBase.valid {
		s.kibPerConn = float64(res.procTo.rss-res.procBase.rss) / 1024 / float64(res.connected)
	}
	return s
}

// closes counts the clients closed by the server (closed_<code>) or lost.
func closes(m map[string]int64) int64 {
	var n int64
	for k, v := range m {
		if strings.HasPrefix(k, "closed_") || k == "connection_lost" {
			n += v
		}
	}
	return n
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// ms1 formats d in milliseconds with 0.1 ms precision.
func ms1(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

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

// pidList formats pids as "1, 2".
func pidList(pids []int) string {
	parts := make([]string, len(pids))
	for i, p := range pids {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ", ")
}
