package signaling

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

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

	if ctx.Done() == nil {
		// A context that never ends (the WebSocket transport's): the session's ends with the
		// node, and costs no context of its own (see nodeBound).
		ctx = nodeBound{values: ctx, node: n.ctx}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(n.ctx, cancel)
		defer stop()
	}

	s, a, resumed, err := n.attach(ctx, c, u, &so)
	if err != nil {
		return err
	}
	// The writer runs before the hooks: the `session` frame (and a resume's replay) goes out
	// now, and a slow hook delays only what it sends itself. What the hooks send is queued
	// behind it; the client's own events are read after the hooks.
	if !so.Expires.IsZero() {
		t := n.clock.AfterFunc(so.Expires.Sub(n.clock.Now()), func() { a.close(StatusPolicyViolation, "token expired", true) })
		defer t.Stop()
	}
	a.start()
	ev := SessionConnected
	if resumed {
		ev = SessionResumed
	}
	if resumed {
		n.log.Debug("session resumed", "session", s.id, "user", u.ID)
	} else {
		n.log.Debug("session started", "session", s.id, "user", u.ID)
	}
	// The hooks run on a goroutine of their own, which is gone when they return: their calls
	// (stores, encoders) grow its stack, and the connection's goroutine, which then waits in
	// Read for as long as the connection is idle, keeps a small one.
	hooked := make(chan struct{})
	go func() {
		defer close(hooked)
		n.runHooks(ctx, s, ev)
	}()
	<-hooked

	readErr := n.read(ctx, c, s, a)
	// The connection is gone, or closing: cut a drain short, let the frames already received
	// be handled, and wait for the writer to have closed the Conn.
	a.close(StatusNormalClosure, "", false)
	a.wait()
	n.detach(s, a, readErr)
	return nil
}

// read is a session's read loop: it charges every frame to the rate limit as it arrives and
// queues it for the dispatcher. It returns the error that ended the connection.
func (n *Node) read(ctx context.Context, c Conn, s *Session, a *attachment) error {
	var in inbox
	defer func() { <-in.drained() }()
	r := reader{period: time.Duration(float64(time.Second) / n.opts.RateLimit)}
	for {
		frame, err := c.Read(ctx)
		if err != nil {
			return err
		}
		handle, answer, flooded := n.charge(s, &r, n.clock.Now())
		switch {
		case flooded:
			n.log.Warn("rate limit exceeded for too long: closing with 1008", "session", s.id, "user", s.user.ID)
			a.close(StatusPolicyViolation, "rate limit exceeded", true)
			continue // read on until the close handshake ends the connection
		case !handle && !answer:
			continue // dropped (counted)
		}
		f := inFrame{frame: frame, limited: answer}
		f.env, f.err = s.codec.Decode(frame)
		if handle && f.err == nil {
			var refused *Error
			if f.pending, refused = n.admit(f.env); refused != nil {
				s.sendError(ctx, refused) // at once: the node is over its bound for this event
				continue
			}
		}
		if err := n.push(ctx, s, &in, f); err != nil {
			if f.pending != nil {
				f.pending.Add(-1)
			}
			return err
		}
	}
}

// attach binds c to a resumed or a new session and prepares the frames that go first.
func (n *Node) attach(ctx context.Context, c Conn, u User, so *SessionOptions) (*Session, *attachment, bool, error) {
	a := newAttachment(c, so.Codec, n.opts.QueueBytes)
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
	a.preload([]outFrame{{body: body}})
	s.att = a
	n.mu.Lock()
	if n.closing { // Shutdown began after Serve was entered: its snapshot would miss us
		n.mu.Unlock()
		_ = c.Close(StatusServiceRestart, "server restarting")
		return nil, nil, false, ErrClosed
	}
	n.sessions[s.id] = s
	victims := n.registerLocked(s)
	n.mu.Unlock()
	n.stats.sessions.Add(1)
	n.evict(victims)
	for _, t := range [...]string{UserTopic(u.ID), SessionTopic(s.id)} {
		if err := n.subscribeLocal(ctx, s, t); err != nil {
			n.finalize(s)
			_ = c.Close(StatusInternalError, "unavailable")
			return nil, nil, false, fmt.Errorf("signaling: subscribe %s: %w", t, err)
		}
	}
	if n.opts.HandoverTimeout > 0 { // where other nodes ask for the session (node_handover.go)
		if err := n.ensureControlTopics(ctx); err != nil {
			n.finalize(s)
			_ = c.Close(StatusInternalError, "unavailable")
			return nil, nil, false, fmt.Errorf("signaling: subscribe the control topics: %w", err)
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
	a.preload(resumeFrames(sessionBody, replay, resumedBody))
	if n.isClosing() {
		s.mu.Unlock()
		return nil, false
	}
	s.att = a
	s.state = stateLive
	s.offerTo = "" // the client came back here: a pending handover offer is void
	s.mu.Unlock()
	if old != nil {
		old.close(StatusGoingAway, "session resumed elsewhere", false)
	}
	return s, true
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
		ResumeWindowMs: n.resumeWindow().Milliseconds(),
		Resumed:        resumed,
		ServerTime:     n.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		ICEServers:     n.iceServers(s.user.ID),
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
		old.close(StatusNormalClosure, "session ended", true)
	}
	n.mu.Lock()
	delete(n.sessions, s.id)
	n.unregisterLocked(s)
	n.mu.Unlock()
	n.stats.sessions.Add(-1)
	for _, t := range topics {
		_ = n.unsubscribeLocal(n.ctx, s, t)
	}
	return true
}

// resumeFrames are the first frames of a resumed session: `session`, the replay, `resumed`.
func resumeFrames(sessionBody []byte, replay []replayEntry, resumedBody []byte) []outFrame {
	out := make([]outFrame, 0, len(replay)+2)
	out = append(out, outFrame{body: sessionBody})
	for _, r := range replay {
		out = append(out, outFrame{seq: r.seq, body: r.body})
	}
	return append(out, outFrame{body: resumedBody})
}

// nodeBound is a session's context when the one Serve was given never ends: its values are
// that context's, its end the node's. An idle connection thus holds no cancellation of its own
// (a cancelCtx, its channel and its table of children, and a callback on the node's context):
// what is derived from it (handler deadlines, the transport's read callback) hangs directly
// off the node's context, since Value hands the node's cancellation to the context package.
type nodeBound struct {
	values context.Context
	node   context.Context
}

func (c nodeBound) Deadline() (time.Time, bool) { return c.node.Deadline() }
func (c nodeBound) Done() <-chan struct{}       { return c.node.Done() }
func (c nodeBound) Err() error                  { return c.node.Err() }

func (c nodeBound) Value(key any) any {
	if v := c.values.Value(key); v != nil {
		return v
	}
	return c.node.Value(key)
}
