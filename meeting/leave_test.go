package meeting_test

import (
	"context"
	"testing"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// TestLeaveRoom: a user who leaves the room (chat's OnLeave calls LeaveRoom) is out of its
// meeting: no longer a participant, and its sessions neither send nor receive video-signal and
// media_state there.
func TestLeaveRoom(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	join(t, c, "r1")
	settle(t, a, b, c)
	a.Drain()
	b.Drain()
	c.Drain()

	is.NoErr(e.svc.LeaveRoom(context.Background(), "r1", "bob"))
	var ul userData
	for _, p := range []*peer{a, c} {
		bindTo(t, p.Expect("meeting_user_left", wait), &ul)
		is.Equal(ul.User, bob) // the participants see bob go
	}
	is.Equal(ids(wireOf(e.stored("r1").Participants)), []string{"alice", "carol"}) // bob is out

	c.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	a.Expect("media_state", wait)
	none(t, b, "media_state") // bob's session is unbound
	c.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": "v=0"})
	is.Equal(expectError(t, c), signaling.CodeForbidden) // bob is no peer of carol any more
	none(t, b, "video-signal")
	b.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "alice", "sdp": "v=0"})
	settle(t, b)
	none(t, a, "video-signal") // nor a sender

	is.NoErr(e.svc.LeaveRoom(context.Background(), "r1", "bob"))   // again: nothing to do
	is.NoErr(e.svc.LeaveRoom(context.Background(), "r2", "bob"))   // no meeting there
	is.NoErr(e.svc.LeaveRoom(context.Background(), "r1", "alice")) // the host too
	bindTo(t, c.Expect("meeting_user_left", wait), &ul)
	is.Equal(ul.User, alice)
	is.Equal(e.stored("r1").Status, meeting.StatusActive) // the meeting goes on: the host stays host
}
