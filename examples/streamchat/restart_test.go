package main

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/matryer/is"
)

// TestRestart: on the SQLite file, a restart keeps accounts, tokens (the secret is in the
// database), rooms, memberships, messages and the running meeting: after it, a guest who reloads
// gets the catch-up invitation and can still join.
func TestRestart(t *testing.T) {
	is := is.New(t)
	args := []string{"-data", filepath.Join(t.TempDir(), "streamchat.db"), "-rooms", "General"}
	ts := startServer(t, args, nil)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	as := ts.connect(t, alice)
	as.send("message", map[string]any{"roomId": general, "content": "before the restart"})
	as.expect("message")
	as.send("start_meeting", map[string]any{"roomId": general})
	as.sync()
	ts.stop()

	ts = startServer(t, args, nil)
	_, body = ts.call(t, "GET", "/api/room/all", bob.Access, nil) // the old token works
	rooms := decode[[]wireRoom](t, body)
	is.Equal(len(rooms), 1) // not seeded twice
	room, hist := ts.openRoom(t, bob, general)
	is.Equal(len(room.Users), 2)
	is.Equal(len(hist), 1)
	checkMessage(t, hist[0], general, "before the restart", alice)

	as, bs := ts.connect(t, alice), ts.connect(t, bob)
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice) // catch-up
	as.send("get_room_info", map[string]any{"roomId": general})                        // the host's page, reloaded
	checkMeeting(t, as.expect("room_info_response").Payload, general, "active", alice)
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, bob)
	handshake(t, general, alice, as, bob, bs)
	code, _ := ts.login(t, "alice", alice.Password)
	is.Equal(code, http.StatusOK)
}
