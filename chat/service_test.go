package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/chattest"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestScenario(t *testing.T) {
	n, _ := setup(t, nil)
	chattest.Scenario(t, func(t *testing.T, u signaling.User) *signalingtest.Client {
		return signalingtest.Connect(t, n, u, nil)
	})
}

// TestNewTwiceOnOneHubFails: a second chat service on the same Node would claim the events of
// the first; New refuses it with signaling.ErrHandled.
func TestNewTwiceOnOneHubFails(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	_, err := chat.New(n, nil)
	is.True(errors.Is(err, signaling.ErrHandled)) // join_room has its handler already
}

func TestScenarioJSONPayloadCodec(t *testing.T) {
	n, _ := setup(t, nil)
	chattest.Scenario(t, func(t *testing.T, u signaling.User) *signalingtest.Client {
		return signalingtest.Connect(t, n, u, &signaling.SessionOptions{Codec: signaling.JSONPayload})
	})
}

// The key test: two users in a room, one with two tabs, and a connected non-member.
func TestMessageReachesEveryMemberSessionOnce(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice1, alice2 := connect(t, n, "alice"), connect(t, n, "alice")
	bob := connect(t, n, "bob")
	carol := connect(t, n, "carol")
	join(t, alice1, "r1")
	joined := join(t, bob, "r1")
	is.Equal(joined.Members, []signaling.User{userOf("alice"), userOf("bob")}) // members in join order

	alice1.Send("message", map[string]any{
		"roomId": "r1", "content": "hello", "clientMsgId": "c1",
		"sender": userOf("carol"), "senderId": "carol", "id": "forged", "createdAt": "1999-01-01T00:00:00.000Z",
	})
	var id string
	for _, c := range []*signalingtest.Client{alice1, alice2, bob} {
		m, f := expectMessage(t, c)
		is.Equal(m.Sender, userOf("alice")) // the server's sender, not the client's
		is.Equal(m.RoomID, "r1")            // the room
		is.Equal(m.Content, "hello")        // the content
		is.Equal(m.ClientMsgID, "c1")       // the client's id comes back for matching
		u, err := uuid.Parse(m.ID)
		is.NoErr(err)                          // the id is a UUID
		is.Equal(u.Version(), uuid.Version(7)) // a UUIDv7, not the client's "forged"
		is.True(m.CreatedAt.Year() > 2000)     // the server's time, not the client's
		is.Equal(f.Ref, "")                    // broadcast copies carry no ref
		is.True(f.Seq > 0)                     // messages are replayable
		var raw map[string]any
		is.NoErr(json.Unmarshal(f.Data, &raw))                 // raw data
		is.True(timeRE.MatchString(raw["createdAt"].(string))) // createdAt: RFC 3339, ms, UTC
		is.Equal(raw["createdAt"], raw["updatedAt"])           // a new message was never updated
		_, hasSenderID := raw["senderId"]
		is.True(!hasSenderID) // no client field leaks through
		if id == "" {
			id = m.ID
		}
		is.Equal(m.ID, id) // one message, the same everywhere
	}
	for _, c := range []*signalingtest.Client{alice1, alice2, bob} {
		c.ExpectQuiet("message") // exactly once per session
	}
	carol.ExpectQuiet("message") // never to a non-member
}

func TestClientMsgIDIsIdempotent(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice1, alice2 := connect(t, n, "alice"), connect(t, n, "alice")
	bob := connect(t, n, "bob")
	join(t, alice1, "r1")
	join(t, bob, "r1")

	alice1.Send("message", map[string]string{"roomId": "r1", "content": "first", "clientMsgId": "c1"})
	first, _ := expectMessage(t, bob)
	expectMessage(t, alice1)
	expectMessage(t, alice2)

	alice1.SendRef("message", map[string]string{"roomId": "r1", "content": "retry", "clientMsgId": "c1"}, "again")
	m, f := expectMessage(t, alice1)
	is.Equal(m.ID, first.ID)      // the stored message again
	is.Equal(m.Content, "first")  // with its stored content
	is.Equal(f.Ref, "again")      // as a reply to the retry
	bob.ExpectQuiet("message")    // no second publish to the others
	alice2.ExpectQuiet("message") // nor to the sender's other tab

	alice2.SendRef("message", map[string]string{"roomId": "r1", "content": "from tab 2", "clientMsgId": "c1"}, "tab2")
	m, f = expectMessage(t, alice2)
	is.Equal(m.ID, first.ID)      // the key is the user's, whichever tab retries
	is.Equal(f.Ref, "tab2")       // answered to the retrying tab
	alice1.ExpectQuiet("message") // only

	bob.Send("message", map[string]string{"roomId": "r1", "content": "mine", "clientMsgId": "c1"})
	m, _ = expectMessage(t, alice1)
	is.True(m.ID != first.ID) // another user's c1 is another message

	bob.Send("get_history", map[string]string{"roomId": "r1"})
	h, _ := expectHistory(t, bob)
	is.Equal(contents(h.Messages), []string{"first", "mine"}) // one stored message per (user, clientMsgId)
}

func TestHistoryPagination(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice := connect(t, n, "alice")
	join(t, alice, "r1")
	var sent []chat.Message
	for i := range 7 {
		say(alice, "r1", fmt.Sprint("m", i))
		m, _ := expectMessage(t, alice)
		sent = append(sent, m)
	}

	alice.SendRef("get_history", map[string]any{"roomId": "r1", "limit": 3}, "p1")
	h, f := expectHistory(t, alice)
	is.Equal(f.Ref, "p1")                                      // the reply echoes the ref
	is.Equal(h.RoomID, "r1")                                   // and names the room
	is.Equal(contents(h.Messages), []string{"m4", "m5", "m6"}) // the newest three, oldest first
	is.True(h.HasMore)                                         // older ones exist
	is.Equal(h.Messages[2].ID, sent[6].ID)                     // the stored ids

	alice.Send("get_history", map[string]any{"roomId": "r1", "limit": 3, "before": h.Messages[0].ID})
	h, _ = expectHistory(t, alice)
	is.Equal(contents(h.Messages), []string{"m1", "m2", "m3"}) // the page before
	is.True(h.HasMore)                                         // m0 is left

	alice.Send("get_history", map[string]any{"roomId": "r1", "limit": 3, "before": h.Messages[0].ID})
	h, _ = expectHistory(t, alice)
	is.Equal(contents(h.Messages), []string{"m0"}) // the rest
	is.True(!h.HasMore)                            // the beginning

	alice.Send("get_history", map[string]any{"roomId": "r1"})
	h, _ = expectHistory(t, alice)
	is.Equal(len(h.Messages), 7) // the default limit (50) covers all
	is.True(!h.HasMore)          // nothing older

	alice.Send("get_history", map[string]any{"roomId": "r1", "limit": 100, "before": sent[0].ID})
	h, f = expectHistory(t, alice)
	is.True(h.Messages != nil && len(h.Messages) == 0)         // nothing before the first
	is.True(strings.Contains(string(f.Data), `"messages":[]`)) // an empty list, not null

	join(t, alice, "empty")
	alice.Send("get_history", map[string]any{"roomId": "empty"})
	h, _ = expectHistory(t, alice)
	is.Equal(len(h.Messages), 0) // a room without messages
	is.True(!h.HasMore)          // has no more
}

func TestJoinAndLeave(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice := connect(t, n, "alice")
	bob1, bob2 := connect(t, n, "bob"), connect(t, n, "bob")
	join(t, alice, "r1")
	join(t, bob1, "r1")
	join(t, bob1, "r1") // idempotent
	joined := join(t, alice, "r1")
	is.Equal(joined.Members, []signaling.User{userOf("alice"), userOf("bob")}) // joining twice adds nobody
	is.Equal(joined.Online, []string{})                                        // no Online: an empty list

	say(alice, "r1", "before")
	expectMessage(t, alice)
	expectMessage(t, bob1)
	expectMessage(t, bob2) // the user's other tab was subscribed by the join

	bob1.SendRef("leave_room", map[string]string{"roomId": "r1"}, "bye")
	f := bob1.Expect("room_left", wait)
	is.Equal(f.Ref, "bye")                      // room_left answers leave_room
	is.Equal(string(f.Data), `{"roomId":"r1"}`) // and names the room
	bob1.Send("leave_room", map[string]string{"roomId": "r1"})
	bob1.Expect("room_left", wait) // leaving again is fine

	say(alice, "r1", "after")
	m, _ := expectMessage(t, alice)
	is.Equal(m.Content, "after") // alice still gets the room
	bob1.ExpectQuiet("message")  // after leave_room, no more messages
	bob2.ExpectQuiet("message")  // on any of the user's sessions

	bob2.Send("get_rooms", struct{}{})
	f = bob2.Expect("rooms", wait)
	is.Equal(string(f.Data), `{"rooms":[]}`) // bob is in no room

	join(t, bob2, "r1")
	say(alice, "r1", "welcome back")
	m, _ = expectMessage(t, bob1)
	is.Equal(m.Content, "welcome back") // rejoining subscribes every session again
}

func TestLaterSessionIsSubscribedAtStart(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice1 := connect(t, n, "alice")
	bob := connect(t, n, "bob")
	join(t, alice1, "r1")
	join(t, alice1, "r2")
	join(t, bob, "r1")
	join(t, bob, "r2")

	alice2 := connect(t, n, "alice")
	say(bob, "r2", "to r2")
	say(bob, "r1", "to r1")
	m, _ := expectMessage(t, alice2)
	is.Equal(m.Content, "to r2") // the new tab is in r2
	m, _ = expectMessage(t, alice2)
	is.Equal(m.Content, "to r1") // and in r1

	alice2.SendRef("get_rooms", nil, "rooms")
	f := alice2.Expect("rooms", wait)
	is.Equal(f.Ref, "rooms")                          // the reply echoes the ref
	is.Equal(string(f.Data), `{"rooms":["r1","r2"]}`) // the user's rooms
}

func TestMessageMakesSenderAMember(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice1, alice2 := connect(t, n, "alice"), connect(t, n, "alice")
	bob := connect(t, n, "bob")
	join(t, bob, "r1")
	say(alice1, "r1", "hi, I am new")
	for _, c := range []*signalingtest.Client{alice1, alice2, bob} {
		m, _ := expectMessage(t, c)
		is.Equal(m.Content, "hi, I am new") // the sender joined and every session of it was subscribed first
	}
	alice2.Send("get_rooms", struct{}{})
	f := alice2.Expect("rooms", wait)
	is.Equal(string(f.Data), `{"rooms":["r1"]}`) // a member now
}

func TestRequireJoin(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, &chat.Options{RequireJoin: true})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, bob, "r1")
	alice.SendRef("message", map[string]string{"roomId": "r1", "content": "let me in"}, "m")
	code, f := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeForbidden) // a non-member may not post
	is.Equal(f.Ref, "m")                    // the error answers the message
	bob.ExpectQuiet("message")              // nothing was published
	join(t, alice, "r1")
	say(alice, "r1", "now I can")
	m, _ := expectMessage(t, bob)
	is.Equal(m.Content, "now I can") // after join_room it works
}

func TestPolicy(t *testing.T) {
	is := is.New(t)
	policy := chat.PolicyFunc(func(_ context.Context, u signaling.User, roomID string) error {
		switch {
		case roomID == "broken":
			return errors.New("policy backend on fire")
		case roomID == "flaky":
			return fmt.Errorf("%w: timeout", signaling.ErrUnavailable)
		case strings.HasPrefix(roomID, "staff-") && u.ID != "alice":
			return signaling.Errorf(signaling.CodeForbidden, "staff only")
		}
		return nil
	})
	n, _ := setup(t, &chat.Options{Policy: policy})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "staff-1")

	for _, tc := range []struct{ event, room, code string }{
		{"join_room", "staff-1", signaling.CodeForbidden},
		{"message", "staff-1", signaling.CodeForbidden},
		{"join_room", "broken", signaling.CodeInternal},
		{"join_room", "flaky", signaling.CodeUnavailable},
	} {
		t.Run(tc.event+"/"+tc.room, func(t *testing.T) {
			is := is.New(t)
			bob.Send(tc.event, map[string]string{"roomId": tc.room, "content": "x"})
			code, _ := bob.ExpectError(wait)
			is.Equal(code, tc.code) // the policy's verdict
		})
	}
	alice.ExpectQuiet("message") // the denied message was not published
	bob.Send("get_rooms", nil)
	f := bob.Expect("rooms", wait)
	is.Equal(string(f.Data), `{"rooms":[]}`) // no membership was granted
}

func TestMaxRoomsPerUser(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, &chat.Options{MaxRoomsPerUser: 2})
	alice := connect(t, n, "alice")
	join(t, alice, "a")
	join(t, alice, "b")
	alice.Send("join_room", map[string]string{"roomId": "c"})
	code, _ := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeForbidden) // a third room is over the limit
	say(alice, "c", "auto-join counts too")
	code, _ = alice.ExpectError(wait)
	is.Equal(code, signaling.CodeForbidden) // joining by message is limited the same way
	join(t, alice, "a")                     // a room one is in can be joined again
}

func TestBadInputs(t *testing.T) {
	n, _ := setup(t, nil)
	alice := connect(t, n, "alice")
	join(t, alice, "r1")
	long := strings.Repeat("x", chat.DefaultMaxMessageBytes+1)
	cases := []struct {
		name  string
		event string
		data  any
		code  string
	}{
		{"JoinNoData", "join_room", nil, signaling.CodeBadRequest},
		{"JoinMissingRoomID", "join_room", map[string]any{}, signaling.CodeBadRequest},
		{"JoinRoomIDNotString", "join_room", map[string]any{"roomId": 42}, signaling.CodeBadRequest},
		{"JoinRoomIDTooLong", "join_room", map[string]any{"roomId": strings.Repeat("r", chat.MaxRoomIDBytes+1)}, signaling.CodeBadRequest},
		{"JoinRoomIDControl", "join_room", map[string]any{"roomId": "r\n1"}, signaling.CodeBadRequest},
		{"JoinDataNotObject", "join_room", "r1", signaling.CodeBadRequest},
		{"LeaveMissingRoomID", "leave_room", map[string]any{}, signaling.CodeBadRequest},
		{"MessageMissingRoomID", "message", map[string]any{"content": "x"}, signaling.CodeBadRequest},
		{"MessageRoomIDNotString", "message", map[string]any{"roomId": true, "content": "x"}, signaling.CodeBadRequest},
		{"MessageContentNotString", "message", map[string]any{"roomId": "r1", "content": 42}, signaling.CodeBadRequest},
		{"MessageContentObject", "message", map[string]any{"roomId": "r1", "content": map[string]string{"text": "x"}}, signaling.CodeBadRequest},
		{"MessageMissingContent", "message", map[string]any{"roomId": "r1"}, signaling.CodeBadRequest},
		{"MessageEmptyContent", "message", map[string]any{"roomId": "r1", "content": ""}, signaling.CodeBadRequest},
		{"MessageTooLarge", "message", map[string]any{"roomId": "r1", "content": long}, signaling.CodeTooLarge},
		{"MessageMultibyteTooLarge", "message", map[string]any{"roomId": "r1", "content": strings.Repeat("é", chat.DefaultMaxMessageBytes/2+1)}, signaling.CodeTooLarge},
		{"MessageClientMsgIDTooLong", "message", map[string]any{"roomId": "r1", "content": "x", "clientMsgId": strings.Repeat("c", chat.MaxClientMsgIDBytes+1)}, signaling.CodeTooLarge},
		{"HistoryLimitZero", "get_history", map[string]any{"roomId": "r1", "limit": 0}, signaling.CodeBadRequest},
		{"HistoryLimit101", "get_history", map[string]any{"roomId": "r1", "limit": 101}, signaling.CodeBadRequest},
		{"HistoryLimitNotNumber", "get_history", map[string]any{"roomId": "r1", "limit": "ten"}, signaling.CodeBadRequest},
		{"HistoryLimitFraction", "get_history", map[string]any{"roomId": "r1", "limit": 2.5}, signaling.CodeBadRequest},
		{"HistoryUnknownBefore", "get_history", map[string]any{"roomId": "r1", "before": "0190a000-0000-7000-8000-000000000000"}, signaling.CodeNotFound},
		{"HistoryNotMember", "get_history", map[string]any{"roomId": "r2"}, signaling.CodeForbidden},
		{"TypingNotMember", "typing", map[string]any{"roomId": "r2", "isTyping": true}, signaling.CodeForbidden},
		{"TypingMissingIsTyping", "typing", map[string]any{"roomId": "r1"}, signaling.CodeBadRequest},
		{"TypingIsTypingNotBool", "typing", map[string]any{"roomId": "r1", "isTyping": "yes"}, signaling.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			alice.SendRef(tc.event, tc.data, tc.name)
			code, f := alice.ExpectError(wait)
			var e signaling.Error
			is.NoErr(f.Bind(&e))         // the error event
			is.Equal(code, tc.code)      // the code
			is.Equal(f.Ref, tc.name)     // echoes the ref
			is.Equal(e.Event, tc.event)  // names the event
			is.True(e.Message != "")     // and says why
			alice.ExpectQuiet("message") // nothing was published
		})
	}
	t.Run("SessionStillWorks", func(t *testing.T) {
		is := is.New(t)
		say(alice, "r1", strings.Repeat("y", chat.DefaultMaxMessageBytes)) // exactly at the limit
		m, _ := expectMessage(t, alice)
		is.Equal(len(m.Content), chat.DefaultMaxMessageBytes) // accepted, after every error
		alice.Send("get_history", map[string]any{"roomId": "r1"})
		h, _ := expectHistory(t, alice)
		is.Equal(len(h.Messages), 1) // and only the valid message was stored
	})
}

func TestMaxMessageBytesFollowsNodeLimits(t *testing.T) {
	is := is.New(t)
	n := newNode(t, &signaling.NodeOptions{Limits: signaling.Limits{MaxMessageBytes: 10}})
	newService(t, n, nil)
	alice := connect(t, n, "alice")
	say(alice, "r1", "0123456789")
	expectMessage(t, alice) // exactly the advertised limit passes
	say(alice, "r1", "0123456789a")
	code, _ := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeTooLarge) // the advertised limit is the enforced one
}

func TestMessageTimesComeFromTheClock(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Date(2024, 5, 1, 14, 0, 0, 123_456_789, time.FixedZone("CEST", 2*3600)))
	n, _ := setup(t, &chat.Options{Clock: clk})
	alice := connect(t, n, "alice")
	say(alice, "r1", "tick")
	_, f := expectMessage(t, alice)
	var raw map[string]any
	is.NoErr(json.Unmarshal(f.Data, &raw))                 // raw data
	is.Equal(raw["createdAt"], "2024-05-01T12:00:00.123Z") // the clock's time, UTC, milliseconds
}

func TestOnline(t *testing.T) {
	is := is.New(t)
	online := chat.OnlineFunc(func(_ context.Context, ids []string) ([]string, error) {
		if slices.Contains(ids, "broken") {
			return nil, errors.New("presence down")
		}
		return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "bob" }), nil
	})
	n, _ := setup(t, &chat.Options{Online: online})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, bob, "r1")
	joined := join(t, alice, "r1")
	is.Equal(joined.Online, []string{"alice"}) // the online members, as Online says

	broken := connect(t, n, "broken")
	joined = join(t, broken, "r1")
	is.Equal(len(joined.Members), 3)    // the join went through
	is.Equal(joined.Online, []string{}) // a failing Online means an empty list
}

// failingStore fails every call with a backend error.
type failingStore struct{ chat.Store }

func (failingStore) Append(context.Context, chat.Message) (chat.Message, bool, error) {
	return chat.Message{}, false, fmt.Errorf("redischat: %w: connection refused", signaling.ErrUnavailable)
}

func (failingStore) History(context.Context, string, string, int) ([]chat.Message, bool, error) {
	return nil, false, fmt.Errorf("redischat: %w: connection refused", signaling.ErrUnavailable)
}

func TestStoreUnavailable(t *testing.T) {
	is := is.New(t)
	mem := chat.NewMemoryStore(nil)
	n, svc := setup(t, &chat.Options{Store: failingStore{mem}, Membership: mem})
	is.Equal(svc.Membership(), chat.Membership(mem)) // the given membership is used
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "r1")
	join(t, bob, "r1")
	say(alice, "r1", "lost?")
	code, _ := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the store's failure reaches the client as unavailable
	bob.ExpectQuiet("message")                // nothing unstored is published
	alice.Send("get_history", map[string]string{"roomId": "r1"})
	code, _ = alice.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // history too
}

func TestDefaultsShareOneMemoryStore(t *testing.T) {
	is := is.New(t)
	_, svc := setup(t, nil)
	ms, ok := svc.Store().(*chat.MemoryStore)
	is.True(ok)                                     // the default store is a MemoryStore
	is.Equal(svc.Membership(), chat.Membership(ms)) // shared with the membership

	mem := chat.NewMemoryStore(nil)
	_, svc = setup(t, &chat.Options{Membership: mem})
	is.Equal(svc.Store(), chat.Store(mem)) // a Membership that is also a Store serves as both
}

// Membership belongs to the user across nodes: a join on one node subscribes the user's sessions
// on another.
func TestTwoNodes(t *testing.T) {
	is := is.New(t)
	broker := signaling.NewMemoryBroker()
	store := chat.NewMemoryStore(nil)
	n1 := newNode(t, &signaling.NodeOptions{Broker: broker})
	n2 := newNode(t, &signaling.NodeOptions{Broker: broker})
	newService(t, n1, &chat.Options{Store: store, Membership: store})
	newService(t, n2, &chat.Options{Store: store, Membership: store})
	alice1, alice2 := connect(t, n1, "alice"), connect(t, n2, "alice")
	bob := connect(t, n2, "bob")
	join(t, bob, "r1")
	join(t, alice1, "r1")
	say(bob, "r1", "across nodes")
	for _, c := range []*signalingtest.Client{alice1, alice2, bob} {
		m, _ := expectMessage(t, c)
		is.Equal(m.Content, "across nodes") // every session of every member, on both nodes
	}
	alice2.ExpectQuiet("message") // once
}

// flakyBroker fails every publish to room topics while down is set.
type flakyBroker struct {
	*signaling.MemoryBroker
	down atomic.Bool
}

func (b *flakyBroker) Publish(ctx context.Context, topic string, msg []byte) error {
	if b.down.Load() && strings.HasPrefix(topic, "room:") {
		return fmt.Errorf("broker down: %w", signaling.ErrUnavailable)
	}
	return b.MemoryBroker.Publish(ctx, topic, msg)
}

// A message stored while the broker was down is published to the room when the client sends it
// again with the same clientMsgId: nothing acknowledged is lost, nothing is duplicated.
func TestStoredButNotPublishedIsPublishedOnRetry(t *testing.T) {
	is := is.New(t)
	br := &flakyBroker{MemoryBroker: signaling.NewMemoryBroker()}
	n := newNode(t, &signaling.NodeOptions{Broker: br})
	newService(t, n, nil)
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "r1")
	join(t, bob, "r1")

	br.down.Store(true)
	send := map[string]string{"roomId": "r1", "content": "hello?", "clientMsgId": "c-1"}
	alice.Send("message", send)
	code, _ := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the client learns it was not delivered
	bob.ExpectQuiet("message")                // and nobody got it

	br.down.Store(false)
	alice.Send("message", send)
	got, _ := expectMessage(t, bob)
	is.Equal(got.Content, "hello?") // the retry reaches the room
	expectMessage(t, alice)         // with the sender's acknowledgement
	alice.Send("message", send)
	expectMessage(t, alice)    // a third send is only acknowledged
	bob.ExpectQuiet("message") // never delivered twice
}

// Other members hear of a new member and of one who leaves; re-joining announces nothing.
func TestMembershipAnnounced(t *testing.T) {
	is := is.New(t)
	n, _ := setup(t, nil)
	alice, bob, carol := connect(t, n, "alice"), connect(t, n, "bob"), connect(t, n, "carol")
	join(t, bob, "r1")

	join(t, alice, "r1")
	var ev struct {
		RoomID string         `json:"roomId"`
		User   signaling.User `json:"user"`
	}
	is.NoErr(bob.Expect("member_joined", wait).Bind(&ev))
	is.Equal(ev.RoomID, "r1")          // for the room
	is.Equal(ev.User, userOf("alice")) // with the new member
	alice.ExpectQuiet("member_joined") // not to the joiner herself
	carol.ExpectQuiet("member_joined") // nor to a non-member

	join(t, alice, "r1")
	bob.ExpectQuiet("member_joined") // a second join is no news

	say(carol, "r1", "hi") // joining by sending a message counts too
	is.NoErr(bob.Expect("member_joined", wait).Bind(&ev))
	is.Equal(ev.User.ID, "carol") // carol joined

	alice.Send("leave_room", map[string]string{"roomId": "r1"})
	alice.Expect("room_left", wait)
	is.NoErr(bob.Expect("member_left", wait).Bind(&ev))
	is.Equal(ev.User.ID, "alice") // alice left
	alice.Send("leave_room", map[string]string{"roomId": "r1"})
	alice.Expect("room_left", wait)
	bob.ExpectQuiet("member_left") // leaving again is no news
}

func TestNewRequiresHub(t *testing.T) {
	is := is.New(t)
	svc, err := chat.New(nil, nil)
	is.True(err != nil) // a missing hub is an error, not a panic later
	is.True(svc == nil)
	is.True(strings.Contains(err.Error(), "hub is nil"))
	svc, err = chat.New(signaling.NewNode(nil), nil)
	is.NoErr(err) // every option has a default
	is.NoErr(svc.Close())
}

// stallAppend is a store whose Append blocks until its context ends, as a frozen backend would,
// and reports the context's error as it is (not marked unavailable).
type stallAppend struct{ *chat.MemoryStore }

func (s stallAppend) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	<-ctx.Done()
	return chat.Message{}, false, ctx.Err()
}

func TestStalledStoreCallAnswersUnavailable(t *testing.T) {
	is := is.New(t)
	mem := chat.NewMemoryStore(nil)
	n, _ := setup(t, &chat.Options{Store: stallAppend{mem}, Membership: mem, CallTimeout: 100 * time.Millisecond})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "r1")
	join(t, bob, "r1")
	alice.SendRef("message", map[string]string{"roomId": "r1", "content": "stuck"}, "m")
	code, f := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the call ended at its deadline: unavailable, not internal
	is.Equal(f.Ref, "m")
	bob.ExpectQuiet("message") // nothing was published
}

// lateAppend is a store whose first Append stores the message but reports its context's
// deadline, as a stalled Redis does when it runs a call after the caller gave up on it.
type lateAppend struct {
	*chat.MemoryStore
	failed *atomic.Bool
}

func (s lateAppend) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	stored, existing, err := s.MemoryStore.Append(ctx, m)
	if err == nil && s.failed.CompareAndSwap(false, true) {
		return chat.Message{}, false, fmt.Errorf("%w: %w", signaling.ErrUnavailable, context.DeadlineExceeded)
	}
	return stored, existing, err
}

// TestRetryAfterLateAppendPublishes: a message whose append was answered `unavailable` but
// stored anyway reaches the room when the client resends it with the same clientMsgId, once;
// before, the retry found it stored and only acknowledged it to the sender.
func TestRetryAfterLateAppendPublishes(t *testing.T) {
	is := is.New(t)
	mem := chat.NewMemoryStore(nil)
	n, _ := setup(t, &chat.Options{Store: lateAppend{mem, new(atomic.Bool)}, Membership: mem})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "r1")
	join(t, bob, "r1")
	send := map[string]string{"roomId": "r1", "content": "late", "clientMsgId": "c1"}
	alice.SendRef("message", send, "first")
	code, f := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the append's outcome was unknown
	is.Equal(f.Ref, "first")
	alice.SendRef("message", send, "retry")
	var got, ack struct {
		ID          string `json:"id"`
		ClientMsgID string `json:"clientMsgId"`
	}
	is.NoErr(bob.Expect("message", wait).Bind(&got))
	is.Equal(got.ClientMsgID, "c1") // the retry delivered it to the room
	is.NoErr(alice.Expect("message", wait).Bind(&ack))
	is.Equal(ack.ID, got.ID)     // and acknowledged it, as stored
	bob.ExpectQuiet("message")   // once
	alice.ExpectQuiet("message") // once
}
