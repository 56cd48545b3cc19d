package turnserver_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/turnserver"
	"github.com/matryer/is"
	"github.com/pion/turn/v4"
)

const secret = "s3cret"

// wait bounds every wait on the server in these tests.
const wait = 10 * time.Second

func listen(t testing.TB, o *turnserver.Options) *turnserver.Server {
	t.Helper()
	if o == nil {
		o = &turnserver.Options{}
	}
	if o.Secret == "" {
		o.Secret = secret
	}
	srv, err := turnserver.Listen("127.0.0.1:0", o)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// allocation is a real Pion TURN client with one allocation.
type allocation struct {
	client *turn.Client
	relay  net.PacketConn
	conn   net.PacketConn // the client's socket to the server
}

// close deallocates and ends the client's goroutines.
func (a *allocation) close() {
	_ = a.relay.Close()
	a.client.Close()
	_ = a.conn.Close()
}

// allocate authenticates with username and password and asks for a UDP relay, over network
// ("udp" or "tcp") to the server.
func allocate(t testing.TB, srv *turnserver.Server, network, username, password string) (*allocation, error) {
	t.Helper()
	var conn net.PacketConn
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.DialTimeout("tcp", srv.Addr().String(), wait)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: srv.Addr().String(),
		TURNServerAddr: srv.Addr().String(),
		Conn:           conn,
		Username:       username,
		Password:       password,
		RTO:            100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := client.Allocate()
	if err != nil {
		client.Close()
		_ = conn.Close()
		return nil, err
	}
	a := &allocation{client: client, relay: relay, conn: conn}
	t.Cleanup(a.close)
	return a, nil
}

// waitStats waits until the server's counters satisfy ok.
func waitStats(t *testing.T, srv *turnserver.Server, what string, ok func(turnserver.Stats) bool) turnserver.Stats {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		st := srv.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; stats %+v", what, wait, st)
		}
		<-tick.C
	}
}

func TestCredentials(t *testing.T) {
	now := time.Now()
	alice, aliceCred := signaling.TURNCredentials(secret, "alice", now.Add(time.Hour))
	_, bobCred := signaling.TURNCredentials(secret, "bob", now.Add(time.Hour))
	expired, expiredCred := signaling.TURNCredentials(secret, "alice", now.Add(-time.Second))
	_, otherSecretCred := signaling.TURNCredentials("other", "alice", now.Add(time.Hour))
	later := fmt.Sprintf("%d:alice", now.Add(2*time.Hour).Unix())
	tests := []struct {
		name               string
		username, password string
		ok                 bool
	}{
		{"what signaling hands out", alice, aliceCred, true},
		{"wrong password", alice, "not-the-credential", false},
		{"another user's credential", alice, bobCred, false},
		{"a credential presented as another user's", "9999999999:bob", aliceCred, false},
		{"expiry moved later", later, aliceCred, false},
		{"expired", expired, expiredCred, false},
		{"another secret", alice, otherSecretCred, false},
		{"no expiry", "alice", aliceCred, false},
		{"not canonical", "0" + alice, aliceCred, false},
		{"empty user", fmt.Sprintf("%d:", now.Add(time.Hour).Unix()), aliceCred, false},
	}
	srv := listen(t, nil)
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				is := is.New(t)
				before := srv.Stats()
				a, err := allocate(t, srv, network, tc.username, tc.password)
				if tc.ok {
					is.NoErr(err) // the credentials signaling hands out are accepted
					is.True(a.relay.LocalAddr().(*net.UDPAddr).IP.Equal(net.IPv4(127, 0, 0, 1)))
					is.Equal(srv.Stats().AuthFailures, before.AuthFailures)
					return
				}
				is.True(err != nil)                                     // refused
				is.True(srv.Stats().AuthFailures > before.AuthFailures) // and counted
				is.Equal(srv.Stats().AllocationsTotal, before.AllocationsTotal)
			})
		}
	}
}

func TestCredentialsExpireOnTheServersClock(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Now())
	srv := listen(t, &turnserver.Options{Clock: clk})
	user, cred := signaling.TURNCredentials(secret, "alice", clk.Now().Add(time.Minute))
	a, err := allocate(t, srv, "udp", user, cred)
	is.NoErr(err) // valid for another minute
	a.close()
	clk.Advance(time.Minute)
	_, err = allocate(t, srv, "udp", user, cred)
	is.True(err != nil) // refused at its expiry
}

func TestRelayAndStats(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			is := is.New(t)
			srv := listen(t, nil)
			user, cred := signaling.TURNCredentials(secret, "alice", time.Now().Add(time.Hour))
			a, err := allocate(t, srv, network, user, cred)
			is.NoErr(err)
			is.Equal(srv.Stats().Allocations, int64(1))

			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			is.NoErr(err)
			defer peer.Close()
			_ = peer.SetDeadline(time.Now().Add(wait))
			_, err = a.relay.WriteTo([]byte("hello peer"), peer.LocalAddr()) // creates the permission, then sends
			is.NoErr(err)
			buf := make([]byte, 1500)
			n, from, err := peer.ReadFrom(buf)
			is.NoErr(err)
			is.Equal(string(buf[:n]), "hello peer")
			is.Equal(from.String(), a.relay.LocalAddr().String()) // the peer sees the relay, not the client

			_, err = peer.WriteTo([]byte("hello client"), from)
			is.NoErr(err)
			_ = a.relay.SetReadDeadline(time.Now().Add(wait))
			n, _, err = a.relay.ReadFrom(buf)
			is.NoErr(err)
			is.Equal(string(buf[:n]), "hello client")

			// The counters follow the socket calls, so wait for them rather than race them.
			st := waitStats(t, srv, "relayed bytes counted", func(s turnserver.Stats) bool {
				return s.RelayedToPeers == int64(len("hello peer")) && s.RelayedToClients == int64(len("hello client"))
			})
			is.Equal(st.AllocationsTotal, int64(1))

			a.close() // deallocates (a refresh with lifetime 0)
			waitStats(t, srv, "allocation gone", func(s turnserver.Stats) bool { return s.Allocations == 0 })
		})
	}
}

func TestAllocationsPerUser(t *testing.T) {
	is := is.New(t)
	srv := listen(t, &turnserver.Options{MaxAllocationsPerUser: 2})
	exp := time.Now().Add(time.Hour)
	alice, aliceCred := signaling.TURNCredentials(secret, "alice", exp)
	alice2, aliceCred2 := signaling.TURNCredentials(secret, "alice", exp.Add(time.Minute)) // another session's
	bob, bobCred := signaling.TURNCredentials(secret, "bob", exp)

	first, err := allocate(t, srv, "udp", alice, aliceCred)
	is.NoErr(err)
	_, err = allocate(t, srv, "tcp", alice2, aliceCred2)
	is.NoErr(err)
	_, err = allocate(t, srv, "udp", alice, aliceCred)
	is.True(err != nil) // a third allocation of alice's, whatever the credentials, is refused
	is.Equal(srv.Stats().QuotaRejections, int64(1))
	_, err = allocate(t, srv, "udp", bob, bobCred)
	is.NoErr(err) // bob has his own quota

	first.close()
	waitStats(t, srv, "alice's first allocation gone", func(s turnserver.Stats) bool { return s.Allocations == 2 })
	_, err = allocate(t, srv, "udp", alice, aliceCred)
	is.NoErr(err) // room again
}

func TestBandwidthPerAllocation(t *testing.T) {
	is := is.New(t)
	const budget = 64 << 10 // bytes per second, and the burst
	srv := listen(t, &turnserver.Options{BytesPerSecond: budget})
	user, cred := signaling.TURNCredentials(secret, "alice", time.Now().Add(time.Hour))
	a, err := allocate(t, srv, "udp", user, cred)
	is.NoErr(err)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	is.NoErr(err)
	defer peer.Close()

	packet := make([]byte, 1000)
	const packets = 300 // 300 kB, far over one second's budget
	start := time.Now()
	for range packets {
		_, err := a.relay.WriteTo(packet, peer.LocalAddr())
		is.NoErr(err)
	}
	// Loopback may lose some of the burst before the server; what reaches it is relayed within
	// the budget, or dropped and counted.
	st := waitStats(t, srv, "packets dropped", func(s turnserver.Stats) bool { return s.DroppedBytes > 0 })
	elapsed := time.Since(start)
	allowed := int64(budget + budget*elapsed.Seconds() + float64(len(packet)))
	is.True(st.RelayedToPeers >= budget/2) // relayed up to the burst
	is.True(st.RelayedToPeers <= allowed)  // but never more than the burst plus the rate
	is.True(st.RelayedToPeers+st.DroppedBytes <= packets*int64(len(packet)))
}

func TestListenRefusals(t *testing.T) {
	tests := []struct {
		name string
		addr string
		opts *turnserver.Options
	}{
		{"no secret", "127.0.0.1:0", nil},
		{"all interfaces without a public IP", "0.0.0.0:0", &turnserver.Options{Secret: "k"}},
		{"a host name", "localhost:0", &turnserver.Options{Secret: "k"}},
		{"an IPv6 public IP", "127.0.0.1:0", &turnserver.Options{Secret: "k", PublicIP: net.ParseIP("2001:db8::1")}},
		{"an empty port range", "127.0.0.1:0", &turnserver.Options{Secret: "k", MinPort: 50001, MaxPort: 50000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			srv, err := turnserver.Listen(tc.addr, tc.opts)
			is.True(err != nil) // refused with a reason
			is.True(srv == nil)
		})
	}
	_, err := turnserver.Listen("127.0.0.1:0", nil)
	if !errors.Is(err, turnserver.ErrNoSecret) {
		t.Fatalf("want ErrNoSecret, got %v", err)
	}
}

func TestURLs(t *testing.T) {
	is := is.New(t)
	srv, err := turnserver.Listen("127.0.0.1:0", &turnserver.Options{Secret: secret, PublicIP: net.ParseIP("203.0.113.7")})
	is.NoErr(err)
	defer srv.Close()
	port := srv.Addr().Port
	is.Equal(srv.URLs(), []string{
		fmt.Sprintf("turn:203.0.113.7:%d?transport=udp", port),
		fmt.Sprintf("turn:203.0.113.7:%d?transport=tcp", port),
	})
}

func TestCloseEndsAllocationsAndConnections(t *testing.T) {
	is := is.New(t)
	before := runtime.NumGoroutine()
	srv, err := turnserver.Listen("127.0.0.1:0", &turnserver.Options{Secret: secret})
	is.NoErr(err)
	user, cred := signaling.TURNCredentials(secret, "alice", time.Now().Add(time.Hour))
	u, err := allocate(t, srv, "udp", user, cred)
	is.NoErr(err)
	tc, err := allocate(t, srv, "tcp", user, cred)
	is.NoErr(err)
	is.NoErr(srv.Close()) // returns once Pion closed both allocations
	is.Equal(srv.Stats().Allocations, int64(0))
	is.NoErr(srv.Close()) // idempotent
	u.close()
	tc.close()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
