package presence

import (
	"context"
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

// userQueue holds the changes of one user on this node that wait to run. They run one at a
// time, in order, on a goroutine that exists while the queue is not empty, under no lock: the
// Tracker decides what to do under Tracker.mu and does the store and broker calls after it.
// Guarded by Tracker.mu.
type userQueue struct {
	ops []func()
}

func (t *Tracker) onSession(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
	u, sid := s.User(), s.ID()
	switch ev {
	case signaling.SessionConnected:
		<-t.serial(u.ID, func() { t.track(ctx, u, sid) })
		t.sendSnapshot(ctx, s)
	case signaling.SessionResumed:
		// Normally nothing to do; re-adds a session whose registration failed or was reaped.
		<-t.serial(u.ID, func() { t.track(ctx, u, sid) })
	case signaling.SessionGone:
		t.mu.Lock()
		ls := t.local[sid]
		if ls == nil {
			ls = &localSession{user: u}
			t.local[sid] = ls
		}
		ls.gone, ls.goneAt = true, t.clock.Now()
		t.mu.Unlock()
		<-t.serial(u.ID, func() { t.unregister(ctx, sid, ls) })
	case signaling.SessionMoved:
		// Handed over to another node, which re-adds it to the Store under its own id: forget
		// it here without removing it, so that nobody sees the user leave.
		<-t.serial(u.ID, func() {
			t.mu.Lock()
			delete(t.local, sid)
			t.mu.Unlock()
		})
	}
}

// serial queues op behind the earlier changes of the user and returns a channel closed when op
// has run. Each op bounds its own store and broker calls (CallTimeout), so the wait is bounded
// by the changes queued before it.
func (t *Tracker) serial(userID string, op func()) <-chan struct{} {
	done := make(chan struct{})
	run := func() {
		defer close(done)
		op()
	}
	t.mu.Lock()
	q := t.queues[userID]
	if q != nil {
		q.ops = append(q.ops, run)
		t.mu.Unlock()
		return done
	}
	q = &userQueue{ops: []func(){run}}
	t.queues[userID] = q
	t.mu.Unlock()
	go t.drain(userID, q)
	return done
}

// drain runs the queue of one user until it is empty, then forgets it.
func (t *Tracker) drain(userID string, q *userQueue) {
	for {
		t.mu.Lock()
		if len(q.ops) == 0 {
			delete(t.queues, userID)
			if len(t.queues) == 0 && t.drained != nil {
				close(t.drained)
				t.drained = nil
			}
			t.mu.Unlock()
			return
		}
		op := q.ops[0]
		q.ops[0] = nil
		q.ops = q.ops[1:]
		t.mu.Unlock()
		op()
	}
}

// bound returns the context of one change: ctx's values, not its cancellation (the change must
// not be half done because a session ended), and a deadline of CallTimeout.
func (t *Tracker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), t.callTimeout)
}

// track records a live session of this node and adds it to the Store unless it is there. It
// runs in the user's queue.
func (t *Tracker) track(ctx context.Context, u signaling.User, sid string) {
	t.ensureStarted(ctx)
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
		t.register(ctx, sid, ls)
	}
}

// register adds a session to the Store and announces the user if it came online. It runs in
// the user's queue.
func (t *Tracker) register(ctx context.Context, sid string, ls *localSession) {
	cctx, cancel := t.bound(ctx)
	first, err := t.store.AddSession(cctx, ls.user.ID, sid, t.node)
	cancel()
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

// unregister removes an ended session from the Store and announces the user if it went
// offline. It runs in the user's queue.
func (t *Tracker) unregister(ctx context.Context, sid string, ls *localSession) {
	cctx, cancel := t.bound(ctx)
	last, err := t.store.RemoveSession(cctx, ls.user.ID, sid, ls.goneAt)
	cancel()
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
