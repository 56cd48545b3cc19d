package ws

import (
	"net/http"
	"testing"
)

// FuzzClientIP: whatever X-Forwarded-For and remote address a request has, clientIP returns a
// valid /32 or /64 or nothing, and ignores X-Forwarded-For unless a proxy is trusted.
func FuzzClientIP(f *testing.F) {
	f.Add("192.0.2.1:1234", "10.0.0.1, 198.51.100.2", uint8(1))
	f.Add("[2001:db8::1]:443", "", uint8(0))
	f.Add("[fe80::1%eth0]:80", "::ffff:192.0.2.1", uint8(2))
	f.Add("garbage", ",,,", uint8(3))
	f.Fuzz(func(t *testing.T, remote, xff string, hops uint8) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		p, ok := clientIP(r, int(hops%4))
		if ok && (!p.IsValid() || (p.Bits() != 32 && p.Bits() != 64) || p.Masked() != p) {
			t.Fatalf("clientIP(%q, %q, %d) = %v", remote, xff, hops%4, p)
		}
		if hops%4 == 0 {
			bare := &http.Request{RemoteAddr: remote, Header: http.Header{}}
			q, qok := clientIP(bare, 0)
			if q != p || qok != ok {
				t.Fatalf("X-Forwarded-For %q changed the address of %q without a trusted proxy", xff, remote)
			}
		}
	})
}
