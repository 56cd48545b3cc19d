package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// Tracker keeps the presence of the users of a Hub (PROTOCOL.md §6) in a Store and tells the
// co-members of a user when its status changes. Create it with New; all methods are safe for
// concurrent use.
//
// A user is online from its first session. A dropped session keeps the user online for the resume
// window (the Node reports SessionGone only when the window ends without a resume); the user goes
// offline, with lastSeen, when its last session is gone. The changes of one user are serialized
// on a node, so co-members see them in order.
//
// Store failures never lose a change for good: a session that could not be added or removed, and
// an announcement whose audience lookup or publish failed, are retried at the next heartbeats,
// and the failure is logged. No lock is held across a store or broker call: each user's changes
// wait in a queue of their own and run in order, each bounded by Options.CallTimeout.
type Tracker struct {
	hub   signaling.Hub
	store Store
	rooms Rooms
	topic func(roomID string) string // Options.RoomTopic
	node  string
	clock clock.Clock
	log   *slog.Logger
	every time.Duration
	ttl   time.Duration

	onChange []func(context.Context, Entry) // Options.OnChange, then those of OnChange; guarded by mu

	callTimeout time.Duration // bounds the store and broker calls of each change
	beat        chan struct{} // holds a token while a heartbeat runs
	started     atomic.Bool   // the node's leftovers are cleared and its first heartbeat is done; set while beat is held

	mu      sync.Mutex
	local   map[string]*localSession // this node's sessions, by id
	queues  map[string]*userQueue    // the changes waiting to run, by user; a user is here while its queue runs
	pending map[string]*announcement // failed announcements waiting for the next heartbeat, by user
	timer   clock.Timer
	closed  bool
	ticking sync.WaitGroup
	drained chan struct{} // closed when the last user queue empties; set by Close while some run

	changes   []func()      // queued OnChange calls
	notifying chan struct{} // closed when the goroutine running changes exits; nil while none runs
}

// New returns a Tracker for hub: it registers a session hook and the handlers of `presence` and
// `get_presence`, and starts the heartbeat. opts.Rooms is required: without it the Tracker could
// tell nobody anything, so New returns an error when it or hub is nil, and when `presence` or
// `get_presence` has a handler already (signaling.ErrHandled). Other zero options mean their
// defaults. The services may be created in any order: the hook runs at
// signaling.StageSnapshot, after chat's subscriptions and meeting's catch-up invitations.
func New(hub signaling.Hub, opts *Options) (*Tracker, error) {
	if hub == nil {
		return nil, errors.New("presence: New: hub is nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.setDefaults(hub); err != nil {
		return nil, err
	}
	t := &Tracker{
		hub:   hub,
		store: o.Store,
		rooms: o.Rooms,
		topic: o.RoomTopic,
		node:  o.NodeID,
		clock: o.Clock,
		log:   o.Logger,
		every: o.HeartbeatInterval,
		ttl:   o.NodeTTL,
		local: map[string]*localSession{},

		callTimeout: o.CallTimeout,
		beat:        make(chan struct{}, 1),
		queues:      map[string]*userQueue{},
		pending:     map[string]*announcement{},
	}
	if o.OnChange != nil {
		t.onChange = []func(context.Context, Entry){o.OnChange}
	}
	if err := hub.Handle("presence", signaling.HandlerFunc(t.servePresence)); err != nil {
		return nil, fmt.Errorf("presence: New: %w", err)
	}
	if err := hub.Handle("get_presence", signaling.HandlerFunc(t.serveGetPresence)); err != nil {
		return nil, fmt.Errorf("presence: New: %w", err)
	}
	hub.OnSessionAt(signaling.StageSnapshot, t.onSession) // last: after subscriptions and catch-up
	t.mu.Lock()
	t.timer = t.clock.AfterFunc(t.every, t.tick)
	t.mu.Unlock()
	return t, nil
}

// Close stops the heartbeat and waits for a running one to finish, then for the changes and the
// OnChange calls queued so far. It does not remove the node's sessions: after a graceful shutdown their users
// reconnect to other nodes, and whoever does not goes offline when the node's deadline passes
// (NodeTTL), so a restart shows co-members nothing. Session hooks and handlers keep working (and
// so does OnChange). Close is idempotent.
func (t *Tracker) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.ticking.Wait()
	t.mu.Lock()
	var drained chan struct{}
	if len(t.queues) > 0 {
		drained = make(chan struct{})
		t.drained = drained
	}
	t.mu.Unlock()
	if drained != nil {
		<-drained
	}
	t.mu.Lock()
	done := t.notifying
	t.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}

// Online returns those of userIDs that are online or away, in the order given.
func (t *Tracker) Online(ctx context.Context, userIDs []string) ([]string, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	entries, err := t.store.Get(ctx, userIDs)
	if err != nil {
		return nil, fmt.Errorf("presence: online: %w", err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Status != StatusOffline {
			out = append(out, e.UserID)
		}
	}
	return out, nil
}

// Status returns the presence of one user.
func (t *Tracker) Status(ctx context.Context, userID string) (Entry, error) {
	entries, err := t.store.Get(ctx, []string{userID})
	if err != nil {
		return Entry{}, fmt.Errorf("presence: status of %s: %w", userID, err)
	}
	if len(entries) != 1 {
		return Entry{}, fmt.Errorf("presence: status of %s: store returned %d entries", userID, len(entries))
	}
	return entries[0], nil
}

// logFailure logs a failed store or broker call: at Warn when the backend is unavailable (it
// will be retried or is harmless), else at Error.
func (t *Tracker) logFailure(msg string, err error, args ...any) {
	args = append(args, "err", err)
	if errors.Is(err, signaling.ErrUnavailable) {
		t.log.Warn(msg, args...)
		return
	}
	t.log.Error(msg, args...)
}
