package signaling_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// TestResumeOnAnotherNodeAfterShutdown: node A shuts down with 1012 while events keep coming;
// the client resumes on node B and gets every event exactly once, in order.
func TestResumeOnAnotherNodeAfterShutdown(t *testing.T) {
	is := is.New(t)
	broker := signaling.NewMemoryBroker()
	secret := []byte("shared-resume-secret")
	opts := func(id string) *signaling.NodeOptions {
		return &signaling.NodeOptions{ID: id, Broker: broker, ResumeSecret: secret, HandoverTimeout: time.Second, ShutdownHandover: 5 * time.Second}
	}
	nodeA, nodeB := echoNode(t, opts("a")), echoNode(t, opts("b"))

	alice := signalingtest.Connect(t, nodeA, signaling.User{ID: "alice"}, nil)
	first := expectSession(t, alice)
	alice.Send("sub", map[string]string{"topic": "room:r"})
	alice.Expect("subscribed", wait)
	bob := signalingtest.Connect(t, nodeB, signaling.User{ID: "bob"}, nil)
	bob.Send("sub", map[string]string{"topic": "room:r"})
	bob.Expect("subscribed", wait)
	bob.Send("pub", map[string]string{"topic": "room:r", "text": "before"})
	alice.Expect("said", wait)
	bob.Expect("said", wait)
	last := alice.LastSeq()

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- nodeA.Shutdown(ctx)
	}()
	is.Equal(alice.ExpectClosed(wait), signaling.StatusServiceRestart) // 1012 from node A
	for _, text := range []string{"one", "two", "three"} {
		bob.Send("pub", map[string]string{"topic": "room:r", "text": text})
		bob.Expect("said", wait)
	}
	// Bob's events are handled in order: his pong means his last publish reached every node.
	bob.Send("ping", map[string]string{})
	bob.Expect("pong", wait)

	again := signalingtest.Connect(t, nodeB, signaling.User{ID: "alice"}, &signaling.SessionOptions{ResumeToken: first.ResumeToken, LastSeq: last})
	s := expectSession(t, again)
	is.True(s.Resumed)                     // resumed on node B
	is.Equal(s.SessionID, first.SessionID) // the same session
	for i, text := range []string{"one", "two", "three"} {
		f := again.Next(wait)
		is.Equal(f.Event, "said")         // the missed events
		is.Equal(f.Seq, last+uint64(i)+1) // in order, numbered on
		var d map[string]string
		is.NoErr(f.Bind(&d))
		is.Equal(d["text"], text) // exactly once each
	}
	is.Equal(again.Next(wait).Event, "resumed") // then resumed
	select {
	case err := <-shutdown:
		is.NoErr(err) // node A finished once its session was handed over
	case <-time.After(wait):
		t.Fatal("node A's shutdown did not finish after the handover")
	}
	bob.Send("pub", map[string]string{"topic": "room:r", "text": "after"})
	f := again.Expect("said", wait)
	is.Equal(f.Seq, last+4)                        // node B keeps numbering
	again.ExpectNone("said", 100*time.Millisecond) // and delivers once
}

// dropBroker is a Broker that loses the nth message published to one topic.
type dropBroker struct {
	signaling.Broker
	topic string
	nth   int
	mu    sync.Mutex
	seen  int
}

func (b *dropBroker) Publish(ctx context.Context, topic string, msg []byte) error {
	if topic == b.topic {
		b.mu.Lock()
		b.seen++
		drop := b.seen == b.nth
		b.mu.Unlock()
		if drop {
			return nil
		}
	}
	return b.Broker.Publish(ctx, topic, msg)
}

// TestResumeWithoutTailIsFresh: when the holder's final batch (the handover tail) never
// reaches the adopting node, the client gets a fresh session (resumed: false), never a resume
// that may have skipped events.
func TestResumeWithoutTailIsFresh(t *testing.T) {
	is := is.New(t)
	mem := signaling.NewMemoryBroker()
	secret := []byte("shared-resume-secret")
	// Node A's second message to node B is the tail (the first is the offer).
	brokerA := &dropBroker{Broker: mem, topic: "node:b", nth: 2}
	nodeA := echoNode(t, &signaling.NodeOptions{ID: "a", Broker: brokerA, ResumeSecret: secret, HandoverTimeout: 200 * time.Millisecond})
	nodeB := echoNode(t, &signaling.NodeOptions{ID: "b", Broker: mem, ResumeSecret: secret, HandoverTimeout: 200 * time.Millisecond})

	alice := signalingtest.Connect(t, nodeA, signaling.User{ID: "alice"}, nil)
	first := expectSession(t, alice)
	alice.Close(signaling.StatusGoingAway) // a drop: the session waits on node A

	again := signalingtest.Connect(t, nodeB, signaling.User{ID: "alice"}, &signaling.SessionOptions{ResumeToken: first.ResumeToken, LastSeq: alice.LastSeq()})
	s := expectSession(t, again)
	is.True(!s.Resumed)                     // not a resume
	is.True(s.SessionID != first.SessionID) // a fresh session
	again.SendRef("ping", struct{}{}, "p")
	is.Equal(again.Next(wait).Event, "pong") // no resumed frame came before the pong
}

// crossProcessBroker is a MemoryBroker that declares itself a CrossProcessBroker, as
// redisbroker does.
type crossProcessBroker struct{ *signaling.MemoryBroker }

func (crossProcessBroker) CrossProcess() bool { return true }

// TestHandoverOnByDefaultOnCrossProcessBroker: nodes on a Broker that spans processes hand a
// session over without any handover option (node A's shutdown keeps it for node B); on a plain
// MemoryBroker, with no option either, the client starts afresh.
func TestHandoverOnByDefaultOnCrossProcessBroker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broker signaling.Broker
		resume bool
	}{
		{"cross-process", crossProcessBroker{signaling.NewMemoryBroker()}, true},
		{"memory", signaling.NewMemoryBroker(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			secret := []byte("shared-resume-secret")
			nodeA := echoNode(t, &signaling.NodeOptions{ID: "a", Broker: tc.broker, ResumeSecret: secret})
			nodeB := echoNode(t, &signaling.NodeOptions{ID: "b", Broker: tc.broker, ResumeSecret: secret})
			alice := signalingtest.Connect(t, nodeA, signaling.User{ID: "alice"}, nil)
			first := expectSession(t, alice)
			shutdown := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				shutdown <- nodeA.Shutdown(ctx)
			}()
			is.Equal(alice.ExpectClosed(wait), signaling.StatusServiceRestart) // 1012 from node A

			again := signalingtest.Connect(t, nodeB, signaling.User{ID: "alice"}, &signaling.SessionOptions{ResumeToken: first.ResumeToken})
			s := expectSession(t, again)
			is.Equal(s.Resumed, tc.resume)                      // handed over only across a CrossProcessBroker
			is.Equal(s.SessionID == first.SessionID, tc.resume) // the same session, or a fresh one
			select {
			case err := <-shutdown:
				is.NoErr(err) // node A finished
			case <-time.After(10 * time.Second):
				t.Fatal("node A's shutdown did not finish")
			}
		})
	}
}

// topicLog is a Broker that records the topics published to.
type topicLog struct {
	signaling.Broker
	mu     sync.Mutex
	topics []string
}

func (b *topicLog) Publish(ctx context.Context, topic string, msg []byte) error {
	b.mu.Lock()
	b.topics = append(b.topics, topic)
	b.mu.Unlock()
	return b.Broker.Publish(ctx, topic, msg)
}

func (b *topicLog) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics
	b.topics = nil
	return t
}

// TestHandoverOnItsOwnTopics: a handover asks on the control plane's topics (the handover topic
// and the nodes' own), never on a topic that carries events, such as the session's.
func TestHandoverOnItsOwnTopics(t *testing.T) {
	is := is.New(t)
	broker := &topicLog{Broker: signaling.NewMemoryBroker()}
	secret := []byte("shared-resume-secret")
	opts := func(id string) *signaling.NodeOptions {
		return &signaling.NodeOptions{ID: id, Broker: broker, ResumeSecret: secret, HandoverTimeout: time.Second}
	}
	nodeA, nodeB := echoNode(t, opts("a")), echoNode(t, opts("b"))
	alice := signalingtest.Connect(t, nodeA, signaling.User{ID: "alice"}, nil)
	first := expectSession(t, alice)
	alice.Close(signaling.StatusGoingAway) // dropped: node A keeps the session for a resume
	broker.take()

	again := signalingtest.Connect(t, nodeB, signaling.User{ID: "alice"}, &signaling.SessionOptions{ResumeToken: first.ResumeToken})
	s := expectSession(t, again)
	is.True(s.Resumed)                     // handed over from node A
	is.Equal(s.SessionID, first.SessionID) // the same session
	topics := broker.take()
	is.True(slices.Contains(topics, "handover"))                           // the request went to every node with handover on
	is.True(!slices.Contains(topics, signaling.SessionTopic(s.SessionID))) // not to the session's event topic
	for _, topic := range topics {
		is.True(topic == "handover" || strings.HasPrefix(topic, "node:")) // the rest between the two nodes
	}
}
