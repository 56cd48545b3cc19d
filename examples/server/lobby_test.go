package main

import (
	"testing"

	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// TestMultiNodeLobby: the host runs a meeting across two nodes sharing one redis-server (broker
// and meeting store): a newcomer on the other node knocks at the locked meeting and is admitted
// into it there; a participant removed on the other node cannot rejoin by reloading on either;
// the host reloads on the other node and keeps the lock and the pending knock.
func TestMultiNodeLobby(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	a := startNodeOn(t, srv, "a")
	b := startNodeOn(t, srv, "b")
	carolUser := signaling.User{ID: "carol", Username: "Carol"}
	daveUser := signaling.User{ID: "dave", Username: "Dave"}
	host, _ := dialUser(t, a, aliceUser)
	bob, _ := dialUser(t, b, bobUser)
	carol, _ := dialUser(t, b, carolUser)
	dave, _ := dialUser(t, a, daveUser)
	joinRoom(t, "r", host, bob, carol, dave)

	host.Send("start_meeting", map[string]string{"roomId": "r"})
	host.Expect("meeting_started", wait)
	bob.Send("join_meeting", map[string]string{"roomId": "r"})
	bob.Expect("meeting_joined", wait)
	host.Expect("meeting_user_joined", wait)

	host.Send("lock_meeting", map[string]any{"roomId": "r", "locked": true})
	var locked struct {
		Locked bool `json:"locked"`
	}
	is.NoErr(bob.Expect("meeting_locked", wait).Bind(&locked))
	is.True(locked.Locked) // bob, on b, sees the lock set on a

	carol.Send("join_meeting", map[string]string{"roomId": "r"})
	carol.Expect("knocking", wait) // carol, on b, knocks
	var k struct {
		RoomID string         `json:"roomId"`
		User   signaling.User `json:"user"`
	}
	is.NoErr(host.Expect("knock", wait).Bind(&k))
	is.Equal(k.User, carolUser) // the host, on a, is asked
	is.Equal(k.RoomID, "r")     // about room r

	host.Send("admit", map[string]string{"roomId": "r", "userId": "carol"})
	var joined struct {
		Participants []signaling.User `json:"participants"`
	}
	is.NoErr(carol.Expect("meeting_joined", wait).Bind(&joined))
	is.Equal(len(joined.Participants), 3) // carol is in, on b, by the host's admit on a
	for _, c := range []*signalingtest.Client{host, bob} {
		var u struct {
			User signaling.User `json:"user"`
		}
		is.NoErr(c.Expect("meeting_user_joined", wait).Bind(&u))
		is.Equal(u.User, carolUser) // both nodes' participants offer to her
	}
	bob.Send("media_state", map[string]any{"roomId": "r", "audio": true})
	carol.Expect("media_state", wait) // she hears the meeting

	host.Send("moderate", map[string]string{"roomId": "r", "userId": "bob", "action": "remove"})
	var mod struct {
		Action string         `json:"action"`
		By     signaling.User `json:"by"`
	}
	is.NoErr(bob.Expect("moderated", wait).Bind(&mod))
	is.Equal(mod.Action, "remove") // bob, on b, is told
	is.Equal(mod.By, aliceUser)    // by the host
	var left struct {
		User   signaling.User `json:"user"`
		Reason string         `json:"reason"`
	}
	is.NoErr(carol.Expect("meeting_user_left", wait).Bind(&left))
	is.Equal(left.Reason, "removed") // carol sees why he left
	bob.Close(signaling.StatusNormalClosure)
	for _, n := range []*testServer{a, b} {
		again, _ := dialUser(t, n, bobUser) // a reload, on either node
		again.Send("join_meeting", map[string]string{"roomId": "r"})
		code, _ := again.ExpectError(wait)
		is.Equal(code, signaling.CodeForbidden) // refused
		again.Close(signaling.StatusNormalClosure)
	}

	dave.Send("join_meeting", map[string]string{"roomId": "r"})
	dave.Expect("knocking", wait) // dave, on a, knocks
	host.Expect("knock", wait)
	host.Close(signaling.StatusNormalClosure) // the host reloads, onto node b
	host2, _ := dialUser(t, b, aliceUser)
	is.NoErr(host2.Expect("knock", wait).Bind(&k))
	is.Equal(k.User, daveUser) // the pending knock is asked again
	host2.SendRef("get_room_info", map[string]string{"roomId": "r"}, "i")
	var info struct {
		Locked bool             `json:"locked"`
		Knocks []signaling.User `json:"knocks"`
	}
	is.NoErr(host2.Expect("room_info_response", wait).Bind(&info))
	is.True(info.Locked)                              // the lock held
	is.Equal(info.Knocks, []signaling.User{daveUser}) // and so did the knock
	host2.Send("admit", map[string]string{"roomId": "r", "userId": "dave"})
	dave.Expect("meeting_joined", wait) // dave, on a, is let in from b
	closeClients(t, a, dave)
	closeClients(t, b, host2, carol)
}
