package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huddle-go/huddle/clock"
)

// Node is the Hub of one server process: it runs sessions over any Conn, routes their events to
// Handlers and delivers published events through its Broker. All methods are safe for
// concurrent use.
type Node struct {
	id     string
	codec  Codec
	broker Broker
	log    *slog.Logger
	clock  clock.Clock
	opts   NodeOptions // with defaults filled in
	secret []byte

	ctx    context.Context // the node's lifetime
	cancel context.CancelFunc

	hmu      sync.RWMutex
	handlers map[string]Handler
	pending  map[string]*atomic.Int64 // per handled event: frames queued or being handled (admission.go)
	hooks    []stagedHook             // by stage, copy on write

	mu       sync.Mutex
	closing  bool
	sessions map[string]*Session
	byUser   map[string][]*Session // each user's sessions, oldest first (limits.go)
	serving  sync.WaitGroup

	subMu  sync.Mutex // guards topics; never held across a Broker call
	topics map[string]*topicSubs

	stats nodeStats
	pids  atomic.Uint64
	seen  recentIDs // publish ids delivered last, so that a publish run twice is delivered once (dedupe.go)

	cp controlPlane // messages between nodes that are not events (control.go)
}

var _ Hub = (*Node)(nil)

type nodeStats struct {
	sessions      atomic.Int64
	delivered     atomic.Int64
	slowConsumers atomic.Int64
	events        atomic.Int64
	rateLimited   atomic.Int64
	evicted       atomic.Int64
	shed          atomic.Int64
}

// Stats are counters of a Node, for metrics.
type Stats struct {
	Sessions      int64 // sessions attached or waiting for a resume
	Delivered     int64 // frames queued to sessions
	SlowConsumers int64 // connections closed with 1013
	Events        int64 // client events handled
	RateLimited   int64 // frames over the rate limit dropped without an answer
	Evicted       int64 // sessions ended because their user held MaxSessionsPerUser
	Shed          int64 // events refused at once because the node was over MaxPendingEvents
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		Sessions:      n.stats.sessions.Load(),
		Delivered:     n.stats.delivered.Load(),
		SlowConsumers: n.stats.slowConsumers.Load(),
		Events:        n.stats.events.Load(),
		RateLimited:   n.stats.rateLimited.Load(),
		Evicted:       n.stats.evicted.Load(),
		Shed:          n.stats.shed.Load(),
	}
}

// NewNode returns a Node. Nil options mean all defaults.
func NewNode(opts *NodeOptions) *Node {
	var o NodeOptions
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{
		id:       o.ID,
		codec:    o.Codec,
		broker:   o.Broker,
		log:      o.Logger,
		clock:    o.Clock,
		opts:     o,
		secret:   o.ResumeSecret,
		ctx:      ctx,
		cancel:   cancel,
		handlers: map[string]Handler{},
		pending:  map[string]*atomic.Int64{},
		sessions: map[string]*Session{},
		byUser:   map[string][]*Session{},
		topics:   map[string]*topicSubs{},
	}
}

// ID returns the node's id.
func (n *Node) ID() string { return n.id }

// Config describes the node to the services built on it.
func (n *Node) Config() Config {
	return Config{NodeID: n.id, Clock: n.clock, Limits: n.opts.Limits, ICEServers: n.iceServers}
}

// iceServers returns the ICE servers for a user, with TURN credentials when configured.
func (n *Node) iceServers(userID string) []ICEServer {
	return n.opts.ICE.Servers(userID, n.clock.Now())
}

// resumeWindow returns how long a dropped session may be resumed (0 when resume is off).
func (n *Node) resumeWindow() time.Duration {
	if n.opts.ResumeWindow < 0 {
		return 0
	}
	return n.opts.ResumeWindow
}

// Handle registers h for event. An event has one handler: Handle fails with ErrHandled when
// event has one already (two services claiming one event is a wiring mistake, not something
// to settle by registration order), and with an error when event is empty, is "ping" (which the
// Node answers itself) or h is nil. Nothing is registered then.
func (n *Node) Handle(event string, h Handler) error {
	switch {
	case event == "":
		return errors.New("signaling: Handle: empty event name")
	case event == "ping":
		return errors.New(`signaling: Handle: "ping" is answered by the Node`)
	case h == nil:
		return fmt.Errorf("signaling: Handle %q: nil handler", event)
	}
	n.hmu.Lock()
	defer n.hmu.Unlock()
	if _, ok := n.handlers[event]; ok {
		return fmt.Errorf("signaling: Handle %q: %w", event, ErrHandled)
	}
	n.handlers[event] = h
	n.pending[event] = new(atomic.Int64)
	return nil
}

// OnSession registers a session hook at StageDefault.
func (n *Node) OnSession(f SessionHook) { n.OnSessionAt(StageDefault, f) }

// OnSessionAt registers a session hook at a stage. Hooks run by stage, then in registration
// order within a stage, so the order services are created in does not matter.
func (n *Node) OnSessionAt(stage Stage, f SessionHook) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	h := stagedHook{stage: stage, f: f}
	i := sort.Search(len(n.hooks), func(i int) bool { return n.hooks[i].stage > stage })
	// Copy on write: runHooks iterates a snapshot without the lock.
	next := make([]stagedHook, 0, len(n.hooks)+1)
	next = append(append(append(next, n.hooks[:i]...), h), n.hooks[i:]...)
	n.hooks = next
}

type stagedHook struct {
	stage Stage
	f     SessionHook
}

func (n *Node) runHooks(ctx context.Context, s *Session, ev SessionEvent) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	n.runHooksLocked(ctx, s, ev)
}

// runHooksLocked runs the hooks; s.hookMu must be held. For a start (Connected, Resumed) the
// hooks share what they read through Session.StartValue.
func (n *Node) runHooksLocked(ctx context.Context, s *Session, ev SessionEvent) {
	n.hmu.RLock()
	hooks := n.hooks
	n.hmu.RUnlock()
	if ev == SessionConnected || ev == SessionResumed {
		s.start = &startMemo{}
		defer func() { s.start = nil }()
	}
	for _, h := range hooks {
		func() {
			defer func() {
				if r := recover(); r != nil {
					n.log.Error("session hook panicked", "session", s.id, "event", ev.String(), "panic", r, "stack", string(debug.Stack()))
				}
			}()
			h.f(ctx, s, ev)
		}()
	}
}

// Session returns a session held by this node, or nil.
func (n *Node) Session(id string) *Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sessions[id]
}

// CheckResume reports whether a resume token may be presented by u; transports call it before
// upgrading so that a bad token is an HTTP 401. A token of a session that no longer exists is
// fine: it gets a fresh session.
func (n *Node) CheckResume(u User, token string) error {
	if _, ok := parseResumeToken(n.secret, token, u.ID); !ok {
		return Errorf(CodeUnauthorized, "resume token not valid for this user")
	}
	return nil
}

func (n *Node) isClosing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closing
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
