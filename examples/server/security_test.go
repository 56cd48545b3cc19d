package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// TestDevAuthWithJWTSecretRequiresToken: with both -dev-auth and -jwt-secret, a token-less
// ?user= signed anyone in; now only a token does.
func TestDevAuthWithJWTSecretRequiresToken(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth", "-jwt-secret", "server-secret")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, _, err := ws.Dial(ctx, ts.WS+"?user=mallory&name=Mallory", nil)
	var he *ws.HandshakeError
	is.True(errors.As(err, &he))                     // refused at the handshake
	is.Equal(he.StatusCode, http.StatusUnauthorized) // with 401
	conn, _, err := ws.Dial(ctx, ts.WS+"?token="+token(t, "server-secret", "dana", time.Now().Add(time.Hour)), nil)
	is.NoErr(err) // a token still works
	c := signalingtest.NewClient(t, conn, signaling.JSON)
	c.Expect("session", wait)
	res, err := http.Get(ts.URL + "/config.json")
	is.NoErr(err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	is.True(strings.Contains(string(body), `"auth":"jwt"`)) // the web client asks for a token
}

// rawUpgrade sends an upgrade request with its own Host and Origin, and returns the status.
func rawUpgrade(t *testing.T, ts *testServer, query, host, origin string) int {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+"/ws"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestDNSRebindingRefused: a page on evil.example, whose name the attacker made resolve to
// 127.0.0.1, reaches the -dev-auth server with a Host and an Origin that agree. It is refused;
// the server's own page is not.
func TestDNSRebindingRefused(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	is.Equal(rawUpgrade(t, ts, "?user=mallory", "evil.example:"+port, "http://evil.example:"+port), http.StatusForbidden)
	is.Equal(rawUpgrade(t, ts, "?user=alice", "", ts.URL), http.StatusSwitchingProtocols)
	is.Equal(rawUpgrade(t, ts, "?user=alice", "localhost:"+port, "http://localhost:"+port), http.StatusSwitchingProtocols)
}

// TestPerIPLimitsAndMetric: over the upgrade rate is 429 before the upgrade, and counted.
func TestPerIPLimitsAndMetric(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth", "-upgrade-rate", "0.01", "-upgrade-burst", "2")
	is.Equal(rawUpgrade(t, ts, "?user=a", "", ""), http.StatusSwitchingProtocols)
	is.Equal(rawUpgrade(t, ts, "?user=a", "", ""), http.StatusSwitchingProtocols)
	is.Equal(rawUpgrade(t, ts, "?user=a", "", ""), http.StatusTooManyRequests) // the third at once
	res, err := http.Get(ts.URL + "/metrics")
	is.NoErr(err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	is.True(strings.Contains(string(body), `huddle_ws_refused_total{reason="upgrade_rate"} 1`)) // counted
	is.True(strings.Contains(string(body), "huddle_presence_offline_users "))                   // the memory store's bound is watched
}

func expectCode(t *testing.T, c *signalingtest.Client, ref string) string {
	t.Helper()
	code, f := c.ExpectError(wait)
	if f.Ref != ref {
		t.Fatalf("error %s answers ref %q, want %q", f.Raw, f.Ref, ref)
	}
	return code
}

// TestMembersOnlyRooms: with -rooms members, a stranger's join_room, get_history and
// join_meeting are refused; a user a member added gets in.
func TestMembersOnlyRooms(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth", "-rooms", "members")
	alice := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "")
	mallory := ts.dial(t, signaling.User{ID: "mallory", Username: "Mallory"}, "")
	bob := ts.dial(t, signaling.User{ID: "bob", Username: "Bob"}, "")
	room := map[string]string{"roomId": "board"}
	alice.Send("join_room", room)
	alice.Expect("room_joined", wait) // a new room: alice creates it
	alice.Send("message", map[string]string{"roomId": "board", "content": "Q3 numbers"})
	alice.Expect("message", wait)
	alice.Send("start_meeting", room)
	alice.Expect("meeting_started", wait)

	for _, event := range []string{"join_room", "get_history", "join_meeting"} {
		mallory.SendRef(event, room, event)
		is.Equal(expectCode(t, mallory, event), signaling.CodeForbidden) // the stranger is refused
	}

	alice.SendRef("add_member", map[string]string{"roomId": "board", "userId": "bob", "username": "Bob"}, "add")
	alice.Expect("member_added", wait)
	bob.Expect("member_joined", wait)
	bob.SendRef("get_history", room, "h")
	is.Equal(bob.Expect("history", wait).Ref, "h") // an added member reads
	bob.SendRef("join_meeting", room, "j")
	is.Equal(bob.Expect("meeting_joined", wait).Ref, "j") // and joins the meeting
}

// TestLeaveRoomLeavesMeeting: leave_room takes the user out of the room's meeting, so that it
// no longer sends or receives media_state there.
func TestLeaveRoomLeavesMeeting(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	alice := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "")
	bob := ts.dial(t, signaling.User{ID: "bob", Username: "Bob"}, "")
	room := map[string]string{"roomId": "r"}
	for _, c := range []*signalingtest.Client{alice, bob} {
		c.Send("join_room", room)
		c.Expect("room_joined", wait)
	}
	alice.Send("start_meeting", room)
	alice.Expect("meeting_started", wait)
	bob.Send("join_meeting", room)
	bob.Expect("meeting_joined", wait)
	alice.Expect("meeting_user_joined", wait)

	bob.SendRef("leave_room", room, "leave")
	is.Equal(bob.Expect("room_left", wait).Ref, "leave")
	var left struct {
		User signaling.User `json:"user"`
	}
	is.NoErr(alice.Expect("meeting_user_left", wait).Bind(&left))
	is.Equal(left.User.ID, "bob") // bob left the meeting with the room

	bob.SendRef("media_state", map[string]any{"roomId": "r", "audio": true}, "m")
	is.Equal(expectCode(t, bob, "m"), signaling.CodeForbidden) // no longer a member
	alice.Send("media_state", map[string]any{"roomId": "r", "video": true})
	alice.SendRef("ping", struct{}{}, "barrier")
	alice.Expect("pong", wait)
	bob.SendRef("ping", struct{}{}, "barrier")
	bob.Expect("pong", wait)
	bob.ExpectNone("media_state", 50*time.Millisecond) // and no longer receives the meeting's
}

func TestHardeningFlags(t *testing.T) {
	is := is.New(t)
	_, err := parseConfig([]string{"-dev-auth", "-rooms", "invite"}, func(string) string { return "" }, io.Discard)
	is.True(err != nil && strings.Contains(err.Error(), "want open or members")) // a policy that does not exist
	_, err = parseConfig([]string{"-dev-auth", "-trusted-proxies", "-1"}, func(string) string { return "" }, io.Discard)
	is.True(err != nil) // a negative proxy count
	cfg, err := parseConfig([]string{"-dev-auth"}, func(string) string { return "" }, io.Discard)
	is.NoErr(err)
	is.Equal(cfg.rooms, "open")                          // rooms are open by default, as before
	is.Equal(cfg.trustedProxies, 0)                      // X-Forwarded-For is ignored by default
	is.Equal(cfg.maxConnsPerIP, ws.DefaultMaxConnsPerIP) // the library's defaults
	is.Equal(cfg.upgradeRate, float64(ws.DefaultUpgradeRate))
}
