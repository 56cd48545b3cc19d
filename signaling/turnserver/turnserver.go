package turnserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/pionlog"
	"github.com/pion/turn/v4"
)

// Defaults of Options.
const (
	DefaultRealm                 = "huddle"
	DefaultMinPort               = 49152
	DefaultMaxPort               = 65535
	DefaultMaxAllocationsPerUser = 32
	DefaultBytesPerSecond        = 2 << 20 // 2 MiB/s ≈ 16 Mbit/s, both directions together
)

// Options configures a Server. A zero field means its default.
type Options struct {
	// Secret is the TURN REST shared secret: the same string as signaling.ICEConfig.TURNSecret
	// (the reference server's -turn-secret). Required.
	Secret string
	// Realm is the TURN realm. Default: "huddle".
	Realm string
	// PublicIP is the address clients reach the server at; URLs and the relayed addresses
	// handed to clients carry it. Behind a 1:1 NAT (a cloud VM) it is the public address, while
	// the server listens on 0.0.0.0. Default: the IP of the listen address, which must then be
	// a specific one. Relays are UDP over IPv4, so it is an IPv4 address.
	PublicIP net.IP
	// RelayAddress is the local IP the relay sockets bind to. Default: the IP of the listen
	// address (0.0.0.0 when that is unspecified).
	RelayAddress string
	// MinPort and MaxPort bound the UDP ports of relay sockets, one per allocation; open them
	// in the firewall. Default: 49152–65535.
	MinPort, MaxPort uint16
	// MaxAllocationsPerUser is how many allocations one user (the userId of the credentials)
	// may hold at once; more are refused with 486 Allocation Quota Reached. A browser makes one
	// or two per peer connection (UDP and TCP). Default: 32; negative means no limit.
	MaxAllocationsPerUser int
	// BytesPerSecond is the budget of one allocation, both directions together, with a burst
	// of one second's worth. Packets over it are dropped (UDP semantics) and counted in
	// Stats.DroppedBytes. Default: 2 MiB/s; negative means no limit.
	BytesPerSecond int
	// Clock tells the time for credential expiry. Default: the wall clock.
	Clock clock.Clock
	// Logger receives the server's logs (Pion's, one level down). Default: silent.
	Logger *slog.Logger
}

// Stats are the server's counters since Listen, for metrics.
type Stats struct {
	// Allocations is the number of live allocations.
	Allocations int64
	// AllocationsTotal counts the allocations created.
	AllocationsTotal int64
	// RelayedToPeers counts the bytes clients sent to peers through their relay sockets.
	RelayedToPeers int64
	// RelayedToClients counts the bytes peers sent to the relay sockets, for the clients.
	RelayedToClients int64
	// DroppedBytes counts the bytes dropped because an allocation was over BytesPerSecond.
	DroppedBytes int64
	// AuthFailures counts requests refused for their credentials: malformed, expired, for
	// another realm, or with a wrong password.
	AuthFailures int64
	// QuotaRejections counts allocations refused by MaxAllocationsPerUser.
	QuotaRejections int64
}

// Server is a running TURN server. Its methods are safe for concurrent use.
type Server struct {
	opts  Options
	clock clock.Clock
	log   *slog.Logger
	turn  *turn.Server
	udp   net.PacketConn
	tcp   *trackingListener

	mu    sync.Mutex
	users map[string]int // live allocations per userId
	live  int            // live allocations in all
	idle  *sync.Cond     // on mu: broadcast when live drops to 0

	allocationsTotal, toPeers, toClients, dropped, authFailures, quotaRejections atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// ErrNoSecret is returned by Listen without Options.Secret.
var ErrNoSecret = errors.New("turnserver: no secret: set Options.Secret to the TURN REST secret signaling uses")

// Listen starts a TURN server on addr ("host:port"), over UDP and over TCP at the same port.
// With port 0 it picks a port free for both. Close stops it.
func Listen(addr string, opts *Options) (*Server, error) {
	o, err := withDefaults(addr, opts)
	if err != nil {
		return nil, err
	}
	udp, tcp, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, clock: clock.Or(o.Clock), log: o.Logger, udp: udp, tcp: &trackingListener{Listener: tcp, conns: map[net.Conn]struct{}{}}, users: map[string]int{}}
	s.idle = sync.NewCond(&s.mu)
	gen := func() turn.RelayAddressGenerator {
		return &relayGenerator{s: s, inner: turn.RelayAddressGeneratorPortRange{
			RelayAddress: o.PublicIP, Address: o.RelayAddress, MinPort: o.MinPort, MaxPort: o.MaxPort,
		}}
	}
	s.turn, err = turn.NewServer(turn.ServerConfig{
		Realm:             o.Realm,
		LoggerFactory:     pionlog.Factory{Log: o.Logger},
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.quota,
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen()}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: s.tcp, RelayAddressGenerator: gen()}},
		EventHandler: turn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
		},
	})
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		return nil, fmt.Errorf("turnserver: %w", err)
	}
	o.Logger.Info("turn server listening", "addr", udp.LocalAddr().String(), "public_ip", o.PublicIP.String(),
		"relay_ports", fmt.Sprintf("%d-%d", o.MinPort, o.MaxPort))
	return s, nil
}

func withDefaults(addr string, opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Secret == "" {
		return o, ErrNoSecret
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return o, fmt.Errorf("turnserver: listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "" && ip == nil {
		return o, fmt.Errorf("turnserver: listen address %q: want an IP, not a host name", addr)
	}
	if o.PublicIP == nil {
		if ip == nil || ip.IsUnspecified() {
			return o, fmt.Errorf("turnserver: listening on all interfaces (%q) needs Options.PublicIP, the address clients reach this server at", addr)
		}
		o.PublicIP = ip
	}
	if o.PublicIP.To4() == nil {
		return o, fmt.Errorf("turnserver: public IP %s: want an IPv4 address (relays are UDP over IPv4)", o.PublicIP)
	}
	if o.RelayAddress == "" {
		o.RelayAddress = "0.0.0.0"
		if ip != nil && !ip.IsUnspecified() {
			o.RelayAddress = ip.String()
		}
	}
	if o.Realm == "" {
		o.Realm = DefaultRealm
	}
	if o.MinPort == 0 {
		o.MinPort = DefaultMinPort
	}
	if o.MaxPort == 0 {
		o.MaxPort = DefaultMaxPort
	}
	if o.MinPort > o.MaxPort {
		return o, fmt.Errorf("turnserver: relay port range %d-%d is empty", o.MinPort, o.MaxPort)
	}
	if o.MaxAllocationsPerUser == 0 {
		o.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if o.BytesPerSecond == 0 {
		o.BytesPerSecond = DefaultBytesPerSecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// listenBoth listens on UDP and TCP at the same address; with port 0 it retries until the
// port the UDP socket got is free for TCP too.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	var err error
	for range 10 {
		var udp net.PacketConn
		udp, err = net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("turnserver: listen udp: %w", err)
		}
		p := port
		if p == "0" || p == "" {
			p = strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		}
		var tcp net.Listener
		tcp, err = net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if port != "0" && port != "" {
			break
		}
	}
	return nil, nil, fmt.Errorf("turnserver: listen tcp: %w", err)
}

// Addr returns the UDP address the server listens on (TCP is at the same port).
func (s *Server) Addr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// URLs returns the TURN URLs clients use, UDP first: "turn:<PublicIP>:<port>?transport=udp"
// and "?transport=tcp". Pass them to signaling.ICEConfig.URLs.
func (s *Server) URLs() []string {
	hp := net.JoinHostPort(s.opts.PublicIP.String(), strconv.Itoa(s.Addr().Port))
	return []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Allocations:      int64(s.turn.AllocationCount()),
		AllocationsTotal: s.allocationsTotal.Load(),
		RelayedToPeers:   s.toPeers.Load(),
		RelayedToClients: s.toClients.Load(),
		DroppedBytes:     s.dropped.Load(),
		AuthFailures:     s.authFailures.Load(),
		QuotaRejections:  s.quotaRejections.Load(),
	}
}

// Close stops the server: it closes the listening sockets, the TCP connections of clients and
// every allocation, and waits (up to closeWait) for the allocations' goroutines to end. It is
// idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.turn.Close() // the UDP socket and the TCP listener; Pion closes allocations after
		s.tcp.closeConns()
		if err != nil {
			s.closeErr = fmt.Errorf("turnserver: close: %w", err)
		}
		timedOut := false
		t := time.AfterFunc(closeWait, func() {
			s.mu.Lock()
			timedOut = true
			s.idle.Broadcast()
			s.mu.Unlock()
		})
		defer t.Stop()
		s.mu.Lock()
		for s.live > 0 && !timedOut {
			s.idle.Wait()
		}
		if s.live > 0 {
			s.closeErr = errors.Join(s.closeErr, fmt.Errorf("turnserver: close: %d allocations still open after %v", s.live, closeWait))
		}
		s.mu.Unlock()
	})
	return s.closeErr
}

// closeWait bounds how long Close waits for Pion to close the allocations.
const closeWait = 5 * time.Second

// trackingListener remembers the TCP connections it accepted, because Pion's server leaves them
// open when it closes.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
