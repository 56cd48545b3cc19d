package main

import (
	"net/http"

	"github.com/huddle-go/huddle/signaling"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler exposes the node's counters, and extra collectors, on a registry of its own
// (no global registration).
func metricsHandler(n *signaling.Node, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	stat := func(f func(signaling.Stats) int64) func() float64 {
		return func() float64 { return float64(f(n.Stats())) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "huddle_sessions", Help: "Sessions attached or waiting for a resume."},
			stat(func(s signaling.Stats) int64 { return s.Sessions })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_frames_delivered_total", Help: "Frames queued to sessions."},
			stat(func(s signaling.Stats) int64 { return s.Delivered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_slow_consumers_total", Help: "Connections closed with 1013 because their queue overflowed."},
			stat(func(s signaling.Stats) int64 { return s.SlowConsumers })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_client_events_total", Help: "Client events received."},
			stat(func(s signaling.Stats) int64 { return s.Events })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_rate_limited_dropped_total", Help: "Client frames over the rate limit dropped without an answer."},
			stat(func(s signaling.Stats) int64 { return s.RateLimited })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_sessions_evicted_total", Help: "Sessions ended because their user held MaxSessionsPerUser."},
			stat(func(s signaling.Stats) int64 { return s.Evicted })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_events_shed_total", Help: "Client events refused at once (unavailable, retryAfterMs) because the node held MaxPendingEvents of them."},
			stat(func(s signaling.Stats) int64 { return s.Shed })),
		collectors.NewGoCollector(),
	)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
