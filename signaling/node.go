package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huddle-go/huddle/clock"
	"golang.org/x/time/rate"
)

// NodeOptions configures a Node. The zero value of each field means its default.
type NodeOptions struct {
	// ID names this node among the nodes sharing a Broker. Default: random.
	ID string
	// Codec is the default codec for sessions that negotiate none. Default: JSON.
	Codec Codec
	// Broker moves events between sessions (and nodes). Default: a new MemoryBroker.
	Broker Broker
	// Logger receives the node's logs; per-session events are logged at Debug. Default: silent.
	Logger *slog.Logger
	// QueueSize is the bound of each session's outbound queue, in frames. Default: 256.
	QueueSize int
	// RateLimit is each session's sustained event rate per second. Default: 50.
	RateLimit float64
	// RateBurst is each session's token-bucket burst. Default: 100.
	RateBurst int
	// ResumeWindow is how long a dropped session waits for a resume. Default: 60 s; negative
	// disables resume (a drop ends the session at once and events carry no seq).
	ResumeWindow time.Duration
	// ResumeBuffer bounds the events kept per session for resume. Default: 1000.
	ResumeBuffer int
	// ResumeBufferBytes bounds the bytes of the events kept per session for resume (bodies
	// shared with other sessions count in full). Default: 4 MiB.
	ResumeBufferBytes int
	// ResumeSecret signs resume tokens. Nodes sharing a Broker must share it, and a node that
	// restarts must keep it, or its clients' tokens are refused (401) and they start afresh.
	// Default: random, per process.
	ResumeSecret []byte
	// HandoverTimeout enables cross-node resume for nodes sharing a Broker: a client resuming a
	// session held by another node gets it handed over (subscriptions, buffered events and all),
	// waiting at most this long for the holder to answer. Zero (the default, right for one
	// node): a session held elsewhere is not looked for and the client starts afresh.
	HandoverTimeout time.Duration
	// ShutdownHandover is how long Shutdown keeps the sessions it closed with 1012 available
	// for a handover to the node their clients reconnect to. Zero: not at all.
	ShutdownHandover time.Duration
	// ICE lists the STUN/TURN servers sent in the `session` event.
	ICE ICEConfig
	// Limits are advertised in the `session` event.
	Limits Limits
	// Clock drives the resume windows and token expiry. Default: the wall clock.
	Clock clock.Clock
}

// Limits are the size limits advertised to clients in the `session` event.
type Limits struct {
	MaxFrameBytes      int `json:"maxFrameBytes"`      // default 65536
	MaxMessageBytes    int `json:"maxMessageBytes"`    // default 4096
	MaxRoomsPerSession int `json:"maxRoomsPerSession"` // default 100
}

// SessionOptions describes one connection handed to Serve.
type SessionOptions struct {
	// Codec for this session. Default: the node's codec.
	Codec Codec
	// Expires closes the session with 1008 when it passes (the credentials' expiry). Zero: never.
	Expires time.Time
	// ResumeToken and LastSeq ask to resume an earlier session (PROTOCOL.md §4).
	ResumeToken string
	LastSeq     uint64
}

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
	hooks    []SessionHook

	mu       sync.Mutex
	closing  bool
	sessions map[string]*Session
	serving  sync.WaitGroup

	subMu  sync.Mutex // guards topics; never held across a Broker call
	topics map[string]*topicSubs

	stats nodeStats
	pids  atomic.Uint64

	ctrlMu      sync.Mutex
	ctrlQ       []func()
	ctrlRunning bool

	hoMu      sync.Mutex
	hoWaiters map[string]chan brokerMsg // session id → the adopting Serve call
	hoSub     func() error              // the node topic's subscription
}

var _ Hub = (*Node)(nil)

type nodeStats struct {
	sessions      atomic.Int64
	delivered     atomic.Int64
	slowConsumers atomic.Int64
	events        atomic.Int64
}

// Stats are counters of a Node, for metrics.
type Stats struct {
	Sessions      int64 // sessions attached or waiting for a resume
	Delivered     int64 // frames queued to sessions
	SlowConsumers int64 // connections closed with 1013
	Events        int64 // client events handled
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		Sessions:      n.stats.sessions.Load(),
		Delivered:     n.stats.delivered.Load(),
		SlowConsumers: n.stats.slowConsumers.Load(),
		Events:        n.stats.events.Load(),
	}
}

// topicSubs are the local sessions of one topic. Writers hold Node.subMu; deliveries read the
// copy-on-write snapshot without a lock.
type topicSubs struct {
	subs atomic.Pointer[[]*Session]

	// Set by the subscriber that made the Broker subscription, before ready is closed.
	ready  chan struct{}
	cancel func() error
	err    error
}

// add appends s to the subscribers (copy on write); the caller holds Node.subMu.
func (t *topicSubs) add(s *Session) {
	var cur []*Session
	if p := t.subs.Load(); p != nil {
		cur = *p
	}
	next := make([]*Session, len(cur), len(cur)+1)
	copy(next, cur)
	next = append(next, s)
	t.subs.Store(&next)
}

// remove drops s and reports whether it was there; the caller holds Node.subMu.
func (t *topicSubs) remove(s *Session) bool {
	var cur []*Session
	if p := t.subs.Load(); p != nil {
		cur = *p
	}
	next := make([]*Session, 0, len(cur))
	for _, o := range cur {
		if o != s {
			next = append(next, o)
		}
	}
	if len(next) == len(cur) {
		return false
	}
	t.subs.Store(&next)
	return true
}

func (t *topicSubs) len() int {
	if p := t.subs.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// NewNode returns a Node. Nil options mean all defaults.
func NewNode(opts *NodeOptions) *Node {
	var o NodeOptions
	if opts != nil {
		o = *opts
	}
	if o.ID == "" {
		o.ID = randomID()
	}
	if o.Codec == nil {
		o.Codec = JSON
	}
	if o.Broker == nil {
		o.Broker = NewMemoryBroker()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 50
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 100
	}
	if o.ResumeWindow == 0 {
		o.ResumeWindow = 60 * time.Second
	}
	if o.ResumeBuffer <= 0 {
		o.ResumeBuffer = 1000
	}
	if o.ResumeBufferBytes <= 0 {
		o.ResumeBufferBytes = 4 << 20
	}
	if len(o.ResumeSecret) == 0 {
		o.ResumeSecret = make([]byte, 32)
		_, _ = rand.Read(o.ResumeSecret)
	}
	if o.Limits.MaxFrameBytes <= 0 {
		o.Limits.MaxFrameBytes = 64 << 10
	}
	if o.Limits.MaxMessageBytes <= 0 {
		o.Limits.MaxMessageBytes = 4096
	}
	if o.Limits.MaxRoomsPerSession <= 0 {
		o.Limits.MaxRoomsPerSession = 100
	}
	o.Clock = clock.Or(o.Clock)
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
		sessions: map[string]*Session{},
		topics:   map[string]*topicSubs{},
	}
}

// ID returns the node's id.
func (n *Node) ID() string { return n.id }

// Clock returns the node's clock, so that domain services can share it.
func (n *Node) Clock() clock.Clock { return n.clock }

// Limits returns the limits advertised to clients.
func (n *Node) Limits() Limits { return n.opts.Limits }

// ResumeWindow returns how long a dropped session may be resumed (0 when resume is off).
func (n *Node) ResumeWindow() time.Duration {
	if n.opts.ResumeWindow < 0 {
		return 0
	}
	return n.opts.ResumeWindow
}

// ICEServers returns the ICE servers for a user, with TURN credentials when configured.
func (n *Node) ICEServers(userID string) []ICEServer {
	return n.opts.ICE.Servers(userID, n.clock.Now())
}

// Handle registers h for event.
func (n *Node) Handle(event string, h Handler) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	n.handlers[event] = h
}

// OnSession registers a session hook.
func (n *Node) OnSession(f SessionHook) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	n.hooks = append(n.hooks, f)
}

func (n *Node) runHooks(ctx context.Context, s *Session, ev SessionEvent) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	n.runHooksLocked(ctx, s, ev)
}

// runHooksLocked runs the hooks; s.hookMu must be held.
func (n *Node) runHooksLocked(ctx context.Context, s *Session, ev SessionEvent) {
	n.hmu.RLock()
	hooks := n.hooks
	n.hmu.RUnlock()
	for _, h := range hooks {
		func() {
			defer func() {
				if r := recover(); r != nil {
					n.log.Error("session hook panicked", "session", s.id, "event", ev.String(), "panic", r, "stack", string(debug.Stack()))
				}
			}()
			h(ctx, s, ev)
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

// Serve runs one session over c until the connection ends, and always closes c. It sends the
// `session` frame, runs the Connected (or Resumed) hooks, then handles the client's events in
// order. It returns nil when the client went away, ErrClosed after Shutdown.
func (n *Node) Serve(ctx context.Context, c Conn, u User, opts *SessionOptions) error {
	var so SessionOptions
	if opts != nil {
		so = *opts
	}
	if so.Codec == nil {
		so.Codec = n.codec
	}
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		_ = c.Close(StatusServiceRestart, "server restarting")
		return ErrClosed
	}
	n.serving.Add(1)
	n.mu.Unlock()
	defer n.serving.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()

	s, a, resumed, err := n.attach(ctx, c, u, &so)
	if err != nil {
		return err
	}
	if !so.Expires.IsZero() {
		t := n.clock.AfterFunc(so.Expires.Sub(n.clock.Now()), func() { a.kill(StatusPolicyViolation, "token expired") })
		defer t.Stop()
	}
	// The hooks run before the writer starts, so that a client that has the `session` frame
	// knows its rooms are subscribed; what the hooks send waits in the queue behind it.
	if resumed {
		n.log.Debug("session resumed", "session", s.id, "user", u.ID)
		n.runHooks(ctx, s, SessionResumed)
	} else {
		n.log.Debug("session started", "session", s.id, "user", u.ID)
		n.runHooks(ctx, s, SessionConnected)
	}
	go a.writeLoop(s.codec)

	var readErr error
	for {
		frame, err := c.Read(ctx)
		if err != nil {
			readErr = err
			break
		}
		n.handleFrame(ctx, s, frame)
	}
	a.kill(StatusNormalClosure, "")
	a.finish()
	_ = c.Close(a.closeCode())
	n.detach(s, a, readErr)
	return nil
}

// attach binds c to a resumed or a new session and prepares the frames that go first.
func (n *Node) attach(ctx context.Context, c Conn, u User, so *SessionOptions) (*Session, *attachment, bool, error) {
	a := newAttachment(c, n.opts.QueueSize)
	resumeAsked := so.ResumeToken != ""
	if resumeAsked {
		sid, ok := parseResumeToken(n.secret, so.ResumeToken, u.ID)
		if !ok {
			e := &Error{Code: CodeUnauthorized, Message: "resume token not valid for this user"}
			if b, err := so.Codec.Encode(Envelope{Event: "error", Data: e}); err == nil {
				_ = c.Write(ctx, b)
			}
			_ = c.Close(StatusPolicyViolation, "bad resume token")
			return nil, nil, false, e
		}
		if s, ok := n.takeOver(sid, u, so, a); ok {
			return s, a, true, nil
		}
		if n.Session(sid) == nil && n.opts.HandoverTimeout > 0 {
			if s, ok := n.adopt(ctx, sid, u, so, a); ok {
				return s, a, true, nil
			}
		}
	}
	s := n.newSession(u, so.Codec)
	body, err := s.codec.Encode(Envelope{Event: "session", Data: n.sessionInfo(s, false)})
	if err != nil {
		return nil, nil, false, fmt.Errorf("signaling: encode session: %w", err)
	}
	a.pre = []outFrame{{body: body}}
	s.att = a
	n.mu.Lock()
	if n.closing { // Shutdown began after Serve was entered: its snapshot would miss us
		n.mu.Unlock()
		_ = c.Close(StatusServiceRestart, "server restarting")
		return nil, nil, false, ErrClosed
	}
	n.sessions[s.id] = s
	n.mu.Unlock()
	n.stats.sessions.Add(1)
	for _, t := range [...]string{UserTopic(u.ID), SessionTopic(s.id)} {
		if err := n.subscribeLocal(ctx, s, t); err != nil {
			n.finalize(s)
			_ = c.Close(StatusInternalError, "unavailable")
			return nil, nil, false, fmt.Errorf("signaling: subscribe %s: %w", t, err)
		}
	}
	return s, a, false, nil
}

// takeOver moves a session to a new attachment when its buffer covers the client's gap.
func (n *Node) takeOver(sid string, u User, so *SessionOptions, a *attachment) (*Session, bool) {
	s := n.Session(sid)
	if s == nil || s.user.ID != u.ID {
		return nil, false
	}
	s.mu.Lock()
	if s.state == stateGone || s.state == stateAdopting {
		s.mu.Unlock()
		return nil, false
	}
	if s.codec.Name() != so.Codec.Name() {
		// The buffer holds bodies in the old codec: start afresh and end the old session now
		// rather than keeping its user online for a window nobody will use.
		s.mu.Unlock()
		n.endSession(s)
		return nil, false
	}
	replay, ok := s.buf.after(so.LastSeq, s.seq, n.clock.Now())
	if !ok {
		s.mu.Unlock()
		// The gap cannot be covered: the old session ends and a fresh one starts.
		n.endSession(s)
		return nil, false
	}
	old := s.att
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	sessionBody, _ := s.codec.Encode(Envelope{Event: "session", Data: n.sessionInfo(s, true)})
	resumedBody, _ := s.codec.Encode(Envelope{Event: "resumed", Data: map[string]int{"replayed": len(replay)}})
	a.pre = make([]outFrame, 0, len(replay)+2)
	a.pre = append(a.pre, outFrame{body: sessionBody})
	for _, r := range replay {
		a.pre = append(a.pre, outFrame{seq: r.seq, body: r.body})
	}
	a.pre = append(a.pre, outFrame{body: resumedBody})
	if n.isClosing() {
		s.mu.Unlock()
		return nil, false
	}
	s.att = a
	s.state = stateLive
	s.offerTo = "" // the client came back here: a pending handover offer is void
	s.mu.Unlock()
	if old != nil {
		old.kill(StatusGoingAway, "session resumed elsewhere")
	}
	return s, true
}

func (n *Node) isClosing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closing
}

type sessionInfo struct {
	SessionID      string      `json:"sessionId"`
	User           User        `json:"user"`
	ResumeToken    string      `json:"resumeToken,omitempty"`
	ResumeWindowMs int64       `json:"resumeWindowMs"`
	Resumed        bool        `json:"resumed"`
	ServerTime     string      `json:"serverTime"`
	ICEServers     []ICEServer `json:"iceServers"`
	Limits         Limits      `json:"limits"`
	NodeID         string      `json:"nodeId,omitempty"`
}

func (n *Node) sessionInfo(s *Session, resumed bool) sessionInfo {
	return sessionInfo{
		SessionID:      s.id,
		User:           s.user,
		ResumeToken:    s.token,
		ResumeWindowMs: n.ResumeWindow().Milliseconds(),
		Resumed:        resumed,
		ServerTime:     n.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		ICEServers:     n.ICEServers(s.user.ID),
		Limits:         n.opts.Limits,
		NodeID:         n.id,
	}
}

func (n *Node) newSession(u User, codec Codec) *Session {
	s := &Session{
		id:      randomID(),
		user:    u,
		codec:   codec,
		node:    n,
		limiter: rate.NewLimiter(rate.Limit(n.opts.RateLimit), n.opts.RateBurst),
		topics:  map[string]struct{}{},
	}
	if n.opts.ResumeWindow > 0 {
		s.token = resumeToken(n.secret, s.id, u.ID)
		s.buf = replayBuffer{max: n.opts.ResumeBuffer, maxBytes: n.opts.ResumeBufferBytes, maxAge: n.opts.ResumeWindow}
	}
	return s
}

// detach runs when an attachment's connection ended: the session waits for a resume, or ends.
func (n *Node) detach(s *Session, a *attachment, readErr error) {
	// Hold the hook lock from the decision to the hooks, so that a resume racing this drop
	// runs its Resumed hooks after the Dropped ones.
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.mu.Lock()
	if s.att != a || s.state == stateGone { // taken over by a resume, or ended
		s.mu.Unlock()
		return
	}
	s.att = nil
	n.mu.Lock()
	closing := n.closing
	n.mu.Unlock()
	if closing {
		s.state = stateDropped
		s.mu.Unlock()
		return
	}
	code, _ := a.closeCode()
	clean := CloseStatus(readErr) == StatusNormalClosure || code == StatusPolicyViolation
	if clean || n.opts.ResumeWindow < 0 {
		s.mu.Unlock()
		if n.finalize(s) {
			n.log.Debug("session gone", "session", s.id, "user", s.user.ID)
			n.runHooksLocked(n.ctx, s, SessionGone)
		}
		return
	}
	s.state = stateDropped
	s.expiry = n.clock.AfterFunc(n.opts.ResumeWindow, func() { n.expire(s) })
	moving := s.offerTo != "" // being handed over: the client is already back elsewhere
	s.mu.Unlock()
	n.log.Debug("session dropped", "session", s.id, "user", s.user.ID, "err", readErr)
	if !moving {
		n.runHooksLocked(n.ctx, s, SessionDropped)
	}
}

func (n *Node) expire(s *Session) {
	// Check and end in one critical section, so that a resume landing now is not ended.
	if n.finalizeIf(s, func() bool { return s.state == stateDropped && s.att == nil }) {
		n.log.Debug("session gone", "session", s.id, "user", s.user.ID)
		n.runHooks(n.ctx, s, SessionGone)
	}
}

// endSession ends a session for good and tells the hooks.
func (n *Node) endSession(s *Session) {
	if n.finalize(s) {
		n.log.Debug("session gone", "session", s.id, "user", s.user.ID)
		n.runHooks(n.ctx, s, SessionGone)
	}
}

func (n *Node) finalize(s *Session) bool { return n.finalizeIf(s, nil) }

// finalizeIf ends the session, if ok (checked under the session's lock) allows it, and reports
// whether it did.
func (n *Node) finalizeIf(s *Session, ok func() bool) bool {
	s.mu.Lock()
	if s.state == stateGone || (ok != nil && !ok()) {
		s.mu.Unlock()
		return false
	}
	s.state = stateGone
	s.offerTo = ""
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	old := s.att
	s.att = nil
	topics := make([]string, 0, len(s.topics))
	for t := range s.topics {
		topics = append(topics, t)
	}
	s.buf.reset()
	s.mu.Unlock()
	if old != nil {
		old.kill(StatusNormalClosure, "session ended")
	}
	n.mu.Lock()
	delete(n.sessions, s.id)
	n.mu.Unlock()
	n.stats.sessions.Add(-1)
	for _, t := range topics {
		_ = n.unsubscribeLocal(n.ctx, s, t)
	}
	return true
}

func (n *Node) handleFrame(ctx context.Context, s *Session, frame []byte) {
	n.stats.events.Add(1)
	allowed := s.limiter.Allow() // before decoding: garbage costs the sender its budget too
	e, err := s.codec.Decode(frame)
	if !allowed {
		s.sendError(ctx, &Error{Code: CodeRateLimited, Message: "too many events; slow down", Event: e.Event, Ref: e.Ref})
		return
	}
	if err != nil {
		msg := "frame is not a JSON object"
		if errors.Is(err, errNoEvent) {
			msg = "frame has no event"
		}
		s.sendError(ctx, &Error{Code: CodeBadRequest, Message: msg, Ref: e.Ref})
		return
	}
	if e.Event == "ping" {
		_ = s.Send(ctx, Envelope{Event: "pong", Data: struct{}{}, Ref: e.Ref}, Ephemeral())
		return
	}
	n.hmu.RLock()
	h := n.handlers[e.Event]
	n.hmu.RUnlock()
	if h == nil {
		s.sendError(ctx, &Error{Code: CodeUnknownEvent, Message: fmt.Sprintf("unknown event %q", e.Event), Event: e.Event, Ref: e.Ref})
		return
	}
	if err := n.call(ctx, h, s, e); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			out := *ce
			out.Event, out.Ref = e.Event, e.Ref
			s.sendError(ctx, &out)
			return
		}
		if errors.Is(err, ErrUnavailable) {
			n.log.Warn("backend unavailable", "session", s.id, "event", e.Event, "err", err)
			s.sendError(ctx, &Error{Code: CodeUnavailable, Message: "service unavailable; nothing was changed, try again", Event: e.Event, Ref: e.Ref})
			return
		}
		n.log.Error("handler failed", "session", s.id, "user", s.user.ID, "event", e.Event, "err", err)
		s.sendError(ctx, &Error{Code: CodeInternal, Message: "internal error", Event: e.Event, Ref: e.Ref})
	}
}

func (n *Node) call(ctx context.Context, h Handler, s *Session, e Envelope) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("signaling: handler for %q panicked: %v\n%s", e.Event, r, debug.Stack())
		}
	}()
	return h.ServeEvent(ctx, s, e)
}

// Publish encodes e once and hands it to the Broker for every subscriber of topic.
func (n *Node) Publish(ctx context.Context, topic string, e Envelope, opts ...PublishOption) error {
	body, err := JSON.Encode(e)
	if err != nil {
		return err
	}
	o := collect(opts)
	m := brokerMsg{kind: msgEvent, exceptSession: o.exceptSession, exceptUser: o.exceptUser, onlyUser: o.onlyUser, body: body}
	if n.opts.HandoverTimeout > 0 {
		m.pid = n.id + ":" + strconv.FormatUint(n.pids.Add(1), 36)
	}
	if o.ephemeral {
		m.flags |= flagEphemeral
	}
	if err := n.broker.Publish(ctx, topic, m.marshal()); err != nil {
		return fmt.Errorf("signaling: publish %s: %w", topic, unavailable(err))
	}
	return nil
}

// unavailable marks a Broker failure as CodeUnavailable for the client, keeping the cause.
func unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// deliver is the Broker's callback for one topic.
func (n *Node) deliver(t *topicSubs, msg []byte) {
	m, err := unmarshalBrokerMsg(msg)
	if err != nil {
		n.log.Error("dropping malformed broker message", "err", err)
		return
	}
	subs := t.subs.Load()
	if subs == nil {
		return
	}
	switch m.kind {
	case msgEvent:
		var alt encodings
		eph := m.flags&flagEphemeral != 0
		for _, s := range *subs {
			if s.id == m.exceptSession || s.user.ID == m.exceptUser || (m.onlyUser != "" && s.user.ID != m.onlyUser) {
				continue
			}
			body := alt.get(s.codec, m.body)
			if body != nil {
				s.enqueue(body, eph, m.pid)
			}
		}
	case msgHandoverRequest:
		if m.origin != n.id {
			m.body = append([]byte(nil), m.body...)
			n.control(func() {
				for _, s := range *subs {
					n.offer(s, m)
				}
			})
		}
	case msgSubscribe, msgUnsubscribe:
		if m.origin == n.id {
			return
		}
		n.control(func() {
			for _, s := range *subs {
				var err error
				if m.kind == msgSubscribe {
					err = n.subscribeLocal(n.ctx, s, m.arg)
				} else {
					err = n.unsubscribeLocal(n.ctx, s, m.arg)
				}
				if err != nil {
					n.log.Error("remote subscription change failed", "session", s.id, "topic", m.arg, "err", err)
				}
			}
		})
	}
}

// encodings caches an event's body in each codec for one delivery: the canonical JSON body is
// shared as is; other codecs are converted once per delivery, never per recipient.
type encodings struct {
	codecs [2]Codec
	bodies [2][]byte
	n      int
}

func (x *encodings) get(c Codec, canonical []byte) []byte {
	if c == JSON {
		return canonical
	}
	for i := 0; i < x.n; i++ {
		if x.codecs[i] == c {
			return x.bodies[i]
		}
	}
	e, err := JSON.Decode(canonical)
	var body []byte
	if err == nil {
		body, _ = c.Encode(e)
	}
	if x.n < len(x.codecs) {
		x.codecs[x.n], x.bodies[x.n] = c, body
		x.n++
	}
	return body
}

// Subscribe adds a session to a topic, on whichever node holds it.
func (n *Node) Subscribe(ctx context.Context, sessionID, topic string) error {
	if s := n.Session(sessionID); s != nil {
		return n.subscribeLocal(ctx, s, topic)
	}
	return n.publishControl(ctx, msgSubscribe, SessionTopic(sessionID), topic)
}

// Unsubscribe removes a session from a topic, on whichever node holds it.
func (n *Node) Unsubscribe(ctx context.Context, sessionID, topic string) error {
	if s := n.Session(sessionID); s != nil {
		return n.unsubscribeLocal(ctx, s, topic)
	}
	return n.publishControl(ctx, msgUnsubscribe, SessionTopic(sessionID), topic)
}

// SubscribeUser adds every session of a user, on every node, to a topic. Local sessions are
// subscribed before it returns.
func (n *Node) SubscribeUser(ctx context.Context, userID, topic string) error {
	for _, s := range n.localSubscribers(UserTopic(userID)) {
		if err := n.subscribeLocal(ctx, s, topic); err != nil {
			return err
		}
	}
	return n.publishControl(ctx, msgSubscribe, UserTopic(userID), topic)
}

// UnsubscribeUser removes every session of a user, on every node, from a topic.
func (n *Node) UnsubscribeUser(ctx context.Context, userID, topic string) error {
	for _, s := range n.localSubscribers(UserTopic(userID)) {
		if err := n.unsubscribeLocal(ctx, s, topic); err != nil {
			return err
		}
	}
	return n.publishControl(ctx, msgUnsubscribe, UserTopic(userID), topic)
}

// LocalSessions returns this node's sessions of a user (attached or waiting for a resume).
func (n *Node) LocalSessions(userID string) []*Session {
	return n.localSubscribers(UserTopic(userID))
}

func (n *Node) localSubscribers(topic string) []*Session {
	n.subMu.Lock()
	t := n.topics[topic]
	n.subMu.Unlock()
	if t == nil {
		return nil
	}
	if p := t.subs.Load(); p != nil {
		return *p
	}
	return nil
}

// control runs f after the control work queued before it, on a goroutine of the node's, not
// on the Broker's delivery goroutine: control work subscribes, and a Broker's Subscribe may
// wait for its delivery goroutine to confirm. The goroutine exits when the queue is empty.
func (n *Node) control(f func()) {
	if n.ctx.Err() != nil {
		return // shut down: subscribing now would leak what Shutdown released
	}
	if _, ok := n.broker.(inlineControl); ok {
		f() // the broker's Subscribe never waits on its delivery: keep in-process clusters synchronous
		return
	}
	n.ctrlMu.Lock()
	n.ctrlQ = append(n.ctrlQ, f)
	if n.ctrlRunning {
		n.ctrlMu.Unlock()
		return
	}
	n.ctrlRunning = true
	n.ctrlMu.Unlock()
	go func() {
		for {
			n.ctrlMu.Lock()
			if len(n.ctrlQ) == 0 {
				n.ctrlRunning = false
				n.ctrlMu.Unlock()
				return
			}
			f := n.ctrlQ[0]
			n.ctrlQ[0] = nil
			n.ctrlQ = n.ctrlQ[1:]
			n.ctrlMu.Unlock()
			if n.ctx.Err() == nil {
				f()
			}
		}
	}()
}

func (n *Node) publishControl(ctx context.Context, kind byte, via, topic string) error {
	m := brokerMsg{kind: kind, origin: n.id, arg: topic}
	if err := n.broker.Publish(ctx, via, m.marshal()); err != nil {
		return fmt.Errorf("signaling: subscription change via %s: %w", via, unavailable(err))
	}
	return nil
}

func (n *Node) subscribeLocal(ctx context.Context, s *Session, topic string) error {
	n.subMu.Lock()
	s.mu.Lock()
	if s.state == stateGone {
		s.mu.Unlock()
		n.subMu.Unlock()
		return nil
	}
	if _, ok := s.topics[topic]; ok {
		s.mu.Unlock()
		n.subMu.Unlock()
		return nil
	}
	s.topics[topic] = struct{}{}
	s.mu.Unlock()
	t := n.topics[topic]
	creator := t == nil
	if creator {
		t = &topicSubs{ready: make(chan struct{})}
		n.topics[topic] = t
	}
	t.add(s)
	n.subMu.Unlock()

	// The Broker call (network I/O for Redis) happens outside subMu: other topics' changes go
	// on meanwhile, and other subscribers of this topic wait for it on t.ready.
	var err error
	if creator {
		var cancel func() error
		cancel, err = n.broker.Subscribe(ctx, topic, func(msg []byte) { n.deliver(t, msg) })
		n.subMu.Lock()
		t.cancel, t.err = cancel, err
		close(t.ready)
		orphan := err == nil && n.topics[topic] != t // everyone left while we subscribed
		if err != nil && n.topics[topic] == t {
			delete(n.topics, topic)
		}
		n.subMu.Unlock()
		if orphan {
			_ = cancel()
		}
	} else {
		select {
		case <-t.ready:
			err = t.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		n.subMu.Lock()
		t.remove(s)
		n.subMu.Unlock()
		s.mu.Lock()
		delete(s.topics, topic)
		s.mu.Unlock()
		return fmt.Errorf("signaling: subscribe %s: %w", topic, unavailable(err))
	}
	return nil
}

func (n *Node) unsubscribeLocal(_ context.Context, s *Session, topic string) error {
	n.subMu.Lock()
	s.mu.Lock()
	delete(s.topics, topic)
	s.mu.Unlock()
	t := n.topics[topic]
	if t == nil || !t.remove(s) || t.len() > 0 {
		n.subMu.Unlock()
		return nil
	}
	delete(n.topics, topic)
	var cancel func() error
	select {
	case <-t.ready:
		cancel = t.cancel
	default: // still subscribing: its creator sees the orphan and cancels
	}
	n.subMu.Unlock()
	if cancel != nil {
		if err := cancel(); err != nil {
			return fmt.Errorf("signaling: unsubscribe %s: %w", topic, err)
		}
	}
	return nil
}

// Shutdown stops accepting sessions, flushes every session's queue and closes it with 1012
// (clients reconnect and resume), then waits for the sessions to end or ctx to be done. Sessions
// waiting for a resume are released. It is safe to call more than once.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.closing = true
	all := make([]*Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		all = append(all, s)
	}
	n.mu.Unlock()
	var atts []*attachment
	for _, s := range all {
		s.mu.Lock()
		if s.expiry != nil {
			s.expiry.Stop()
			s.expiry = nil
		}
		if s.att != nil {
			atts = append(atts, s.att)
		}
		s.mu.Unlock()
	}
	for _, a := range atts {
		a.shutdown()
	}
	done := make(chan struct{})
	go func() {
		n.serving.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("signaling: shutdown: %w", ctx.Err())
		for _, a := range atts {
			a.cancelW()
		}
	}
	if err == nil && n.opts.ShutdownHandover > 0 && n.opts.HandoverTimeout > 0 {
		n.awaitHandovers(ctx)
	}
	n.cancel()
	if err == nil {
		<-done
	}
	// Release broker subscriptions.
	var cancels []func() error
	n.subMu.Lock()
	for topic, t := range n.topics {
		if t.cancel != nil {
			cancels = append(cancels, t.cancel)
		}
		delete(n.topics, topic)
	}
	n.subMu.Unlock()
	for _, c := range cancels {
		_ = c()
	}
	n.hoMu.Lock()
	if n.hoSub != nil {
		_ = n.hoSub()
		n.hoSub = nil
	}
	n.hoMu.Unlock()
	return err
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
