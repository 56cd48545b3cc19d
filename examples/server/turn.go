package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/huddle-go/huddle/signaling/turnserver"
	"github.com/prometheus/client_golang/prometheus"
)

// turnConfig is the embedded TURN server's part of the configuration (-turn-* flags).
type turnConfig struct {
	listen     string
	publicIP   string
	realm      string
	relayPorts string // "MIN-MAX"
	// iceTransportPolicy is what config.json tells the browser client: "all" or "relay".
	iceTransportPolicy string
}

func (c *turnConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "turn-listen", "", "run an embedded TURN server on this UDP and TCP address (e.g. 0.0.0.0:3478); it accepts the -turn-secret credentials and is listed in the session event's iceServers")
	fs.StringVar(&c.publicIP, "turn-public-ip", "", "the IP clients reach the TURN server at, put in its URLs and relay candidates (default: the -turn-listen IP; required when that is 0.0.0.0, e.g. behind a 1:1 NAT)")
	fs.StringVar(&c.realm, "turn-realm", turnserver.DefaultRealm, "TURN realm")
	fs.StringVar(&c.relayPorts, "turn-relay-ports", fmt.Sprintf("%d-%d", turnserver.DefaultMinPort, turnserver.DefaultMaxPort), "UDP port range MIN-MAX of TURN relay sockets, one per allocation (open it in the firewall)")
	fs.StringVar(&c.iceTransportPolicy, "ice-transport-policy", "all", "iceTransportPolicy of the browser client: all, or relay to send every call through TURN")
}

func (c turnConfig) validate(turnSecret string) error {
	switch c.iceTransportPolicy {
	case "all", "relay":
	default:
		return fmt.Errorf("huddle: -ice-transport-policy %q: want all or relay", c.iceTransportPolicy)
	}
	if _, _, err := c.portRange(); err != nil {
		return err
	}
	if c.listen == "" {
		return nil
	}
	if turnSecret == "" {
		return errors.New("huddle: -turn-listen needs -turn-secret: the TURN server accepts only the credentials signed with it")
	}
	if c.publicIP != "" && net.ParseIP(c.publicIP) == nil {
		return fmt.Errorf("huddle: -turn-public-ip %q: not an IP address", c.publicIP)
	}
	if host, _, err := net.SplitHostPort(c.listen); err == nil && c.publicIP == "" {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("huddle: -turn-listen %q listens on all interfaces: set -turn-public-ip to the address clients reach this server at", c.listen)
		}
	}
	return nil
}

// portRange parses -turn-relay-ports.
func (c turnConfig) portRange() (lo, hi uint16, err error) {
	a, b, ok := strings.Cut(c.relayPorts, "-")
	minPort, err1 := strconv.ParseUint(a, 10, 16)
	maxPort, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || minPort == 0 || minPort > maxPort {
		return 0, 0, fmt.Errorf("huddle: -turn-relay-ports %q: want MIN-MAX, e.g. 49152-65535", c.relayPorts)
	}
	return uint16(minPort), uint16(maxPort), nil
}

// startTURN starts the embedded TURN server, or returns nil when -turn-listen is not set.
func startTURN(cfg config, log *slog.Logger) (*turnserver.Server, error) {
	if cfg.turn.listen == "" {
		return nil, nil
	}
	lo, hi, err := cfg.turn.portRange()
	if err != nil {
		return nil, err
	}
	srv, err := turnserver.Listen(cfg.turn.listen, &turnserver.Options{
		Secret:   cfg.turnSecret,
		Realm:    cfg.turn.realm,
		PublicIP: net.ParseIP(cfg.turn.publicIP), // nil when unset: the listen IP
		MinPort:  lo,
		MaxPort:  hi,
		Logger:   log.With("component", "turn"),
	})
	if err != nil {
		return nil, fmt.Errorf("huddle: -turn-listen: %w", err)
	}
	return srv, nil
}

// turnCollectors exports the TURN server's counters (none without a TURN server).
func turnCollectors(srv *turnserver.Server) []prometheus.Collector {
	if srv == nil {
		return nil
	}
	stat := func(f func(turnserver.Stats) int64) func() float64 {
		return func() float64 { return float64(f(srv.Stats())) }
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "huddle_turn_allocations", Help: "Live TURN allocations."},
			stat(func(s turnserver.Stats) int64 { return s.Allocations })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_turn_allocations_total", Help: "TURN allocations created."},
			stat(func(s turnserver.Stats) int64 { return s.AllocationsTotal })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_turn_relayed_to_peers_bytes_total", Help: "Bytes TURN clients sent to peers through their relays."},
			stat(func(s turnserver.Stats) int64 { return s.RelayedToPeers })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_turn_relayed_to_clients_bytes_total", Help: "Bytes peers sent to TURN relays, for their clients."},
			stat(func(s turnserver.Stats) int64 { return s.RelayedToClients })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_turn_dropped_bytes_total", Help: "Bytes dropped because an allocation was over its bandwidth."},
			stat(func(s turnserver.Stats) int64 { return s.DroppedBytes })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_turn_auth_failures_total", Help: "TURN requests refused for their credentials."},
			stat(func(s turnserver.Stats) int64 { return s.AuthFailures })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_turn_quota_rejections_total", Help: "TURN allocations refused by the per-user limit."},
			stat(func(s turnserver.Stats) int64 { return s.QuotaRejections })),
	}
}
