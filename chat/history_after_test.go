package chat_test

import (
	"fmt"
	"testing"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// TestHistoryAfter: get_history with `after` pages forward from a message, oldest first, as a
// client re-syncing after a refused resume does.
func TestHistoryAfter(t *testing.T) {
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

	alice.SendRef("get_history", map[string]any{"roomId": "r1", "after": sent[1].ID, "limit": 3}, "a1")
	h, f := expectHistory(t, alice)
	is.Equal(f.Ref, "a1")                                      // the reply echoes the ref
	is.Equal(contents(h.Messages), []string{"m2", "m3", "m4"}) // the three after m1, oldest first
	is.True(h.HasMore)                                         // newer ones exist

	alice.Send("get_history", map[string]any{"roomId": "r1", "after": h.Messages[2].ID, "limit": 3})
	h, _ = expectHistory(t, alice)
	is.Equal(contents(h.Messages), []string{"m5", "m6"}) // the rest
	is.True(!h.HasMore)                                  // up to date

	alice.Send("get_history", map[string]any{"roomId": "r1", "after": sent[6].ID})
	h, _ = expectHistory(t, alice)
	is.Equal(len(h.Messages), 0) // nothing after the newest
	is.True(!h.HasMore)          // and nothing more

	for _, tc := range []struct {
		name string
		data map[string]any
		code string
	}{
		{"UnknownAfter", map[string]any{"roomId": "r1", "after": "0190a000-0000-7000-8000-000000000000"}, signaling.CodeNotFound},
		{"BeforeAndAfter", map[string]any{"roomId": "r1", "after": sent[1].ID, "before": sent[4].ID}, signaling.CodeBadRequest},
		{"AfterNotMember", map[string]any{"roomId": "r2", "after": sent[1].ID}, signaling.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			alice.SendRef("get_history", tc.data, tc.name)
			code, f := alice.ExpectError(wait)
			is.Equal(code, tc.code)  // the code
			is.Equal(f.Ref, tc.name) // echoes the ref
		})
	}
}
