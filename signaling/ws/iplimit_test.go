package ws

import (
	"net/netip"
	"testing"
	"time"
)

// TestIPLimiterForgetsIdleAddresses: the limiter keeps an address only while it has open
// connections or a bucket that has not refilled, so a stream of one-off clients does not grow it.
func TestIPLimiterForgetsIdleAddresses(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := newIPLimiter(2, 10, 20)
	l.now = func() time.Time { return now }
	held := netip.MustParsePrefix("192.0.2.1/32")
	if why, _ := l.allow(held); why != "" {
		t.Fatalf("first connection refused: %s", why)
	}
	for i := range 1000 {
		ip := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 32)
		if why, _ := l.allow(ip); why != "" {
			t.Fatalf("one-off client %v refused: %s", ip, why)
		}
		l.release(ip)
	}
	if n := len(l.ips); n != 1001 {
		t.Fatalf("%d addresses before their buckets refilled, want 1001", n)
	}
	now = now.Add(2 * time.Second) // 2 s × 10/s refills a bucket that spent 1 of 20
	l.allow(netip.MustParsePrefix("203.0.113.9/32"))
	if _, ok := l.ips[held]; !ok {
		t.Fatal("an address with an open connection was forgotten")
	}
	if n := len(l.ips); n != 2 {
		t.Fatalf("%d addresses after the sweep, want 2 (the held one and the newest)", n)
	}
	if why, _ := l.allow(held); why != "" {
		t.Fatalf("second connection of %v refused: %s", held, why)
	}
	if why, _ := l.allow(held); why != RefusedConnsPerIP {
		t.Fatalf("third connection of %v: %q, want %q", held, why, RefusedConnsPerIP)
	}
}
