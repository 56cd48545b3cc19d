package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/huddle-go/huddle/signaling"
)

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
