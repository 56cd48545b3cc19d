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
	"github.com/huddle-go/huddle"
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
	cfg     config
	log     *slog.Logger
	clock   clock.Clock
	b       *backends
	huddle  *huddle.Server  // the Node and the services, linked by huddle.New
	node    *signaling.Node // huddle.Node()
	tokens  *tokens
	limiter *ipLimiter
	handler http.Handler
	// dummyHash is compared against when a login names no user, so that unknown and known
	// usernames take the same time.
	dummyHash []byte
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
	// Chat, presence and meetings over one Node, every link between them made by huddle.New.
	// With a Redis broker and resume on, a client that resumes on another node gets its session
	// handed over (on by default); the meetings of a single node on SQLite are recovered.
	s.huddle, err = huddle.New(ctx, &huddle.Options{
		Authenticator: s.tokens,
		ChatStore:     b.chat,
		PresenceStore: b.presenceStore,
		MeetingStore:  b.meetingStore,
		Broker:        b.broker,
		Logger:        d.log,
		Clock:         d.clock,
		// The app's meeting page habits (see appHub) wrap the Node's handlers.
		WrapHub: func(node *signaling.Node) signaling.Hub {
			return &appHub{Node: node, meetings: b.meetingStore, open: s.openGroupRoom}
		},
		Node: signaling.NodeOptions{
			ID:           nodeID,
			Codec:        codec,
			ResumeWindow: resume,
			ResumeSecret: []byte(resumeSecret),
			ICE:          signaling.ICEConfig{URLs: cfg.iceServers},
			Limits:       signaling.Limits{MaxMessageBytes: cfg.maxMessageBytes},
		},
		Chat: chat.Options{
			Policy:          chat.PolicyFunc(s.roomPolicy),
			MaxMessageBytes: cfg.maxMessageBytes,
			MaxRoomsPerUser: maxRoomsPerUser,
		},
		Presence: presence.Options{NodeID: nodeID},
		Meeting: meeting.Options{
			LinkBase:         cfg.meetingLinkBase,
			ParticipantGrace: cfg.participantGrace,
			HostGrace:        cfg.hostGrace,
			HostPolicy:       meeting.HostPolicy(cfg.hostPolicy),
			EmptyTimeout:     cfg.emptyTimeout,
			MaxParticipants:  cfg.maxParticipants,
		},
		WebSocket: ws.Options{
			OriginPatterns: cfg.allowedOrigins,
			DefaultCodec:   codec,
		},
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("streamchat: %w", err)
	}
	s.node = s.huddle.Node()

	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.huddle.Handler())
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
	nerr := s.huddle.Shutdown(sctx)
	s.close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("streamchat: serve: %w", err)
	}
	fmt.Fprintln(stdout, "streamchat: stopped")
	return errors.Join(herr, nerr)
}

// close stops the services, then the backends; after the node's shutdown.
func (s *server) close() {
	// s.huddle is nil when newServer failed before creating it.
	if s.huddle != nil {
		if err := s.huddle.Close(); err != nil {
			s.log.Error("close", "err", err)
		}
	}
	if err := s.b.close(); err != nil {
		s.log.Error("close", "err", err)
	}
}
