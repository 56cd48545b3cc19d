package presence

import (
	"context"
	"slices"
	"strings"
)

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
