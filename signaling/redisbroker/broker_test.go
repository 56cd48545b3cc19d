package redisbroker_test

import (
	"context"
	"errors"
	"os"
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
	// Node B subscribes alice (on node A) to a room through the broker's control message.
	is.NoErr(nodeB.SubscribeUser(context.Background(), "alice", "room:r"))
	var frame signalingtest.Frame
	deadline := time.Now().Add(wait)
	for i := 0; ; i++ {
		is.True(time.Now().Before(deadline)) // the remote subscription takes effect
		is.NoErr(nodeB.Publish(context.Background(), "room:r", signaling.Envelope{Event: "ping", Data: map[string]int{"i": i}}))
		alice.Drain()
		time.Sleep(20 * time.Millisecond) // retrying an asynchronous subscription, bounded by the deadline
		if fs := alice.Frames("ping"); len(fs) > 0 {
			frame = fs[0]
			break
		}
	}
	is.Equal(frame.Event, "ping") // delivered across nodes
	alice.Drain()
	is.NoErr(nodeB.Publish(context.Background(), "room:r", signaling.Envelope{Event: "once", Data: map[string]int{}}))
	alice.Expect("once", wait)
	alice.ExpectNone("once", 200*time.Millisecond) // exactly once
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
