package signaling_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// stalledConn is a server-side Conn whose client never reads: every Write blocks until the
// connection is closed or the write is cancelled, as on a TCP connection with full buffers.
type stalledConn struct {
	signaling.Conn
	closed chan struct{}
}

func (c *stalledConn) Write(ctx context.Context, _ []byte) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return signalingtest.ErrPipeClosed
	}
}

func (c *stalledConn) Close(code signaling.StatusCode, reason string) error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return c.Conn.Close(code, reason)
}

func TestSlowConsumerClosed1013(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, &signaling.NodeOptions{QueueBytes: 4096, RateLimit: 1000, RateBurst: 1000})
	started := make(chan string, 1)
	n.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionConnected && s.User().ID == "slow" {
			started <- s.ID()
		}
	})

	// The slow session: its writes never complete.
	srv, cli := signalingtest.Pipe()
	slow := &stalledConn{Conn: srv, closed: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = n.Serve(context.Background(), slow, signaling.User{ID: "slow"}, nil)
	}()
	slowClient := signalingtest.NewClient(t, cli, signaling.JSON)
	var slowID string
	select {
	case slowID = <-started:
	case <-time.After(wait):
		t.Fatal("the slow session did not start")
	}

	fast := signalingtest.Connect(t, n, signaling.User{ID: "fast"}, nil)
	fast.Send("sub", map[string]string{"topic": "room:r"})
	fast.Expect("subscribed", wait)
	is.NoErr(n.Subscribe(context.Background(), slowID, "room:r")) // from the server side: it cannot read replies

	// 100 events of ~100 bytes overflow the stalled session's 4 KiB queue; the fast member gets
	// every one of them, in order.
	for i := range 100 {
		fast.Send("pub", map[string]string{"topic": "room:r", "text": strconv.Itoa(i)})
		var got struct{ Text string }
		is.NoErr(fast.Expect("said", wait).Bind(&got))
		is.Equal(got.Text, strconv.Itoa(i))
	}
	is.Equal(slowClient.ExpectClosed(5*time.Second), signaling.StatusTryAgainLater) // 1013
	select {
	case <-served: // the stalled session's Serve returned: its goroutines are done
	case <-time.After(5 * time.Second):
		t.Fatal("Serve of the slow session did not return")
	}
	is.Equal(n.Stats().SlowConsumers, int64(1)) // counted once
}
