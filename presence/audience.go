package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/huddle-go/huddle/signaling"
)

// Bounds of the announcements that wait for a retry.
const (
	// maxAnnounceAttempts is how many heartbeats retry a failed announcement before it is
	// dropped (logged; the change itself is in the Store, and snapshots show it).
	maxAnnounceAttempts = 12
	// maxPendingAnnouncements bounds the users whose announcement waits for a retry.
	maxPendingAnnouncements = 10000
)

// announcement is a change whose publication failed, waiting for a retry at the next
// heartbeat. rooms are the room topics still to publish to; nil: the audience lookup failed.
// Guarded by Tracker.mu.
type announcement struct {
	user     signaling.User
	entry    Entry
	rooms    []string
	attempts int
}

// announce queues the announcement of the offline entries that the Store reported for other
// nodes' sessions, each in its user's queue, and returns the channels closed when they ran.
func (t *Tracker) announce(ctx context.Context, offline []Entry) []<-chan struct{} {
	var done []<-chan struct{}
	for _, e := range offline {
		done = append(done, t.serial(e.UserID, func() { t.publish(ctx, signaling.User{ID: e.UserID}, e) }))
	}
	return done
}

// publish sends `presence` for a status change of u to the topic of each of u's rooms, encoded
// once, except u's own sessions, then queues the OnChange call. It runs in u's queue, after the
// store call that made the change. A failed audience lookup or publish waits for a retry at the
// next heartbeat (at most maxAnnounceAttempts); a newer change of u replaces it.
func (t *Tracker) publish(ctx context.Context, u signaling.User, e Entry) {
	defer t.changed(ctx, e)
	t.mu.Lock()
	delete(t.pending, u.ID) // superseded: the newer status is what co-members must see
	t.mu.Unlock()
	t.deliver(ctx, &announcement{user: u, entry: e})
}

// deliver tries to publish a, and keeps it for a retry if some of it failed. It runs in the
// user's queue.
func (t *Tracker) deliver(ctx context.Context, a *announcement) {
	cctx, cancel := t.bound(ctx)
	defer cancel()
	err := t.tryDeliver(cctx, a)
	if err == nil {
		return
	}
	a.attempts++
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case a.attempts >= maxAnnounceAttempts:
		t.logFailure("presence: announcement dropped after retries", err, "user", a.user.ID, "status", string(a.entry.Status), "attempts", a.attempts)
	case len(t.pending) >= maxPendingAnnouncements && t.pending[a.user.ID] == nil:
		t.logFailure("presence: announcement dropped: too many waiting", err, "user", a.user.ID, "status", string(a.entry.Status))
	default:
		t.logFailure("presence: announcement failed; retrying at the next heartbeat", err, "user", a.user.ID, "status", string(a.entry.Status))
		t.pending[a.user.ID] = a
	}
}

// tryDeliver looks up the audience of a unless it has it, then publishes to each room left,
// removing the rooms it reached.
func (t *Tracker) tryDeliver(ctx context.Context, a *announcement) error {
	if a.rooms == nil {
		rooms, err := t.rooms.Rooms(ctx, a.user.ID)
		if err != nil {
			return fmt.Errorf("presence: rooms of %s: %w", a.user.ID, err)
		}
		if len(rooms) == 0 {
			return nil
		}
		if a.user.Username == "" {
			// A change without the user at hand (a dead node's): take the name the room lists.
			ms, err := t.rooms.Members(ctx, rooms[0])
			if err != nil {
				return fmt.Errorf("presence: members of %s: %w", rooms[0], err)
			}
			for _, m := range ms {
				if m.ID == a.user.ID {
					a.user = m
					break
				}
			}
		}
		a.rooms = slices.Clone(rooms)
	}
	raw, err := json.Marshal(toWire(a.user, a.entry))
	if err != nil {
		a.rooms = a.rooms[:0]
		return fmt.Errorf("presence: encode: %w", err)
	}
	env := signaling.Envelope{Event: "presence", Data: json.RawMessage(raw)}
	for len(a.rooms) > 0 {
		if err := t.hub.Publish(ctx, t.topic(a.rooms[0]), env, signaling.ExceptUser(a.user.ID)); err != nil {
			return fmt.Errorf("presence: publish to room %s: %w", a.rooms[0], err)
		}
		a.rooms = a.rooms[1:]
	}
	return nil
}

// retryAnnouncements queues a retry of every announcement that waits for one, in its user's
// queue, unless a newer change of the user replaced it meanwhile. It returns the channels closed
// when the retries ran.
func (t *Tracker) retryAnnouncements(ctx context.Context) (done []<-chan struct{}) {
	t.mu.Lock()
	todo := make([]*announcement, 0, len(t.pending))
	for _, a := range t.pending {
		todo = append(todo, a)
	}
	t.mu.Unlock()
	slices.SortFunc(todo, func(a, b *announcement) int { return strings.Compare(a.user.ID, b.user.ID) })
	for _, a := range todo {
		done = append(done, t.serial(a.user.ID, func() {
			t.mu.Lock()
			current := t.pending[a.user.ID] == a
			if current {
				delete(t.pending, a.user.ID)
			}
			t.mu.Unlock()
			if current {
				t.deliver(ctx, a)
			}
		}))
	}
	return done
}

// coMembers returns the users sharing a room with userID, without userID, each once and ordered
// by id, and userID's own User as the rooms list it.
func (t *Tracker) coMembers(ctx context.Context, userID string) (members []signaling.User, self signaling.User, err error) {
	rooms, err := t.rooms.Rooms(ctx, userID)
	if err != nil {
		return nil, signaling.User{ID: userID}, fmt.Errorf("presence: rooms of %s: %w", userID, err)
	}
	return t.coMembersIn(ctx, userID, rooms)
}

// coMembersIn is coMembers for a known list of userID's rooms.
func (t *Tracker) coMembersIn(ctx context.Context, userID string, rooms []string) (members []signaling.User, self signaling.User, err error) {
	self = signaling.User{ID: userID}
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

func sortUsers(us []signaling.User) {
	slices.SortFunc(us, func(a, b signaling.User) int { return strings.Compare(a.ID, b.ID) })
}
