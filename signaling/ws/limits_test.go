package ws_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// upgrade sends a WebSocket upgrade request with a Host header of its own (empty: the
// server's) and returns the answer's status, headers and body.
func upgrade(t *testing.T, e *env, query, host string, header http.Header) (int, http.Header, errorBody) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+"/ws"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header[k] = v
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer resp.Body.Close()
	var eb errorBody
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		eb = decodeError(t, b)
	}
	return resp.StatusCode, resp.Header, eb
}

// refusals records the reasons Options.Refused reports.
type refusals struct {
	mu  sync.Mutex
	got []ws.Refusal
}

func (r *refusals) add(_ *http.Request, why ws.Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, why)
}

func (r *refusals) list() []ws.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ws.Refusal(nil), r.got...)
}

// TestOriginDNSRebinding: a page on evil.example whose name resolves to the server sends a Host
// and an Origin that agree; the Host header proves nothing, so it is refused.
func TestOriginDNSRebinding(t *testing.T) {
	checkLeaks(t)
	var seen refusals
	e := start(t, nil, &ws.Options{Refused: seen.add})
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	cases := []struct {
		name, host, origin string
		status             int
	}{
		{"rebinding", "evil.example:" + port, "http://evil.example:" + port, http.StatusForbidden},
		{"rebinding without port", "evil.example", "http://evil.example", http.StatusForbidden},
		{"listen address", "", "http://127.0.0.1:" + port, http.StatusSwitchingProtocols},
		{"localhost", "localhost:" + port, "http://localhost:" + port, http.StatusSwitchingProtocols},
		{"ipv6 loopback", "", "http://[::1]:" + port, http.StatusSwitchingProtocols},
		{"listen address, another port", "", "http://127.0.0.1:1", http.StatusForbidden},
		{"not http", "", "file://127.0.0.1:" + port, http.StatusForbidden},
		{"opaque origin", "", "null", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, _, body := upgrade(t, e, "?user=mallory", tc.host, http.Header{"Origin": {tc.origin}})
			is.Equal(status, tc.status) // the origin decides, not the Host header
			if tc.status == http.StatusForbidden {
				is.Equal(body.Error, signaling.CodeForbidden)
			}
		})
	}
	is.New(t).Equal(len(seen.list()), 5) // each 403 counted
}

func TestConnsPerIP(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	var seen refusals
	e := start(t, nil, &ws.Options{MaxConnsPerIP: 2, UpgradeRate: -1, Refused: seen.add})
	a, _ := dial(t, e.url+"?user=a", nil)
	a.Expect("session", wait)
	b, _ := dial(t, e.url+"?user=b", nil)
	b.Expect("session", wait)

	status, hdr, body := upgrade(t, e, "?user=c", "", nil)
	is.Equal(status, http.StatusTooManyRequests) // a third connection from 127.0.0.1
	is.Equal(body.Error, signaling.CodeRateLimited)
	is.Equal(hdr.Get("Retry-After"), "") // the slot frees when a connection ends, not by time
	is.Equal(seen.list(), []ws.Refusal{ws.RefusedConnsPerIP})

	// Another IP, as a trusted proxy reports it, has slots of its own; without a trusted proxy
	// the header would be ignored (TestUpgradeRate).
	e.setHandler(mustHandler(t, e.node, withTestDefaults(t, &ws.Options{MaxConnsPerIP: 1, UpgradeRate: -1, TrustedProxies: 1})))
	status, _, _ = upgrade(t, e, "?user=c", "", http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	is.Equal(status, http.StatusSwitchingProtocols)

	// A connection that ends frees its slot.
	e.setHandler(mustHandler(t, e.node, withTestDefaults(t, &ws.Options{MaxConnsPerIP: 1, UpgradeRate: -1})))
	c, _ := dial(t, e.url+"?user=c", nil)
	c.Expect("session", wait)
	status, _, _ = upgrade(t, e, "?user=d", "", nil)
	is.Equal(status, http.StatusTooManyRequests)
	c.Close(signaling.StatusNormalClosure)
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		conn, _, err := ws.Dial(ctx, e.url+"?user=d", nil)
		cancel()
		if err == nil {
			_ = conn.Close(signaling.StatusNormalClosure, "")
			break
		}
		var he *ws.HandshakeError
		is.True(errors.As(err, &he) && he.StatusCode == http.StatusTooManyRequests) // only the limit refuses
		if time.Now().After(deadline) {
			t.Fatal("the slot of a closed connection was not freed")
		}
		time.Sleep(5 * time.Millisecond) // polling the handshake: the release follows the session's end
	}
}

func TestUpgradeRate(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	var seen refusals
	// Almost no refill: the burst is all a client gets within the test.
	e := start(t, nil, &ws.Options{UpgradeRate: 0.01, UpgradeBurst: 3, Refused: seen.add})
	spoof := http.Header{"X-Forwarded-For": {"198.51.100.1"}} // ignored: no trusted proxy
	for i := range 3 {
		status, _, _ := upgrade(t, e, "?user=a", "", spoof)
		is.Equal(status, http.StatusSwitchingProtocols) // within the burst (attempt i)
		_ = i
	}
	status, hdr, body := upgrade(t, e, "?user=a", "", spoof)
	is.Equal(status, http.StatusTooManyRequests) // the fourth within a second
	is.Equal(body.Error, signaling.CodeRateLimited)
	is.True(hdr.Get("Retry-After") != "") // when to come back
	status, _, _ = upgrade(t, e, "?user=nobody-checks-credentials-first", "", nil)
	is.Equal(status, http.StatusTooManyRequests) // refused before authentication
	is.Equal(seen.list(), []ws.Refusal{ws.RefusedUpgradeRate, ws.RefusedUpgradeRate})

	t.Run("behind a trusted proxy", func(t *testing.T) {
		is := is.New(t)
		e.setHandler(mustHandler(t, e.node, withTestDefaults(t, &ws.Options{UpgradeRate: 0.01, UpgradeBurst: 1, TrustedProxies: 1})))
		from := func(chain string) int {
			s, _, _ := upgrade(t, e, "?user=a", "", http.Header{"X-Forwarded-For": {chain}})
			return s
		}
		is.Equal(from("10.0.0.1, 192.0.2.1"), http.StatusSwitchingProtocols) // the proxy saw 192.0.2.1
		is.Equal(from("10.0.0.2, 192.0.2.1"), http.StatusTooManyRequests)    // the same client; the left part is its own
		is.Equal(from("192.0.2.2"), http.StatusSwitchingProtocols)           // another client
		is.Equal(from("2001:db8:1:1::1"), http.StatusSwitchingProtocols)     // an IPv6 client...
		is.Equal(from("2001:db8:1:1:ffff::2"), http.StatusTooManyRequests)   // ...counts as its /64
		is.Equal(from("::ffff:192.0.2.2"), http.StatusTooManyRequests)       // a mapped IPv4 is that IPv4
		is.Equal(from("not-an-address"), http.StatusSwitchingProtocols)      // unparsable: the remote address counts...
		is.Equal(from("neither"), http.StatusTooManyRequests)                // ...so garbage is no way around the limit
	})
}

func TestIdentityLength(t *testing.T) {
	checkLeaks(t)
	var seen refusals
	long := strings.Repeat("x", 20<<10) // what a JWT `sub` could carry
	auth := signaling.AuthenticatorFunc(func(r *http.Request) (signaling.Identity, error) {
		q := r.URL.Query()
		return signaling.Identity{User: signaling.User{ID: q.Get("id"), Username: q.Get("name")}}, nil
	})
	e := start(t, nil, &ws.Options{Authenticator: auth, Refused: seen.add})
	cases := []struct {
		name, id, username string
		status             int
	}{
		{"at the limit", strings.Repeat("i", ws.DefaultMaxIdentityBytes), strings.Repeat("n", ws.DefaultMaxIdentityBytes), http.StatusSwitchingProtocols},
		{"id over", strings.Repeat("i", ws.DefaultMaxIdentityBytes+1), "n", http.StatusUnauthorized},
		{"20 KB id", long, "n", http.StatusUnauthorized},
		{"username over", "i", long, http.StatusUnauthorized},
		{"id not UTF-8", "\xff", "n", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, _, body := upgrade(t, e, "?id="+tc.id+"&name="+tc.username, "", nil)
			is.Equal(status, tc.status)
			if tc.status == http.StatusUnauthorized {
				is.Equal(body.Error, signaling.CodeUnauthorized)
			}
		})
	}
	is.New(t).Equal(len(seen.list()), 4)

	t.Run("configurable", func(t *testing.T) {
		is := is.New(t)
		e.setHandler(mustHandler(t, e.node, withTestDefaults(t, &ws.Options{Authenticator: auth, MaxIdentityBytes: 4})))
		status, _, _ := upgrade(t, e, "?id=abcde&name=a", "", nil)
		is.Equal(status, http.StatusUnauthorized)
		status, _, _ = upgrade(t, e, "?id=abcd&name=a", "", nil)
		is.Equal(status, http.StatusSwitchingProtocols)
	})
}
