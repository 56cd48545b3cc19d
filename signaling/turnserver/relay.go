package turnserver

import (
	"net"
	"time"

	"github.com/pion/turn/v4"
	"golang.org/x/time/rate"
)

// relayGenerator hands Pion relay sockets from the port range, wrapped to count and limit what
// they carry.
type relayGenerator struct {
	s     *Server
	inner turn.RelayAddressGeneratorPortRange
}

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

func (g *relayGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.inner.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: pc, s: g.s}
	if bps := g.s.opts.BytesPerSecond; bps > 0 {
		rc.budget = rate.NewLimiter(rate.Limit(bps), max(bps, 64<<10))
	}
	return rc, addr, nil
}

// AllocateConn is for TCP allocations (RFC 6062), which the server does not offer.
func (g *relayGenerator) AllocateConn(network string, requestedPort int) (net.Conn, net.Addr, error) {
	return g.inner.AllocateConn(network, requestedPort)
}

// relayConn is one allocation's relay socket. Pion reads it on the allocation's goroutine and
// writes it from the listener's read loop; rate.Limiter is safe for that.
type relayConn struct {
	net.PacketConn
	s      *Server
	budget *rate.Limiter // nil: no limit
}

// ReadFrom returns the next datagram from a peer that fits the budget, dropping those that
// don't.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if c.budget != nil && !c.budget.AllowN(time.Now(), n) {
			c.s.dropped.Add(int64(n))
			continue
		}
		c.s.toClients.Add(int64(n))
		return n, addr, nil
	}
}

// WriteTo sends a client's datagram to a peer, or drops it (reporting success, as the network
// would) when it does not fit the budget.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.budget != nil && !c.budget.AllowN(time.Now(), len(p)) {
		c.s.dropped.Add(int64(len(p)))
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.s.toPeers.Add(int64(n))
	return n, err
}
