package huddle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

const wait = 5 * time.Second

// TestSessionStartFramesInAnyOrder builds chat, meeting and presence in each of the six orders
// and checks that a new session's first frames are PROTOCOL.md §3's: session, the catch-up
// meeting_invitation, presence_snapshot, and that its room is subscribed before its first
// request is handled.
func TestSessionStartFramesInAnyOrder(t *testing.T) {
	orders := []string{"cmp", "cpm", "mcp", "mpc", "pcm", "pmc"}
	for _, order := range orders {
		t.Run(order, func(t *testing.T) {
			is := is.New(t)
			node := signaling.NewNode(nil)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_ = node.Shutdown(ctx)
			})
			rooms := chat.NewMemoryStore(nil)
			var tracker *presence.Tracker
			online := func() chat.Online { // only once presence exists: no forward declaration
				if tracker == nil {
					return nil
				}
				return tracker
			}
			for _, svc := range strings.Split(order, "") {
				var err error
				switch svc {
				case "c":
					_, err = chat.New(node, &chat.Options{Store: rooms, Membership: rooms, Online: online()})
				case "m":
					var o meeting.Online
					if tracker != nil {
						o = tracker
					}
					_, err = meeting.New(node, &meeting.Options{Members: rooms, RoomTopic: chat.RoomTopic, Online: o})
				case "p":
					tracker, err = presence.New(node, &presence.Options{Rooms: rooms, RoomTopic: chat.RoomTopic})
				}
				is.NoErr(err)
			}

			bob := signalingtest.Connect(t, node, signaling.User{ID: "bob", Username: "Bob"}, nil)
			bob.Expect("session", wait)
			bob.Send("join_room", map[string]string{"roomId": "r1"})
			bob.Expect("room_joined", wait)
			bob.Send("start_meeting", map[string]string{"roomId": "r1"})
			bob.Expect("meeting_started", wait)
			alice := signalingtest.Connect(t, node, signaling.User{ID: "alice", Username: "Alice"}, nil)
			alice.Expect("session", wait)
			alice.Send("join_room", map[string]string{"roomId": "r1"})
			alice.Expect("room_joined", wait)

			// A second tab of alice: its first frames, in order.
			tab := signalingtest.Connect(t, node, signaling.User{ID: "alice", Username: "Alice"}, nil)
			// (An invitation published to alice's sessions for her join just before may reach the
			// tab too, as a second meeting_invitation before the snapshot.)
			is.Equal(tab.Next(wait).Event, "session")
			is.Equal(tab.Next(wait).Event, "meeting_invitation")
			for f := tab.Next(wait); f.Event != "presence_snapshot"; f = tab.Next(wait) {
				is.Equal(f.Event, "meeting_invitation") // nothing else comes before the snapshot
			}
			// The room was subscribed during the start: bob's next message reaches the tab.
			bob.Send("message", map[string]string{"roomId": "r1", "content": "hi"})
			tab.Expect("message", wait)
		})
	}
}
