package presence

import (
	"context"
	"time"
)

// Store keeps the sessions of every user across nodes, the status a user chose and when each
// user was last seen. Its methods are atomic and safe for concurrent use by many nodes; a backend
// failure is returned wrapping signaling.ErrUnavailable.
//
// Dead nodes: every node that adds sessions keeps a heartbeat deadline with Heartbeat. Expire,
// which every node polls, removes the sessions of the nodes whose deadline passed and reports the
// users that went offline by it; each such user is reported to exactly one caller, so the node
// that gets it publishes the change. A node that finds with Heartbeat that it was reaped (it was
// alive but could not heartbeat in time) adds its sessions again. A Redis store keeps the
// deadlines in a sorted set and claims a dead node atomically; times are the callers' clocks.
//
// Times are kept to at least millisecond precision.
type Store interface {
	// AddSession records that nodeID holds sessionID of userID. first reports whether the user
	// had no session before: it just came online (with status online). Adding a recorded session
	// again moves it to nodeID and reports first false.
	AddSession(ctx context.Context, userID, sessionID, nodeID string) (first bool, err error)
	// RemoveSession forgets a session. last reports whether it was the user's last one: the user
	// is offline, last seen at at, and the status it chose is cleared. Removing a session that is
	// not recorded is not an error; it reports last false.
	RemoveSession(ctx context.Context, userID, sessionID string, at time.Time) (last bool, err error)
	// SetStatus sets the status a user chose (StatusOnline or StatusAway, else ErrInvalidStatus),
	// kept while the user has sessions. changed reports whether the user's status changed. A user
	// without sessions stays offline and changed is false.
	SetStatus(ctx context.Context, userID string, status Status) (changed bool, err error)
	// Get returns the entry of each user, in the order asked. A user never seen is offline with a
	// zero LastSeen.
	Get(ctx context.Context, userIDs []string) ([]Entry, error)
	// Heartbeat keeps the sessions of nodeID alive until until. reaped reports that Expire or
	// RemoveNode removed the node's sessions since its previous heartbeat; the flag is reported
	// once. A node that never heartbeats never expires.
	Heartbeat(ctx context.Context, nodeID string, until time.Time) (reaped bool, err error)
	// Expire removes the sessions of every node whose deadline is not after now and returns, in
	// user id order, the users that went offline by it (LastSeen now).
	Expire(ctx context.Context, now time.Time) ([]Entry, error)
	// RemoveNode removes every session of nodeID and its deadline, as Expire does for a dead
	// node, and returns the users that went offline by it (LastSeen at). A node calls it for its
	// own id when it starts, to clear what an earlier process with the same id left behind.
	RemoveNode(ctx context.Context, nodeID string, at time.Time) ([]Entry, error)
}
