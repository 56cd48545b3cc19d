package chat

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/huddle-go/huddle/signaling"
)

// Policy decides who may join which room. The Service asks it before it adds a member, on
// `join_room` and when a message makes its sender a member. CanJoin returns nil to allow; a
// *signaling.Error (typically CodeForbidden) reaches the client as it is; any other error is
// sent as `internal`, or `unavailable` when it wraps signaling.ErrUnavailable.
//
// The room id has been checked by then: 1 to MaxRoomIDBytes bytes of UTF-8 without control
// characters. Implementations must be safe for concurrent use.
type Policy interface {
	CanJoin(ctx context.Context, u signaling.User, roomID string) error
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, u signaling.User, roomID string) error

// CanJoin calls f(ctx, u, roomID).
func (f PolicyFunc) CanJoin(ctx context.Context, u signaling.User, roomID string) error {
	return f(ctx, u, roomID)
}

// OpenRooms is the default Policy: anyone may join any room, as in the original server. See
// MembersOnly for invitation-only rooms.
var OpenRooms Policy = PolicyFunc(func(context.Context, signaling.User, string) error { return nil })

// MaxRoomIDBytes bounds the length of a room id.
const MaxRoomIDBytes = 128

// checkRoomID returns a CodeBadRequest *signaling.Error when id is not a valid room id.
func checkRoomID(event, id string) error {
	switch {
	case id == "":
		return signaling.Errorf(signaling.CodeBadRequest, "%s: roomId is required", event)
	case len(id) > MaxRoomIDBytes:
		return signaling.Errorf(signaling.CodeBadRequest, "%s: roomId is longer than %d bytes", event, MaxRoomIDBytes)
	case !utf8.ValidString(id):
		return signaling.Errorf(signaling.CodeBadRequest, "%s: roomId is not valid UTF-8", event)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return signaling.Errorf(signaling.CodeBadRequest, "%s: roomId contains a control character", event)
		}
	}
	return nil
}

// MembersOnly returns the Policy of invitation-only rooms: a user becomes a member of a room
// only when an existing member adds them (the `add_member` event) or the application does
// (Service.AddMember). join_room, and a message that would make its sender a member, are
// `forbidden` for anyone else, and so, since they require membership, are the room's history,
// typing, presence and meeting.
//
// A room that has neither members nor messages does not exist yet: its first joiner creates it
// and becomes its first member. (Two users who join a new room at the same instant both get
// in.) rooms and store must be the Membership and Store of the Service.
func MembersOnly(rooms Membership, store Store) Policy {
	return PolicyFunc(func(ctx context.Context, u signaling.User, roomID string) error {
		members, err := rooms.Members(ctx, roomID)
		if err != nil {
			return fmt.Errorf("chat: members-only policy: %w", err)
		}
		if len(members) == 0 {
			msgs, _, err := store.History(ctx, roomID, "", 1)
			if err != nil {
				return fmt.Errorf("chat: members-only policy: %w", err)
			}
			if len(msgs) == 0 {
				return nil // a new room: its creator joins
			}
		}
		return signaling.Errorf(signaling.CodeForbidden, "room %q is members-only: a member has to add you", roomID)
	})
}
