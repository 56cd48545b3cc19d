package chat

import (
	"context"
	"errors"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

// Errors of the chat stores. Every Store and Membership implementation returns these (wrapped or
// not), so that errors.Is works the same on memory and Redis. Backend failures wrap
// signaling.ErrUnavailable instead.
var (
	// ErrNotFound: History was given a `before` id that is not a message of the room.
	ErrNotFound = errors.New("chat: not found")
	// ErrInvalid: a Message handed to Append lacks its id or room id.
	ErrInvalid = errors.New("chat: invalid message")
)

// IdempotencyWindow is how long a (sender, clientMsgId) pair is remembered by the stores.
const IdempotencyWindow = 24 * time.Hour

// Store keeps the messages of every room. Implementations are safe for concurrent use.
//
// Messages of a room are kept in the order they were appended. The Service appends them with
// ascending UUIDv7 ids, so that order is also id order.
type Store interface {
	// Append stores m, whose ID and RoomID are set (otherwise ErrInvalid). When m.ClientMsgID is
	// not empty and the same sender (m.Sender.ID) appended a message with the same ClientMsgID
	// within IdempotencyWindow, nothing is stored: Append returns that earlier message and
	// existing true. Otherwise it returns m and existing false.
	Append(ctx context.Context, m Message) (stored Message, existing bool, err error)
	// History returns the newest limit (> 0) messages of a room that are older than the message
	// before, or the newest overall when before is empty, listed oldest first. hasMore reports
	// whether older messages exist. A before that is not a message of the room is ErrNotFound;
	// a room without messages has an empty history.
	History(ctx context.Context, roomID, before string, limit int) (msgs []Message, hasMore bool, err error)
}

// Membership records which users belong to which rooms. Membership belongs to the user, not
// to a session. Implementations are safe for concurrent use.
//
// The meeting and presence packages declare small interfaces with some of these methods, so that
// the same value serves them all.
type Membership interface {
	// Join makes u a member of the room. It is idempotent; joining again updates the stored User.
	Join(ctx context.Context, roomID string, u signaling.User) error
	// Leave removes a member. Leaving a room one is not in is not an error.
	Leave(ctx context.Context, roomID, userID string) error
	// IsMember reports whether the user belongs to the room.
	IsMember(ctx context.Context, roomID, userID string) (bool, error)
	// Members lists a room's members (in no particular order); an unknown room has none.
	Members(ctx context.Context, roomID string) ([]signaling.User, error)
	// Rooms lists the rooms of a user (in no particular order).
	Rooms(ctx context.Context, userID string) ([]string, error)
}

// HistoryAfterStore is implemented by Stores that page forward as well: the Service answers
// `get_history {after}` with it, and a Store without it gets `bad_request` ("this server's
// store cannot page forward"). The memory, Redis and SQL stores implement it.
type HistoryAfterStore interface {
	// HistoryAfter returns the oldest limit (> 0) messages of a room that are newer than the
	// message after, listed oldest first; hasMore reports whether newer messages exist beyond
	// them. An after that is not a message of the room is ErrNotFound.
	HistoryAfter(ctx context.Context, roomID, after string, limit int) (msgs []Message, hasMore bool, err error)
}
