package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

// Scale out on Redis: two examples/server nodes share one redis-server (each test starts its
// own), and clients on different nodes chat, see each other's presence, meet, resume on the
// other node after a graceful shutdown, survive a killed node and a Redis outage.

var (
	aliceUser = signaling.User{ID: "alice", Username: "Alice"}
	bobUser   = signaling.User{ID: "bob", Username: "Bob"}
)

// startNodeOn runs examples/server in-process with -dev-auth on srv as node id, plus extra flags.
func startNodeOn(t *testing.T, srv *redistest.Server, id string, extra ...string) *testServer {
	t.Helper()
	args := append([]string{"-dev-auth", "-redis", "redis://" + srv.Addr + "/0", "-node-id", id}, extra...)
	return startServer(t, args...)
}

// dialUser connects u to ts and returns the client and its `session` event.
func dialUser(t *testing.T, ts *testServer, u signaling.User) (*signalingtest.Client, sessionInfo) {
	t.Helper()
	c := ts.dial(t, u, "")
	var s sessionInfo
	if err := c.Expect("session", wait).Bind(&s); err != nil {
		t.Fatalf("session of %s: %v", u.ID, err)
	}
	return c, s
}

// crossMsg is the part of a `message` event the tests look at.
type crossMsg struct {
	ID      string         `json:"id"`
	Content string         `json:"content"`
	Sender  signaling.User `json:"sender"`
}

// crossPresence is a `presence` event.
type crossPresence struct {
	User     signaling.User `json:"user"`
	Status   string         `json:"status"`
	LastSeen string         `json:"lastSeen"`
}

func withContent(content string) func(signalingtest.Frame) bool {
	return func(f signalingtest.Frame) bool {
		var m crossMsg
		return f.Bind(&m) == nil && m.Content == content
	}
}

// pollFrame waits up to d for a frame of event that match accepts and reports whether one came.
// Frames of event that match rejects are dropped. signalingtest.Client has no wait that does not
// fail the test, so this polls its queue, bounded by d; use it where not seeing the frame is an
// expected outcome (an action to retry, a duplicate that must not come).
func pollFrame(c *signalingtest.Client, event string, match func(signalingtest.Frame) bool, d time.Duration) (signalingtest.Frame, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, f := range c.Frames(event) {
			if match(f) {
				return f, true
			}
		}
		if time.Now().After(deadline) {
			return signalingtest.Frame{}, false
		}
		time.Sleep(10 * time.Millisecond) // polling a queue filled by another goroutine, bounded by d
	}
}

// relayUntilSeen has from send messages to room until to receives one, and fails the test if
// none arrives within d. Cross-node delivery starts once the receiving node's Redis
// subscription is in place, which no event confirms (go-redis does not wait for SUBSCRIBE's
// reply), and after a Redis restart once go-redis has reconnected and subscribed again: the
// action is retried until its effect is seen. Messages of to that arrive meanwhile are dropped;
// from keeps its own copies.
func relayUntilSeen(t *testing.T, from, to *signalingtest.Client, room, label string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for i := 1; ; i++ {
		content := fmt.Sprintf("%s-%d", label, i)
		from.Send("message", map[string]string{"roomId": room, "content": content})
		if _, ok := pollFrame(to, "message", withContent(content), 500*time.Millisecond); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q message got through within %v (%d tries)", label, d, i)
		}
	}
}

// expectPresenceOf returns the next `presence` event about userID, skipping others, within d.
func expectPresenceOf(t *testing.T, c *signalingtest.Client, userID string, d time.Duration) crossPresence {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var p crossPresence
		if err := c.Expect("presence", time.Until(deadline)).Bind(&p); err != nil {
			t.Fatalf("presence: %v", err)
		}
		if p.User.ID == userID {
			return p
		}
	}
}

// expectMessage returns the next `message` with content, skipping others, within d.
func expectMessage(t *testing.T, c *signalingtest.Client, content string, d time.Duration) crossMsg {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var m crossMsg
		if err := c.Expect("message", time.Until(deadline)).Bind(&m); err != nil {
			t.Fatalf("message: %v", err)
		}
		if m.Content == content {
			return m
		}
	}
}

// TestMultiNodeChatPresenceTyping: alice on node a, bob on node b, one room. Messages sent by both
// at once reach both sides exactly once and in each sender's order; typing and presence cross
// the nodes too.
func TestMultiNodeChatPresenceTyping(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	a := startNodeOn(t, srv, "a")
	b := startNodeOn(t, srv, "b")

	// Presence goes to the co-members of a user's rooms when its first session starts, so alice
	// becomes a member of r in an earlier session (closed before the test proper).
	bobC, _ := dialUser(t, b, bobUser)
	joinRoom(t, "r", bobC)
	first, _ := dialUser(t, a, aliceUser)
	joinRoom(t, "r", first)
	first.Close(signaling.StatusNormalClosure)
	p := expectPresenceOf(t, bobC, "alice", wait)
	is.Equal(p.Status, "offline") // bob on b sees alice's first session on a end

	aliceC, _ := dialUser(t, a, aliceUser)
	p = expectPresenceOf(t, bobC, "alice", wait)
	is.Equal(p.Status, "online")                                   // alice's new session on a makes her online for bob on b
	is.Equal(p.User.Username, "Alice")                             // with her name
	relayUntilSeen(t, aliceC, bobC, "r", "warm-a", 10*time.Second) // b's subscription to r is live
	relayUntilSeen(t, bobC, aliceC, "r", "warm-b", 10*time.Second) // and a's

	want := map[string]bool{}
	for i := 1; i <= 5; i++ {
		ac, bc := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		want[ac], want[bc] = true, true
		aliceC.Send("message", map[string]string{"roomId": "r", "content": ac})
		bobC.Send("message", map[string]string{"roomId": "r", "content": bc})
	}
	isBurst := func(f signalingtest.Frame) bool {
		var m crossMsg
		return f.Bind(&m) == nil && want[m.Content]
	}
	for _, side := range []struct {
		name string
		c    *signalingtest.Client
	}{{"alice", aliceC}, {"bob", bobC}} {
		got := map[string]int{}
		order := map[string][]string{}
		for n := 0; n < len(want); {
			var m crossMsg
			is.NoErr(side.c.Expect("message", 10*time.Second).Bind(&m)) // all ten arrive
			if !want[m.Content] {
				continue // a warm-up copy
			}
			n++
			got[m.Content]++
			order[m.Sender.ID] = append(order[m.Sender.ID], m.Content)
			is.True(m.ID != "") // stored, with an id
		}
		for c := range want {
			is.Equal(got[c], 1) // each message exactly once
		}
		is.Equal(order["alice"], []string{"a1", "a2", "a3", "a4", "a5"}) // alice's in her order
		is.Equal(order["bob"], []string{"b1", "b2", "b3", "b4", "b5"})   // bob's in his
		_, dup := pollFrame(side.c, "message", isBurst, 300*time.Millisecond)
		is.True(!dup) // and nothing twice
		t.Logf("%s got the 10 messages once each, in each sender's order", side.name)
	}

	aliceC.Send("typing", map[string]any{"roomId": "r", "isTyping": true})
	var ty struct {
		RoomID   string         `json:"roomId"`
		User     signaling.User `json:"user"`
		IsTyping bool           `json:"isTyping"`
	}
	is.NoErr(bobC.Expect("typing", wait).Bind(&ty))
	is.Equal(ty.User.ID, "alice") // alice's typing crosses from a to b
	is.True(ty.IsTyping)          // as typing
	is.Equal(ty.RoomID, "r")      // in r

	aliceC.Close(signaling.StatusNormalClosure)
	p = expectPresenceOf(t, bobC, "alice", wait)
	is.Equal(p.Status, "offline") // alice's clean close on a makes her offline for bob on b
	seen, err := time.Parse(time.RFC3339, p.LastSeen)
	is.NoErr(err)                                 // with lastSeen, RFC 3339
	is.True(time.Since(seen).Abs() < time.Minute) // that is now
	is.NoErr(bobC.Expect("typing", wait).Bind(&ty))
	is.True(!ty.IsTyping) // and her typing ends with her session
	closeClients(t, b, bobC)
}

// TestMultiNodeMeeting: two Pion peers, alice on node a and bob on node b, meet; their offer,
// answer and candidates cross the nodes through Redis.
func TestMultiNodeMeeting(t *testing.T) {
	is := is.New(t)
	if testing.Short() {
		t.Skip("WebRTC end-to-end")
	}
	srv := redistest.Start(t)
	a := startNodeOn(t, srv, "a")
	b := startNodeOn(t, srv, "b")
	pa := dialPeer(t, a, "alice")
	pb := dialPeer(t, b, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	is.NoErr(pa.Start(ctx, "r")) // alice starts the meeting on a
	joined, err := pb.Join(ctx, "r")
	is.NoErr(err)            // bob joins it on b
	is.Equal(len(joined), 2) // and finds alice there
	start := time.Now()
	is.NoErr(pa.WaitAllConnected(ctx, "bob"))   // alice's connection to bob is up
	is.NoErr(pb.WaitAllConnected(ctx, "alice")) // and bob's to alice
	t.Logf("join to connected across nodes: %v", time.Since(start))

	from := func(id string) func(json.RawMessage) bool {
		return func(d json.RawMessage) bool {
			var s meeting.Signal
			return json.Unmarshal(d, &s) == nil && s.SenderID == id
		}
	}
	pb.rec.waitFor(t, "video-signal", from("alice"), wait) // a's signals reached b, stamped
	pa.rec.waitFor(t, "video-signal", from("bob"), wait)   // and b's reached a

	is.NoErr(pa.SendText("bob", "hi from a")) // over the data channel
	isText := func(want string) func(json.RawMessage) bool {
		return func(d json.RawMessage) bool {
			var s string
			return json.Unmarshal(d, &s) == nil && s == want
		}
	}
	pb.rec.waitFor(t, "data", isText("alice: hi from a"), wait) // the media path works
}

// TestMultiNodeResumeAfterShutdown: node a shuts down gracefully; alice resumes her session on
// node b and misses nothing, and the meeting she started on a goes on, then ends on b.
func TestMultiNodeResumeAfterShutdown(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	a := startNodeOn(t, srv, "a")
	b := startNodeOn(t, srv, "b", "-empty-timeout", "2s")
	aliceC, first := dialUser(t, a, aliceUser)
	bobC, _ := dialUser(t, b, bobUser)
	joinRoom(t, "r", aliceC, bobC)
	relayUntilSeen(t, aliceC, bobC, "r", "warm-a", 10*time.Second)
	relayUntilSeen(t, bobC, aliceC, "r", "warm-b", 10*time.Second)

	aliceC.Send("start_meeting", map[string]string{"roomId": "r"})
	aliceC.Expect("meeting_started", wait)
	bobC.Expect("meeting_invitation", wait)
	bobC.Send("join_meeting", map[string]string{"roomId": "r"})
	bobC.Expect("meeting_joined", wait)
	aliceC.Expect("meeting_user_joined", wait)

	// As on SIGTERM: a closes its sessions with 1012 and keeps them up to 5 s for a handover.
	a.cancel()
	is.Equal(aliceC.ExpectClosed(wait), signaling.StatusServiceRestart) // 1012: resume elsewhere
	last := aliceC.LastSeq()
	texts := []string{"one", "two", "three"}
	for _, text := range texts {
		bobC.Send("message", map[string]string{"roomId": "r", "content": text})
		expectMessage(t, bobC, text, wait) // stored and published
	}

	again := b.dial(t, aliceUser, fmt.Sprintf("&resume=%s&lastSeq=%d", first.ResumeToken, last))
	f := again.Next(wait)
	is.Equal(f.Event, "session") // the first frame is the session
	var s sessionInfo
	is.NoErr(f.Bind(&s))
	is.True(s.Resumed)                     // resumed on b
	is.Equal(s.SessionID, first.SessionID) // the session alice had on a
	var got []string
	for {
		f := again.Next(wait)
		if f.Event == "resumed" {
			break
		}
		if f.Event == "message" {
			var m crossMsg
			is.NoErr(f.Bind(&m))
			got = append(got, m.Content)
		}
	}
	is.Equal(got, texts) // the three messages, once each, in order, before `resumed`
	_, dup := pollFrame(again, "message", func(signalingtest.Frame) bool { return true }, 300*time.Millisecond)
	is.True(!dup)       // and nothing twice
	is.NoErr(a.stop(t)) // a finished its shutdown cleanly

	again.SendRef("get_room_info", map[string]string{"roomId": "r"}, "info")
	var info struct {
		Status       string           `json:"status"`
		Host         signaling.User   `json:"host"`
		Participants []signaling.User `json:"participants"`
	}
	is.NoErr(again.Expect("room_info_response", wait).Bind(&info))
	is.Equal(info.Status, "active")     // the meeting started on a survived a's shutdown
	is.Equal(info.Host.ID, "alice")     // with its host
	is.Equal(len(info.Participants), 2) // and both participants

	again.Send("leave_meeting", map[string]string{"roomId": "r"})
	bobC.Expect("meeting_user_left", wait)
	bobC.Send("leave_meeting", map[string]string{"roomId": "r"})
	for _, c := range []*signalingtest.Client{again, bobC} {
		var ended struct {
			RoomID string `json:"roomId"`
			Reason string `json:"reason"`
		}
		is.NoErr(c.Expect("meeting_ended", 10*time.Second).Bind(&ended)) // b's empty timeout (2 s) ends it
		is.Equal(ended.Reason, "empty")                                  // because nobody is left
		is.Equal(ended.RoomID, "r")                                      // of room r
	}
	for _, c := range []*signalingtest.Client{again, bobC} {
		c.ExpectNone("meeting_ended", 500*time.Millisecond) // once
	}
	closeClients(t, b, again, bobC)
}

// TestMultiNodeKilledNode: node a runs as a process of its own and is killed (SIGKILL) while
// alice, on a, hosts a meeting that bob, on b, joined. Bob sees alice go offline when a's
// presence heartbeat lapses; b, which expired her, unbinds her dead session from the meeting, so
// the host grace runs and ends the meeting; and nothing breaks for him.
func TestMultiNodeKilledNode(t *testing.T) {
	is := is.New(t)
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	srv := redistest.Start(t)
	timers := []string{"-participant-grace", "1s", "-host-grace", "2s", "-empty-timeout", "2s"}

	bin := filepath.Join(t.TempDir(), "huddle-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	is.NoErr(build.Run()) // the server builds
	out := newLineBuffer()
	args := append([]string{"-dev-auth", "-addr", "127.0.0.1:0", "-log-level", "error",
		"-redis", "redis://" + srv.Addr + "/0", "-node-id", "a"}, timers...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	is.NoErr(cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := out.waitFor(t, listenLine, 10*time.Second)
	a := &testServer{URL: "http://" + addr, WS: "ws://" + addr + "/ws"}
	b := startNodeOn(t, srv, "b", timers...)

	aliceC, _ := dialUser(t, a, aliceUser)
	bobC, _ := dialUser(t, b, bobUser)
	joinRoom(t, "r", aliceC, bobC)
	relayUntilSeen(t, aliceC, bobC, "r", "warm-a", 10*time.Second)
	relayUntilSeen(t, bobC, aliceC, "r", "warm-b", 10*time.Second)
	aliceC.Send("start_meeting", map[string]string{"roomId": "r"})
	aliceC.Expect("meeting_started", wait)
	bobC.Expect("meeting_invitation", wait)
	bobC.Send("join_meeting", map[string]string{"roomId": "r"})
	bobC.Expect("meeting_joined", wait)
	aliceC.Expect("meeting_user_joined", wait)

	killed := time.Now()
	is.NoErr(cmd.Process.Kill()) // SIGKILL: a cleans nothing up
	<-exited
	is.Equal(aliceC.ExpectClosed(wait), signaling.StatusCode(-1)) // no close frame: a is gone

	p := expectPresenceOf(t, bobC, "alice", 40*time.Second)
	took := time.Since(killed)
	t.Logf("bob saw alice offline %v after the kill", took.Round(100*time.Millisecond))
	is.Equal(p.Status, "offline")  // a's sessions expired with its heartbeat
	is.True(p.LastSeen != "")      // with lastSeen
	is.True(took < 30*time.Second) // within 30 s (PROTOCOL.md §6)

	// Presence on b reported alice offline, so b unbound her dead session from the meeting:
	// her participant grace (1 s) and the host grace (2 s) run on b (no lease is left from a,
	// which stored no deadline), and the host policy "end" ends the meeting.
	ending := true
	defer func() {
		if ending && t.Failed() {
			t.Log(storedMeeting(t, srv.Addr, "r"))
		}
	}()
	var e struct {
		RoomID string `json:"roomId"`
		Reason string `json:"reason"`
	}
	is.NoErr(bobC.Expect("meeting_ended", 10*time.Second).Bind(&e)) // host grace plus slack
	is.Equal(e.Reason, "host_left")                                 // the host did not come back
	is.Equal(e.RoomID, "r")                                         // in room r
	t.Logf("the meeting ended %v after the kill, %v after bob saw alice offline",
		time.Since(killed).Round(100*time.Millisecond), (time.Since(killed) - took).Round(100*time.Millisecond))
	var inv struct {
		RoomID string `json:"roomId"`
		Status string `json:"status"`
	}
	is.NoErr(bobC.Expect("meeting_invitation", wait).Bind(&inv))
	is.Equal(inv.Status, "inactive")                       // then its invitation is revoked
	is.Equal(inv.RoomID, "r")                              // for room r
	bobC.ExpectNone("meeting_ended", 500*time.Millisecond) // and the meeting ended once
	ending = false

	bobC.SendRef("get_room_info", map[string]string{"roomId": "r"}, "info")
	var info struct {
		Status      string   `json:"status"`
		OnlineUsers []string `json:"onlineUsers"`
	}
	is.NoErr(bobC.Expect("room_info_response", wait).Bind(&info)) // b still answers about the room
	is.True(!slices.Contains(info.OnlineUsers, "alice"))          // without alice among the online
	t.Logf("room r after the kill: meeting %s, online %v", info.Status, info.OnlineUsers)
	bobC.SendRef("ping", struct{}{}, "alive")
	is.Equal(bobC.Expect("pong", wait).Ref, "alive") // bob's connection is fine
	errs := bobC.Frames("error")
	is.Equal(len(errs), 0) // and bob saw no error
	closeClients(t, b, bobC)
}

// storedMeeting describes the room's meeting as Redis holds it, with its deadlines and lease.
func storedMeeting(t *testing.T, addr, room string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rec, err := rdb.HGet(ctx, "huddle:{room:"+room+"}:meeting", "rec").Result()
	if err != nil {
		return fmt.Sprintf("no record (%v)", err)
	}
	var m meeting.Meeting
	if err := m.UnmarshalBinary([]byte(rec)); err != nil {
		return fmt.Sprintf("undecodable record (%v)", err)
	}
	lease, err := rdb.Get(ctx, "huddle:{room:"+room+"}:meeting:lease").Result()
	if errors.Is(err, redis.Nil) {
		lease = "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the stored meeting is %s, hostAwaySince=%d, emptySince=%d, lease=%s;", m.Status, m.HostAwaySince, m.EmptySince, lease)
	for _, p := range m.Participants {
		fmt.Fprintf(&b, " %s: sessions=%v dropped=%v droppedAt=%d;", p.User.ID, p.Sessions, p.Dropped, p.DroppedAt)
	}
	return b.String()
}

// TestMultiNodeRedisOutage: Redis goes away under two nodes and comes back. Meanwhile clients get
// `unavailable` and keep their connections; afterwards messages flow again without restarting
// the nodes, and the nodes stop without leaking goroutines.
func TestMultiNodeRedisOutage(t *testing.T) {
	is := is.New(t)
	base := runtime.NumGoroutine()
	srv := redistest.Start(t)
	a := startNodeOn(t, srv, "a")
	b := startNodeOn(t, srv, "b")
	aliceC, _ := dialUser(t, a, aliceUser)
	bobC, _ := dialUser(t, b, bobUser)
	joinRoom(t, "r", aliceC, bobC)
	relayUntilSeen(t, aliceC, bobC, "r", "warm-a", 10*time.Second)
	relayUntilSeen(t, bobC, aliceC, "r", "warm-b", 10*time.Second)

	srv.Stop()
	aliceC.SendRef("message", map[string]string{"roomId": "r", "content": "while Redis is down"}, "down")
	code, f := aliceC.ExpectError(10 * time.Second)
	is.Equal(code, signaling.CodeUnavailable) // the store is unreachable: unavailable
	is.Equal(f.Ref, "down")                   // for that message
	aliceC.SendRef("ping", struct{}{}, "still")
	is.Equal(aliceC.Expect("pong", wait).Ref, "still") // the connection stays open

	// The restarted Redis is empty (no persistence here): memberships and presence are gone.
	srv.Restart()
	relayUntilSeen(t, aliceC, bobC, "r", "after", 20*time.Second) // alice to bob flows again
	relayUntilSeen(t, bobC, aliceC, "r", "back", 20*time.Second)  // and bob to alice
	aliceC.Send("message", map[string]string{"roomId": "r", "content": "for good"})
	expectMessage(t, bobC, "for good", wait) // without retries now

	closeClients(t, a, aliceC)
	closeClients(t, b, bobC)
	is.NoErr(a.stop(t)) // a stops cleanly after the outage
	is.NoErr(b.stop(t)) // and so does b
	// The redis-server's wait goroutine (redistest) outlives the nodes; allow it and a little more.
	waitGoroutines(t, base+3)
}

// closeClients closes the clients cleanly and waits until ts holds no session, so that stopping
// ts at cleanup does not wait for a handover (up to 5 s) of sessions nobody will resume.
func closeClients(t *testing.T, ts *testServer, clients ...*signalingtest.Client) {
	t.Helper()
	for _, c := range clients {
		c.Close(signaling.StatusNormalClosure)
	}
	deadline := time.Now().Add(wait)
	for {
		res, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatalf("healthz: %v", err)
		}
		var h struct{ Sessions int64 }
		err = json.NewDecoder(res.Body).Decode(&h)
		res.Body.Close()
		if err != nil {
			t.Fatalf("healthz: %v", err)
		}
		if h.Sessions == 0 {
			http.DefaultClient.CloseIdleConnections()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d sessions after %v", ts.URL, h.Sessions, wait)
		}
		time.Sleep(10 * time.Millisecond) // polling the node's session count, bounded by the deadline
	}
}
