package chat

import (
	"context"
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

// OpenRooms is the default Policy: anyone may join any room, as in the original server.
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
