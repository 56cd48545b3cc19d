package chat

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// typingTracker forwards typing indicators, one state per user and room:
//
//   - isTyping true is forwarded when the user was not shown as typing, at most once per
//     throttle; a true that comes sooner is held until the throttle window ends, and dropped if
//     a false comes first. A true while shown only re-arms the timeout.
//   - isTyping false is forwarded at once whenever true was forwarded before; the server sends
//     it itself after timeout without a true, when the user sends a message or leaves the room,
//     and when the session that typed drops or ends.
//
// Events go to the room's topic except the typer's own sessions, as ephemeral events.
type typingTracker struct {
	hub      signaling.Hub
	clock    clock.Clock
	throttle time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	closed bool
	m      map[typingKey]*typist
}

type typingKey struct{ user, room string }

// typist is the typing state of one user in one room. Its mu is held while deciding, never while
// publishing: a decided indicator goes to out, and whoever decided it publishes out after
// unlocking unless another caller is already doing so (sending), so that one user's indicators
// in one room go out in the order they were decided. Lock order: typist.mu, then
// typingTracker.mu.
type typist struct {
	mu        sync.Mutex
	dead      bool // removed from the map: look the key up again
	key       typingKey
	user      signaling.User
	session   string // the session that last said true
	want      bool   // the user is typing, by its last word
	shown     bool   // the other members were last told true
	lastShown time.Time
	idle      clock.Timer // timeout since the last true
	idleGen   uint64
	gate      clock.Timer // end of the throttle window
	gateGen   uint64
	out       []typingEvent // decided, not yet published
	sending   bool          // a caller is publishing out
}

// typingPublishTimeout bounds the publish of one typing indicator.
const typingPublishTimeout = 5 * time.Second

type typingEvent struct {
	RoomID   string         `json:"roomId"`
	User     signaling.User `json:"user"`
	IsTyping bool           `json:"isTyping"`
}

func newTypingTracker(hub signaling.Hub, c clock.Clock, throttle, timeout time.Duration, log *slog.Logger) *typingTracker {
	return &typingTracker{hub: hub, clock: c, throttle: throttle, timeout: timeout, log: log, m: map[typingKey]*typist{}}
}

// acquire returns the locked typist of k, creating it if create is set; nil if there is none or
// the tracker is closed.
func (tr *typingTracker) acquire(k typingKey, create bool) *typist {
	for {
		tr.mu.Lock()
		if tr.closed {
			tr.mu.Unlock()
			return nil
		}
		t := tr.m[k]
		if t == nil {
			if !create {
				tr.mu.Unlock()
				return nil
			}
			t = &typist{key: k}
			tr.m[k] = t
		}
		tr.mu.Unlock()
		t.mu.Lock()
		if !t.dead {
			return t
		}
		t.mu.Unlock()
	}
}

// set records a client's typing event.
func (tr *typingTracker) set(ctx context.Context, u signaling.User, sessionID, roomID string, on bool) {
	t := tr.acquire(typingKey{u.ID, roomID}, on)
	if t == nil {
		return
	}
	defer tr.unlockAndSend(ctx, t)
	if !on {
		tr.stopLocked(t)
		return
	}
	t.user, t.session, t.want = u, sessionID, true
	if t.idle != nil {
		t.idle.Stop()
	}
	t.idleGen++
	gen := t.idleGen
	t.idle = tr.clock.AfterFunc(tr.timeout, func() { tr.fireIdle(t, gen) })
	if t.shown {
		return
	}
	now := tr.clock.Now()
	if wait := t.lastShown.Add(tr.throttle).Sub(now); t.lastShown.IsZero() || wait <= 0 {
		tr.showLocked(t, true, now)
	} else if t.gate == nil {
		tr.armGateLocked(t, wait)
	}
}

// stop ends the typing of a user in a room, if any (a message was sent, the room was left).
func (tr *typingTracker) stop(ctx context.Context, userID, roomID string) {
	if t := tr.acquire(typingKey{userID, roomID}, false); t != nil {
		tr.stopLocked(t)
		tr.unlockAndSend(ctx, t)
	}
}

// sessionEnded ends the typing that a session started.
func (tr *typingTracker) sessionEnded(sessionID string) {
	tr.mu.Lock()
	all := make([]*typist, 0, len(tr.m))
	for _, t := range tr.m {
		all = append(all, t)
	}
	tr.mu.Unlock()
	for _, t := range all {
		t.mu.Lock()
		if !t.dead && t.session == sessionID {
			tr.stopLocked(t)
		}
		tr.unlockAndSend(context.Background(), t)
	}
}

// close stops every timer and forgets every state.
func (tr *typingTracker) close() {
	tr.mu.Lock()
	tr.closed = true
	all := tr.m
	tr.m = map[typingKey]*typist{}
	tr.mu.Unlock()
	for _, t := range all {
		t.mu.Lock()
		t.dead = true
		if t.idle != nil {
			t.idle.Stop()
			t.idle = nil
		}
		if t.gate != nil {
			t.gate.Stop()
			t.gate = nil
		}
		t.mu.Unlock()
	}
}

// stopLocked turns the typing off, telling the others if they were told it was on. t.mu must
// be held.
func (tr *typingTracker) stopLocked(t *typist) {
	t.want = false
	if t.idle != nil {
		t.idle.Stop()
		t.idle = nil
	}
	now := tr.clock.Now()
	if t.shown {
		tr.showLocked(t, false, now)
	}
	// Keep the state until the throttle window ends, so that flapping stays throttled.
	if wait := t.lastShown.Add(tr.throttle).Sub(now); t.gate == nil && !t.lastShown.IsZero() && wait > 0 {
		tr.armGateLocked(t, wait)
	}
	tr.tidyLocked(t)
}

func (tr *typingTracker) armGateLocked(t *typist, wait time.Duration) {
	t.gateGen++
	gen := t.gateGen
	t.gate = tr.clock.AfterFunc(wait, func() { tr.fireGate(t, gen) })
}

func (tr *typingTracker) fireIdle(t *typist, gen uint64) {
	t.mu.Lock()
	defer tr.unlockAndSend(context.Background(), t)
	if t.dead || gen != t.idleGen || t.idle == nil {
		return
	}
	t.idle = nil
	tr.stopLocked(t)
}

func (tr *typingTracker) fireGate(t *typist, gen uint64) {
	t.mu.Lock()
	defer tr.unlockAndSend(context.Background(), t)
	if t.dead || gen != t.gateGen || t.gate == nil {
		return
	}
	t.gate = nil
	if t.want && !t.shown {
		tr.showLocked(t, true, tr.clock.Now())
	}
	tr.tidyLocked(t)
}

// showLocked decides to tell the other members' sessions; unlockAndSend publishes it. t.mu must
// be held.
func (tr *typingTracker) showLocked(t *typist, on bool, now time.Time) {
	t.shown = on
	if on {
		t.lastShown = now
	}
	t.out = append(t.out, typingEvent{RoomID: t.key.room, User: t.user, IsTyping: on})
}

// unlockAndSend releases t.mu and publishes the indicators decided so far, in order, unless
// another caller is publishing them already. Each publish runs under no lock, with ctx's values
// and a deadline of typingPublishTimeout; a failure is logged (an indicator is ephemeral).
func (tr *typingTracker) unlockAndSend(ctx context.Context, t *typist) {
	if t.sending || len(t.out) == 0 {
		t.mu.Unlock()
		return
	}
	t.sending = true
	for len(t.out) > 0 {
		ev := t.out[0]
		t.out = t.out[1:]
		t.mu.Unlock()
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), typingPublishTimeout)
		e := signaling.Envelope{Event: "typing", Data: ev}
		if err := tr.hub.Publish(pctx, RoomTopic(t.key.room), e, signaling.ExceptUser(t.key.user), signaling.Ephemeral()); err != nil {
			tr.log.Warn("typing publish failed", "room", t.key.room, "user", t.key.user, "err", err)
		}
		cancel()
		t.mu.Lock()
	}
	t.out = nil
	t.sending = false
	tr.tidyLocked(t)
	t.mu.Unlock()
}

// tidyLocked forgets a state that has nothing left to do. t.mu must be held.
func (tr *typingTracker) tidyLocked(t *typist) {
	if t.want || t.shown || t.idle != nil || t.gate != nil || t.sending || len(t.out) > 0 {
		return
	}
	t.dead = true
	tr.mu.Lock()
	if tr.m[t.key] == t {
		delete(tr.m, t.key)
	}
	tr.mu.Unlock()
}
