package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/huddle-go/huddle/internal/pgtest"
	"github.com/matryer/is"
)

// The shapes of protocol-of-the-original.md, with pointers where the test checks that a key is
// present.

type wireUser struct {
	ID       *string `json:"id"`
	Username *string `json:"username"`
}

type wireMessage struct {
	ID        *string   `json:"id"`
	Content   *string   `json:"content"`
	RoomID    *string   `json:"roomId"`
	CreatedAt *string   `json:"createdAt"`
	UpdatedAt *string   `json:"updatedAt"`
	Sender    *wireUser `json:"sender"`
}

type wireMeeting struct {
	RoomID      *string   `json:"roomId"`
	Host        *wireUser `json:"host"`
	Type        *string   `json:"type"`
	MeetingLink *string   `json:"meetingLink"`
	Status      *string   `json:"status"`
	CreatedAt   *int64    `json:"createdAt"`
	OnlineUsers []string  `json:"onlineUsers"`
}

type wireUserEvent struct {
	User   *wireUser `json:"user"`
	RoomID *string   `json:"roomId"`
}

type wireSignal struct {
	Type      *string         `json:"type"`
	RoomID    *string         `json:"roomId"`
	SenderID  *string         `json:"senderId"`
	TargetID  *string         `json:"targetId"`
	SDP       *string         `json:"sdp"`
	Candidate json.RawMessage `json:"candidate"`
}

var isoMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func str(p *string) string {
	if p == nil {
		return "<missing>"
	}
	return *p
}

func checkUser(t *testing.T, what string, u *wireUser, want *account) {
	t.Helper()
	if u == nil || str(u.ID) != want.ID || str(u.Username) != want.Username {
		t.Fatalf("%s: user %+v, want {id:%s username:%s}", what, u, want.ID, want.Username)
	}
}

func checkMessage(t *testing.T, raw []byte, room, content string, from *account) wireMessage {
	t.Helper()
	m := decode[wireMessage](t, raw)
	if str(m.ID) == "<missing>" || str(m.RoomID) != room || str(m.Content) != content {
		t.Fatalf("message %s: want room %s content %q", raw, room, content)
	}
	if !isoMillis.MatchString(str(m.CreatedAt)) || !isoMillis.MatchString(str(m.UpdatedAt)) {
		t.Fatalf("message %s: createdAt/updatedAt are not ISO strings", raw)
	}
	checkUser(t, "message sender", m.Sender, from)
	return m
}

func checkMeeting(t *testing.T, raw []byte, room, status string, host *account) wireMeeting {
	t.Helper()
	m := decode[wireMeeting](t, raw)
	if str(m.RoomID) != room || str(m.Status) != status || str(m.Type) != "group" ||
		str(m.MeetingLink) != "/stream/meeting/"+room || m.CreatedAt == nil || *m.CreatedAt < 1e12 {
		t.Fatalf("meeting %s: want room %s status %s type group, meetingLink /stream/meeting/<room>, createdAt in ms", raw, room, status)
	}
	checkUser(t, "meeting host", m.Host, host) // the banner reads host.username
	return m
}

func checkUserEvent(t *testing.T, raw []byte, room string, who *account) {
	t.Helper()
	e := decode[wireUserEvent](t, raw)
	if str(e.RoomID) != room {
		t.Fatalf("%s: want roomId %s", raw, room)
	}
	checkUser(t, "user", e.User, who)
}

func checkSignal(t *testing.T, raw []byte, typ, room string, from, to *account) wireSignal {
	t.Helper()
	s := decode[wireSignal](t, raw)
	if str(s.Type) != typ || str(s.RoomID) != room || str(s.SenderID) != from.ID || str(s.TargetID) != to.ID {
		t.Fatalf("video-signal %s: want %s in %s from %s to %s", raw, typ, room, from.ID, to.ID)
	}
	return s
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// offer, answer and candidate are what the app's WebRtcAdapter sends; the relay must not care
// what is inside.
func sig(typ, room string, from, to *account) map[string]any {
	s := map[string]any{"type": typ, "roomId": room, "senderId": from.ID, "targetId": to.ID}
	switch typ {
	case "candidate":
		s["candidate"] = map[string]any{"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"}
	default:
		s["sdp"] = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=" + typ + " from " + from.Username + "\r\n"
	}
	return s
}

// handshake runs the video-signal exchange the app runs after a meeting_user_joined: the one who
// heard of the joiner offers, the joiner answers, both trickle a candidate.
func handshake(t *testing.T, room string, offerer *account, os *appSocket, joiner *account, js *appSocket) {
	t.Helper()
	os.send("video-signal", sig("offer", room, offerer, joiner))
	got := checkSignal(t, js.expect("video-signal").Payload, "offer", room, offerer, joiner)
	if !strings.Contains(str(got.SDP), "offer from "+offerer.Username) {
		t.Fatalf("offer sdp not relayed verbatim: %q", str(got.SDP))
	}
	answer := sig("answer", room, joiner, offerer)
	answer["senderId"] = "someone-else" // the server stamps the real sender
	js.send("video-signal", answer)
	checkSignal(t, os.expect("video-signal").Payload, "answer", room, joiner, offerer)
	os.send("video-signal", sig("candidate", room, offerer, joiner))
	c := checkSignal(t, js.expect("video-signal").Payload, "candidate", room, offerer, joiner)
	if !strings.Contains(string(c.Candidate), "typ host") || !strings.Contains(string(c.Candidate), "usernameFragment") {
		t.Fatalf("candidate not relayed verbatim: %s", c.Candidate)
	}
	js.send("video-signal", sig("candidate", room, joiner, offerer))
	checkSignal(t, os.expect("video-signal").Payload, "candidate", room, joiner, offerer)
}

type wireRoom struct {
	ID    string           `json:"id"`
	Name  string           `json:"name"`
	Users []map[string]any `json:"users"`
}

// openRoom does what the app's chat view does when a room is clicked: the room (for its name in
// the header), then its history.
func (ts *testServer) openRoom(t testing.TB, a *account, roomID string) (wireRoom, []json.RawMessage) {
	t.Helper()
	code, body := ts.call(t, "GET", "/api/room/"+roomID, a.Access, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/room/%s: %d %s", roomID, code, body)
	}
	room := decode[wireRoom](t, body)
	code, body = ts.call(t, "GET", "/api/message/"+roomID, a.Access, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/message/%s: %d %s", roomID, code, body)
	}
	return room, decode[[]json.RawMessage](t, body)
}

// TestAppFlow drives the server exactly as the original Angular app does, from sign-up to the end
// of a meeting, and checks every frame against the original's shapes.
func TestAppFlow(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAppFlow(t, startServer(t, []string{"-rooms", "General,Random"}, nil)) })
	t.Run("postgres", func(t *testing.T) {
		testAppFlow(t, startServer(t, []string{"-rooms", "General,Random", "-postgres", pgtest.URL(t)}, nil))
	})
}

func testAppFlow(t *testing.T, ts *testServer) {
	is := is.New(t)

	// Sign-up of two users; a third signs up too and opens the room, then goes away.
	alice, bob, carol, dave := ts.register(t, "alice"), ts.register(t, "bob"), ts.register(t, "carol"), ts.register(t, "dave")

	// The sidebar: every room.
	code, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	is.Equal(code, http.StatusOK)
	rooms := decode[[]wireRoom](t, body)
	is.Equal(len(rooms), 2)
	is.Equal(rooms[0].Name, "General")
	is.Equal(rooms[1].Name, "Random")
	general := rooms[0].ID

	_, _ = ts.openRoom(t, carol, general) // carol opened General once, on an earlier visit

	// The app boots authenticated: it opens the socket.
	as, bs := ts.connect(t, alice), ts.connect(t, bob)

	room, hist := ts.openRoom(t, alice, general)
	is.Equal(room.Name, "General")
	is.Equal(len(hist), 0)
	room, _ = ts.openRoom(t, bob, general)
	is.Equal(len(room.Users), 3) // carol, alice, bob: everyone who opened it

	// Messages both ways: the other member gets it, the sender gets exactly one echo.
	as.send("message", map[string]any{"roomId": general, "content": "hello from alice"})
	m1 := checkMessage(t, bs.expect("message").Payload, general, "hello from alice", alice)
	checkMessage(t, as.expect("message").Payload, general, "hello from alice", alice)
	bs.send("message", map[string]any{"roomId": general, "content": "hi from bob", "userId": alice.ID}) // a userId is not trusted
	checkMessage(t, as.expect("message").Payload, general, "hi from bob", bob)
	checkMessage(t, bs.expect("message").Payload, general, "hi from bob", bob)
	as.quiet("one echo only")
	bs.quiet("one copy only")

	// History, oldest first, with sender.
	_, hist = ts.openRoom(t, bob, general)
	is.Equal(len(hist), 2)
	is.Equal(str(checkMessage(t, hist[0], general, "hello from alice", alice).ID), str(m1.ID))
	checkMessage(t, hist[1], general, "hi from bob", bob)

	// dave never opened General: he sees none of it.
	ds := ts.connect(t, dave)
	as.send("message", map[string]any{"roomId": general, "content": "members only"})
	checkMessage(t, bs.expect("message").Payload, general, "members only", alice)
	as.expect("message")
	as.sync()
	ds.quiet("a non-member gets no message")

	// Alice starts a meeting (call button) and goes to the meeting page.
	as.send("start_meeting", map[string]any{"roomId": general})
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice)
	as.send("get_room_info", map[string]any{"roomId": general})
	info := checkMeeting(t, as.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID})) // online members; carol is away
	// The host offers to every online peer, bob included, who has not joined yet.
	as.send("video-signal", sig("offer", general, alice, bob))
	as.send("video-signal", sig("candidate", general, alice, bob))
	as.sync()
	bs.quiet("no offer reaches a member who has not joined")
	ds.quiet("a non-member gets no invitation")
	// The early offer is refused, to alice only (a candidate from her bound session is simply
	// not delivered: bob has no session in the meeting).
	early := as.takeErrors()
	is.True(len(early) >= 1)
	for _, e := range early {
		is.Equal(decode[map[string]any](t, e.Payload)["event"], "video-signal")
	}

	// Bob clicks Join on the banner: the meeting page asks for the room and joins each online peer.
	bs.send("get_room_info", map[string]any{"roomId": general})
	info = checkMeeting(t, bs.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID}))
	for _, peer := range info.OnlineUsers {
		if peer != bob.ID {
			bs.send("join_meeting", map[string]any{"roomId": general, "hostId": peer})
		}
	}
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, bob)
	handshake(t, general, alice, as, bob, bs)

	// Bob reloads (F5): the socket just closes; the app boots again and reopens the meeting page.
	bs.close(websocket.StatusGoingAway)
	bs = ts.connect(t, bob)
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "active", alice) // catch-up
	bs.send("get_room_info", map[string]any{"roomId": general})
	info = checkMeeting(t, bs.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID}))
	bs.send("join_meeting", map[string]any{"roomId": general, "hostId": alice.ID})
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, bob)
	handshake(t, general, alice, as, bob, bs)
	as.quiet("within the participant grace alice sees no meeting_user_left for a reload")

	// Carol signs in later: the socket's first app-visible frame is the catch-up invitation.
	code, body = ts.call(t, "POST", "/api/auth/login", "", map[string]string{"username": "carol", "password": carol.Password})
	is.Equal(code, http.StatusOK)
	carol.Access = decode[tokenPair](t, body).AccessToken
	cs := ts.connect(t, carol)
	checkMeeting(t, cs.expect("meeting_invitation").Payload, general, "active", alice)
	cs.send("get_room_info", map[string]any{"roomId": general})
	info = checkMeeting(t, cs.expect("room_info_response").Payload, general, "active", alice)
	is.True(sameSet(info.OnlineUsers, []string{alice.ID, bob.ID, carol.ID}))
	for _, peer := range info.OnlineUsers {
		if peer != carol.ID {
			cs.send("join_meeting", map[string]any{"roomId": general, "hostId": peer})
		}
	}
	checkUserEvent(t, as.expect("meeting_user_joined").Payload, general, carol)
	checkUserEvent(t, bs.expect("meeting_user_joined").Payload, general, carol)
	handshake(t, general, alice, as, carol, cs)
	handshake(t, general, bob, bs, carol, cs)

	// Bob hangs up: the app sends leave_meeting, then ngOnDestroy sends it again.
	bs.send("leave_meeting", map[string]any{"roomId": general})
	bs.send("leave_meeting", map[string]any{"roomId": general})
	checkUserEvent(t, as.expect("meeting_user_left").Payload, general, bob)
	checkUserEvent(t, cs.expect("meeting_user_left").Payload, general, bob)
	bs.sync()
	as.quiet("one meeting_user_left per leave")
	is.Equal(len(bs.takeErrors()), 0) // the second leave is not an error

	// Alice ends it for all.
	as.send("stop_meeting", map[string]any{"roomId": general})
	is.Equal(str(decode[wireUserEvent](t, cs.expect("meeting_ended").Payload).RoomID), general)
	checkMeeting(t, cs.expect("meeting_invitation").Payload, general, "inactive", alice)
	ended := decode[wireUserEvent](t, bs.expect("meeting_ended").Payload)
	is.Equal(str(ended.RoomID), general)
	checkMeeting(t, bs.expect("meeting_invitation").Payload, general, "inactive", alice)
	checkMeeting(t, as.expect("meeting_invitation").Payload, general, "inactive", alice) // the host's banner too
	// meeting_ended makes the guests' pages leave, and their ngOnDestroy leaves again; the host's
	// page leaves once on its way out. The meeting is gone by then.
	for _, s := range []*appSocket{as, bs, bs, cs, cs} {
		s.send("leave_meeting", map[string]any{"roomId": general})
	}
	for _, s := range []*appSocket{as, bs, cs} {
		s.quiet("leaving an ended meeting tells nobody anything")
	}
	as.send("get_room_info", map[string]any{"roomId": general})
	inactive := decode[wireMeeting](t, as.expect("room_info_response").Payload)
	is.Equal(str(inactive.Status), "inactive")

	// Nothing above is worth a warning in the logs, and no password is ever logged.
	as.sync()
	logs := ts.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("log line above info: %s", line)
		}
	}
	for _, a := range []*account{alice, bob, carol, dave} {
		is.True(!strings.Contains(logs, a.Password))
	}
	_ = time.Second
}

// TestHistoryPaging: GET /api/message/:roomId answers the newest messages oldest first, and
// ?before=&limit= pages back.
func TestHistoryPaging(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice := ts.register(t, "alice")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	for _, c := range []string{"one", "two", "three"} {
		code, body := ts.call(t, "POST", "/api/message/create", alice.Access, map[string]string{"roomId": general, "content": c})
		is.Equal(code, http.StatusCreated)
		checkMessage(t, body, general, c, alice)
	}
	page := func(q string) []string {
		code, body := ts.call(t, "GET", "/api/message/"+general+q, alice.Access, nil)
		is.Equal(code, http.StatusOK)
		var out []string
		for _, raw := range decode[[]json.RawMessage](t, body) {
			out = append(out, str(decode[wireMessage](t, raw).Content))
		}
		return out
	}
	is.Equal(page(""), []string{"one", "two", "three"})
	is.Equal(page("?limit=2"), []string{"two", "three"})
	_, body = ts.call(t, "GET", "/api/message/"+general+"?limit=2", alice.Access, nil)
	oldest := str(decode[wireMessage](t, decode[[]json.RawMessage](t, body)[0]).ID)
	is.Equal(page("?limit=2&before="+oldest), []string{"one"})
	code, body := ts.call(t, "GET", "/api/message/"+general+"?before=not-a-message", alice.Access, nil)
	checkAPIError(t, code, body, http.StatusNotFound)
}
