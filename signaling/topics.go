package signaling

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
)

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

// Publish encodes e once and hands it to the Broker for every subscriber of topic.
func (n *Node) Publish(ctx context.Context, topic string, e Envelope, opts ...PublishOption) error {
	body, err := JSON.Encode(e)
	if err != nil {
		return err
	}
	o := collect(opts)
	m := brokerMsg{kind: msgEvent, exceptSession: o.exceptSession, exceptUser: o.exceptUser, onlyUser: o.onlyUser, body: body}
	switch {
	case o.id != "":
		m.pid = "app:" + topic + ":" + o.id // unique per topic, as the node's own ids are
	case n.opts.HandoverTimeout > 0:
		m.pid = n.id + ":" + strconv.FormatUint(n.pids.Add(1), 36)
	}
	if o.ephemeral {
		m.flags |= flagEphemeral
	}
	ctx, cancel := n.brokerCtx(ctx)
	defer cancel()
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
		if m.pid != "" && !n.seen.firstTime(m.pid) {
			return // the same publish again: Redis ran a timed-out PUBLISH and its retry
		}
		var alt encodings
		eph := m.flags&flagEphemeral != 0
		now := n.clock.Now()
		for _, s := range *subs {
			if s.id == m.exceptSession || s.user.ID == m.exceptUser || (m.onlyUser != "" && s.user.ID != m.onlyUser) {
				continue
			}
			body := alt.get(s.codec, m.body)
			if body != nil {
				s.enqueue(body, eph, m.pid, now)
			}
		}
	case msgSubscribe, msgUnsubscribe:
		if m.origin == n.id {
			n.cp.acked(m.pid, true) // the origin applied it to its own sessions already
			return
		}
		n.control(func() {
			ok := true
			ctx, cancel := n.brokerCtx(n.ctx)
			defer cancel()
			for _, s := range *subs {
				var err error
				if m.kind == msgSubscribe {
					err = n.subscribeLocal(ctx, s, m.arg)
				} else {
					err = n.unsubscribeLocal(ctx, s, m.arg)
				}
				if err != nil {
					ok = false
					n.log.Error("remote subscription change failed", "session", s.id, "topic", m.arg, "err", err)
				}
			}
			if m.pid != "" {
				ack := brokerMsg{kind: msgControlAck, origin: n.id, pid: m.pid}
				if !ok {
					ack.flags |= flagFailed
				}
				if err := n.broker.Publish(ctx, nodeTopic(m.origin), ack.marshal()); err != nil {
					n.log.Warn("subscription change: ack failed", "to", m.origin, "err", err)
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

// Subscribe adds a session to topics, on whichever node holds it. A session start subscribes
// to all its rooms in one call.
func (n *Node) Subscribe(ctx context.Context, sessionID string, topics ...string) error {
	ctx, cancel := n.brokerCtx(ctx)
	defer cancel()
	s := n.Session(sessionID)
	for _, topic := range topics {
		var err error
		if s != nil {
			err = n.subscribeLocal(ctx, s, topic)
		} else {
			err = n.publishControl(ctx, msgSubscribe, SessionTopic(sessionID), topic)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// brokerCtx bounds the Broker calls made under ctx by BrokerTimeout (a MemoryBroker needs no
// bound).
func (n *Node) brokerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := n.broker.(inlineControl); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, n.opts.BrokerTimeout)
}

// Unsubscribe removes a session from a topic, on whichever node holds it.
func (n *Node) Unsubscribe(ctx context.Context, sessionID, topic string) error {
	ctx, cancel := n.brokerCtx(ctx)
	defer cancel()
	if s := n.Session(sessionID); s != nil {
		return n.unsubscribeLocal(ctx, s, topic)
	}
	return n.publishControl(ctx, msgUnsubscribe, SessionTopic(sessionID), topic)
}

// SubscribeUser adds every session of a user, on every node, to a topic. It returns once every
// node holding a session of the user has applied it (with a CountingBroker; see
// publishControl), so an event published next reaches all of them; a node that fails or does
// not answer within BrokerTimeout makes it fail with ErrUnavailable.
func (n *Node) SubscribeUser(ctx context.Context, userID, topic string) error {
	ctx, cancel := n.brokerCtx(ctx)
	defer cancel()
	for _, s := range n.localSubscribers(UserTopic(userID)) {
		if err := n.subscribeLocal(ctx, s, topic); err != nil {
			return err
		}
	}
	return n.publishControl(ctx, msgSubscribe, UserTopic(userID), topic)
}

// UnsubscribeUser removes every session of a user, on every node, from a topic.
func (n *Node) UnsubscribeUser(ctx context.Context, userID, topic string) error {
	ctx, cancel := n.brokerCtx(ctx)
	defer cancel()
	for _, s := range n.localSubscribers(UserTopic(userID)) {
		if err := n.unsubscribeLocal(ctx, s, topic); err != nil {
			return err
		}
	}
	return n.publishControl(ctx, msgUnsubscribe, UserTopic(userID), topic)
}

// LocalSessions returns this node's sessions of a user (attached or waiting for a resume), in a
// new slice the caller may keep and modify.
func (n *Node) LocalSessions(userID string) []*Session {
	return append([]*Session(nil), n.localSubscribers(UserTopic(userID))...)
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

// publishControl asks the nodes holding the sessions of via to change a subscription. With a
// CountingBroker it returns once every node that received the change has applied it (each
// acknowledges on this node's topic), or fails with ErrUnavailable when one failed or did not
// answer before ctx ended; with another Broker it returns once the change is published.
func (n *Node) publishControl(ctx context.Context, kind byte, via, topic string) error {
	m := brokerMsg{kind: kind, origin: n.id, arg: topic}
	cb, counting := n.broker.(CountingBroker)
	if !counting {
		if err := n.broker.Publish(ctx, via, m.marshal()); err != nil {
			return fmt.Errorf("signaling: subscription change via %s: %w", via, unavailable(err))
		}
		return nil
	}
	if err := n.ensureControlTopics(ctx); err != nil { // where the acknowledgements arrive
		return fmt.Errorf("signaling: subscription change via %s: %w", via, unavailable(err))
	}
	m.pid = n.id + ":c" + strconv.FormatUint(n.pids.Add(1), 36)
	w := n.cp.awaitAcks(m.pid)
	defer n.cp.forgetAcks(m.pid)
	count, err := cb.PublishCount(ctx, via, m.marshal())
	if err != nil {
		return fmt.Errorf("signaling: subscription change via %s: %w", via, unavailable(err))
	}
	for got := 0; got < count; got++ {
		select {
		case ok := <-w:
			if !ok {
				return fmt.Errorf("signaling: subscription change via %s: %w: a node failed to apply it", via, ErrUnavailable)
			}
		case <-ctx.Done():
			return fmt.Errorf("signaling: subscription change via %s: %w: %d of %d nodes answered: %w", via, ErrUnavailable, got, count, ctx.Err())
		}
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
