package main

import (
	"net/http"
	"testing"

	"github.com/coder/websocket"
	"github.com/matryer/is"
)

// TestTwoTabs: fixes (f)7 and (f)4 of the original. Closing one of a user's tabs leaves the
// other fully working (online, targeted events, messages), and a second start_meeting is refused
// instead of overwriting the running meeting.
func TestTwoTabs(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	tab1, bs := ts.connect(t, alice), ts.connect(t, bob)

	tab1.send("start_meeting", map[string]any{"roomId": general})
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice)
	bs.send("start_meeting", map[string]any{"roomId": general}) // the original overwrote the host
	bs.sync()
	errs := bs.takeErrors()
	is.Equal(len(errs), 1)
	is.Equal(decode[map[string]any](t, errs[0].Payload)["code"], "conflict")

	tab2 := ts.connect(t, alice) // a second tab; the meeting page runs there
	tab2.send("get_room_info", map[string]any{"roomId": general})
	checkMeeting(t, tab2.expect("room_info_response").Payload, general, "active", alice) // still alice's
	tab1.close(websocket.StatusGoingAway)

	bs.send("get_room_info", map[string]any{"roomId": general})
	info := checkMeeting(t, bs.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID})) // alice is still online
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, tab2.expect("meeting_user_joined").Payload, general, bob) // reaches the open tab
	handshake(t, general, alice, tab2, bob, bs)
	bs.send("message", map[string]any{"roomId": general, "content": "still there?"})
	checkMessage(t, tab2.expect("message").Payload, general, "still there?", bob)
}

// TestHostReload: the host reloads the meeting page, before anyone joined and again during the
// call. Its page only sends get_room_info and offers; both times the guest and the host end up
// with one offer each way and nobody gets a second meeting_user_joined (no glare).
func TestHostReload(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	as, bs := ts.connect(t, alice), ts.connect(t, bob)
	as.send("start_meeting", map[string]any{"roomId": general})
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice)

	// F5 before bob joins: the host's new page asks for the room and offers to bob (refused:
	// bob has not joined).
	as.close(websocket.StatusGoingAway)
	as = ts.connect(t, alice)
	as.send("get_room_info", map[string]any{"roomId": general})
	info := checkMeeting(t, as.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID}))
	as.send("video-signal", sig("offer", general, alice, bob))
	as.sync()
	bs.quiet("no offer before bob joins")

	// Bob joins: the reloaded host hears of it and offers.
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, bob)
	handshake(t, general, alice, as, bob, bs)

	// F5 during the call: the host re-offers to bob, who answers; bob hears no join.
	as.close(websocket.StatusGoingAway)
	as = ts.connect(t, alice)
	as.send("get_room_info", map[string]any{"roomId": general})
	checkMeeting(t, as.expect("room_info_response").Payload, general, "active", alice)
	handshake(t, general, alice, as, bob, bs)
	as.sync()
	bs.quiet("a reloading host causes no meeting_user_joined")
	as.quiet("and hears of nobody")
}

// TestMeetingLink: a user who follows a meeting link of a group room straight to the meeting page
// is let in: the page is a view of the room (its chat panel opens the room too), so its
// get_room_info opens the room first. A direct room's link opens nothing.
func TestMeetingLink(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice, bob, dave := ts.register(t, "alice"), ts.register(t, "bob"), ts.register(t, "dave")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	as, ds := ts.connect(t, alice), ts.connect(t, dave)
	as.send("start_meeting", map[string]any{"roomId": general})
	as.sync()
	ds.quiet("dave is no member: no invitation")

	ds.send("get_room_info", map[string]any{"roomId": general}) // F5 on /stream/meeting/<general>
	info := checkMeeting(t, ds.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, dave.ID}))
	ds.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, dave)

	code, body := ts.call(t, "POST", "/api/room/create", alice.Access, map[string]any{"name": "alice-bob", "type": "direct", "users": []string{bob.ID}})
	is.Equal(code, http.StatusCreated)
	dm := decode[wireRoom](t, body).ID
	ds.send("get_room_info", map[string]any{"roomId": dm})
	ds.sync()
	errs := ds.takeErrors()
	is.Equal(len(errs), 1)
	is.Equal(decode[map[string]any](t, errs[0].Payload)["code"], "forbidden")
	member, err := ts.b.chat.IsMember(t.Context(), dm, dave.ID)
	is.NoErr(err)
	is.True(!member)
}

// TestSendJoins: sending to a group room over the socket makes the sender a member, so that the
// room's messages reach it from then on; a room that does not exist is not_found.
func TestSendJoins(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice, dave := ts.register(t, "alice"), ts.register(t, "dave")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	as, ds := ts.connect(t, alice), ts.connect(t, dave)

	ds.send("message", map[string]any{"roomId": general, "content": "hi, new here"})
	checkMessage(t, as.expect("message").Payload, general, "hi, new here", dave)
	checkMessage(t, ds.expect("message").Payload, general, "hi, new here", dave)
	as.send("message", map[string]any{"roomId": general, "content": "welcome"})
	checkMessage(t, ds.expect("message").Payload, general, "welcome", alice) // dave is a member now
	as.expect("message")

	ds.send("message", map[string]any{"roomId": "no-such-room", "content": "hello?"})
	ds.sync()
	errs := ds.takeErrors()
	is.Equal(len(errs), 1)
	is.Equal(decode[map[string]any](t, errs[0].Payload)["code"], "not_found")
	_, hist := ts.openRoom(t, alice, general)
	is.Equal(len(hist), 2)
}
