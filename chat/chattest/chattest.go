// Package chattest checks a running chat service from the outside, over any transport: the same
// Scenario runs over in-memory pipes in package chat's tests and over real WebSockets through
// the reference server.
package chattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// Wait bounds every wait for an expected event.
var Wait = 5 * time.Second

// Quiet is how long Scenario listens to make sure an event does not arrive.
var Quiet = 150 * time.Millisecond

// Scenario runs the chat flow of PROTOCOL.md §5 against a server behind connect, which must
// open a new session for u (each call a new tab) with the chat service wired in, and return
// its client. Users and rooms get fresh random ids, so a shared server may be used. Scenario
// ignores the events it does not look for (presence, meeting invitations).
func Scenario(t *testing.T, connect func(t *testing.T, u signaling.User) *signalingtest.Client) {
	t.Run("MessageFanOut", func(t *testing.T) {
		is := is.New(t)
		room := "room-" + rnd()
		alice, bob, carol := user("alice"), user("bob"), user("carol")
		a1 := start(t, connect, alice)
		a2 := start(t, connect, alice)
		b := start(t, connect, bob)
		c := start(t, connect, carol)
		joined := join(t, a1, room)
		is.Equal(joined.RoomID, room)                           // room_joined names the room
		is.True(slices.Contains(ids(joined.Members), alice.ID)) // the joiner is a member
		joined = join(t, b, room)
		is.Equal(sortedStrings(ids(joined.Members)), sortedStrings([]string{alice.ID, bob.ID})) // both members listed

		a1.Send("message", map[string]any{
			"roomId": room, "content": "hello", "clientMsgId": "c-" + rnd(),
			"sender": map[string]string{"id": carol.ID, "username": "Mallory"}, "senderId": carol.ID, "id": "forged",
		})
		var first Message
		for i, cl := range []*signalingtest.Client{a1, a2, b} {
			m := expectMessage(t, cl)
			is.Equal(m.Sender, alice)    // the server stamps the sender, ignoring the client's
			is.Equal(m.RoomID, room)     // the message names its room
			is.Equal(m.Content, "hello") // content as sent
			is.True(m.ID != "forged")    // the server assigns the id
			id, err := uuid.Parse(m.ID)
			is.NoErr(err)                            // the id is a UUID
			is.Equal(id.Version(), uuid.Version(7))  // a UUIDv7
			is.True(timeRE.MatchString(m.CreatedAt)) // createdAt is RFC 3339 with milliseconds, UTC
			if i == 0 {
				first = m
			}
			is.Equal(m.ID, first.ID) // every session gets the same message
		}
		c.ExpectNone("message", Quiet) // a non-member gets nothing

		// A second message is the next one everywhere: nobody got a second copy of the first.
		a2.Send("message", map[string]any{"roomId": room, "content": "second"})
		for _, cl := range []*signalingtest.Client{a1, a2, b} {
			m := expectMessage(t, cl)
			is.Equal(m.Content, "second") // the next message, not a duplicate
		}
		c.ExpectNone("message", Quiet) // still nothing for the non-member
	})

	t.Run("Idempotency", func(t *testing.T) {
		is := is.New(t)
		room := "room-" + rnd()
		alice, bob := user("alice"), user("bob")
		a1 := start(t, connect, alice)
		a2 := start(t, connect, alice)
		b := start(t, connect, bob)
		join(t, a1, room)
		join(t, b, room)
		cid := "c-" + rnd()
		a1.Send("message", map[string]any{"roomId": room, "content": "once", "clientMsgId": cid})
		m := expectMessage(t, b)
		expectMessage(t, a1)
		expectMessage(t, a2)

		a1.SendRef("message", map[string]any{"roomId": room, "content": "twice", "clientMsgId": cid}, "retry")
		f := a1.Expect("message", Wait)
		var again Message
		is.NoErr(json.Unmarshal(f.Data, &again)) // the repeat's answer
		is.Equal(again.ID, m.ID)                 // the stored message comes back
		is.Equal(again.Content, "once")          // unchanged
		is.Equal(f.Ref, "retry")                 // as a reply to the retry

		b.SendRef("get_history", map[string]any{"roomId": room}, "h")
		h := expectHistory(t, b)
		is.Equal(len(h.Messages), 1) // stored once
		is.True(!h.HasMore)          // nothing older

		// The next message is the next one everywhere else: the retry reached only the sender.
		b.Send("message", map[string]any{"roomId": room, "content": "after"})
		is.Equal(expectMessage(t, a2).Content, "after") // the other tab got no retry copy
		is.Equal(expectMessage(t, b).Content, "after")  // the other member got no retry copy
		is.Equal(expectMessage(t, a1).Content, "after") // and the sender's tab got one only
	})

	t.Run("History", func(t *testing.T) {
		is := is.New(t)
		room := "room-" + rnd()
		a := start(t, connect, user("alice"))
		join(t, a, room)
		var sent []Message
		for _, text := range []string{"m0", "m1", "m2", "m3", "m4"} {
			a.Send("message", map[string]any{"roomId": room, "content": text})
			sent = append(sent, expectMessage(t, a))
		}
		a.SendRef("get_history", map[string]any{"roomId": room, "limit": 2}, "p1")
		h := expectHistory(t, a)
		is.Equal(contents(h.Messages), []string{"m3", "m4"}) // the newest two, oldest first
		is.True(h.HasMore)                                   // older ones exist
		a.SendRef("get_history", map[string]any{"roomId": room, "limit": 2, "before": h.Messages[0].ID}, "p2")
		h = expectHistory(t, a)
		is.Equal(contents(h.Messages), []string{"m1", "m2"}) // the page before
		is.True(h.HasMore)                                   // m0 is older
		a.SendRef("get_history", map[string]any{"roomId": room, "limit": 2, "before": h.Messages[0].ID}, "p3")
		h = expectHistory(t, a)
		is.Equal(contents(h.Messages), []string{"m0"}) // the oldest
		is.True(!h.HasMore)                            // the end
		is.Equal(h.Messages[0].ID, sent[0].ID)         // the same message as was sent
	})

	t.Run("Typing", func(t *testing.T) {
		is := is.New(t)
		room := "room-" + rnd()
		alice, bob := user("alice"), user("bob")
		a1 := start(t, connect, alice)
		a2 := start(t, connect, alice)
		b := start(t, connect, bob)
		join(t, a1, room)
		join(t, b, room)
		a1.Send("typing", map[string]any{"roomId": room, "isTyping": true})
		var ev struct {
			RoomID   string         `json:"roomId"`
			User     signaling.User `json:"user"`
			IsTyping bool           `json:"isTyping"`
		}
		f := b.Expect("typing", Wait)
		is.NoErr(f.Bind(&ev))      // typing event
		is.Equal(ev.RoomID, room)  // names the room
		is.Equal(ev.User, alice)   // and the typer
		is.True(ev.IsTyping)       // started
		is.Equal(f.Seq, uint64(0)) // typing is ephemeral: no seq
		a1.Send("typing", map[string]any{"roomId": room, "isTyping": false})
		f = b.Expect("typing", Wait)
		is.NoErr(f.Bind(&ev))          // typing event
		is.True(!ev.IsTyping)          // stopped
		a2.ExpectNone("typing", Quiet) // the typer's own tabs are not told
		a1.ExpectNone("typing", 0)     // nor the typing tab itself
	})

	t.Run("LeaveRoom", func(t *testing.T) {
		is := is.New(t)
		room := "room-" + rnd()
		a := start(t, connect, user("alice"))
		b := start(t, connect, user("bob"))
		join(t, a, room)
		join(t, b, room)
		b.SendRef("leave_room", map[string]any{"roomId": room}, "bye")
		f := b.Expect("room_left", Wait)
		is.Equal(f.Ref, "bye") // room_left answers leave_room
		a.Send("message", map[string]any{"roomId": room, "content": "are you there?"})
		expectMessage(t, a)
		b.ExpectNone("message", Quiet) // a former member gets nothing
		b.SendRef("get_history", map[string]any{"roomId": room}, "h")
		code, ef := b.ExpectError(Wait)
		is.Equal(code, signaling.CodeForbidden) // history is for members only
		is.Equal(ef.Ref, "h")                   // the error answers the request
	})

	t.Run("LaterSession", func(t *testing.T) {
		is := is.New(t)
		room := "room-" + rnd()
		alice := user("alice")
		a1 := start(t, connect, alice)
		b := start(t, connect, user("bob"))
		join(t, a1, room)
		join(t, b, room)
		a2 := start(t, connect, alice) // opened after the join
		a2.SendRef("get_rooms", map[string]any{}, "rooms")
		f := a2.Expect("rooms", Wait)
		var r struct {
			Rooms []string `json:"rooms"`
		}
		is.NoErr(f.Bind(&r))                    // rooms reply
		is.True(slices.Contains(r.Rooms, room)) // the user's rooms
		b.Send("message", map[string]any{"roomId": room, "content": "hi all"})
		is.Equal(expectMessage(t, a2).Content, "hi all") // the later session is subscribed at its start
	})

	t.Run("Errors", func(t *testing.T) {
		room := "room-" + rnd()
		a := connect(t, user("alice"))
		var session struct {
			Limits struct {
				MaxMessageBytes int `json:"maxMessageBytes"`
			} `json:"limits"`
		}
		if err := a.Expect("session", Wait).Bind(&session); err != nil || session.Limits.MaxMessageBytes <= 0 {
			t.Fatalf("chattest: session limits: %v (%+v)", err, session)
		}
		barrier(t, a)
		join(t, a, room)
		cases := []struct {
			name  string
			event string
			data  any
			code  string
		}{
			{"MissingRoomID", "message", map[string]any{"content": "x"}, signaling.CodeBadRequest},
			{"ContentNotString", "message", map[string]any{"roomId": room, "content": 42}, signaling.CodeBadRequest},
			{"EmptyContent", "message", map[string]any{"roomId": room, "content": ""}, signaling.CodeBadRequest},
			{"ContentTooLarge", "message", map[string]any{"roomId": room, "content": strings.Repeat("x", session.Limits.MaxMessageBytes+1)}, signaling.CodeTooLarge},
			{"LimitZero", "get_history", map[string]any{"roomId": room, "limit": 0}, signaling.CodeBadRequest},
			{"LimitTooBig", "get_history", map[string]any{"roomId": room, "limit": 101}, signaling.CodeBadRequest},
			{"UnknownBefore", "get_history", map[string]any{"roomId": room, "before": uuid.NewString()}, signaling.CodeNotFound},
			{"HistoryNotMember", "get_history", map[string]any{"roomId": "other-" + rnd()}, signaling.CodeForbidden},
			{"TypingNotMember", "typing", map[string]any{"roomId": "other-" + rnd(), "isTyping": true}, signaling.CodeForbidden},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				is := is.New(t)
				a.SendRef(tc.event, tc.data, tc.name)
				code, f := a.ExpectError(Wait)
				is.Equal(code, tc.code)  // the error code
				is.Equal(f.Ref, tc.name) // echoes the ref
			})
		}
		t.Run("StillWorks", func(t *testing.T) {
			is := is.New(t)
			a.Send("message", map[string]any{"roomId": room, "content": "still here"})
			is.Equal(expectMessage(t, a).Content, "still here") // the session survived every error
		})
	})
}

// Message is the `message` event's data as a client sees it.
type Message struct {
	ID          string         `json:"id"`
	RoomID      string         `json:"roomId"`
	Content     string         `json:"content"`
	Sender      signaling.User `json:"sender"`
	CreatedAt   string         `json:"createdAt"`
	UpdatedAt   string         `json:"updatedAt"`
	ClientMsgID string         `json:"clientMsgId,omitempty"`
}

// RoomJoined is the `room_joined` event's data.
type RoomJoined struct {
	RoomID  string           `json:"roomId"`
	Members []signaling.User `json:"members"`
	Online  []string         `json:"online"`
}

// History is the `history` event's data.
type History struct {
	RoomID   string    `json:"roomId"`
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"hasMore"`
}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func start(t *testing.T, connect func(*testing.T, signaling.User) *signalingtest.Client, u signaling.User) *signalingtest.Client {
	t.Helper()
	c := connect(t, u)
	c.Expect("session", Wait)
	barrier(t, c)
	return c
}

// barrier waits until the session has run its start hooks (which subscribe it to its user's
// rooms) and handled every event sent before: the pong to a ping comes after them.
func barrier(t *testing.T, c *signalingtest.Client) {
	t.Helper()
	ref := "barrier-" + rnd()
	c.SendRef("ping", struct{}{}, ref)
	for {
		if f := c.Expect("pong", Wait); f.Ref == ref {
			return
		}
	}
}

func join(t *testing.T, c *signalingtest.Client, room string) RoomJoined {
	t.Helper()
	ref := "join-" + rnd()
	c.SendRef("join_room", map[string]string{"roomId": room}, ref)
	f := c.Expect("room_joined", Wait)
	var r RoomJoined
	if err := f.Bind(&r); err != nil {
		t.Fatalf("chattest: room_joined: %v", err)
	}
	if f.Ref != ref {
		t.Fatalf("chattest: room_joined ref %q, want %q", f.Ref, ref)
	}
	return r
}

func expectMessage(t *testing.T, c *signalingtest.Client) Message {
	t.Helper()
	f := c.Expect("message", Wait)
	var m Message
	if err := f.Bind(&m); err != nil {
		t.Fatalf("chattest: message: %v", err)
	}
	return m
}

func expectHistory(t *testing.T, c *signalingtest.Client) History {
	t.Helper()
	f := c.Expect("history", Wait)
	var h History
	if err := f.Bind(&h); err != nil {
		t.Fatalf("chattest: history: %v", err)
	}
	return h
}

func user(name string) signaling.User {
	return signaling.User{ID: name + "-" + rnd(), Username: strings.ToUpper(name[:1]) + name[1:]}
}

func rnd() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ids(us []signaling.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func contents(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
