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
	cfg      config
	log      *slog.Logger
	stdout   io.Writer
	node     *signaling.Node
	chat     *chat.Service
	presence *presence.Tracker
	meetings *meeting.Service
	turn     *turnserver.Server // nil without -turn-listen
	handler  http.Handler
	closers  []func() error
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

// onlineLater lets chat and meeting ask presence who is online, although presence is wired after
// them (its session hook must run last: `session`, catch-up invitations, then the snapshot).
type onlineLater struct{ t *presence.Tracker }

func (o *onlineLater) Online(ctx context.Context, ids []string) ([]string, error) {
	if o.t == nil {
		return nil, nil
	}
	return o.t.Online(ctx, ids)
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
	s.node = signaling.NewNode(&signaling.NodeOptions{
		ID:           nodeID,
		Codec:        codec,
		Broker:       backends.broker,
		Logger:       log,
		ResumeWindow: cfg.resumeWindow,
		ResumeSecret: backends.resumeSecret,
		ICE:          signaling.ICEConfig{URLs: iceURLs, TURNSecret: cfg.turnSecret},
		// With shared backends a client may come back on another node: hand its session over.
		HandoverTimeout:  handover(backends.shared, 2*time.Second),
		ShutdownHandover: handover(backends.shared, 5*time.Second),
		Limits:           signaling.Limits{MaxMessageBytes: cfg.maxMessageBytes},
	})
	online := &onlineLater{}
	policy := chat.OpenRooms
	if cfg.rooms == "members" {
		policy = chat.MembersOnly(backends.membership, backends.chatStore)
	}
	// Hook order is wire order at session start: chat subscribes the session to its rooms,
	// meeting sends catch-up invitations, presence sends the snapshot.
	if s.chat, err = chat.New(s.node, &chat.Options{
		Store:           backends.chatStore,
		Membership:      backends.membership,
		Online:          online,
		MaxMessageBytes: cfg.maxMessageBytes,
		Logger:          log,
		Policy:          policy,
		// Leaving a room leaves its meeting (s.meetings is set before any session runs).
		OnLeave: func(ctx context.Context, roomID, userID string) error {
			return s.meetings.LeaveRoom(ctx, roomID, userID)
		},
	}); err != nil {
		s.close()
		return nil, err
	}
	if s.meetings, err = meeting.New(s.node, &meeting.Options{
		Store:            backends.meetingStore,
		Members:          backends.membership,
		Online:           online,
		ICE:              s.node.ICEServers,
		LinkBase:         cfg.meetingLinkBase, // default "/?meeting=": the browser client opens the room
		ParticipantGrace: cfg.participantGrace,
		HostGrace:        cfg.hostGrace,
		HostPolicy:       meeting.HostPolicy(cfg.hostPolicy),
		EmptyTimeout:     cfg.emptyTimeout,
		MaxParticipants:  cfg.maxParticipants,
		Logger:           log,
	}); err != nil {
		s.close()
		return nil, err
	}
	if s.presence, err = presence.New(s.node, &presence.Options{
		Store:  backends.presenceStore,
		Rooms:  backends.membership,
		NodeID: nodeID,
		Logger: log,
		// A user offline has no session anywhere: unbind its sessions from meetings, which a
		// node that died (its users expire here) never did, so that the graces start.
		OnChange: func(ctx context.Context, e presence.Entry) {
			if e.Status != presence.StatusOffline {
				return
			}
			if err := s.meetings.UserOffline(ctx, e.UserID); err != nil {
				log.Error("meetings of an offline user", "user", e.UserID, "err", err)
			}
		},
	}); err != nil {
		s.close()
		return nil, err
	}
	online.t = s.presence
	if backends.recoverMeetings {
		// A single node on a durable store: what the previous process left (bound sessions,
		// deadlines that ran out while it was down) is settled now.
		if err := s.meetings.Recover(ctx); err != nil {
			s.close()
			return nil, fmt.Errorf("huddle: recovering the stored meetings: %w", err)
		}
	}

	auth, mode := authenticator(cfg)
	if cfg.devAuth && cfg.jwtSecret != "" {
		log.Warn("-dev-auth is ignored with -jwt-secret: every connection needs a token")
	} else if cfg.devAuth {
		log.Warn("DEV AUTH IS ON: anyone can connect as any user with ?user=<id>&name=<name>; never expose this server", "addr", cfg.addr)
	}
	mux := http.NewServeMux()
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "huddle_ws_refused_total", Help: "WebSocket requests refused before the upgrade, by reason (unauthenticated, identity, origin, conns_per_ip, upgrade_rate)."}, []string{"reason"})
	wsh, err := ws.Handler(s.node, &ws.Options{
		Authenticator:  auth,
		OriginPatterns: cfg.allowedOrigins,
		DefaultCodec:   codec,
		Logger:         log,
		TrustedProxies: cfg.trustedProxies,
		MaxConnsPerIP:  cfg.maxConnsPerIP,
		UpgradeRate:    cfg.upgradeRate,
		UpgradeBurst:   cfg.upgradeBurst,
		Refused:        func(_ *http.Request, why ws.Refusal) { refused.WithLabelValues(string(why)).Inc() },
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("huddle: %w", err)
	}
	mux.Handle("GET /ws", wsh)
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

func handover(shared bool, d time.Duration) time.Duration {
	if shared {
		return d
	}
	return 0
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
	nerr := s.node.Shutdown(sctx)
	s.close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("huddle: serve: %w", err)
	}
	fmt.Fprintln(s.stdout, "huddle: stopped")
	return errors.Join(herr, nerr)
}

func (s *server) close() {
	// After the node: the sessions' drops are recorded first, then timers, leases, heartbeats
	// and typing timers stop, then the backends close.
	// A service is nil when newServer failed before creating it.
	if s.meetings != nil {
		s.meetings.Close()
	}
	if s.presence != nil {
		_ = s.presence.Close()
	}
	if s.chat != nil {
		_ = s.chat.Close()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Error("close", "err", err)
		}
	}
}
