package signaling

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
)

// Broker moves encoded events between nodes. Every delivery of a Node goes through its Broker,
// so a Broker that spans processes (signaling/redisbroker) turns several Nodes into one hub.
//
// Publish and Subscribe are safe for concurrent use. deliver must not block (a Node only
// enqueues); it may be called concurrently (MemoryBroker calls it on each publisher's
// goroutine; redisbroker on its receive goroutine). A Subscribe may wait for its Broker's
// confirmation, so a Node never calls Subscribe from inside deliver unless the Broker allows it.
type Broker interface {
	Publish(ctx context.Context, topic string, msg []byte) error
	Subscribe(ctx context.Context, topic string, deliver func(msg []byte)) (cancel func() error, err error)
}

// CountingBroker is implemented by Brokers whose Publish can tell how many subscribers the
// message reached (Redis PUBLISH does). A Node uses it to make subscription changes on other
// nodes synchronous: it waits for an acknowledgement from each node that received the change.
// With a plain Broker those changes are fire-and-forget.
type CountingBroker interface {
	Broker
	PublishCount(ctx context.Context, topic string, msg []byte) (int, error)
}

// CrossProcessBroker is implemented by Brokers that connect Nodes in different processes
// (signaling/redisbroker does). On such a Broker a client that reconnects may reach another
// node than the one holding its session, so a Node turns cross-node resume on by default
// (NodeOptions.HandoverTimeout and ShutdownHandover).
type CrossProcessBroker interface {
	Broker
	// CrossProcess reports whether Nodes in other processes may share this Broker.
	CrossProcess() bool
}

// MemoryBroker is a Broker inside one process. Several Nodes may share one MemoryBroker, which
// is how the tests run a multi-node hub without Redis. Delivery is synchronous: Publish returns
// after every subscriber's deliver has returned.
type MemoryBroker struct {
	mu     sync.RWMutex
	topics map[string][]*memSub
}

type memSub struct{ deliver func([]byte) }

// inlineControl is implemented by brokers whose Subscribe and cancel never wait for a delivery
// to finish, so that a Node may change subscriptions from inside a deliver callback.
type inlineControl interface{ inlineControl() }

func (*MemoryBroker) inlineControl() {}

// NewMemoryBroker returns an empty MemoryBroker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{topics: map[string][]*memSub{}} }

var _ CountingBroker = (*MemoryBroker)(nil)

// Publish calls every subscriber of topic with msg.
func (b *MemoryBroker) Publish(_ context.Context, topic string, msg []byte) error {
	b.mu.RLock()
	subs := b.topics[topic]
	b.mu.RUnlock()
	for _, s := range subs {
		s.deliver(msg)
	}
	return nil
}

// PublishCount is Publish, reporting how many subscribers were called.
func (b *MemoryBroker) PublishCount(_ context.Context, topic string, msg []byte) (int, error) {
	b.mu.RLock()
	subs := b.topics[topic]
	b.mu.RUnlock()
	for _, s := range subs {
		s.deliver(msg)
	}
	return len(subs), nil
}

// Subscribe registers deliver for topic until cancel is called.
func (b *MemoryBroker) Subscribe(_ context.Context, topic string, deliver func([]byte)) (func() error, error) {
	s := &memSub{deliver: deliver}
	b.mu.Lock()
	// Copy on write: Publish iterates a snapshot without holding the lock.
	old := b.topics[topic]
	subs := make([]*memSub, len(old), len(old)+1)
	copy(subs, old)
	b.topics[topic] = append(subs, s)
	b.mu.Unlock()
	var once sync.Once
	return func() error {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			old := b.topics[topic]
			subs := make([]*memSub, 0, len(old))
			for _, o := range old {
				if o != s {
					subs = append(subs, o)
				}
			}
			if len(subs) == 0 {
				delete(b.topics, topic)
			} else {
				b.topics[topic] = subs
			}
		})
		return nil
	}, nil
}

// Topics returns how many topics have subscribers (for tests and metrics).
func (b *MemoryBroker) Topics() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.topics)
}

// UserTopic names the topic of every session of a user; a Node subscribes each session to it.
func UserTopic(userID string) string { return "user:" + userID }

// SessionTopic names the topic of one session, wherever it is; a Node subscribes it.
func SessionTopic(sessionID string) string { return "session:" + sessionID }

func nodeTopic(nodeID string) string { return "node:" + nodeID }

// handoverTopic is where an adopter asks, every node at once, for a session (node_handover.go);
// the nodes with cross-node resume on subscribe to it.
const handoverTopic = "handover"

// Broker messages carry a small header before the event, which is encoded once with the JSON
// codec: kind, flags, then length-prefixed strings. Control messages ask the nodes that hold a
// user's or session's sessions to subscribe or unsubscribe them.
const (
	msgEvent byte = iota + 1
	msgSubscribe
	msgUnsubscribe
	msgHandoverRequest // to handover: "give me this session" (node_handover.go)
	msgHandoverOffer   // to node:<id>: the session's state
	msgHandoverCommit  // to node:<id>: "I am subscribed; send the tail and let go"
	msgHandoverTail    // to node:<id>: what arrived since the offer
	msgControlAck      // to node:<id>: a subscription change (pid) was applied
)

const (
	flagEphemeral byte = 1
	flagFailed    byte = 2 // msgControlAck: the change failed on that node
)

type brokerMsg struct {
	kind          byte
	flags         byte
	origin        string // node id of the sender (control messages skip their origin)
	exceptSession string
	exceptUser    string
	onlyUser      string
	arg           string // control: the topic
	pid           string // event: a publish id unique across nodes (dedupes a handover)
	body          []byte // event: the JSON-encoded envelope; handover: its JSON payload
}

func (m *brokerMsg) marshal() []byte {
	n := 2 + 6*binary.MaxVarintLen32 + len(m.origin) + len(m.exceptSession) + len(m.exceptUser) + len(m.onlyUser) + len(m.arg) + len(m.pid) + len(m.body)
	b := make([]byte, 0, n)
	b = append(b, m.kind, m.flags)
	for _, s := range [...]string{m.origin, m.exceptSession, m.exceptUser, m.onlyUser, m.arg, m.pid} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, m.body...)
}

var errBadBrokerMsg = errors.New("signaling: malformed broker message")

// unmarshalBrokerMsg parses msg; body aliases msg.
func unmarshalBrokerMsg(msg []byte) (brokerMsg, error) {
	var m brokerMsg
	if len(msg) < 2 {
		return m, errBadBrokerMsg
	}
	m.kind, m.flags = msg[0], msg[1]
	rest := msg[2:]
	var fields [6]string
	for i := range fields {
		l, n := binary.Uvarint(rest)
		if n <= 0 || uint64(len(rest)-n) < l {
			return m, errBadBrokerMsg
		}
		fields[i] = string(rest[n : n+int(l)])
		rest = rest[n+int(l):]
	}
	m.origin, m.exceptSession, m.exceptUser, m.onlyUser, m.arg, m.pid = fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
	m.body = rest
	return m, nil
}
