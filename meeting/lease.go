package meeting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Leaser is implemented by stores that several nodes share (meeting/redismeeting): it lets one
// node at a time own the timers of a room's meeting, and lets the others find the meetings whose
// timers nobody owns. The Service probes its Store for it; with a Store that is no Leaser (such
// as MemoryStore) each node runs the timers of the events it handled, and a node's timers end
// with it.
//
// With a Leaser, a node that stores a deadline (a participant's drop, the host's, the last
// participant's leave) takes the room's lease and arms the timer, unless another node holds the
// lease. Every Options.SweepInterval each node reads Active, derives the pending deadlines of
// each meeting from its stored state (Participant.DroppedAt, HostAwaySince, EmptySince), and
// for the meetings that have some renews its lease, or takes a lease that lapsed, and arms
// them; leases of meetings without deadlines are released. Service.Close releases the node's
// leases, so another node takes its timers over at its next sweep; the leases of a node that
// died lapse after Options.LeaseTTL. A timer that fires re-checks its deadline inside an atomic
// Update, so a meeting ends, and a participant leaves, once, even when two nodes fire the same
// deadline: the lease decides who fires, the Update decides what happens.
//
// A deadline stored by a node that does not hold the lease is armed by the holder at its next
// sweep: on time when the grace is longer than SweepInterval, else up to SweepInterval late.
//
// Times are the callers' (the Service's clock), so nodes should agree on the time to well
// within LeaseTTL. Implementations are safe for concurrent use by several nodes and wrap
// backend failures with signaling.ErrUnavailable, as Store methods do.
type Leaser interface {
	// Active returns every active meeting of the store, in no particular order.
	Active(ctx context.Context) ([]Meeting, error)
	// Acquire takes the lease on roomID's timers for owner, or renews owner's lease, until
	// now+ttl. It reports false, and changes nothing, when another owner's lease runs past now.
	Acquire(ctx context.Context, roomID, owner string, now time.Time, ttl time.Duration) (ok bool, err error)
	// Release ends owner's lease on roomID; a lease that owner does not hold is left alone.
	Release(ctx context.Context, roomID, owner string) error
}

// lease is this service's view of a lease it holds.
type lease struct {
	until time.Time // the lease lapses then unless renewed
	gen   uint64    // svc.seq when it was taken or renewed
}

// sweepKey is the key of the sweep's timer.
var sweepKey = timerKey{kind: sweepTimer}

// armSweep schedules the next sweep, with a Leaser.
func (svc *Service) armSweep() {
	if svc.leaser != nil {
		svc.arm(sweepKey, svc.o.SweepInterval, svc.sweep)
	}
}

// claim reports whether this service may arm roomID's timers: always without a Leaser; with one,
// when it holds the room's lease or takes it now. When the Store fails, it reports true: the
// timer's Update re-checks, so arming too often is harmless, and a lost timer is not.
func (svc *Service) claim(roomID string) bool {
	if svc.leaser == nil {
		return true
	}
	now := svc.now()
	svc.mu.Lock()
	l, held := svc.leases[roomID]
	svc.mu.Unlock()
	if held && now.Before(l.until) {
		return true
	}
	ctx, cancel := svc.bounded()
	defer cancel()
	ok, err := svc.acquire(ctx, roomID, now)
	if err != nil {
		if svc.ctx.Err() == nil {
			svc.log.Warn("meeting: take lease; arming anyway", "room", roomID, "err", err)
		}
		return true
	}
	return ok
}

// acquire takes or renews roomID's lease and records it. A lease taken after Close has released
// the others is released at once.
func (svc *Service) acquire(ctx context.Context, roomID string, now time.Time) (bool, error) {
	ok, err := svc.leaser.Acquire(ctx, roomID, svc.o.NodeID, now, svc.o.LeaseTTL)
	if err != nil {
		return false, err
	}
	svc.mu.Lock()
	if !ok {
		delete(svc.leases, roomID)
		svc.mu.Unlock()
		return false, nil
	}
	if svc.closed {
		svc.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := svc.leaser.Release(ctx, roomID, svc.o.NodeID); err != nil {
			svc.log.Warn("meeting: release lease", "room", roomID, "err", err)
		}
		return false, nil
	}
	svc.seq++
	svc.leases[roomID] = lease{until: now.Add(svc.o.LeaseTTL), gen: svc.seq}
	svc.mu.Unlock()
	return true, nil
}

// releaseLease gives roomID's lease back, if this service holds it.
func (svc *Service) releaseLease(ctx context.Context, roomID string) {
	svc.releaseLeaseBefore(ctx, roomID, ^uint64(0))
}

// releaseLeaseBefore gives roomID's lease back if this service holds it since before gen.
func (svc *Service) releaseLeaseBefore(ctx context.Context, roomID string, gen uint64) {
	if svc.leaser == nil {
		return
	}
	svc.mu.Lock()
	l, held := svc.leases[roomID]
	if !held || l.gen > gen {
		svc.mu.Unlock()
		return
	}
	delete(svc.leases, roomID)
	svc.mu.Unlock()
	if err := svc.leaser.Release(ctx, roomID, svc.o.NodeID); err != nil && ctx.Err() == nil {
		svc.log.Warn("meeting: release lease", "room", roomID, "err", err)
	}
}

// deadline is a pending timer derived from a stored Meeting.
type deadline struct {
	at   time.Time
	fire func()
}

// deadlines derives the pending timers of m from its stored state.
func (svc *Service) deadlines(m Meeting) map[timerKey]deadline {
	roomID := m.RoomID
	out := map[timerKey]deadline{}
	at := func(since int64, d time.Duration) time.Time { return time.UnixMilli(since).Add(d) }
	for _, p := range m.Participants {
		if p.DroppedAt != 0 && !p.connected() {
			userID := p.User.ID
			out[graceKey(roomID, userID)] = deadline{
				at:   at(p.DroppedAt, svc.o.ParticipantGrace),
				fire: func() { svc.graceExpired(roomID, userID) },
			}
		}
	}
	if m.HostAwaySince != 0 {
		out[hostKey(roomID)] = deadline{
			at:   at(m.HostAwaySince, svc.o.HostGrace),
			fire: func() { svc.hostGraceExpired(roomID) },
		}
	}
	if len(m.Participants) == 0 && m.EmptySince != 0 {
		out[emptyKey(roomID)] = deadline{
			at:   at(m.EmptySince, svc.o.EmptyTimeout),
			fire: func() { svc.emptyExpired(roomID) },
		}
	}
	return out
}

// sweep runs every SweepInterval with a Leaser. For each active meeting with pending deadlines
// it renews or takes the room's lease and arms the deadlines, or, when another node holds the
// lease, stops its own timers of the room; it releases the leases of meetings that need none.
//
// What the sweep read may be older than what this service did meanwhile: timers armed and
// leases taken after the read (a larger seq than gen) are left alone.
func (svc *Service) sweep() {
	svc.mu.Lock()
	if svc.closed {
		svc.mu.Unlock()
		return
	}
	svc.sweeping.Add(1)
	gen := svc.seq
	svc.mu.Unlock()
	defer svc.sweeping.Done()
	defer svc.armSweep()

	ctx, cancel := context.WithTimeout(svc.ctx, svc.o.CallTimeout+svc.o.SweepInterval) // the sweep's calls, together
	defer cancel()
	active, err := svc.leaser.Active(ctx)
	if err != nil {
		if ctx.Err() == nil {
			svc.log.Warn("meeting: sweep: active meetings", "err", err)
		}
		return
	}
	now := svc.now()
	need := map[string]bool{}
	for _, m := range active {
		due := svc.deadlines(m)
		if len(due) == 0 {
			continue
		}
		need[m.RoomID] = true
		ok, err := svc.acquire(ctx, m.RoomID, now)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			svc.log.Warn("meeting: sweep: lease", "room", m.RoomID, "err", err)
			continue // keep what is armed; the next sweep tries again
		case !ok:
			svc.disarmStale(m.RoomID, gen, nil) // another node owns these timers
			continue
		}
		for key, d := range due {
			svc.armUnless(key, d.at.Sub(now), d.fire, func(old *timerEntry) bool {
				return old.id > gen || old.at.Equal(d.at)
			})
		}
		svc.disarmStale(m.RoomID, gen, due)
	}
	svc.mu.Lock()
	var idle []string
	for roomID := range svc.leases {
		if !need[roomID] {
			idle = append(idle, roomID)
		}
	}
	svc.mu.Unlock()
	for _, roomID := range idle {
		svc.releaseLeaseBefore(ctx, roomID, gen)
		svc.disarmStale(roomID, gen, nil)
	}
}

// disarmStale stops the room's timers armed before gen whose key is not in keep.
func (svc *Service) disarmStale(roomID string, gen uint64, keep map[timerKey]deadline) {
	var stop []*timerEntry
	svc.mu.Lock()
	for k, e := range svc.timers {
		if _, kept := keep[k]; k.room == roomID && e.id <= gen && !kept {
			stop = append(stop, e)
			delete(svc.timers, k)
		}
	}
	svc.mu.Unlock()
	for _, e := range stop {
		e.timer.Stop()
	}
}

// randomID returns a node id for a hub without one.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
