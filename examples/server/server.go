package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/huddle-go/huddle"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/huddle-go/huddle/signaling/turnserver"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/huddle-go/huddle/web"
	"github.com/prometheus/client_golang/prometheus"
)

// server is the wired reference server.
type server struct {
	cfg     config
	log     *slog.Logger
	stdout  io.Writer
	huddle  *huddle.Server     // the Node and the services, linked by huddle.New
	node    *signaling.Node    // huddle.Node()
	turn    *turnserver.Server // nil without -turn-listen
	handler http.Handler
	closers []func() error
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newServer(ctx context.Context, cfg config, stdout io.Writer) (*server, error) {
	log := newLogger(cfg, os.Stderr)
	s := &server{cfg: cfg, log: log, stdout: stdout}
	codec, _ := signaling.CodecByName(cfg.codec)
	nodeID := cfg.nodeID
	if nodeID == "" {
		host, _ := os.Hostname()
		nodeID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	backends, err := newBackends(ctx, cfg, nodeID, log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, backends.close)
	if s.turn, err = startTURN(cfg, log); err != nil {
		_ = backends.close()
		return nil, err
	}
	iceURLs := cfg.iceServers
	if s.turn != nil {
		s.closers = append(s.closers, s.turn.Close)
		iceURLs = append(slices.Clip(iceURLs), s.turn.URLs()...) // clients get its URLs and credentials
	}
	policy := chat.OpenRooms
	if cfg.rooms == "members" {
		policy = chat.MembersOnly(backends.membership, backends.chatStore)
	}
	auth, mode := authenticator(cfg)
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "huddle_ws_refused_total", Help: "WebSocket requests refused before the upgrade, by reason (unauthenticated, identity, origin, conns_per_ip, upgrade_rate)."}, []string{"reason"})
	// Chat, presence and meetings over one Node, every link between them made by huddle.New
	// (who is online, leaving a room leaves its meeting, a dead node's users leave their
	// meetings, the meetings a previous process left recovered). With a Redis broker a client
	// may come back on another node: its session is handed over (on by default).
	s.huddle, err = huddle.New(ctx, &huddle.Options{
		Authenticator: auth,
		ChatStore:     backends.chatStore,
		Membership:    backends.membership,
		PresenceStore: backends.presenceStore,
		MeetingStore:  backends.meetingStore,
		Broker:        backends.broker,
		Logger:        log,
		Node: signaling.NodeOptions{
			ID:           nodeID,
			Codec:        codec,
			ResumeWindow: cfg.resumeWindow,
			ResumeSecret: backends.resumeSecret,
			ICE:          signaling.ICEConfig{URLs: iceURLs, TURNSecret: cfg.turnSecret},
			Limits:       signaling.Limits{MaxMessageBytes: cfg.maxMessageBytes},
		},
		Chat: chat.Options{
			MaxMessageBytes: cfg.maxMessageBytes,
			Policy:          policy,
		},
		Presence: presence.Options{NodeID: nodeID},
		Meeting: meeting.Options{
			LinkBase:         cfg.meetingLinkBase, // default "/?meeting=": the browser client opens the room
			ParticipantGrace: cfg.participantGrace,
			HostGrace:        cfg.hostGrace,
			HostPolicy:       meeting.HostPolicy(cfg.hostPolicy),
			EmptyTimeout:     cfg.emptyTimeout,
			MaxParticipants:  cfg.maxParticipants,
		},
		WebSocket: ws.Options{
			OriginPatterns: cfg.allowedOrigins,
			DefaultCodec:   codec,
			TrustedProxies: cfg.trustedProxies,
			MaxConnsPerIP:  cfg.maxConnsPerIP,
			UpgradeRate:    cfg.upgradeRate,
			UpgradeBurst:   cfg.upgradeBurst,
			Refused:        func(_ *http.Request, why ws.Refusal) { refused.WithLabelValues(string(why)).Inc() },
		},
	})
	if err != nil {
		s.close()
		return nil, err
	}
	s.node = s.huddle.Node()

	if cfg.devAuth && cfg.jwtSecret != "" {
		log.Warn("-dev-auth is ignored with -jwt-secret: every connection needs a token")
	} else if cfg.devAuth {
		log.Warn("DEV AUTH IS ON: anyone can connect as any user with ?user=<id>&name=<name>; never expose this server", "addr", cfg.addr)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.huddle.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		status, code, store := "ok", http.StatusOK, map[string]any{"kind": backends.store, "ok": true}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := backends.ping(ctx); err != nil {
			status, code = "unavailable", http.StatusServiceUnavailable
			store["ok"], store["error"] = false, err.Error()
		}
		writeJSON(w, code, map[string]any{"status": status, "node": s.node.ID(), "sessions": s.node.Stats().Sessions, "store": store})
	})
	collectors := append([]prometheus.Collector{refused}, turnCollectors(s.turn)...)
	if ms, ok := backends.presenceStore.(*presence.MemoryStore); ok {
		collectors = append(collectors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "huddle_presence_offline_users", Help: "Offline users whose last-seen time the memory store keeps (bounded)."},
				func() float64 { return float64(ms.Stats().Offline) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "huddle_presence_forgotten_users_total", Help: "Offline users the memory store forgot, over its bound."},
				func() float64 { return float64(ms.Stats().Forgotten) }))
	}
	mux.Handle("GET /metrics", metricsHandler(s.node, collectors...))
	mux.Handle("GET /", web.Handler(&web.Options{SignIn: mode, ICETransportPolicy: cfg.turn.iceTransportPolicy}))
	s.handler = mux
	return s, nil
}

// authenticator picks JWTs when there is a secret, else dev auth.
// With -dev-auth too, a token is still required: a token-less ?user= must not sign anyone in.
func authenticator(cfg config) (signaling.Authenticator, web.SignIn) {
	if cfg.jwtSecret != "" {
		return jwtauth.New([]byte(cfg.jwtSecret), nil), web.SignInToken
	}
	return signaling.DevAuthenticator{}, web.SignInDev
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serve listens, prints how to connect, and shuts down gracefully when ctx is done.
func (s *server) serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("huddle: listen: %w", err)
	}
	addr := ln.Addr().String()
	fmt.Fprintf(s.stdout, "huddle: listening on http://%s (node %s, codec %s)\n", addr, s.node.ID(), s.cfg.codec)
	if s.cfg.devAuth && s.cfg.jwtSecret == "" {
		fmt.Fprintf(s.stdout, "huddle: open http://%s/ in two browser windows, sign in with two names, and chat or start a meeting\n", addr)
		fmt.Fprintf(s.stdout, "huddle: Go and other clients: ws://%s/ws?user=alice&name=Alice\n", addr)
	} else {
		fmt.Fprintf(s.stdout, "huddle: clients connect to ws://%s/ws?token=<JWT signed with -jwt-secret>\n", addr)
	}
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.close()
		return fmt.Errorf("huddle: serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(s.stdout, "huddle: shutting down: closing sessions with 1012 so clients resume elsewhere")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Stop accepting first; hijacked WebSockets are the Node's to close.
	herr := hs.Shutdown(sctx)
	nerr := s.huddle.Shutdown(sctx)
	s.close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("huddle: serve: %w", err)
	}
	fmt.Fprintln(s.stdout, "huddle: stopped")
	return errors.Join(herr, nerr)
}

func (s *server) close() {
	// After the node's shutdown (serve): the huddle Server stops the services' timers, leases,
	// heartbeats and typing timers, then the backends and TURN close. s.huddle is nil when
	// newServer failed before creating it.
	if s.huddle != nil {
		if err := s.huddle.Close(); err != nil {
			s.log.Error("close", "err", err)
		}
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Error("close", "err", err)
		}
	}
}
