package presence

import (
	"context"
	"errors"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

// Status is a user's aggregate presence: online or away while it has sessions, offline otherwise.
type Status string

// Statuses, as they appear on the wire.
const (
	StatusOnline  Status = "online"
	StatusAway    Status = "away"
	StatusOffline Status = "offline"
)

// Chosen reports whether s is a status a user may choose (online or away).
func (s Status) Chosen() bool { return s == StatusOnline || s == StatusAway }

// Entry is one user's presence as a Store keeps it.
type Entry struct {
	UserID string
	Status Status
	// LastSeen is when the user's last session ended. It is set only when Status is offline, and
	// zero for a user never seen.
	LastSeen time.Time
}

// Rooms tells the Tracker who shares a room with whom: the audience of a user's presence is the
// members of every room the user belongs to. chat's membership store satisfies it; the server
// wires the two.
//
// Members of an unknown room is an empty list, not an error. Errors wrapping
// signaling.ErrUnavailable reach clients as `unavailable`.
type Rooms interface {
	Rooms(ctx context.Context, userID string) ([]string, error)
	Members(ctx context.Context, roomID string) ([]signaling.User, error)
}

// ErrInvalidStatus is returned by Store.SetStatus for a status other than online or away.
var ErrInvalidStatus = errors.New("presence: invalid status")

// lastSeenLayout is RFC 3339 with milliseconds, the protocol's time format.
const lastSeenLayout = "2006-01-02T15:04:05.000Z07:00"

// wireEntry is one user in `presence` and `presence_snapshot`: {user, status, lastSeen?}.
type wireEntry struct {
	User     signaling.User `json:"user"`
	Status   Status         `json:"status"`
	LastSeen string         `json:"lastSeen,omitempty"`
}

type wireSnapshot struct {
	Users []wireEntry `json:"users"`
}

func toWire(u signaling.User, e Entry) wireEntry {
	w := wireEntry{User: u, Status: e.Status}
	if e.Status == StatusOffline && !e.LastSeen.IsZero() {
		w.LastSeen = e.LastSeen.UTC().Format(lastSeenLayout)
	}
	return w
}
