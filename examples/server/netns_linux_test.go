//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/matryer/is"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// TestRelayedCallAcrossNetworkNamespaces: two Pion peers whose ICE sockets live in network
// namespaces of their own, each behind a veth to this (the server's) namespace, with routes
// only to the TURN server: their host candidates cannot reach each other at all, as two homes
// behind NATs. With the default policy (all candidates) they still connect, through the relay.
//
//	ns A 198.18.1.2 ──veth── 198.18.1.1 (TURN) 198.18.2.1 ──veth── 198.18.2.2 ns B
//	                                                        (B: a route to 198.18.1.1 only)
func TestRelayedCallAcrossNetworkNamespaces(t *testing.T) {
	is := is.New(t)
	a, b := netnsPair(t)
	ts := startServer(t, "-dev-auth", "-turn-secret", "turn-test-secret", "-turn-listen", "198.18.1.1:0")

	// The peers' own addresses are unreachable from the other namespace.
	is.True(a.udpUnreachable("198.18.2.2:9")) // A cannot send to B
	is.True(b.udpUnreachable("198.18.1.2:9")) // nor B to A

	alice, aliceData := relayPeer(t, ts, "alice", webrtc.ICETransportPolicyAll, a.setNet)
	bob, bobData := relayPeer(t, ts, "bob", webrtc.ICETransportPolicyAll, b.setNet)
	aPair, bPair := relayedCall(t, "across", alice, bob, aliceData, bobData)
	for _, pair := range []*webrtc.ICECandidatePair{aPair, bPair} {
		relayed := pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay
		is.True(relayed) // the selected pair goes through a relay
	}
	is.True(aPair.Local.Address != "127.0.0.1") // (the sockets really were in the namespaces)
	m := metrics(t, ts)
	is.True(m["huddle_turn_relayed_to_peers_bytes_total"] > 0)   // the call went through the TURN server
	is.True(m["huddle_turn_relayed_to_clients_bytes_total"] > 0) // both ways
}

// netnsPair creates the two namespaces of the test and their veths, removed when it ends. It
// skips without root or the ip command.
func netnsPair(t *testing.T) (a, b *netns) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root); the loopback relay test still runs")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need the ip command (iproute2)")
	}
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	nsA, nsB := "huddle-"+id+"-a", "huddle-"+id+"-b"
	vA, vB := "hA"+id, "hB"+id // root ends; the namespace ends are named with a trailing "p"
	t.Cleanup(func() {
		for _, args := range [][]string{{"netns", "del", nsA}, {"netns", "del", nsB}, {"link", "del", vA}, {"link", "del", vB}} {
			_ = exec.Command("ip", args...).Run() // deleting a namespace deletes its veth pair too
		}
	})
	setup := [][]string{
		{"netns", "add", nsA},
		{"netns", "add", nsB},
		{"link", "add", vA, "type", "veth", "peer", "name", vA + "p"},
		{"link", "add", vB, "type", "veth", "peer", "name", vB + "p"},
		{"link", "set", vA + "p", "netns", nsA},
		{"link", "set", vB + "p", "netns", nsB},
		{"addr", "add", "198.18.1.1/24", "dev", vA},
		{"addr", "add", "198.18.2.1/24", "dev", vB},
		{"link", "set", vA, "up"},
		{"link", "set", vB, "up"},
		{"-n", nsA, "addr", "add", "198.18.1.2/24", "dev", vA + "p"},
		{"-n", nsB, "addr", "add", "198.18.2.2/24", "dev", vB + "p"},
		{"-n", nsA, "link", "set", vA + "p", "up"},
		{"-n", nsB, "link", "set", vB + "p", "up"},
		// B reaches the TURN server's address on A's side, and nothing else beyond its link.
		{"-n", nsB, "route", "add", "198.18.1.1/32", "via", "198.18.2.1"},
	}
	for i, args := range setup {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			if i == 0 {
				t.Skipf("cannot create a network namespace here (ip %s: %v: %s)", strings.Join(args, " "), err, out)
			}
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return enterNetns(t, nsA), enterNetns(t, nsB)
}

// netns runs functions on an OS thread that has joined a network namespace, so that the
// sockets they open belong to it (a socket keeps its namespace when used from other threads).
type netns struct {
	name string
	jobs chan func()
	std  *stdnet.Net // built inside the namespace: its interfaces
}

func enterNetns(t *testing.T, name string) *netns {
	t.Helper()
	n := &netns{name: name, jobs: make(chan func())}
	ready := make(chan error)
	go func() {
		// Never unlocked: the thread ends with this goroutine instead of going back to the
		// pool in another namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + name)
		if err == nil {
			if _, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
				err = fmt.Errorf("setns: %w", errno)
			}
			_ = f.Close()
		}
		if err == nil {
			n.std, err = stdnet.NewNet()
		}
		ready <- err
		if err != nil {
			return
		}
		for job := range n.jobs {
			job()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("enter netns %s: %v", name, err)
	}
	t.Cleanup(func() { close(n.jobs) }) // registered before the peers: runs after they closed
	return n
}

// do runs f in the namespace and waits for it.
func (n *netns) do(f func()) {
	done := make(chan struct{})
	n.jobs <- func() { defer close(done); f() }
	<-done
}

// udpUnreachable reports whether a UDP socket in the namespace cannot even address addr.
func (n *netns) udpUnreachable(addr string) bool {
	var err error
	n.do(func() {
		var c net.Conn
		if c, err = net.Dial("udp4", addr); err == nil {
			_, err = c.Write([]byte("x"))
			_ = c.Close()
		}
	})
	return err != nil && strings.Contains(err.Error(), "network is unreachable")
}

// setNet puts a Pion peer's ICE sockets into the namespace.
func (n *netns) setNet(se *webrtc.SettingEngine) { se.SetNet(nsNet{Net: n.std, ns: n}) }

// nsNet is Pion's network layer with every socket opened in the namespace.
type nsNet struct {
	*stdnet.Net
	ns *netns
}

func (n nsNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	n.ns.do(func() { c, err = n.Net.ListenPacket(network, address) })
	return c, err
}

func (n nsNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	n.ns.do(func() { c, err = n.Net.ListenUDP(network, laddr) })
	return c, err
}

func (n nsNet) ListenTCP(network string, laddr *net.TCPAddr) (l transport.TCPListener, err error) {
	n.ns.do(func() { l, err = n.Net.ListenTCP(network, laddr) })
	return l, err
}

func (n nsNet) Dial(network, address string) (c net.Conn, err error) {
	n.ns.do(func() { c, err = n.Net.Dial(network, address) })
	return c, err
}

func (n nsNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	n.ns.do(func() { c, err = n.Net.DialUDP(network, laddr, raddr) })
	return c, err
}

func (n nsNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (c transport.TCPConn, err error) {
	n.ns.do(func() { c, err = n.Net.DialTCP(network, laddr, raddr) })
	return c, err
}

func (n nsNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return nsDialer{d: n.Net.CreateDialer(d), ns: n.ns}
}

func (n nsNet) CreateListenConfig(lc *net.ListenConfig) transport.ListenConfig {
	return nsListenConfig{lc: n.Net.CreateListenConfig(lc), ns: n.ns}
}

type nsDialer struct {
	d  transport.Dialer
	ns *netns
}

func (d nsDialer) Dial(network, address string) (c net.Conn, err error) {
	d.ns.do(func() { c, err = d.d.Dial(network, address) })
	return c, err
}

type nsListenConfig struct {
	lc transport.ListenConfig
	ns *netns
}

func (l nsListenConfig) Listen(ctx context.Context, network, address string) (ln net.Listener, err error) {
	l.ns.do(func() { ln, err = l.lc.Listen(ctx, network, address) })
	return ln, err
}

func (l nsListenConfig) ListenPacket(ctx context.Context, network, address string) (c net.PacketConn, err error) {
	l.ns.do(func() { c, err = l.lc.ListenPacket(ctx, network, address) })
	return c, err
}
