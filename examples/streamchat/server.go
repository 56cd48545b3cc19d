package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"golang.org/x/crypto/bcrypt"
)

// maxRoomsPerUser bounds the rooms a user belongs to (chat's limit too) and creates.
const maxRoomsPerUser = 100

// deps are what a test injects; zero fields mean the real ones.
type deps struct {
	log   *slog.Logger
	clock clock.Clock
}

// server is the wired stream-chat backend.
type server struct {
	cfg      config
	log      *slog.Logger
	clock    clock.Clock
	b        *backends
	node     *signaling.Node
	chat     *chat.Service
	presence *presence.Tracker
	meetings *meeting.Service
	tokens   *tokens
	limiter  *ipLimiter
	handler  http.Handler
	// dummyHash is compared against when a login names no user, so that unknown and known
	// usernames take the same time.
	dummyHash []byte
}

// onlineLater lets chat and meeting ask presence who is online, although presence is wired after
// them (its session hook must run last).
type onlineLater struct{ t *presence.Tracker }

func (o *onlineLater) Online(ctx context.Context, ids []string) ([]string, error) {
	if o.t == nil {
		return nil, nil
	}
	return o.t.Online(ctx, ids)
}

func newServer(ctx context.Context, cfg config, d deps) (*server, error) {
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.clock = clock.Or(d.clock)
	if cfg.bcryptCost == 0 {
		cfg.bcryptCost = bcrypt.DefaultCost
	}
	s := &server{cfg: cfg, log: d.log, clock: d.clock, limiter: newIPLimiter(d.clock)}
	b, err := newBackends(ctx, cfg, d.clock, d.log)
	if err != nil {
		return nil, err
	}
	s.b = b
	if err := s.prepare(ctx); err != nil {
		_ = b.close()
		return nil, err
	}
	resumeSecret, err := secretSetting(ctx, b.accounts, "resume_secret")
	if err != nil {
		_ = b.close()
		return nil, err
	}

	nodeID := cfg.nodeID
	if nodeID == "" {
		host, _ := os.Hostname()
		nodeID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	codec, _ := signaling.CodecByName("json-payload")
	resume := cfg.resumeWindow
	if resume == 0 {
		resume = -1 // off: the app never resumes, so a closed tab is gone at once
	}
	s.node = signaling.NewNode(&signaling.NodeOptions{
		ID:           nodeID,
		Codec:        codec,
		Broker:       b.broker,
		Logger:       d.log,
		Clock:        d.clock,
		ResumeWindow: resume,
		ResumeSecret: []byte(resumeSecret),
		// A client that resumes on another node gets its session handed over.
		HandoverTimeout:  handover(b.shared && resume > 0, 2*time.Second),
		ShutdownHandover: handover(b.shared && resume > 0, 5*time.Second),
		ICE:              signaling.ICEConfig{URLs: cfg.iceServers},
		Limits:           signaling.Limits{MaxMessageBytes: cfg.maxMessageBytes},
	})
	online := &onlineLater{}
	// Hook order is wire order at session start: chat subscribes the session to its rooms,
	// meeting sends catch-up invitations, presence sends the snapshot.
	if s.chat, err = chat.New(s.node, &chat.Options{
		Store:           b.chat,
		Membership:      b.chat,
		Policy:          chat.PolicyFunc(s.roomPolicy),
		Online:          online,
		MaxMessageBytes: cfg.maxMessageBytes,
		MaxRoomsPerUser: maxRoomsPerUser,
		Logger:          d.log,
	}); err != nil {
		s.close()
		return nil, fmt.Errorf("streamchat: chat: %w", err)
	}
	if s.meetings, err = meeting.New(&appHub{Node: s.node, meetings: b.meetingStore, open: s.openGroupRoom}, &meeting.Options{
		Store:            b.meetingStore,
		Members:          b.chat,
		Online:           online,
		ICE:              s.node.ICEServers,
		LinkBase:         cfg.meetingLinkBase,
		ParticipantGrace: cfg.participantGrace,
		HostGrace:        cfg.hostGrace,
		HostPolicy:       meeting.HostPolicy(cfg.hostPolicy),
		EmptyTimeout:     cfg.emptyTimeout,
		MaxParticipants:  cfg.maxParticipants,
		Logger:           d.log,
	}); err != nil {
		s.close()
		return nil, fmt.Errorf("streamchat: meetings: %w", err)
	}
	if s.presence, err = presence.New(s.node, &presence.Options{
		Store:  b.presenceStore,
		Rooms:  b.chat,
		NodeID: nodeID,
		Logger: d.log,
		// A user offline has no session anywhere: unbind its sessions from meetings (a node
		// that died never did), so that the graces start.
		OnChange: func(ctx context.Context, e presence.Entry) {
			if e.Status != presence.StatusOffline {
				return
			}
			if err := s.meetings.UserOffline(ctx, e.UserID); err != nil {
				d.log.Error("meetings of an offline user", "user", e.UserID, "err", err)
			}
		},
	}); err != nil {
		s.close()
		return nil, fmt.Errorf("streamchat: presence: %w", err)
	}
	online.t = s.presence
	if b.recoverMeetings {
		// What the previous process left (bound sessions, deadlines that ran out while it was
		// down) is settled now.
		if err := s.meetings.Recover(ctx); err != nil {
			s.close()
			return nil, fmt.Errorf("streamchat: recovering the stored meetings: %w", err)
		}
	}

	mux := http.NewServeMux()
	wsh, err := ws.Handler(s.node, &ws.Options{
		Authenticator:  s.tokens,
		OriginPatterns: cfg.allowedOrigins,
		DefaultCodec:   codec,
		Logger:         d.log,
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("streamchat: %w", err)
	}
	mux.Handle("GET /ws", wsh)
	s.routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := b.db.PingContext(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "node": s.node.ID()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": s.node.ID(), "sessions": s.node.Stats().Sessions})
	})
	if cfg.web != "" {
		mux.Handle("/", spaHandler(cfg.web))
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "streamchat: the API is at /api and the WebSocket at /ws; pass -web <the app's built files> to serve the app here")
		})
	}
	s.handler = mux
	return s, nil
}

// prepare sets up what the API needs from the database: the token secret (generated once and
// kept there unless -jwt-secret is given, so that every node and restart accepts the tokens),
// the login timing decoy and the seeded rooms.
func (s *server) prepare(ctx context.Context) error {
	secret := s.cfg.jwtSecret
	if secret == "" {
		v, err := secretSetting(ctx, s.b.accounts, "jwt_secret")
		if err != nil {
			return err
		}
		secret = v
	}
	s.tokens = newTokens([]byte(secret), s.cfg.accessTTL, s.cfg.refreshTTL, s.clock, s.b.accounts)
	var err error
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(uuid.NewString()), s.cfg.bcryptCost); err != nil {
		return fmt.Errorf("streamchat: bcrypt: %w", err)
	}
	return s.seedRooms(ctx)
}

// secretSetting returns a random secret that the database keeps under name, so that all nodes
// and restarts share it. The resume-token secret is one too: with resume on (for Huddle's own
// clients) every node accepts every node's resume tokens.
func secretSetting(ctx context.Context, st *accounts.Store, name string) (string, error) {
	v, err := st.Setting(ctx, name, func() string {
		k := make([]byte, 32)
		_, _ = rand.Read(k) // never fails (crypto/rand)
		return hex.EncodeToString(k)
	})
	if err != nil {
		return "", fmt.Errorf("streamchat: %s: %w", name, err)
	}
	return v, nil
}

func handover(on bool, d time.Duration) time.Duration {
	if on {
		return d
	}
	return 0
}

// seedRooms creates the -rooms that do not exist yet.
func (s *server) seedRooms(ctx context.Context) error {
	for _, name := range s.cfg.rooms {
		r, created, err := s.b.accounts.EnsureRoom(ctx, accounts.Room{ID: uuid.NewString(), Name: name, Type: roomGroup, CreatedAt: s.clock.Now()})
		if err != nil {
			return fmt.Errorf("streamchat: seed room %q: %w", name, err)
		}
		if created {
			s.log.Info("room created", "room", r.ID, "name", r.Name)
		}
	}
	return nil
}

// roomPolicy is chat's join policy, asked before a `message` (or `join_room`) makes its sender a
// member: the room must exist, and be a group room (a direct room has the members it was
// created with).
func (s *server) roomPolicy(ctx context.Context, _ signaling.User, roomID string) error {
	r, err := s.b.accounts.Room(ctx, roomID)
	if errors.Is(err, accounts.ErrNotFound) {
		return signaling.Errorf(signaling.CodeNotFound, "no room %q", roomID)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
	}
	if r.Type == roomDirect {
		return signaling.Errorf(signaling.CodeForbidden, "room %q is a direct room of other users", roomID)
	}
	return nil
}

// serve listens, prints where, and shuts down gracefully when ctx is done.
func (s *server) serve(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", s.cfg.addr)
	if err != nil {
		s.close()
		return fmt.Errorf("streamchat: listen: %w", err)
	}
	addr := ln.Addr().String()
	scheme := "http"
	if s.cfg.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "streamchat: listening on %s://%s (node %s, %s)\n", scheme, addr, s.node.ID(), s.b.dialect)
	if s.cfg.web != "" {
		fmt.Fprintf(stdout, "streamchat: open %s://%s/ and register two users\n", scheme, addr)
	}
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.tlsCert != "" {
			errc <- hs.ServeTLS(ln, s.cfg.tlsCert, s.cfg.tlsKey)
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		s.close()
		return fmt.Errorf("streamchat: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	herr := hs.Shutdown(sctx)
	nerr := s.node.Shutdown(sctx)
	s.close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("streamchat: serve: %w", err)
	}
	fmt.Fprintln(stdout, "streamchat: stopped")
	return errors.Join(herr, nerr)
}

// close stops the services, then the backends; after the node's shutdown.
func (s *server) close() {
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
	if err := s.b.close(); err != nil {
		s.log.Error("close", "err", err)
	}
}
