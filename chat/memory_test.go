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
	storetest.ChatIdempotencyWindow(t, func(t *testing.T, clk clock.Clock) chat.Store {
		return chat.NewMemoryStore(&chat.MemoryOptions{Clock: clk})
	})
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
