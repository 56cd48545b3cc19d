package presence

import (
	"context"
	"slices"
	"strings"
)

// SessionCounter is implemented by a Store that can count the sessions it holds for a node
// (redispresence.Store and MemoryStore do). With it, each heartbeat checks that the Store still
// holds every session this node added; when it holds fewer (a Redis that restarted without
// persistence, was flushed or evicted keys), the Tracker adds them again, so users still
// connected show online again within a heartbeat.
type SessionCounter interface {
	NodeSessions(ctx context.Context, nodeID string) (int, error)
}

// ensureStarted clears what an earlier process with this node id left in the Store and makes the
// first heartbeat, once. Until the node is started, its sessions wait for a heartbeat to be added.
func (t *Tracker) ensureStarted(ctx context.Context) {
	if t.started.Load() {
		return
	}
	_, _, offline := t.heartbeat(ctx, false)
	// Not waited for: one of them may be queued behind the caller's own change.
	t.announce(ctx, offline)
}

// heartbeat starts the node if needed and, if renew is set or it just started, renews its
// deadline. It returns whether the node is started, whether the Store had reaped it, and the
// users that went offline when the node's leftovers were cleared. Heartbeats run one at a time;
// a caller waits for the running one no longer than CallTimeout.
func (t *Tracker) heartbeat(ctx context.Context, renew bool) (started, reaped bool, offline []Entry) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	select {
	case t.beat <- struct{}{}:
	case <-ctx.Done():
		return t.started.Load(), false, nil
	}
	defer func() { <-t.beat }()
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

// tick is the heartbeat timer: renew the node, check that the Store still holds its sessions,
// retry failed store calls and announcements, expire dead nodes.
func (t *Tracker) tick() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.ticking.Add(1)
	t.mu.Unlock()
	defer t.ticking.Done()

	ctx := context.Background()
	started, reaped, offline := t.heartbeat(ctx, true)
	// The tick waits for the changes it queued (under no lock), so that heartbeats do not pile
	// up behind a slow store, and a manual clock's Advance returns after their effects.
	done := t.announce(ctx, offline)
	if started {
		switch {
		case reaped:
			t.log.Warn("presence: this node's sessions expired in the store; adding them again", "node", t.node)
			t.forgetRegistered()
		case t.lost(ctx):
			t.log.Warn("presence: the store lost sessions of this node; adding them again", "node", t.node)
			t.forgetRegistered()
		}
		done = append(done, t.retry(ctx)...)
		done = append(done, t.retryAnnouncements(ctx)...)
		cctx, cancel := t.bound(ctx)
		expired, err := t.store.Expire(cctx, t.clock.Now())
		cancel()
		if err != nil {
			t.logFailure("presence: expire dead nodes", err)
		}
		done = append(done, t.announce(ctx, expired)...)
	}
	for _, d := range done {
		<-d
	}

	t.mu.Lock()
	if !t.closed {
		t.timer = t.clock.AfterFunc(t.every, t.tick)
	}
	t.mu.Unlock()
}

// lost reports whether the Store holds fewer sessions of this node than the node added and did
// not end: the Store lost data. Without a SessionCounter it reports false.
func (t *Tracker) lost(ctx context.Context) bool {
	sc, ok := t.store.(SessionCounter)
	if !ok {
		return false
	}
	// Counted before asking: a session added meanwhile is in the Store and not in want, one
	// removed meanwhile is gone here already, so neither looks lost.
	t.mu.Lock()
	want := 0
	for _, ls := range t.local {
		if ls.registered && !ls.gone {
			want++
		}
	}
	t.mu.Unlock()
	if want == 0 {
		return false
	}
	cctx, cancel := t.bound(ctx)
	defer cancel()
	have, err := sc.NodeSessions(cctx, t.node)
	if err != nil {
		t.logFailure("presence: count this node's sessions", err, "node", t.node)
		return false
	}
	return have < want
}

// forgetRegistered marks every live session as missing from the Store, so that retry adds them
// again (adding a recorded session again is harmless).
func (t *Tracker) forgetRegistered() {
	t.mu.Lock()
	for _, ls := range t.local {
		ls.registered = false
	}
	t.mu.Unlock()
}

// retry queues, in each user's queue, adding the local sessions the Store lacks and removing the
// ended ones it still has. It returns the channels closed when they ran.
func (t *Tracker) retry(ctx context.Context) (done []<-chan struct{}) {
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
		done = append(done, t.serial(p.ls.user.ID, func() {
			t.mu.Lock()
			current := t.local[p.sid] == p.ls
			gone, registered := p.ls.gone, p.ls.registered
			t.mu.Unlock()
			switch {
			case !current:
			case gone:
				t.unregister(ctx, p.sid, p.ls)
			case !registered:
				t.register(ctx, p.sid, p.ls)
			}
		}))
	}
	return done
}
