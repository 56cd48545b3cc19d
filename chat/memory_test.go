package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

func TestMemoryStoreContract(t *testing.T) {
	storetest.Chat(t, func(t *testing.T) (chat.Store, chat.Membership) {
		s := chat.NewMemoryStore(nil)
		return s, s
	})
}

func TestMemoryStoreIdempotencyExpires(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	s := chat.NewMemoryStore(&chat.MemoryOptions{Clock: clk})
	alice := signaling.User{ID: "alice"}
	m1 := chat.Message{ID: "m1", RoomID: "r1", Content: "one", Sender: alice, ClientMsgID: "c1"}
	m2 := chat.Message{ID: "m2", RoomID: "r1", Content: "two", Sender: alice, ClientMsgID: "c1"}
	m3 := chat.Message{ID: "m3", RoomID: "r1", Content: "three", Sender: alice, ClientMsgID: "c1"}

	_, existing, err := s.Append(ctx, m1)
	is.NoErr(err)      // first append
	is.True(!existing) // new
	clk.Advance(chat.IdempotencyWindow - time.Millisecond)
	got, existing, err := s.Append(ctx, m2)
	is.NoErr(err)           // repeat within 24 h
	is.True(existing)       // still remembered
	is.Equal(got.ID, m1.ID) // the first message comes back
	clk.Advance(time.Millisecond)
	got, existing, err = s.Append(ctx, m3)
	is.NoErr(err)           // repeat after 24 h
	is.True(!existing)      // forgotten: a new message
	is.Equal(got.ID, m3.ID) // stored as given
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                                      // history
	is.Equal(contents(hist), []string{"one", "three"}) // the expired key let a new message in
}

func TestMemoryStoreNotFoundIsWrapped(t *testing.T) {
	is := is.New(t)
	s := chat.NewMemoryStore(nil)
	_, _, err := s.History(context.Background(), "r1", "nope", 10)
	is.True(errors.Is(err, chat.ErrNotFound))             // the sentinel is reachable
	is.Equal(chat.ErrNotFound.Error(), "chat: not found") // the message carries the package prefix
}

func TestMessageJSON(t *testing.T) {
	is := is.New(t)
	at := time.Date(2024, 5, 1, 12, 0, 0, 123_456_789, time.FixedZone("CEST", 2*3600))
	m := chat.Message{ID: "id1", RoomID: "r1", Content: "hi", Sender: signaling.User{ID: "alice", Username: "Alice"}, CreatedAt: at, UpdatedAt: at}
	b, err := json.Marshal(m)
	is.NoErr(err)                                                                                                                                                                             // marshal
	is.Equal(string(b), `{"id":"id1","roomId":"r1","content":"hi","sender":{"id":"alice","username":"Alice"},"createdAt":"2024-05-01T10:00:00.123Z","updatedAt":"2024-05-01T10:00:00.123Z"}`) // wire form, times in UTC with milliseconds, no empty clientMsgId

	m.ClientMsgID = "c1"
	b, err = json.Marshal(m)
	is.NoErr(err) // marshal with a client id
	var back chat.Message
	is.NoErr(json.Unmarshal(b, &back))                                         // unmarshal
	is.Equal(back.ClientMsgID, "c1")                                           // client id kept
	is.True(back.CreatedAt.Equal(at.Truncate(time.Millisecond)))               // time kept to the millisecond
	is.Equal(back.Sender, m.Sender)                                            // sender kept
	is.True(json.Unmarshal([]byte(`{"createdAt":"yesterday"}`), &back) != nil) // a bad time is an error
}
