package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// cuttable dials WebSockets whose TCP connections a test can cut abruptly, with no close frame,
// as when a laptop changes networks.
type cuttable struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (c *cuttable) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
		}
		return conn, err
	}}}
}

func (c *cuttable) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}

type sessionInfo struct {
	SessionID   string `json:"sessionId"`
	ResumeToken string `json:"resumeToken"`
	Resumed     bool   `json:"resumed"`
}

func (ts *testServer) dialWith(t *testing.T, u signaling.User, query string, hc *http.Client) *signalingtest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	url := fmt.Sprintf("%s?user=%s&name=%s%s", ts.WS, u.ID, u.Username, query)
	conn, _, err := ws.Dial(ctx, url, &ws.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return signalingtest.NewClient(t, conn, signaling.JSON)
}

func joinRoom(t *testing.T, room string, cs ...*signalingtest.Client) {
	t.Helper()
	for _, c := range cs {
		c.Send("join_room", map[string]string{"roomId": room})
		c.Expect("room_joined", wait)
	}
}

// TestResumeAfterTCPCut cuts a client's TCP connection while three messages and a typing event
// are published to its room; on resume the three messages arrive once each, in order, then
// `resumed`.
func TestResumeAfterTCPCut(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	var net cuttable
	alice := ts.dialWith(t, signaling.User{ID: "alice", Username: "Alice"}, "", net.client())
	var first sessionInfo
	is.NoErr(alice.Expect("session", wait).Bind(&first))
	bob := ts.dial(t, signaling.User{ID: "bob", Username: "Bob"}, "")
	joinRoom(t, "r", alice, bob)
	bob.Send("message", map[string]string{"roomId": "r", "content": "before"})
	alice.Expect("message", wait)
	last := alice.LastSeq()

	net.cut()
	for _, text := range []string{"one", "two", "three"} {
		bob.Send("message", map[string]string{"roomId": "r", "content": text})
		bob.Expect("message", wait) // stored and published
	}
	bob.Send("typing", map[string]any{"roomId": "r", "isTyping": true})

	again := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, fmt.Sprintf("&resume=%s&lastSeq=%d", first.ResumeToken, last))
	var s sessionInfo
	is.NoErr(again.Next(wait).Bind(&s))
	is.True(s.Resumed)                     // resumed
	is.Equal(s.SessionID, first.SessionID) // the same session
	var got []string
	for {
		f := again.Next(wait)
		if f.Event == "resumed" {
			break
		}
		if f.Event == "message" {
			var m struct{ Content string }
			is.NoErr(f.Bind(&m))
			got = append(got, m.Content)
		}
	}
	// A message whose fan-out was still reaching alice's session when she resumed comes live,
	// right after `resumed`; none is lost, none comes twice, the order holds.
	for len(got) < 3 {
		var m struct{ Content string }
		is.NoErr(again.Expect("message", wait).Bind(&m))
		got = append(got, m.Content)
	}
	is.Equal(got, []string{"one", "two", "three"}) // each once, in order
	again.ExpectQuiet("message")                   // and nothing twice
}

// TestReloadInsideAMeetingShowsNothing: a participant reloads (close, reconnect with resume)
// and the other participant sees no presence change, no leave and no join.
func TestReloadInsideAMeetingShowsNothing(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	host := ts.dial(t, signaling.User{ID: "host", Username: "Host"}, "")
	guest := ts.dial(t, signaling.User{ID: "guest", Username: "Guest"}, "")
	var first sessionInfo
	is.NoErr(guest.Expect("session", wait).Bind(&first))
	joinRoom(t, "r", host, guest)
	host.Send("start_meeting", map[string]string{"roomId": "r"})
	host.Expect("meeting_started", wait)
	guest.Expect("meeting_invitation", wait)
	guest.Send("join_meeting", map[string]string{"roomId": "r"})
	guest.Expect("meeting_joined", wait)
	host.Expect("meeting_user_joined", wait)
	last := guest.LastSeq()
	host.Drain()

	guest.Close(signaling.StatusGoingAway) // the page unloads
	guest.ExpectClosed(wait)
	again := ts.dial(t, signaling.User{ID: "guest", Username: "Guest"}, fmt.Sprintf("&resume=%s&lastSeq=%d", first.ResumeToken, last))
	var s sessionInfo
	is.NoErr(again.Expect("session", wait).Bind(&s))
	is.True(s.Resumed) // the reload resumed
	again.Expect("resumed", wait)

	// The guest can still signal the host through the same meeting binding.
	again.Send("video-signal", map[string]any{"type": "offer", "roomId": "r", "targetId": "host", "sdp": "v=0"})
	var sig struct{ SenderID string }
	is.NoErr(host.Expect("video-signal", wait).Bind(&sig))
	is.Equal(sig.SenderID, "guest")                                          // the binding survived the reload
	host.ExpectQuiet("presence", "meeting_user_left", "meeting_user_joined") // the host saw nothing of the reload
}
