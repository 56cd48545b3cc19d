package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// Options configures a Tracker. Rooms is required; the zero value of every other field means its
// default.
type Options struct {
	// Store keeps sessions and statuses; nodes sharing a Broker must share it. Default: a new
	// MemoryStore, which serves one node.
	Store Store
	// Rooms gives the audience of a user's presence: the members of its rooms, reached through
	// RoomTopic of each room. Required: New returns an error without it.
	Rooms Rooms
	// RoomTopic names the topic on which every member of a room listens, where announcements
	// go: chat.RoomTopic, whose topics chat subscribes the members' sessions to. Required: New
	// returns an error without it.
	RoomTopic func(roomID string) string
	// NodeID names this node in the Store; nodes sharing a Store need distinct ids. A process
	// that reuses the id of an earlier one clears what that one left behind when it starts.
	// Default: the hub's Config().NodeID, or a random id when that is empty.
	NodeID string
	// Clock drives the heartbeat and stamps lastSeen. Default: the hub's Config().Clock, or the wall
	// clock when that is nil.
	Clock clock.Clock
	// Logger receives store and broker failures. Default: silent.
	Logger *slog.Logger
	// HeartbeatInterval is how often the Tracker renews its node's deadline in the Store, polls
	// the Store for dead nodes and retries store calls that failed. Default: 5 s.
	HeartbeatInterval time.Duration
	// CallTimeout bounds the store and broker calls of each change (a session added or
	// removed, a status chosen, an announcement) and of each snapshot; a change whose calls
	// stall is logged and retried at the next heartbeat, a `presence` request answered
	// `unavailable`. Default: 5 s.
	CallTimeout time.Duration
	// NodeTTL is how long the sessions of a node outlive its last heartbeat, so the users of a
	// node that died go offline within NodeTTL + HeartbeatInterval. Default: 20 s (offline within
	// 25 s). A value under twice HeartbeatInterval is raised to that.
	NodeTTL time.Duration
	// OnChange, when set, is called with each change of a user's aggregate status (online, away
	// or offline) after the Tracker published it, on the node that made the change: where the
	// user's first session started or last session ended, where the user chose a status, and,
	// for the users of a node that died, on the one node whose heartbeat expired them (or on the
	// node that reuses the dead node's id, when it starts). Siblings hook in here, such as the
	// meeting service, which learns from it that a dead node's users are gone.
	//
	// Calls run one at a time, in the order of the changes, on a goroutine of the Tracker's,
	// never under its locks, so OnChange may call the Tracker or end sessions; a slow OnChange
	// delays the next calls, not the sessions. ctx carries the values of the change's context,
	// not its cancellation, and ends after 10 s. A panic is logged and the next calls still run.
	// Close waits for the calls queued before it. Default: nil, no calls.
	OnChange func(ctx context.Context, e Entry)
}

// onChangeTimeout bounds each call of Options.OnChange.
const onChangeTimeout = 10 * time.Second

// setDefaults checks the required options and fills in the defaults of the others.
func (o *Options) setDefaults(hub signaling.Hub) error {
	if o.Rooms == nil {
		return errors.New("presence: New: Options.Rooms is required")
	}
	if o.RoomTopic == nil {
		return errors.New("presence: New: Options.RoomTopic is required (chat.RoomTopic)")
	}
	if o.Store == nil {
		o.Store = NewMemoryStore(nil)
	}
	cfg := hub.Config()
	if o.NodeID == "" {
		o.NodeID = cfg.NodeID
	}
	if o.NodeID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		o.NodeID = hex.EncodeToString(b[:])
	}
	if o.Clock == nil {
		o.Clock = cfg.Clock
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.NodeTTL <= 0 {
		o.NodeTTL = 20 * time.Second
	}
	if o.NodeTTL < 2*o.HeartbeatInterval {
		o.NodeTTL = 2 * o.HeartbeatInterval
	}
	return nil
}
