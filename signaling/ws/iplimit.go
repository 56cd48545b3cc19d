package ws

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of the per-IP limits (Options.MaxConnsPerIP, UpgradeRate, UpgradeBurst).
const (
	DefaultMaxConnsPerIP = 100
	DefaultUpgradeRate   = 10 // upgrades per second per IP, sustained
	DefaultUpgradeBurst  = 30
)

// ipLimiter counts the open connections and meters the upgrade requests of each client IP. It
// keeps an entry only for an IP with open connections or a bucket that has not refilled, so
// its size is bounded by the recent clients, not by every client ever seen.
type ipLimiter struct {
	maxConns int     // <= 0: no limit
	rate     float64 // tokens per second; <= 0: no limit
	burst    float64
	now      func() time.Time

	mu        sync.Mutex
	ips       map[netip.Prefix]*ipEntry
	lastSweep time.Time
}

type ipEntry struct {
	conns  int
	tokens float64
	at     time.Time // when tokens was computed
}

func newIPLimiter(maxConns int, rate float64, burst int) *ipLimiter {
	return &ipLimiter{maxConns: maxConns, rate: rate, burst: float64(max(burst, 1)), now: time.Now, ips: map[netip.Prefix]*ipEntry{}}
}

// allow takes an upgrade token and a connection slot for ip. When it returns "", the caller
// must call release(ip) once the connection ends.
func (l *ipLimiter) allow(ip netip.Prefix) (Refusal, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	e := l.ips[ip]
	if e == nil {
		e = &ipEntry{tokens: l.burst, at: now}
		l.ips[ip] = e
	}
	if l.rate > 0 {
		e.tokens = min(l.burst, e.tokens+now.Sub(e.at).Seconds()*l.rate)
		e.at = now
		if e.tokens < 1 {
			wait := time.Duration((1 - e.tokens) / l.rate * float64(time.Second))
			return RefusedUpgradeRate, wait
		}
	}
	if l.maxConns > 0 && e.conns >= l.maxConns {
		return RefusedConnsPerIP, 0
	}
	e.tokens--
	e.conns++
	return "", 0
}

func (l *ipLimiter) release(ip netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.ips[ip]; e != nil {
		e.conns--
	}
}

// sweepLocked forgets, at most once a second, the IPs without connections whose bucket is full
// again. l.mu must be held.
func (l *ipLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	for ip, e := range l.ips {
		if e.conns == 0 && (l.rate <= 0 || e.tokens+now.Sub(e.at).Seconds()*l.rate >= l.burst) {
			delete(l.ips, ip)
		}
	}
}

// clientIP returns the address the per-IP limits count a request under: the remote address, or,
// behind trustedProxies reverse proxies that each append to X-Forwarded-For, the address the
// outermost of them saw (the trustedProxies-th entry from the right; entries further left were
// written by the client and prove nothing). An IPv6 address counts as its /64, which one host
// usually holds whole. ok is false when there is no usable address.
func clientIP(r *http.Request, trustedProxies int) (netip.Prefix, bool) {
	if trustedProxies > 0 {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
		if len(hops) >= trustedProxies {
			if p, ok := prefixOf(hops[len(hops)-trustedProxies]); ok {
				return p, true
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return prefixOf(host)
}

// prefixOf returns the /32 of an IPv4 address, the /64 of an IPv6 one.
func prefixOf(addr string) (netip.Prefix, bool) {
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	if err != nil {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}
