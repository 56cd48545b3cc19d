package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Cross-node resume. A client may reconnect to any node of a cluster; when the node it reaches
// does not hold its session, that node (the adopter) asks the holder for it over the Broker.
// This control plane has subscriptions of its own, apart from the topics that carry events: the
// node's topic (node:<id>, direct messages) and, with HandoverTimeout on, the handover topic
// that every such node subscribes to.
//
//  1. adopter → handover       request {lastSeq}          the node holding the session answers
//  2. holder  → node:<adopter> offer {topics, entries}    entries after lastSeq; it keeps buffering
//  3. adopter subscribes to the topics (buffering what arrives), then → node:<holder> commit
//  4. holder  → node:<adopter> tail {entries}             what it buffered since the offer;
//     it then lets the session go without hooks (nobody sees a leave)
//  5. the adopter merges offer, tail and its own buffer (deduplicated by publish id), numbers
//     what is new after the tail, and resumes the client as usual.
//
// Graceful shutdown keeps closed sessions available for this (NodeOptions.ShutdownHandover),
// so that a rolling restart loses nothing.

type handoverRequest struct {
	LastSeq uint64 `json:"lastSeq"`
	UserID  string `json:"userId"`
}

type handoverEntry struct {
	Seq  uint64 `json:"seq"`
	Body []byte `json:"body"`
	PID  string `json:"pid,omitempty"`
}

type handoverOffer struct {
	OK      bool            `json:"ok"` // false: the gap cannot be covered
	Codec   string          `json:"codec"`
	Seq     uint64          `json:"seq"` // the last seq the holder assigned
	Topics  []string        `json:"topics"`
	Entries []handoverEntry `json:"entries"`
}

type handoverTail struct {
	Entries []handoverEntry `json:"entries"`
}

// ensureControlTopics subscribes the node to its control topics: its own, where handover replies
// and subscription acknowledgements arrive, and, with cross-node resume on, the handover topic,
// where requests arrive. The Broker calls are made without holding the control plane's lock;
// callers that come meanwhile wait for them.
func (n *Node) ensureControlTopics(ctx context.Context) error {
	cp := &n.cp
	for {
		cp.mu.Lock()
		if cp.sub != nil {
			cp.mu.Unlock()
			return nil
		}
		if wait := cp.subbing; wait != nil {
			cp.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		cp.subbing = done
		cp.mu.Unlock()
		cancel, err := n.subscribeControl(ctx)
		cp.mu.Lock()
		cp.subbing = nil
		if err == nil {
			cp.sub = cancel
		}
		close(done)
		cp.mu.Unlock()
		return err
	}
}

// subscribeControl subscribes onNodeMessage to the node's control topics, and returns what
// cancels both subscriptions.
func (n *Node) subscribeControl(ctx context.Context) (func() error, error) {
	own, err := n.broker.Subscribe(ctx, nodeTopic(n.id), n.onNodeMessage)
	if err != nil || n.opts.HandoverTimeout <= 0 {
		return own, err
	}
	requests, err := n.broker.Subscribe(ctx, handoverTopic, n.onNodeMessage)
	if err != nil {
		_ = own()
		return nil, err
	}
	return func() error { return errors.Join(requests(), own()) }, nil
}

// onNodeMessage is the Broker's callback for the control topics.
func (n *Node) onNodeMessage(msg []byte) {
	m, err := unmarshalBrokerMsg(msg)
	if err != nil {
		return
	}
	switch m.kind {
	case msgHandoverRequest:
		if m.origin == n.id {
			return // our own request
		}
		if s := n.Session(m.arg); s != nil {
			m.body = append([]byte(nil), m.body...)
			n.control(func() { n.offer(s, m) })
		}
	case msgHandoverOffer, msgHandoverTail:
		n.cp.handoverReply(m)
	case msgControlAck:
		n.cp.acked(m.pid, m.flags&flagFailed == 0)
	case msgHandoverCommit:
		if s := n.Session(m.arg); s != nil {
			n.control(func() { n.release(s, m.origin) })
		}
	}
}

func (n *Node) sendHandover(ctx context.Context, kind byte, topic, sid string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m := brokerMsg{kind: kind, origin: n.id, arg: sid, body: body}
	return n.broker.Publish(ctx, topic, m.marshal())
}

func toEntries(es []replayEntry) []handoverEntry {
	out := make([]handoverEntry, len(es))
	for i, e := range es {
		out[i] = handoverEntry{Seq: e.seq, Body: e.body, PID: e.pid}
	}
	return out
}

// offer answers a handover request for a session this node holds (step 2).
func (n *Node) offer(s *Session, m brokerMsg) {
	var req handoverRequest
	if json.Unmarshal(m.body, &req) != nil || req.UserID != s.user.ID {
		return
	}
	if err := n.ensureControlTopics(n.ctx); err != nil { // the commit comes to our node topic
		n.log.Warn("handover: node topic", "err", err)
		return
	}
	s.mu.Lock()
	if s.state == stateGone || s.state == stateAdopting {
		s.mu.Unlock()
		return
	}
	entries, ok := s.buf.after(req.LastSeq, s.seq, n.clock.Now())
	o := handoverOffer{OK: ok, Codec: s.codec.Name(), Seq: s.seq}
	if ok {
		o.Entries = toEntries(entries)
		for t := range s.topics {
			o.Topics = append(o.Topics, t)
		}
		s.offeredAt, s.offerTo = s.seq, m.origin
		// An offer that is never committed (the adopter gave up) lapses.
		adopter := m.origin
		n.clock.AfterFunc(2*n.opts.HandoverTimeout, func() {
			s.mu.Lock()
			if s.offerTo == adopter {
				s.offerTo = ""
			}
			s.mu.Unlock()
		})
	}
	s.mu.Unlock()
	if err := n.sendHandover(n.ctx, msgHandoverOffer, nodeTopic(m.origin), s.id, o); err != nil {
		n.log.Warn("handover offer failed", "session", s.id, "to", m.origin, "err", err)
	}
}

// release sends the tail to the adopter and lets the session go without hooks (step 4).
func (n *Node) release(s *Session, adopter string) {
	s.mu.Lock()
	if s.state == stateGone || s.offerTo != adopter {
		s.mu.Unlock()
		return
	}
	tail, _ := s.buf.after(s.offeredAt, s.seq, n.clock.Now())
	att := s.att
	s.mu.Unlock()
	if att != nil {
		// The client left this node without it noticing yet; 1001, not 1000, so that nothing
		// still listening there takes it as the end of the session.
		att.close(StatusGoingAway, "session resumed on another node", false)
	}
	if err := n.sendHandover(n.ctx, msgHandoverTail, nodeTopic(adopter), s.id, handoverTail{Entries: toEntries(tail)}); err != nil {
		n.log.Warn("handover tail failed", "session", s.id, "to", adopter, "err", err)
	}
	if !n.finalizeIf(s, func() bool { return s.offerTo == adopter }) {
		return
	}
	n.log.Debug("session handed over", "session", s.id, "to", adopter)
	n.runHooks(n.ctx, s, SessionMoved)
}

// adopt takes a session over from the node that holds it (steps 1, 3 and 5). It reports false
// when nobody answered in time or the gap cannot be covered: the client then starts afresh.
func (n *Node) adopt(ctx context.Context, sid string, u User, so *SessionOptions, a *attachment) (*Session, bool) {
	if err := n.ensureControlTopics(ctx); err != nil {
		n.log.Warn("handover: node topic", "err", err)
		return nil, false
	}
	ch, forget := n.cp.awaitHandover(sid)
	defer forget()
	wait := func(kind byte) (brokerMsg, bool) {
		t := time.NewTimer(n.opts.HandoverTimeout)
		defer t.Stop()
		for {
			select {
			case m := <-ch:
				if m.kind == kind {
					return m, true
				}
			case <-t.C:
				return brokerMsg{}, false
			case <-ctx.Done():
				return brokerMsg{}, false
			}
		}
	}
	if err := n.sendHandover(ctx, msgHandoverRequest, handoverTopic, sid, handoverRequest{LastSeq: so.LastSeq, UserID: u.ID}); err != nil {
		return nil, false
	}
	m, ok := wait(msgHandoverOffer)
	if !ok {
		return nil, false
	}
	holder := m.origin
	var o handoverOffer
	if json.Unmarshal(m.body, &o) != nil || !o.OK || o.Codec != so.Codec.Name() {
		return nil, false
	}

	// Register the session as adopting and subscribe it: what arrives now is kept in pending.
	s := n.newSession(u, so.Codec)
	s.id, s.token = sid, so.ResumeToken
	s.state = stateAdopting
	n.mu.Lock()
	if n.sessions[sid] != nil || n.closing {
		n.mu.Unlock()
		return nil, false
	}
	n.sessions[sid] = s
	victims := n.registerLocked(s)
	n.mu.Unlock()
	n.evict(victims)
	n.stats.sessions.Add(1)
	for _, t := range o.Topics {
		if err := n.subscribeLocal(ctx, s, t); err != nil {
			n.finalize(s)
			return nil, false
		}
	}
	if err := n.sendHandover(ctx, msgHandoverCommit, nodeTopic(holder), sid, struct{}{}); err != nil {
		n.finalize(s)
		return nil, false
	}
	var tail handoverTail
	m, ok = wait(msgHandoverTail)
	if !ok || json.Unmarshal(m.body, &tail) != nil {
		// Without the tail the replay could miss what the holder received after its offer:
		// never a partial gap (PROTOCOL.md §4), the client starts afresh.
		n.log.Warn("handover: no tail; starting a fresh session", "session", sid, "from", holder)
		n.finalize(s)
		return nil, false
	}

	// Merge: the holder's entries keep their numbers; what only this node received follows.
	// The merge and going live are one critical section, so that nothing lands in pending
	// after it was read.
	sessionBody, err := s.codec.Encode(Envelope{Event: "session", Data: n.sessionInfo(s, true)})
	if err != nil {
		n.finalize(s)
		return nil, false
	}
	now := n.clock.Now()
	s.mu.Lock()
	if s.state != stateAdopting || n.isClosing() {
		s.mu.Unlock()
		n.finalize(s)
		return nil, false
	}
	seen := map[string]bool{}
	last := so.LastSeq
	for _, list := range [][]handoverEntry{o.Entries, tail.Entries} {
		for _, e := range list {
			if e.Seq <= last {
				continue
			}
			s.buf.add(e.Seq, e.Body, now, e.PID)
			last = e.Seq
			if e.PID != "" {
				seen[e.PID] = true
			}
		}
	}
	if last < o.Seq {
		last = o.Seq
	}
	s.seq = last
	for _, p := range s.pending {
		if p.pid != "" && seen[p.pid] {
			continue
		}
		s.seq++
		s.buf.add(s.seq, p.body, now, p.pid)
	}
	s.pending = nil
	replay, _ := s.buf.after(so.LastSeq, s.seq, now)
	resumedBody, _ := s.codec.Encode(Envelope{Event: "resumed", Data: map[string]int{"replayed": len(replay)}})
	a.preload(resumeFrames(sessionBody, replay, resumedBody))
	s.att = a
	s.state = stateLive
	s.mu.Unlock()
	n.log.Debug("session adopted", "session", sid, "from", holder, "replayed", len(replay))
	return s, true
}

// awaitHandovers waits, during Shutdown, until every session was handed over or ended, or the
// ShutdownHandover period or ctx ran out.
func (n *Node) awaitHandovers(ctx context.Context) {
	deadline := time.NewTimer(n.opts.ShutdownHandover)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n.mu.Lock()
		left := len(n.sessions)
		n.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
