package presence

import (
	"context"
	"sync"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

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
