package signaling_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestBurstIsRateLimitedAndSurvives: 300 pings back to back, on a frozen clock, get the burst's
// 100 pongs and one rate_limited error; the other 199 are dropped and counted. The connection
// stays usable: after a refill the next ping is answered.
func TestBurstIsRateLimitedAndSurvives(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(epoch)
	n := echoNode(t, &signaling.NodeOptions{Clock: clk})
	srv, cli := signalingtest.Pipe()
	rc := &readCountConn{Conn: srv, after: 300, reached: make(chan struct{})}
	go func() { _ = n.Serve(context.Background(), rc, signaling.User{ID: "u1"}, nil) }()
	c := signalingtest.NewClient(t, cli, signaling.JSON)
	c.Expect("session", wait)
	for i := range 300 {
		c.SendRef("ping", struct{}{}, strconv.Itoa(i))
	}
	// The pongs come first, for frames 0..99; then one rate_limited, for frame 100.
	for i := range 100 {
		f := c.Next(wait)
		is.Equal(f.Event, "pong")
		is.Equal(f.Ref, strconv.Itoa(i))
	}
	code, f := c.ExpectError(wait)
	is.Equal(code, signaling.CodeRateLimited)
	is.Equal(f.Ref, "100")
	select { // the server has read and charged all 300 frames
	case <-rc.reached:
	case <-time.After(wait):
		t.Fatal("the server did not read the 300 frames")
	}

	clk.Advance(time.Second) // refills the bucket
	c.SendRef("ping", struct{}{}, "after")
	f = c.Next(wait)
	is.Equal(f.Event, "pong") // the connection is usable; nothing was sent for frames 101..299
	is.Equal(f.Ref, "after")
	is.Equal(n.Stats().RateLimited, int64(199)) // the dropped frames are counted
	is.Equal(n.Stats().SlowConsumers, int64(0))
}

// TestFloodClosed1008: a session that keeps sending over its rate for longer than
// FloodTimeout is closed with 1008; every refill period of the flood got one rate_limited.
func TestFloodClosed1008(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(epoch)
	n := echoNode(t, &signaling.NodeOptions{Clock: clk, RateLimit: 10, RateBurst: 1, FloodTimeout: 2 * time.Second})
	c := signalingtest.Connect(t, n, signaling.User{ID: "u1"}, nil)
	c.Expect("session", wait)
	// Every 500 ms (5 refill periods, the bucket holds 1) ten pings: one is handled, one is
	// answered with rate_limited, eight are dropped. The flood starts at the first step.
	for step := 1; step <= 5; step++ {
		clk.Advance(500 * time.Millisecond)
		for i := range 10 {
			c.SendRef("ping", struct{}{}, strconv.Itoa(i))
		}
		code, _ := c.ExpectError(wait) // one answer for the step
		is.Equal(code, signaling.CodeRateLimited)
	}
	// At step 6 the flood has lasted 2.5 s, past the 2 s allowed.
	clk.Advance(500 * time.Millisecond)
	for range 10 { // the server may close the pipe meanwhile
		_ = c.Conn().Write(context.Background(), []byte(`{"event":"ping"}`))
	}
	is.Equal(c.ExpectClosed(wait), signaling.StatusPolicyViolation) // 1008
	is.Equal(len(c.Frames("error")), 0)                             // one rate_limited per step, no more
}

// readCountConn is a server-side Conn that reports when the reader comes back for a frame
// after the first `after` ones: everything read before has been charged.
type readCountConn struct {
	signaling.Conn
	n       int
	after   int
	reached chan struct{}
}

func (c *readCountConn) Read(ctx context.Context) ([]byte, error) {
	if c.n == c.after {
		close(c.reached)
	}
	c.n++
	return c.Conn.Read(ctx)
}

// gatedConn is a server-side Conn whose writes wait until the gate opens: a client that is
// slow to read.
type gatedConn struct {
	signaling.Conn
	gate chan struct{}
}

func (c *gatedConn) Write(ctx context.Context, frame []byte) error {
	<-c.gate
	return c.Conn.Write(ctx, frame)
}

// TestRepliesApplyBackpressure: a client whose own replies pile up past the queue's bound is
// slowed down (its reader waits), not closed; once it reads, every reply arrives in order.
func TestRepliesApplyBackpressure(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, &signaling.NodeOptions{QueueBytes: 2048, RateLimit: 1e6, RateBurst: 1e6})
	srv, cli := signalingtest.Pipe()
	gc := &gatedConn{Conn: srv, gate: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = n.Serve(context.Background(), gc, signaling.User{ID: "u1"}, nil)
	}()
	c := signalingtest.NewClient(t, cli, signaling.JSON)
	for i := range 200 { // ~100 bytes each: ten times the bound
		c.SendRef("ping", struct{}{}, strconv.Itoa(i))
	}
	close(gc.gate)
	c.Expect("session", wait)
	for i := range 200 {
		f := c.Next(wait)
		is.Equal(f.Event, "pong")
		is.Equal(f.Ref, strconv.Itoa(i))
	}
	is.Equal(n.Stats().SlowConsumers, int64(0))
	c.Close(signaling.StatusNormalClosure)
	<-served
}

// TestSlowHookDoesNotCloseNewSession: the writer runs before the hooks, so broadcasts that
// arrive while a hook is slow (here: blocked until the test has seen them all) are written to
// the client instead of overflowing its queue.
func TestSlowHookDoesNotCloseNewSession(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, &signaling.NodeOptions{QueueBytes: 4096})
	release := make(chan struct{})
	inHook := make(chan struct{})
	n.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionConnected {
			close(inHook)
			<-release
		}
	})
	c := signalingtest.Connect(t, n, signaling.User{ID: "u1"}, nil)
	c.Expect("session", wait) // sent before the hook returned
	<-inHook
	for i := range 200 { // ~20 KiB of broadcasts, five times the bound, during the hook
		if err := n.Publish(context.Background(), signaling.UserTopic("u1"), signaling.Envelope{Event: "n", Data: i}); err != nil {
			t.Fatal(err)
		}
		f := c.Expect("n", wait)
		is.Equal(string(f.Data), strconv.Itoa(i))
	}
	close(release)
	c.SendRef("ping", struct{}{}, "p")
	is.Equal(c.Expect("pong", wait).Ref, "p") // the session lives on
	is.Equal(n.Stats().SlowConsumers, int64(0))
}

// TestSessionsPerUserBounded: 2000 connect-and-drop cycles of one user leave at most
// MaxSessionsPerUser sessions (the oldest dropped ones are evicted), not 2000 waiting for a
// resume.
func TestSessionsPerUserBounded(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, &signaling.NodeOptions{MaxSessionsPerUser: 16})
	for i := range 2000 {
		srv, cli := signalingtest.Pipe()
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = n.Serve(context.Background(), srv, signaling.User{ID: "u1"}, nil)
		}()
		if _, err := cli.Read(context.Background()); err != nil { // the session frame
			t.Fatal(err)
		}
		if s := n.Stats().Sessions; s > 16 {
			t.Fatalf("cycle %d: %d sessions", i, s)
		}
		_ = cli.Close(signaling.StatusGoingAway, "") // a drop: the session waits for a resume
		<-served
	}
	is.Equal(n.Stats().Sessions, int64(16))     // the limit, all dropped
	is.Equal(n.Stats().Evicted, int64(2000-16)) // the oldest dropped ones went first
	is.Equal(len(n.LocalSessions("u1")), 16)
}

// TestStalledHandlerChargesNothing: while a handler is stalled (a backend that does not
// answer), a client sending within its rate (10/s, burst 10) keeps sending for 13 s; once the
// backend is back every frame is handled and none was rate_limited, because frames are charged
// when they arrive, not when the server gets to them.
func TestStalledHandlerChargesNothing(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(epoch)
	n := echoNode(t, &signaling.NodeOptions{Clock: clk, RateLimit: 10, RateBurst: 10})
	gate := make(chan struct{})
	var once sync.Once
	is.NoErr(n.Handle("work", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		once.Do(func() { <-gate }) // the first call stalls until the backend is back
		return s.Reply(ctx, e, "done", nil)
	}))) // the event had no handler yet
	srv, cli := signalingtest.Pipe()
	rc := &readEntryConn{Conn: srv, entries: make(chan struct{}, 200)}
	go func() { _ = n.Serve(context.Background(), rc, signaling.User{ID: "u1"}, nil) }()
	c := signalingtest.NewClient(t, cli, signaling.JSON)
	c.Expect("session", wait)
	<-rc.entries // the reader waits for the first frame
	const frames = 130
	for i := range frames {
		clk.Advance(100 * time.Millisecond) // 10 per second: within the rate
		c.SendRef("work", struct{}{}, strconv.Itoa(i))
		if i < 128 { // the reader charged frame i and waits for the next (until the inbox is full)
			select {
			case <-rc.entries:
			case <-time.After(wait):
				t.Fatalf("the reader did not read frame %d", i)
			}
		}
	}
	close(gate)
	for i := range frames {
		f := c.Next(wait)
		if f.Event != "done" {
			t.Fatalf("frame %d: %s", i, f.Raw)
		}
		is.Equal(f.Ref, strconv.Itoa(i))
	}
	is.Equal(n.Stats().RateLimited, int64(0))
}

// readEntryConn is a server-side Conn that signals every time the reader asks for a frame:
// everything read before has been charged.
type readEntryConn struct {
	signaling.Conn
	entries chan struct{}
}

func (c *readEntryConn) Read(ctx context.Context) ([]byte, error) {
	c.entries <- struct{}{}
	return c.Conn.Read(ctx)
}
