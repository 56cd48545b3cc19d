package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/redisbroker"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const wait = 3 * time.Second

func newBroker(t testing.TB, rdb redis.UniversalClient, prefix string) *redisbroker.Broker {
	t.Helper()
	b, err := redisbroker.New(context.Background(), rdb, &redisbroker.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestDeliveryAcrossBrokers(t *testing.T) {
	is := is.New(t)
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	a := newBroker(t, redistest.Client(t, addr, prefix), prefix)
	b := newBroker(t, redistest.Client(t, addr, prefix), prefix)
	is.True(a.Sharded()) // Redis 7 here: sharded pub/sub

	got := make(chan string, 10)
	cancel, err := a.Subscribe(context.Background(), "room:r", func(m []byte) { got <- string(m) })
	is.NoErr(err)
	// The subscription is confirmed asynchronously: publish until the first message arrives.
	deadline := time.After(wait)
	for first := true; first; {
		is.NoErr(b.Publish(context.Background(), "room:r", []byte("hello")))
		select {
		case m := <-got:
			is.Equal(m, "hello") // the payload crosses brokers
			first = false
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no delivery across brokers")
		}
	}
	is.NoErr(cancel())
	for len(got) > 0 {
		<-got
	}
	is.NoErr(b.Publish(context.Background(), "other", []byte("x")))
	select {
	case m := <-got:
		t.Fatalf("delivered %q on a topic nobody subscribed", m)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestTwoNodes runs two signaling Nodes on one Redis: an event published on node B reaches a
// session on node A exactly once.
func TestTwoNodes(t *testing.T) {
	is := is.New(t)
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	nodeA := signaling.NewNode(&signaling.NodeOptions{ID: "a", Broker: newBroker(t, redistest.Client(t, addr, prefix), prefix)})
	nodeB := signaling.NewNode(&signaling.NodeOptions{ID: "b", Broker: newBroker(t, redistest.Client(t, addr, prefix), prefix)})
	t.Cleanup(func() {
		_ = nodeA.Shutdown(context.Background())
		_ = nodeB.Shutdown(context.Background())
	})
	alice := signalingtest.Connect(t, nodeA, signaling.User{ID: "alice"}, nil)
	alice.Expect("session", wait)
	// Node B subscribes alice (on node A) to a room; SubscribeUser returns once node A applied
	// it, so the very next publish reaches her.
	is.NoErr(nodeB.SubscribeUser(context.Background(), "alice", "room:r"))
	is.NoErr(nodeB.Publish(context.Background(), "room:r", signaling.Envelope{Event: "once", Data: map[string]int{}}))
	alice.Expect("once", wait)
	// Exactly once: a second event, published after, is the next frame.
	is.NoErr(nodeB.Publish(context.Background(), "room:r", signaling.Envelope{Event: "second", Data: map[string]int{}}))
	is.Equal(alice.Next(wait).Event, "second")
}

// TestJoinOnOneNodeReachesTabOnOther: a user with a tab on node A joins a room from a tab on
// node B; the message sent right after the join's reply reaches the tab on A, 100 of 100 runs
// (PROTOCOL.md §5: every session of the user is subscribed when room_joined is answered).
func TestJoinOnOneNodeReachesTabOnOther(t *testing.T) {
	is := is.New(t)
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t)
	var nodes []*signaling.Node
	for _, id := range []string{"a", "b"} {
		n := signaling.NewNode(&signaling.NodeOptions{ID: id, Broker: newBroker(t, redistest.Client(t, addr, prefix), prefix), RateLimit: 1e4, RateBurst: 1e4})
		is.NoErr(n.Handle("join", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
			var room string
			if err := e.Bind(&room); err != nil {
				return err
			}
			if err := n.SubscribeUser(ctx, s.User().ID, "room:"+room); err != nil {
				return err
			}
			return s.Reply(ctx, e, "joined", room)
		}))) // the event had no handler yet
		is.NoErr(n.Handle("say", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
			var room string
			if err := e.Bind(&room); err != nil {
				return err
			}
			return n.Publish(ctx, "room:"+room, signaling.Envelope{Event: "said", Data: room})
		}))) // the event had no handler yet
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Shutdown(context.Background())
		}
	})
	tabA := signalingtest.Connect(t, nodes[0], signaling.User{ID: "alice"}, nil)
	tabA.Expect("session", wait)
	tabB := signalingtest.Connect(t, nodes[1], signaling.User{ID: "alice"}, nil)
	tabB.Expect("session", wait)
	for run := range 100 {
		room := fmt.Sprintf("r%d", run)
		tabB.Send("join", room)
		tabB.Expect("joined", wait)
		tabB.Send("say", room)
		f := tabA.Expect("said", wait)
		is.Equal(string(f.Data), strconv.Quote(room)) // this run's message, on the other node
	}
}

func TestRedisOutage(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	prefix := redistest.Prefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: 1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	br := newBroker(t, rdb, prefix)
	got := make(chan string, 100)
	_, err := br.Subscribe(context.Background(), "t", func(m []byte) { got <- string(m) })
	is.NoErr(err)

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err = br.Publish(ctx, "t", []byte("lost"))
	cancel()
	is.True(errors.Is(err, signaling.ErrUnavailable)) // a clear unavailable error, no panic

	srv.Restart()
	// go-redis reconnects and resubscribes by itself; publish until delivery resumes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		is.True(time.Now().Before(deadline)) // delivery comes back without a restart
		_ = br.Publish(context.Background(), "t", []byte("back"))
		select {
		case m := <-got:
			is.Equal(m, "back") // the new message flows
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
