package signaling_test

import (
	"context"
	"runtime"
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

// waitGoroutines polls until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: have %d, want <= %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling a counter, not synchronising on an event
	}
}

func TestSlowConsumerClosed1013(t *testing.T) {
	is := is.New(t)
	base := runtime.NumGoroutine()
	n := echoNode(t, &signaling.NodeOptions{QueueSize: 8, RateLimit: 1000, RateBurst: 1000})

	// The slow session: its writes never complete.
	srv, cli := signalingtest.Pipe()
	slow := &stalledConn{Conn: srv, closed: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = n.Serve(context.Background(), slow, signaling.User{ID: "slow"}, nil)
	}()
	slowClient := signalingtest.NewClient(t, cli, signaling.JSON)

	fast := signalingtest.Connect(t, n, signaling.User{ID: "fast"}, nil)
	fast.Send("sub", map[string]string{"topic": "room:r"})
	fast.Expect("subscribed", wait)
	// Subscribe the slow session from the server side: it cannot read replies.
	var slowID string
	for deadline := time.Now().Add(wait); slowID == "" && time.Now().Before(deadline); {
		if ss := n.LocalSessions("slow"); len(ss) == 1 {
			slowID = ss[0].ID()
		}
	}
	is.True(slowID != "") // the slow session exists
	is.NoErr(n.Subscribe(context.Background(), slowID, "room:r"))

	// Send one event at a time and measure each round trip: the stalled session's queue fills
	// and overflows while the fast member keeps its normal latency.
	var worst time.Duration
	for i := 0; i < 100; i++ {
		start := time.Now()
		fast.Send("pub", map[string]string{"topic": "room:r", "text": "x"})
		fast.Expect("said", wait) // the fast member gets every event
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst round trip of the fast member: %v", worst)
	is.True(worst < 500*time.Millisecond)                                           // not slowed down by the stalled one
	is.Equal(slowClient.ExpectClosed(5*time.Second), signaling.StatusTryAgainLater) // 1013
	<-served
	is.True(n.Stats().SlowConsumers >= 1) // counted

	fast.Close(signaling.StatusNormalClosure)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	is.NoErr(n.Shutdown(ctx))
	waitGoroutines(t, base+2) // no goroutine left behind (the two test clients' readers may linger briefly)
}
