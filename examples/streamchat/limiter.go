package main

import (
	"net"
	"net/http"
	"sync"

	"github.com/huddle-go/huddle/clock"
	"golang.org/x/time/rate"
)

// Budget of the public auth routes per client address: enough for people, too little for
// password guessing.
const (
	authRate    = rate.Limit(1) // per second
	authBurst   = 20
	maxLimiters = 10000 // addresses remembered; beyond, the map starts afresh
)

// ipLimiter is a token bucket per client address, with a bounded memory.
type ipLimiter struct {
	clock clock.Clock
	mu    sync.Mutex
	by    map[string]*rate.Limiter
}

func newIPLimiter(c clock.Clock) *ipLimiter {
	return &ipLimiter{clock: c, by: map[string]*rate.Limiter{}}
}

func (l *ipLimiter) allow(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[host]
	if !ok {
		if len(l.by) >= maxLimiters {
			l.by = map[string]*rate.Limiter{}
		}
		lim = rate.NewLimiter(authRate, authBurst)
		l.by[host] = lim
	}
	return lim.AllowN(l.clock.Now(), 1)
}
