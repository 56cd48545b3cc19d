package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/huddle-go/huddle/clock"
	"github.com/matryer/is"
)

// TestSocketOutlivesToken: the app never refreshes its token and never reconnects, so a socket
// is not closed when its access token expires; REST and new sockets refuse the token from then on.
func TestSocketOutlivesToken(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Now())
	ts := startServer(t, []string{"-rooms", "General", "-access-ttl", "1h"}, clk)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	as, bs := ts.connect(t, alice), ts.connect(t, bob)

	clk.Advance(2 * time.Hour) // both tokens expired

	as.send("message", map[string]any{"roomId": general, "content": "still here"})
	checkMessage(t, bs.expect("message").Payload, general, "still here", alice)
	checkMessage(t, as.expect("message").Payload, general, "still here", alice)

	code, body := ts.call(t, "GET", "/api/message/"+general, alice.Access, nil)
	checkAPIError(t, code, body, http.StatusUnauthorized)
	ctxDial := t.Context()
	_, res, err := websocket.Dial(ctxDial, ts.WS+"?token="+alice.Access, nil) //nolint:bodyclose // the handshake's body
	is.True(err != nil)
	is.Equal(res.StatusCode, http.StatusUnauthorized)
	// A refresh (which the app never does) gives a working token again.
	code, body = ts.call(t, "POST", "/api/auth/refresh", "", nil, "x-refresh-token", alice.Refresh)
	is.Equal(code, http.StatusOK)
	code, _ = ts.call(t, "GET", "/api/message/"+general, decode[tokenPair](t, body).AccessToken, nil)
	is.Equal(code, http.StatusOK)
}

// TestClosedTabIsNotOnline: the app cannot resume a session, so a closed tab is gone at once:
// it is not in room_info_response.onlineUsers (the app would offer to it), and, once the
// participant grace is over, its peers get meeting_user_left.
func TestClosedTabIsNotOnline(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Now())
	ts := startServer(t, []string{"-rooms", "General"}, clk)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	as, bs := ts.connect(t, alice), ts.connect(t, bob)

	as.send("start_meeting", map[string]any{"roomId": general})
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice)
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, bob)

	bs.close(websocket.StatusGoingAway) // the tab is closed
	p := decode[struct {
		User   wireUser `json:"user"`
		Status string   `json:"status"`
	}](t, as.expect("presence").Payload)
	is.Equal(str(p.User.ID), bob.ID)
	is.Equal(p.Status, "offline") // at once: no resume window

	as.send("get_room_info", map[string]any{"roomId": general})
	info := checkMeeting(t, as.expect("room_info_response").Payload, general, "active", alice)
	is.Equal(info.OnlineUsers, []string{alice.ID})
	as.quiet("bob's place is kept during the participant grace")

	clk.Advance(16 * time.Second) // past -participant-grace 15s
	checkUserEvent(t, as.expect("meeting_user_left").Payload, general, bob)
}

// TestResumeWindowFlag: resume is off unless -resume-window asks for it (for Huddle's own
// clients); the session event says which.
func TestResumeWindowFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ms   float64
	}{{nil, 0}, {[]string{"-resume-window", "1m"}, 60000}} {
		ts := startServer(t, tc.args, nil)
		s := ts.connect(t, ts.register(t, "alice"))
		is.New(t).True(len(s.pending) > 0)
		is.New(t).Equal(s.pending[0].Event, "session")
		is.New(t).Equal(decode[map[string]any](t, s.pending[0].Payload)["resumeWindowMs"], tc.ms)
	}
}

// TestResumeWindowCountsOnline: with -resume-window on, a dropped session waits for its resume,
// and its user counts as online meanwhile, in onlineUsers too (so the app would offer to it).
// That is why resume is off by default here.
func TestResumeWindowCountsOnline(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General", "-resume-window", "1m"}, nil)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	as, bs := ts.connect(t, alice), ts.connect(t, bob)
	as.send("start_meeting", map[string]any{"roomId": general})
	bs.expect("meeting_invitation")
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	as.expect("meeting_user_joined")

	bs.close(websocket.StatusGoingAway)
	// Wait until the server has seen the drop: bob's participant has no connected session.
	deadline := time.Now().Add(wait)
	for {
		m, err := ts.b.meetingStore.Get(t.Context(), general)
		is.NoErr(err)
		if p := m.Participant(bob.ID); p != nil && len(p.Sessions) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not see bob's drop")
		}
		time.Sleep(10 * time.Millisecond) // polling the store, bounded by the deadline
	}
	as.send("get_room_info", map[string]any{"roomId": general})
	info := checkMeeting(t, as.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID})) // bob's closed tab counts
}
