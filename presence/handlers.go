package presence

import (
	"bytes"
	"context"
	"fmt"

	"github.com/huddle-go/huddle/signaling"
)

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

// startRooms returns the rooms of s's user, read from Rooms once per session start for every
// service reading the same membership (signaling.Session.StartValue).
func (t *Tracker) startRooms(ctx context.Context, s *signaling.Session) ([]string, error) {
	v, err := s.StartValue(t.rooms, func() (any, error) { return t.rooms.Rooms(ctx, s.User().ID) })
	rooms, _ := v.([]string)
	return rooms, err
}

// sendSnapshot sends `presence_snapshot` of the user's co-members to a new session. On failure
// nothing is sent (an empty or partial list would be wrong); the client may ask with
// `get_presence`.
func (t *Tracker) sendSnapshot(ctx context.Context, s *signaling.Session) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	rooms, err := t.startRooms(ctx, s) // shared with the other services' hooks
	if err != nil {
		t.logFailure("presence: snapshot at session start", err, "session", s.ID())
		return
	}
	members, _, err := t.coMembersIn(ctx, s.User().ID, rooms)
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
	var err error
	<-t.serial(u.ID, func() {
		cctx, cancel := t.bound(ctx)
		changed, serr := t.store.SetStatus(cctx, u.ID, status)
		cancel()
		if serr != nil {
			err = fmt.Errorf("presence: set status of %s: %w", u.ID, serr)
			return
		}
		if changed {
			t.publish(ctx, u, Entry{UserID: u.ID, Status: status})
		}
	})
	return err
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
	ctx, cancel := context.WithTimeout(ctx, t.callTimeout)
	defer cancel()
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
