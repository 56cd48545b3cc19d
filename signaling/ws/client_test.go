package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// connect runs ws.Connect and closes the client at the end of the test.
func connect(t *testing.T, url string, opts *ws.ClientOptions) *ws.Client {
	t.Helper()
	if opts != nil && opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := ws.Connect(ctx, url, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// next returns the next event, failing the test after wait.
func next(t *testing.T, c *ws.Client) ws.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
		return ws.Event{}
	}
}

// expect skips events until one named name arrives.
func expect(t *testing.T, c *ws.Client, name string) ws.Event {
	t.Helper()
	for {
		if ev := next(t, c); ev.Event == name {
			return ev
		}
	}
}

// eventsClosed waits for Events to be closed, discarding what it still delivers.
func eventsClosed(t *testing.T, c *ws.Client) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-c.Events():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("events still open after %v", wait)
		}
	}
}

// gate is a dialer for ws.DialOptions.HTTPClient: the first dial goes through, later ones wait
// until the gate opens.
type gate struct {
	dials   atomic.Int32
	open    chan struct{}
	waiting chan struct{} // a dial waits at the gate
}

func newGate(t *testing.T) (*gate, *http.Client) {
	g := &gate{open: make(chan struct{}), waiting: make(chan struct{}, 10)}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.dials.Add(1) > 1 {
			g.waiting <- struct{}{}
			select {
			case <-g.open:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return g, &http.Client{Transport: tr}
}

func publish(t *testing.T, n *signaling.Node, topic string, i int) {
	t.Helper()
	if err := n.Publish(context.Background(), topic, signaling.Envelope{Event: "n", Data: map[string]int{"i": i}}); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func number(t *testing.T, ev ws.Event) int {
	t.Helper()
	var d struct{ I int }
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatalf("event %s data %s: %v", ev.Event, ev.Data, err)
	}
	return d.I
}

func TestClientRoundTrip(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	gone := make(chan string, 1)
	e.node.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionGone {
			gone <- s.ID()
		}
	})
	var sessions []ws.SessionInfo
	c := connect(t, e.url+"?user=a&name=Alice", &ws.ClientOptions{
		Dial:      ws.DialOptions{Codec: signaling.JSONPayload},
		OnSession: func(s ws.SessionInfo) { sessions = append(sessions, s) },
	})
	is.Equal(len(sessions), 1)                                             // OnSession ran before Connect returned
	is.Equal(c.Session().User, signaling.User{ID: "a", Username: "Alice"}) // the session's user
	is.Equal(c.Session().SessionID, sessions[0].SessionID)                 // the same session
	is.True(c.Session().ICEServers != nil)                                 // iceServers decoded

	is.NoErr(c.Send(context.Background(), "echo", map[string]int{"x": 1})) // sent
	ev := next(t, c)
	is.Equal(ev.Event, "echo")           // the reply is the first event after session
	is.Equal(string(ev.Data), `{"x":1}`) // payload codec data is decoded too
	is.True(ev.Seq > 0)                  // with its seq

	is.NoErr(c.Close()) // closes cleanly
	eventsClosed(t, c)
	is.True(errors.Is(c.Err(), ws.ErrClosed))                                 // closed by us
	is.True(errors.Is(c.Send(context.Background(), "echo", 1), ws.ErrClosed)) // no sends after Close
	is.NoErr(c.Close())                                                       // Close is idempotent
	is.Equal(until(t, gone, wait, "session end"), sessions[0].SessionID)      // Close ends the session at once
}

func TestClientResume(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	dropped := make(chan struct{}, 1)
	e.node.OnSession(func(_ context.Context, _ *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionDropped {
			dropped <- struct{}{}
		}
	})
	g, hc := newGate(t)
	sessions := make(chan ws.SessionInfo, 4)
	var resumeFailed atomic.Int32
	c := connect(t, e.url+"?user=a", &ws.ClientOptions{
		Dial:           ws.DialOptions{HTTPClient: hc},
		Reconnect:      true,
		MinBackoff:     time.Millisecond,
		MaxBackoff:     10 * time.Millisecond,
		OnSession:      func(s ws.SessionInfo) { sessions <- s },
		OnResumeFailed: func() { resumeFailed.Add(1) },
	})
	first := until(t, sessions, wait, "first session")

	is.NoErr(c.Send(context.Background(), "sub", map[string]string{"topic": "room:r"})) // subscribe
	expect(t, c, "subscribed")
	for i := 1; i <= 3; i++ {
		publish(t, e.node, "room:r", i)
	}
	for i := 1; i <= 3; i++ {
		is.Equal(number(t, expect(t, c, "n")), i) // before the drop, in order
	}

	c.Drop()
	until(t, dropped, wait, "the server to notice the drop")
	for i := 4; i <= 8; i++ {
		publish(t, e.node, "room:r", i) // while away: buffered for the resume
	}
	sent := make(chan error, 1)
	go func() { sent <- c.Send(context.Background(), "echo", "while away") }()
	close(g.open)

	again := until(t, sessions, wait, "resumed session")
	is.True(again.Resumed)                           // the session was resumed
	is.Equal(again.SessionID, first.SessionID)       // the same session
	is.NoErr(until(t, sent, wait, "Send to return")) // Send waited for the new connection
	publish(t, e.node, "room:r", 9)

	var got []int
	var replayed, echoed bool
	for len(got) < 6 || !echoed {
		ev := next(t, c)
		switch ev.Event {
		case "n":
			got = append(got, number(t, ev))
		case "resumed":
			var r struct{ Replayed int }
			is.NoErr(json.Unmarshal(ev.Data, &r)) // resumed {replayed}
			is.Equal(r.Replayed, 5)               // the five events published while away
			replayed = true
		case "echo":
			echoed = true
		}
	}
	is.True(replayed)                       // resumed arrived
	is.Equal(got, []int{4, 5, 6, 7, 8, 9})  // exactly once, in order
	is.Equal(resumeFailed.Load(), int32(0)) // no re-sync needed
	is.Equal(g.dials.Load(), int32(2))      // one reconnect
}

func TestClientResumeFailed(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	sessions := make(chan ws.SessionInfo, 4)
	resumeFailed := make(chan struct{}, 1)
	c := connect(t, e.url+"?user=a", &ws.ClientOptions{
		Reconnect:      true,
		MinBackoff:     time.Millisecond,
		MaxBackoff:     10 * time.Millisecond,
		OnSession:      func(s ws.SessionInfo) { sessions <- s },
		OnResumeFailed: func() { resumeFailed <- struct{}{} },
	})
	first := until(t, sessions, wait, "first session")
	for i := 1; i <= 3; i++ {
		publish(t, e.node, signaling.SessionTopic(first.SessionID), i)
	}
	for i := 1; i <= 3; i++ {
		is.Equal(number(t, expect(t, c, "n")), i) // seq 1..3 seen
	}

	// A restart: a new node, with another resume secret, takes over the endpoint, and the old
	// one shuts down (1012). The old token is refused (401), so the client starts afresh.
	n2 := newNode(t, nil)
	t.Cleanup(func() { shutdown(t, n2) })
	e.setHandler(mustHandler(t, n2, withTestDefaults(t, nil)))
	shutdown(t, e.node)

	again := until(t, sessions, wait, "fresh session")
	until(t, resumeFailed, wait, "OnResumeFailed")
	is.True(!again.Resumed)                     // a fresh session
	is.True(again.SessionID != first.SessionID) // a new one
	publish(t, n2, signaling.SessionTopic(again.SessionID), 1)
	ev := expect(t, c, "n")
	is.Equal(number(t, ev), 1)  // the new session's first event is not taken for a duplicate
	is.Equal(ev.Seq, uint64(1)) // its seq starts again
}

func TestClientGivesUp(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)

	t.Run("401 on connect", func(t *testing.T) {
		is := is.New(t)
		e := start(t, nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := ws.Connect(ctx, e.url, &ws.ClientOptions{Reconnect: true})
		is.True(c == nil)                                     // no client
		is.True(errors.Is(err, signaling.ErrUnauthenticated)) // refused with 401
	})

	t.Run("server closes with 1008", func(t *testing.T) {
		is := is.New(t)
		clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		e := start(t, &signaling.NodeOptions{Clock: clk}, &ws.Options{Authenticator: jwtauth.New(jwtSecret, &jwtauth.Options{Clock: clk.Now})})
		tok := token(t, jwtSecret, jwt.MapClaims{"sub": "u1", "exp": clk.Now().Add(time.Hour).Unix()})
		var sessions atomic.Int32
		c := connect(t, e.url+"?token="+tok, &ws.ClientOptions{
			Reconnect:  true,
			MinBackoff: time.Millisecond,
			OnSession:  func(ws.SessionInfo) { sessions.Add(1) },
		})
		is.NoErr(c.Send(context.Background(), "echo", 1)) // sent
		expect(t, c, "echo")                              // the session runs; its expiry is scheduled
		clk.Advance(2 * time.Hour)
		eventsClosed(t, c)
		is.True(errors.Is(c.Err(), ws.ErrClosed))                                 // the client gave up
		is.Equal(signaling.CloseStatus(c.Err()), signaling.StatusPolicyViolation) // because of the 1008
		is.Equal(sessions.Load(), int32(1))                                       // and did not reconnect
	})

	t.Run("a drop without Reconnect", func(t *testing.T) {
		is := is.New(t)
		e := start(t, nil, nil)
		c := connect(t, e.url+"?user=a", &ws.ClientOptions{})
		c.Drop()
		eventsClosed(t, c)
		is.True(errors.Is(c.Err(), ws.ErrClosed))                                 // the client ended
		is.True(errors.Is(c.Send(context.Background(), "echo", 1), ws.ErrClosed)) // sends fail
	})
}

func TestClientCloseWhileReconnecting(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	g, hc := newGate(t)
	c := connect(t, e.url+"?user=a", &ws.ClientOptions{
		Dial:       ws.DialOptions{HTTPClient: hc},
		Reconnect:  true,
		MinBackoff: time.Millisecond,
	})
	c.Drop()
	// The reconnect waits in the gate; Send waits for it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Send(ctx, "echo", 1)
	is.True(errors.Is(err, context.DeadlineExceeded)) // Send gave up with its context
	until(t, g.waiting, wait, "the reconnect to dial")
	is.NoErr(c.Close()) // stops the reconnect in progress
	eventsClosed(t, c)
	is.True(errors.Is(c.Err(), ws.ErrClosed)) // closed by us
}
