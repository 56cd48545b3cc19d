package huddle_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
	carol = signaling.User{ID: "carol", Username: "Carol"}
)

// newServer returns a Server on opts (dev auth when opts has no Authenticator), shut down at
// the test's end.
func newServer(t *testing.T, opts huddle.Options) *huddle.Server {
	t.Helper()
	if opts.Authenticator == nil {
		opts.Authenticator = signaling.DevAuthenticator{}
	}
	s, err := huddle.New(context.Background(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// connect starts a session of u on s's Node and reads its first frame.
func connect(t *testing.T, node *signaling.Node, u signaling.User) *signalingtest.Client {
	t.Helper()
	c := signalingtest.Connect(t, node, u, nil)
	c.Expect("session", wait)
	return c
}

// joinRoom has c join room r1 and returns the `online` list of its reply.
func joinRoom(t *testing.T, c *signalingtest.Client) []string {
	t.Helper()
	c.Send("join_room", map[string]string{"roomId": "r1"})
	var joined struct{ Online []string }
	if err := c.Expect("room_joined", wait).Bind(&joined); err != nil {
		t.Fatal(err)
	}
	return joined.Online
}

// TestNewLinksTheServices: with nothing but an Authenticator, chat, presence and meeting are
// linked: who is online comes from presence (in `room_joined` and `room_info_response`), and
// leaving a room leaves its meeting.
func TestNewLinksTheServices(t *testing.T) {
	is := is.New(t)
	s := newServer(t, huddle.Options{})
	a, b, c := connect(t, s.Node(), alice), connect(t, s.Node(), bob), connect(t, s.Node(), carol)
	joinRoom(t, a)
	joinRoom(t, c)
	online := joinRoom(t, b)
	slices.Sort(online)
	is.Equal(online, []string{"alice", "bob", "carol"}) // chat asks presence who is online

	a.Send("start_meeting", map[string]string{"roomId": "r1"})
	a.Expect("meeting_started", wait)
	b.Send("join_meeting", map[string]string{"roomId": "r1"})
	b.Expect("meeting_joined", wait)
	b.Send("get_room_info", map[string]string{"roomId": "r1"})
	var info struct{ OnlineUsers []string }
	is.NoErr(b.Expect("room_info_response", wait).Bind(&info))
	slices.Sort(info.OnlineUsers)
	is.Equal(info.OnlineUsers, []string{"alice", "bob", "carol"}) // meeting asks presence too: carol is online, not in the call

	b.Send("leave_room", map[string]string{"roomId": "r1"})
	b.Expect("room_left", wait)
	var left struct {
		User   signaling.User
		RoomID string
	}
	is.NoErr(a.Expect("meeting_user_left", wait).Bind(&left))
	is.Equal(left.User.ID, "bob") // leaving the room left its meeting
}

// TestAppEventCannotReplaceAServiceEvent: an application registering one of the services'
// events on the Server's Node gets signaling.ErrHandled; its own events are accepted.
func TestAppEventCannotReplaceAServiceEvent(t *testing.T) {
	is := is.New(t)
	s := newServer(t, huddle.Options{})
	h := signaling.HandlerFunc(func(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
		return sess.Reply(ctx, e, "voted", nil)
	})
	for _, event := range []string{"message", "presence", "join_meeting"} {
		is.True(errors.Is(s.Node().Handle(event, h), signaling.ErrHandled)) // a service's event is not replaced
	}
	is.NoErr(s.Node().Handle("poll_vote", h)) // the application's own event
	c := connect(t, s.Node(), alice)
	c.Send("poll_vote", map[string]int{"option": 1})
	c.Expect("voted", wait)
}

// countingRooms is a chat.MemoryStore that counts the reads of a user's rooms.
type countingRooms struct {
	*chat.MemoryStore
	reads atomic.Int64
}

func (c *countingRooms) Rooms(ctx context.Context, userID string) ([]string, error) {
	c.reads.Add(1)
	return c.MemoryStore.Rooms(ctx, userID)
}

// TestSessionStartReadsTheRoomsOnce: chat (subscriptions), meeting (catch-up) and presence
// (snapshot) all need the user's rooms at a session start; they read them once between them.
func TestSessionStartReadsTheRoomsOnce(t *testing.T) {
	is := is.New(t)
	store := &countingRooms{MemoryStore: chat.NewMemoryStore(nil)}
	s := newServer(t, huddle.Options{ChatStore: store})
	joinRoom(t, connect(t, s.Node(), alice))
	before := store.reads.Load()
	c := connect(t, s.Node(), alice)
	c.Expect("presence_snapshot", wait)           // the last hook's frame: every start hook ran
	is.Equal(store.reads.Load()-before, int64(1)) // one read for the three services
}

// TestNewRefusesWhatItWires: New needs an Authenticator, and refuses the pass-through fields
// that it sets itself, naming them and what to set instead.
func TestNewRefusesWhatItWires(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	_, err := huddle.New(ctx, nil)
	is.True(err != nil)                                     // no Authenticator
	is.True(strings.Contains(err.Error(), "Authenticator")) // says what is missing
	_, err = huddle.New(ctx, &huddle.Options{Authenticator: signaling.DevAuthenticator{}, Chat: chat.Options{Store: chat.NewMemoryStore(nil)}, Node: signaling.NodeOptions{Broker: signaling.NewMemoryBroker()}})
	is.True(err != nil)                                         // fields New sets itself
	is.True(strings.Contains(err.Error(), "Options.ChatStore")) // names what to set instead
	is.True(strings.Contains(err.Error(), "Options.Broker"))    // every one of them
	_, err = huddle.New(ctx, &huddle.Options{Authenticator: signaling.DevAuthenticator{}, Meeting: meeting.Options{HostPolicy: "sometimes"}})
	is.True(err != nil) // a part that fails to start fails New
}

// TestOfflineUserLeavesMeetings: two Servers share a broker and stores; node a dies without a
// word while bob, on it, is in alice's meeting on node b. Node b's presence expires node a's
// users and, through New's link, unbinds bob from the meeting, so that his grace runs and he
// leaves it: alice sees him go.
func TestOfflineUserLeavesMeetings(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	rooms := chat.NewMemoryStore(nil)
	shared := huddle.Options{
		ChatStore:     rooms,
		PresenceStore: presence.NewMemoryStore(nil),
		MeetingStore:  meeting.NewMemoryStore(nil),
		Broker:        signaling.NewMemoryBroker(),
		Clock:         clk,
	}
	optsA, optsB := shared, shared
	optsA.Node.ID, optsB.Node.ID = "node-a", "node-b"
	a, b := newServer(t, optsA), newServer(t, optsB)
	offline := make(chan string, 4)
	b.Presence().OnChange(func(_ context.Context, e presence.Entry) { // runs after New's link
		if e.Status == presence.StatusOffline {
			offline <- e.UserID
		}
	})

	host := connect(t, b.Node(), alice)
	guest := connect(t, a.Node(), bob)
	joinRoom(t, host)
	joinRoom(t, guest)
	host.Send("start_meeting", map[string]string{"roomId": "r1"})
	host.Expect("meeting_started", wait)
	guest.Send("join_meeting", map[string]string{"roomId": "r1"})
	guest.Expect("meeting_joined", wait)
	host.Expect("meeting_user_joined", wait)

	// Node a dies: its heartbeat and timers stop, and nobody tells its sessions' ends.
	is.NoErr(a.Presence().Close())
	a.Meetings().Close()
	deadline := time.After(wait)
	for gone := false; !gone; {
		clk.Advance(time.Second) // heartbeats, until node b expires node a
		select {
		case id := <-offline:
			is.Equal(id, "bob") // bob went offline with node a
			gone = true
		case <-deadline:
			t.Fatal("node b never expired node a's users")
		case <-time.After(100 * time.Millisecond):
			// Not yet: the next second. Ticking without a pause could run the clock on
			// through bob's grace before the offline event is seen.
		}
	}
	host.ExpectQuiet("meeting_user_left") // within his grace, bob is still in the call
	clk.Advance(meeting.DefaultParticipantGrace)
	var left struct{ User signaling.User }
	is.NoErr(host.Expect("meeting_user_left", wait).Bind(&left))
	is.Equal(left.User.ID, "bob") // his grace ran out: he left the meeting
}

// TestShutdownThenClose: Shutdown closes the sessions with 1012, so that clients resume
// elsewhere; Close after it, and Shutdown again, are no-ops.
func TestShutdownThenClose(t *testing.T) {
	is := is.New(t)
	s, err := huddle.New(context.Background(), &huddle.Options{Authenticator: signaling.DevAuthenticator{}})
	is.NoErr(err) // memory everything
	c := connect(t, s.Node(), alice)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	is.NoErr(s.Shutdown(ctx))                                      // the session ends in time
	is.Equal(c.ExpectClosed(wait), signaling.StatusServiceRestart) // with 1012
	is.NoErr(s.Close())                                            // idempotent
	is.NoErr(s.Shutdown(ctx))                                      // idempotent
}
