package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/huddle-go/huddle/internal/pgtest"
	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/matryer/is"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// TestTwoNodes: two servers on one PostgreSQL database and one Redis, as behind a load balancer.
// Tokens minted by one node work on the other (the generated secret is shared through the
// database), and chat, invitations, onlineUsers and the signaling cross nodes.
func TestTwoNodes(t *testing.T) {
	is := is.New(t)
	rs := redistest.Start(t)
	pg := pgtest.URL(t)
	flags := func(id string) []string {
		return []string{"-postgres", pg, "-redis", "redis://" + rs.Addr + "/0", "-node-id", id, "-rooms", "General"}
	}
	a, b := startServer(t, flags("a"), nil), startServer(t, flags("b"), nil)

	alice := a.register(t, "alice") // signs up on a
	bob := b.register(t, "bob")     // and bob on b
	code, body := b.call(t, "GET", "/api/room/all", alice.Access, nil)
	is.Equal(code, http.StatusOK) // alice's token works on b
	rooms := decode[[]wireRoom](t, body)
	is.Equal(len(rooms), 1) // seeded once for both nodes
	general := rooms[0].ID
	a.openRoom(t, alice, general)
	b.openRoom(t, bob, general)
	as, bs := a.connect(t, alice), b.connect(t, bob)

	as.send("message", map[string]any{"roomId": general, "content": "across nodes"})
	checkMessage(t, bs.expect("message").Payload, general, "across nodes", alice)
	checkMessage(t, as.expect("message").Payload, general, "across nodes", alice)
	bs.send("message", map[string]any{"roomId": general, "content": "and back"})
	checkMessage(t, as.expect("message").Payload, general, "and back", bob)
	checkMessage(t, bs.expect("message").Payload, general, "and back", bob)
	_, hist := a.openRoom(t, alice, general) // history is shared
	is.Equal(len(hist), 2)

	as.send("start_meeting", map[string]any{"roomId": general})
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice)
	bs.send("get_room_info", map[string]any{"roomId": general})
	info := checkMeeting(t, bs.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID})) // presence across nodes
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, bob)
	handshake(t, general, alice, as, bob, bs)
	as.send("stop_meeting", map[string]any{"roomId": general})
	bs.expect("meeting_ended")
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "inactive", alice)
}

// TestTwoNodesOneFile: two nodes on one SQLite file (and one Redis) see each other's
// membership changes at once: nothing of it is cached in a process.
func TestTwoNodesOneFile(t *testing.T) {
	is := is.New(t)
	rs := redistest.Start(t)
	data := filepath.Join(t.TempDir(), "shared.db")
	flags := func(id string) []string {
		return []string{"-data", data, "-redis", "redis://" + rs.Addr + "/0", "-node-id", id, "-rooms", "General"}
	}
	a := startServer(t, flags("a"), nil)
	b := startServer(t, flags("b"), nil)
	alice := a.register(t, "alice")
	_, body := b.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	as := b.connect(t, alice)

	as.send("get_history", map[string]any{"roomId": general}) // not a member yet: refused on b
	as.sync()
	errs := as.takeErrors()
	is.Equal(len(errs), 1)
	is.Equal(decode[map[string]any](t, errs[0].Payload)["code"], "forbidden")

	a.openRoom(t, alice, general) // joins through node a
	as.send("get_history", map[string]any{"roomId": general})
	h := decode[map[string]any](t, as.expect("history").Payload)
	is.Equal(h["roomId"], general) // node b knows at once
}
