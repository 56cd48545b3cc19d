package chat_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// wait bounds every expectation; absences are checked after a barrier (ExpectQuiet).
const wait = 2 * time.Second

// newNode returns a Node that is shut down when the test ends (after its sessions).
func newNode(t *testing.T, opts *signaling.NodeOptions) *signaling.Node {
	t.Helper()
	n := signaling.NewNode(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// setup returns a Node with a chat Service; nil opts mean defaults (with logs sent to t).
func setup(t *testing.T, opts *chat.Options) (*signaling.Node, *chat.Service) {
	t.Helper()
	n := newNode(t, nil)
	return n, newService(t, n, opts)
}

func newService(t *testing.T, hub signaling.Hub, opts *chat.Options) *chat.Service {
	t.Helper()
	var o chat.Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	svc, err := chat.New(hub, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// testWriter sends logs to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func userOf(id string) signaling.User {
	return signaling.User{ID: id, Username: strings.ToUpper(id[:1]) + id[1:]}
}

// connect opens a session for the user, consumes its `session` frame and waits until the
// session hooks (which subscribe it to the user's rooms) have run.
func connect(t *testing.T, n *signaling.Node, id string) *signalingtest.Client {
	t.Helper()
	c := signalingtest.Connect(t, n, userOf(id), nil)
	c.Expect("session", wait)
	barrier(t, c)
	return c
}

type roomJoined struct {
	RoomID  string           `json:"roomId"`
	Members []signaling.User `json:"members"`
	Online  []string         `json:"online"`
}

type history struct {
	RoomID   string         `json:"roomId"`
	Messages []chat.Message `json:"messages"`
	HasMore  bool           `json:"hasMore"`
}

type typingEvent struct {
	RoomID   string         `json:"roomId"`
	User     signaling.User `json:"user"`
	IsTyping bool           `json:"isTyping"`
}

func join(t *testing.T, c *signalingtest.Client, room string) roomJoined {
	t.Helper()
	c.SendRef("join_room", map[string]string{"roomId": room}, "join:"+room)
	f := c.Expect("room_joined", wait)
	var r roomJoined
	if err := f.Bind(&r); err != nil {
		t.Fatalf("room_joined: %v", err)
	}
	if f.Ref != "join:"+room || r.RoomID != room {
		t.Fatalf("room_joined %s (ref %q) does not answer join_room %s", f.Data, f.Ref, room)
	}
	return r
}

func say(c *signalingtest.Client, room, content string) {
	c.Send("message", map[string]string{"roomId": room, "content": content})
}

func expectMessage(t *testing.T, c *signalingtest.Client) (chat.Message, signalingtest.Frame) {
	t.Helper()
	f := c.Expect("message", wait)
	var m chat.Message
	if err := f.Bind(&m); err != nil {
		t.Fatalf("message %s: %v", f.Data, err)
	}
	return m, f
}

func expectHistory(t *testing.T, c *signalingtest.Client) (history, signalingtest.Frame) {
	t.Helper()
	f := c.Expect("history", wait)
	var h history
	if err := f.Bind(&h); err != nil {
		t.Fatalf("history %s: %v", f.Data, err)
	}
	return h, f
}

func expectTyping(t *testing.T, c *signalingtest.Client) (typingEvent, signalingtest.Frame) {
	t.Helper()
	f := c.Expect("typing", wait)
	var e typingEvent
	if err := f.Bind(&e); err != nil {
		t.Fatalf("typing %s: %v", f.Data, err)
	}
	return e, f
}

// barrier waits until c's session has handled every event sent before it, and its session
// hooks have run: a session's events are handled in order, after the Connected hooks, so the
// pong to a ping sent last comes after theirs.
func barrier(t *testing.T, c *signalingtest.Client) {
	t.Helper()
	c.SendRef("ping", struct{}{}, "barrier")
	for {
		if f := c.Expect("pong", wait); f.Ref == "barrier" {
			return
		}
	}
}

func contents(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}
