package presence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// Options configures a Tracker. The zero value of each field means its default.
type Options struct {
	// Store keeps sessions and statuses; nodes sharing a Broker must share it. Default: a new
	// MemoryStore, which serves one node.
	Store Store
	// Rooms gives the audience of a user's presence: the members of its rooms. Default: none, so
	// no `presence` event is published, every `presence_snapshot` is empty and `get_presence`
	// with a roomId is forbidden; Online and Status still work.
	Rooms Rooms
	// NodeID names this node in the Store; nodes sharing a Store need distinct ids. A process
	// that reuses the id of an earlier one clears what that one left behind when it starts.
	// Default: the hub's ID() when it has one (a *signaling.Node), else random.
	NodeID string
	// Clock drives the heartbeat and stamps lastSeen. Default: the hub's Clock() when it has one
	// (a *signaling.Node), else the wall clock.
	Clock clock.Clock
	// Logger receives store and broker failures. Default: silent.
	Logger *slog.Logger
	// HeartbeatInterval is how often the Tracker renews its node's deadline in the Store, polls
	// the Store for dead nodes and retries store calls that failed. Default: 5 s.
	HeartbeatInterval time.Duration
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

// Tracker keeps the presence of the users of a Hub (PROTOCOL.md §6) in a Store and tells the
// co-members of a user when its status changes. Create it with New; all methods are safe for
// concurrent use.
//
// A user is online from its first session. A dropped session keeps the user online for the resume
// window (the Node reports SessionGone only when the window ends without a resume); the user goes
// offline, with lastSeen, when its last session is gone. The changes of one user are serialized
// on a node, so co-members see them in order.
//
// Store failures never lose a change for good: a session that could not be added or removed is
// retried at every heartbeat, and the failure is logged.
type Tracker struct {
	hub   signaling.Hub
	store Store
	rooms Rooms
	node  string
	clock clock.Clock
	log   *slog.Logger
	every time.Duration
	ttl   time.Duration

	onChange func(context.Context, Entry) // nil: no calls

	beatMu  sync.Mutex  // serializes heartbeats; held across their store calls
	started atomic.Bool // the node's leftovers are cleared and its first heartbeat is done; set under beatMu

	mu      sync.Mutex
	local   map[string]*localSession // this node's sessions, by id
	users   map[string]*userLock
	timer   clock.Timer
	closed  bool
	ticking sync.WaitGroup

	changes   []func()      // queued OnChange calls
	notifying chan struct{} // closed when the goroutine running changes exits; nil while none runs
}

// localSession is a session of this node. Its fields are guarded by Tracker.mu.
type localSession struct {
	user       signaling.User
	registered bool      // the Store has it
	gone       bool      // the session ended; its removal failed and waits for a retry
	goneAt     time.Time // when it ended
}

// userLock serializes the changes of one user on this node. refs is guarded by Tracker.mu.
type userLock struct {
	mu   sync.Mutex
	refs int
}

// New returns a Tracker for hub: it registers a session hook and the handlers of `presence` and
// `get_presence`, and starts the heartbeat. Nil options mean all defaults. Register it after the
// services whose catch-up events must precede `presence_snapshot` (meeting), since hooks run in
// registration order.
func New(hub signaling.Hub, opts *Options) *Tracker {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Store == nil {
		o.Store = NewMemoryStore()
	}
	if o.NodeID == "" {
		if h, ok := hub.(interface{ ID() string }); ok {
			o.NodeID = h.ID()
		}
	}
	if o.NodeID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		o.NodeID = hex.EncodeToString(b[:])
	}
	if o.Clock == nil {
		if h, ok := hub.(interface{ Clock() clock.Clock }); ok {
			o.Clock = h.Clock()
		}
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.NodeTTL <= 0 {
		o.NodeTTL = 20 * time.Second
	}
	if o.NodeTTL < 2*o.HeartbeatInterval {
		o.NodeTTL = 2 * o.HeartbeatInterval
	}
	t := &Tracker{
		hub:   hub,
		store: o.Store,
		rooms: o.Rooms,
		node:  o.NodeID,
		clock: o.Clock,
		log:   o.Logger,
		every: o.HeartbeatInterval,
		ttl:   o.NodeTTL,
		local: map[string]*localSession{},
		users: map[string]*userLock{},

		onChange: o.OnChange,
	}
	hub.OnSession(t.onSession)
	hub.Handle("presence", signaling.HandlerFunc(t.servePresence))
	hub.Handle("get_presence", signaling.HandlerFunc(t.serveGetPresence))
	t.mu.Lock()
	t.timer = t.clock.AfterFunc(t.every, t.tick)
	t.mu.Unlock()
	return t
}

// Close stops the heartbeat and waits for a running one to finish, then for the OnChange calls
// queued so far. It does not remove the node's sessions: after a graceful shutdown their users
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

func (t *Tracker) onSession(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
	switch ev {
	case signaling.SessionConnected:
		t.track(ctx, s.User(), s.ID())
		t.sendSnapshot(ctx, s)
	case signaling.SessionResumed:
		// Normally nothing to do; re-adds a session whose registration failed or was reaped.
		t.track(ctx, s.User(), s.ID())
	case signaling.SessionGone:
		t.untrack(ctx, s.User(), s.ID())
	case signaling.SessionMoved:
		// Handed over to another node, which re-adds it to the Store under its own id: forget
		// it here without removing it, so that nobody sees the user leave.
		unlock := t.lockUser(s.User().ID)
		t.mu.Lock()
		delete(t.local, s.ID())
		t.mu.Unlock()
		unlock()
	}
}

// track records a live session of this node and adds it to the Store unless it is there.
func (t *Tracker) track(ctx context.Context, u signaling.User, sid string) {
	t.ensureStarted(ctx)
	unlock := t.lockUser(u.ID)
	defer unlock()
	t.mu.Lock()
	ls := t.local[sid]
	if ls == nil {
		ls = &localSession{user: u}
		t.local[sid] = ls
	}
	done := ls.registered || ls.gone
	t.mu.Unlock()
	// Checked after ls is listed: once the node is started (its leftovers cleared), a heartbeat
	// that started it meanwhile may have missed ls, so add it now.
	if t.started.Load() && !done {
		t.registerLocked(ctx, sid, ls)
	}
}

// untrack removes an ended session; the user goes offline if it was its last.
func (t *Tracker) untrack(ctx context.Context, u signaling.User, sid string) {
	unlock := t.lockUser(u.ID)
	defer unlock()
	t.mu.Lock()
	ls := t.local[sid]
	if ls == nil {
		ls = &localSession{user: u}
		t.local[sid] = ls
	}
	ls.gone, ls.goneAt = true, t.clock.Now()
	t.mu.Unlock()
	t.unregisterLocked(ctx, sid, ls)
}

// registerLocked adds a session to the Store and announces the user if it came online. The
// caller holds the user's lock.
func (t *Tracker) registerLocked(ctx context.Context, sid string, ls *localSession) {
	first, err := t.store.AddSession(ctx, ls.user.ID, sid, t.node)
	if err != nil {
		t.logFailure("presence: add session; retrying at the next heartbeat", err, "user", ls.user.ID, "session", sid)
		return
	}
	t.mu.Lock()
	ls.registered = true
	t.mu.Unlock()
	if first {
		t.publish(ctx, ls.user, Entry{UserID: ls.user.ID, Status: StatusOnline})
	}
}

// unregisterLocked removes an ended session from the Store and announces the user if it went
// offline. The caller holds the user's lock.
func (t *Tracker) unregisterLocked(ctx context.Context, sid string, ls *localSession) {
	last, err := t.store.RemoveSession(ctx, ls.user.ID, sid, ls.goneAt)
	if err != nil {
		t.logFailure("presence: remove session; retrying at the next heartbeat", err, "user", ls.user.ID, "session", sid)
		return
	}
	t.mu.Lock()
	if t.local[sid] == ls {
		delete(t.local, sid)
	}
	t.mu.Unlock()
	if last {
		t.publish(ctx, ls.user, Entry{UserID: ls.user.ID, Status: StatusOffline, LastSeen: ls.goneAt})
	}
}

// lockUser takes the lock that serializes the changes of one user and returns its release.
func (t *Tracker) lockUser(id string) (unlock func()) {
	t.mu.Lock()
	l := t.users[id]
	if l == nil {
		l = &userLock{}
		t.users[id] = l
	}
	l.refs++
	t.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		t.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(t.users, id)
		}
		t.mu.Unlock()
	}
}

// ensureStarted clears what an earlier process with this node id left in the Store and makes the
// first heartbeat, once. Until the node is started, its sessions wait for a heartbeat to be added.
func (t *Tracker) ensureStarted(ctx context.Context) {
	if t.started.Load() {
		return
	}
	_, _, offline := t.heartbeat(ctx, false)
	t.announce(ctx, offline)
}

// heartbeat starts the node if needed and, if renew is set or it just started, renews its
// deadline. It returns whether the node is started, whether the Store had reaped it, and the
// users that went offline when the node's leftovers were cleared.
func (t *Tracker) heartbeat(ctx context.Context, renew bool) (started, reaped bool, offline []Entry) {
	t.beatMu.Lock()
	defer t.beatMu.Unlock()
	if t.started.Load() && !renew {
		return true, false, nil
	}
	now := t.clock.Now()
	if !t.started.Load() {
		gone, err := t.store.RemoveNode(ctx, t.node, now)
		if err != nil {
			t.logFailure("presence: clear node; retrying at the next heartbeat", err, "node", t.node)
			return false, false, nil
		}
		offline = gone
	}
	reaped, err := t.store.Heartbeat(ctx, t.node, now.Add(t.ttl))
	if err != nil {
		t.logFailure("presence: heartbeat", err, "node", t.node)
		return t.started.Load(), false, offline
	}
	if !t.started.Load() {
		t.started.Store(true)
		reaped = false // its own leftovers, cleared just now
	}
	return true, reaped, offline
}

// tick is the heartbeat timer: renew the node, retry failed store calls, expire dead nodes.
func (t *Tracker) tick() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.ticking.Add(1)
	t.mu.Unlock()
	defer t.ticking.Done()

	ctx, cancel := context.WithTimeout(context.Background(), t.every)
	started, reaped, offline := t.heartbeat(ctx, true)
	t.announce(ctx, offline)
	if started {
		if reaped {
			t.log.Warn("presence: this node's sessions expired in the store; adding them again", "node", t.node)
			t.mu.Lock()
			for _, ls := range t.local {
				ls.registered = false
			}
			t.mu.Unlock()
		}
		t.retry(ctx)
		expired, err := t.store.Expire(ctx, t.clock.Now())
		if err != nil {
			t.logFailure("presence: expire dead nodes", err)
		}
		t.announce(ctx, expired)
	}
	cancel()

	t.mu.Lock()
	if !t.closed {
		t.timer = t.clock.AfterFunc(t.every, t.tick)
	}
	t.mu.Unlock()
}

// retry adds the local sessions the Store lacks and removes the ended ones it still has.
func (t *Tracker) retry(ctx context.Context) {
	type pending struct {
		sid string
		ls  *localSession
	}
	var todo []pending
	t.mu.Lock()
	for sid, ls := range t.local {
		if ls.gone || !ls.registered {
			todo = append(todo, pending{sid, ls})
		}
	}
	t.mu.Unlock()
	slices.SortFunc(todo, func(a, b pending) int { return strings.Compare(a.sid, b.sid) })
	for _, p := range todo {
		unlock := t.lockUser(p.ls.user.ID)
		t.mu.Lock()
		current := t.local[p.sid] == p.ls
		gone, registered := p.ls.gone, p.ls.registered
		t.mu.Unlock()
		switch {
		case !current:
		case gone:
			t.unregisterLocked(ctx, p.sid, p.ls)
		case !registered:
			t.registerLocked(ctx, p.sid, p.ls)
		}
		unlock()
	}
}

// announce publishes the offline entries that the Store reported for other nodes' sessions.
func (t *Tracker) announce(ctx context.Context, offline []Entry) {
	for _, e := range offline {
		unlock := t.lockUser(e.UserID)
		t.publish(ctx, signaling.User{ID: e.UserID}, e)
		unlock()
	}
}

// publish sends `presence` for a status change of u to every co-member with a session, once
// each, then queues the OnChange call. A failure is logged: the change itself is in the Store.
func (t *Tracker) publish(ctx context.Context, u signaling.User, e Entry) {
	defer t.changed(ctx, e)
	if t.rooms == nil {
		return
	}
	members, self, err := t.coMembers(ctx, u.ID)
	if err != nil {
		t.logFailure("presence: audience of a change", err, "user", u.ID, "status", string(e.Status))
		return
	}
	if len(members) == 0 {
		return
	}
	if u.Username == "" {
		u.Username = self.Username
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	// Only users with sessions can receive it; one store call spares a publish per offline
	// co-member. If it fails, publish to all.
	if entries, err := t.store.Get(ctx, ids); err == nil && len(entries) == len(ids) {
		ids = ids[:0]
		for _, x := range entries {
			if x.Status != StatusOffline {
				ids = append(ids, x.UserID)
			}
		}
	}
	raw, err := json.Marshal(toWire(u, e))
	if err != nil {
		t.log.Error("presence: encode", "user", u.ID, "err", err)
		return
	}
	env := signaling.Envelope{Event: "presence", Data: json.RawMessage(raw)}
	for _, id := range ids {
		if err := t.hub.Publish(ctx, signaling.UserTopic(id), env); err != nil {
			t.logFailure("presence: publish", err, "user", u.ID, "to", id)
		}
	}
}

// changed queues the OnChange call of a change, and starts the goroutine that runs the queue
// unless it runs. Callers hold the user's lock, so the calls of one user keep the order of its
// changes; the call itself runs under no lock. The goroutine exits when the queue is empty.
func (t *Tracker) changed(ctx context.Context, e Entry) {
	if t.onChange == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	call := func() {
		ctx, cancel := context.WithTimeout(ctx, onChangeTimeout)
		defer cancel()
		t.onChange(ctx, e)
	}
	t.mu.Lock()
	t.changes = append(t.changes, call)
	if t.notifying != nil {
		t.mu.Unlock()
		return
	}
	done := make(chan struct{})
	t.notifying = done
	t.mu.Unlock()
	go func() {
		defer close(done)
		for {
			t.mu.Lock()
			if len(t.changes) == 0 {
				t.notifying = nil
				t.mu.Unlock()
				return
			}
			call := t.changes[0]
			t.changes[0] = nil
			t.changes = t.changes[1:]
			t.mu.Unlock()
			t.runChange(call)
		}
	}()
}

// runChange runs one OnChange call; a panic is logged, so that the calls after it still run.
func (t *Tracker) runChange(call func()) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("presence: OnChange panicked", "panic", r)
		}
	}()
	call()
}

// coMembers returns the users sharing a room with userID, without userID, each once and ordered
// by id, and userID's own User as the rooms list it.
func (t *Tracker) coMembers(ctx context.Context, userID string) (members []signaling.User, self signaling.User, err error) {
	self = signaling.User{ID: userID}
	if t.rooms == nil {
		return nil, self, nil
	}
	rooms, err := t.rooms.Rooms(ctx, userID)
	if err != nil {
		return nil, self, fmt.Errorf("presence: rooms of %s: %w", userID, err)
	}
	seen := map[string]bool{}
	for _, r := range rooms {
		ms, err := t.rooms.Members(ctx, r)
		if err != nil {
			return nil, self, fmt.Errorf("presence: members of %s: %w", r, err)
		}
		for _, m := range ms {
			if m.ID == userID {
				if self.Username == "" {
					self = m
				}
				continue
			}
			if !seen[m.ID] {
				seen[m.ID] = true
				members = append(members, m)
			}
		}
	}
	sortUsers(members)
	return members, self, nil
}

// snapshot builds `presence_snapshot` for users.
func (t *Tracker) snapshot(ctx context.Context, users []signaling.User) (wireSnapshot, error) {
	snap := wireSnapshot{Users: make([]wireEntry, 0, len(users))}
	if len(users) == 0 {
		return snap, nil
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	entries, err := t.store.Get(ctx, ids)
	if err != nil {
		return snap, fmt.Errorf("presence: snapshot: %w", err)
	}
	if len(entries) != len(users) {
		return snap, fmt.Errorf("presence: snapshot: store returned %d entries for %d users", len(entries), len(users))
	}
	for i, e := range entries {
		snap.Users = append(snap.Users, toWire(users[i], e))
	}
	return snap, nil
}

// sendSnapshot sends `presence_snapshot` of the user's co-members to a new session. On failure
// nothing is sent (an empty or partial list would be wrong); the client may ask with
// `get_presence`.
func (t *Tracker) sendSnapshot(ctx context.Context, s *signaling.Session) {
	members, _, err := t.coMembers(ctx, s.User().ID)
	if err != nil {
		t.logFailure("presence: snapshot at session start", err, "session", s.ID())
		return
	}
	snap, err := t.snapshot(ctx, members)
	if err != nil {
		t.logFailure("presence: snapshot at session start", err, "session", s.ID())
		return
	}
	if err := s.Send(ctx, signaling.Envelope{Event: "presence_snapshot", Data: snap}); err != nil {
		t.log.Error("presence: send snapshot", "session", s.ID(), "err", err)
	}
}

// servePresence handles `presence {status}`: the status the user chose.
func (t *Tracker) servePresence(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		Status *string `json:"status"`
	}
	if err := e.Bind(&in); err != nil {
		return err
	}
	if in.Status == nil {
		return signaling.Errorf(signaling.CodeBadRequest, "presence: status is required")
	}
	status := Status(*in.Status)
	if !status.Chosen() {
		return signaling.Errorf(signaling.CodeBadRequest, "presence: status must be %q or %q", StatusOnline, StatusAway)
	}
	u := s.User()
	unlock := t.lockUser(u.ID)
	defer unlock()
	changed, err := t.store.SetStatus(ctx, u.ID, status)
	if err != nil {
		return fmt.Errorf("presence: set status of %s: %w", u.ID, err)
	}
	if changed {
		t.publish(ctx, u, Entry{UserID: u.ID, Status: status})
	}
	return nil
}

// serveGetPresence handles `get_presence {roomId?}`: a snapshot of one room's members (the
// requester must be one) or of all co-members.
func (t *Tracker) serveGetPresence(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		RoomID string `json:"roomId"`
	}
	if raw := bytes.TrimSpace(e.Raw()); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := e.Bind(&in); err != nil {
			return err
		}
	}
	uid := s.User().ID
	var users []signaling.User
	if in.RoomID == "" {
		members, _, err := t.coMembers(ctx, uid)
		if err != nil {
			return err
		}
		users = members
	} else {
		forbidden := signaling.Errorf(signaling.CodeForbidden, "presence: not a member of room %q", in.RoomID)
		if t.rooms == nil {
			return forbidden
		}
		members, err := t.rooms.Members(ctx, in.RoomID)
		if err != nil {
			return fmt.Errorf("presence: members of %s: %w", in.RoomID, err)
		}
		member := false
		seen := map[string]bool{}
		for _, m := range members {
			if m.ID == uid {
				member = true
				continue
			}
			if !seen[m.ID] {
				seen[m.ID] = true
				users = append(users, m)
			}
		}
		if !member {
			return forbidden
		}
		sortUsers(users)
	}
	snap, err := t.snapshot(ctx, users)
	if err != nil {
		return err
	}
	return s.Reply(ctx, e, "presence_snapshot", snap)
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

func sortUsers(us []signaling.User) {
	slices.SortFunc(us, func(a, b signaling.User) int { return strings.Compare(a.ID, b.ID) })
}
