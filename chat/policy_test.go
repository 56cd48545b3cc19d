package chat_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

type memberEvent struct {
	RoomID string         `json:"roomId"`
	User   signaling.User `json:"user"`
}

func TestMembersOnly(t *testing.T) {
	is := is.New(t)
	store := chat.NewMemoryStore(nil)
	n, svc := setup(t, &chat.Options{Store: store, Membership: store, Policy: chat.MembersOnly(store, store)})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "club") // a new room: its first joiner creates it
	say(alice, "club", "members only")
	expectMessage(t, alice)

	for _, tc := range []struct {
		event string
		data  map[string]any
	}{
		{"join_room", map[string]any{"roomId": "club"}},
		{"get_history", map[string]any{"roomId": "club"}},
		{"message", map[string]any{"roomId": "club", "content": "let me in"}},
		{"typing", map[string]any{"roomId": "club", "isTyping": true}},
		{"add_member", map[string]any{"roomId": "club", "userId": "bob"}}, // a stranger adds nobody, itself included
	} {
		t.Run("stranger/"+tc.event, func(t *testing.T) {
			is := is.New(t)
			bob.SendRef(tc.event, tc.data, "s")
			code, f := bob.ExpectError(wait)
			is.Equal(code, signaling.CodeForbidden) // not a member, and cannot become one
			is.Equal(f.Ref, "s")
		})
	}
	alice.ExpectQuiet("message", "member_joined") // the stranger's message went nowhere

	t.Run("added by a member", func(t *testing.T) {
		is := is.New(t)
		alice.SendRef("add_member", map[string]string{"roomId": "club", "userId": "bob", "username": "Bob"}, "add")
		f := alice.Expect("member_added", wait)
		is.Equal(f.Ref, "add")
		var added memberEvent
		is.NoErr(bob.Expect("member_joined", wait).Bind(&added)) // bob's session learns, being subscribed
		is.Equal(added, memberEvent{RoomID: "club", User: signaling.User{ID: "bob", Username: "Bob"}})
		bob.Send("get_history", map[string]string{"roomId": "club"})
		h, _ := expectHistory(t, bob)
		is.Equal(contents(h.Messages), []string{"members only"}) // now bob reads the room
		say(bob, "club", "thanks")
		m, _ := expectMessage(t, alice)
		is.Equal(m.Content, "thanks")
	})

	t.Run("added by the app", func(t *testing.T) {
		is := is.New(t)
		carol := connect(t, n, "carol")
		is.NoErr(svc.AddMember(context.Background(), "club", userOf("carol")))
		carol.Expect("member_joined", wait)
		carol.Send("get_history", map[string]string{"roomId": "club"})
		expectHistory(t, carol)
		is.True(errors.Is(svc.AddMember(context.Background(), "", userOf("carol")), &signaling.Error{Code: signaling.CodeBadRequest}))
	})

	t.Run("an emptied room with history is not new", func(t *testing.T) {
		is := is.New(t)
		join(t, alice, "old")
		say(alice, "old", "secret")
		expectMessage(t, alice)
		alice.Send("leave_room", map[string]string{"roomId": "old"})
		alice.Expect("room_left", wait)
		dave := connect(t, n, "dave")
		dave.Send("join_room", map[string]string{"roomId": "old"})
		code, _ := dave.ExpectError(wait)
		is.Equal(code, signaling.CodeForbidden) // its history is not up for grabs
	})
}

func TestAddMemberBadInput(t *testing.T) {
	n, _ := setup(t, nil)
	alice := connect(t, n, "alice")
	join(t, alice, "r")
	long := string(make([]byte, chat.MaxUserIDBytes+1))
	for _, tc := range []struct {
		name string
		data any
		code string
	}{
		{"no data", nil, signaling.CodeBadRequest},
		{"no userId", map[string]string{"roomId": "r"}, signaling.CodeBadRequest},
		{"long userId", map[string]string{"roomId": "r", "userId": long}, signaling.CodeBadRequest},
		{"bad roomId", map[string]string{"roomId": "", "userId": "bob"}, signaling.CodeBadRequest},
		{"not a member", map[string]string{"roomId": "other", "userId": "bob"}, signaling.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			alice.Send("add_member", tc.data)
			code, _ := alice.ExpectError(wait)
			is.Equal(code, tc.code)
		})
	}
}

// leaves records the OnLeave calls and fails them while failing is set.
type leaves struct {
	mu      sync.Mutex
	calls   []string
	failing error
}

func (l *leaves) onLeave(_ context.Context, roomID, userID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, roomID+"/"+userID)
	return l.failing
}

func (l *leaves) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failing = err
}

func (l *leaves) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func TestOnLeave(t *testing.T) {
	is := is.New(t)
	var l leaves
	n, svc := setup(t, &chat.Options{OnLeave: l.onLeave})
	alice, bob := connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice, "r")
	join(t, bob, "r")
	alice.Expect("member_joined", wait)

	l.fail(fmt.Errorf("%w: meeting store down", signaling.ErrUnavailable))
	bob.Send("leave_room", map[string]string{"roomId": "r"})
	code, _ := bob.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the hook's failure is the client's to retry
	l.fail(nil)
	bob.Send("leave_room", map[string]string{"roomId": "r"})
	bob.Expect("room_left", wait)
	is.Equal(l.list(), []string{"r/bob", "r/bob"}) // run again by the retry

	join(t, bob, "r")
	alice.Expect("member_joined", wait)
	is.NoErr(svc.RemoveMember(context.Background(), "r", "bob")) // the app removes bob
	var left memberEvent
	is.NoErr(alice.Expect("member_left", wait).Bind(&left))
	is.Equal(left.User, userOf("bob")) // named as the room knew him
	is.Equal(l.list(), []string{"r/bob", "r/bob", "r/bob"})
	bob.Send("get_history", map[string]string{"roomId": "r"})
	code, _ = bob.ExpectError(wait)
	is.Equal(code, signaling.CodeForbidden) // no longer a member
}
