package sqlchat

import (
	"context"
	"database/sql"
	"errors"

	"github.com/huddle-go/huddle/signaling"
)

// Join makes u a member of the room; joining again updates the stored User.
func (s *Store) Join(ctx context.Context, roomID string, u signaling.User) error {
	if s.members != nil {
		s.members.changed(roomID, u.ID)
		defer s.members.changed(roomID, u.ID)
	}
	if _, err := s.prep[s.q.join].ExecContext(ctx, roomID, u.ID, u.Username, s.clock.Now().UnixNano()); err != nil {
		return unavailable("join", err)
	}
	return nil
}

// Leave removes a member; leaving a room one is not in is not an error.
func (s *Store) Leave(ctx context.Context, roomID, userID string) error {
	if s.members != nil {
		s.members.changed(roomID, userID)
		defer s.members.changed(roomID, userID)
	}
	if _, err := s.prep[s.q.leave].ExecContext(ctx, roomID, userID); err != nil {
		return unavailable("leave", err)
	}
	return nil
}

// IsMember reports whether the user belongs to the room.
func (s *Store) IsMember(ctx context.Context, roomID, userID string) (bool, error) {
	var gen uint64
	if s.members != nil {
		member, ok, g := s.members.get(roomID, userID)
		if ok {
			return member, nil
		}
		gen = g
	}
	var one int
	err := s.prep[s.q.isMember].QueryRowContext(ctx, roomID, userID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, unavailable("is member", err)
	}
	member := err == nil
	if s.members != nil {
		s.members.put(roomID, userID, member, gen)
	}
	return member, nil
}

// Members lists a room's members, in the order they first joined.
func (s *Store) Members(ctx context.Context, roomID string) ([]signaling.User, error) {
	rows, err := s.prep[s.q.members].QueryContext(ctx, roomID)
	if err != nil {
		return nil, unavailable("members", err)
	}
	defer rows.Close()
	out := []signaling.User{}
	for rows.Next() {
		var u signaling.User
		if err := rows.Scan(&u.ID, &u.Username); err != nil {
			return nil, unavailable("members", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("members", err)
	}
	return out, nil
}

// Rooms lists a user's rooms, in the order the user first joined them.
func (s *Store) Rooms(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.prep[s.q.roomsOf].QueryContext(ctx, userID)
	if err != nil {
		return nil, unavailable("rooms", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, unavailable("rooms", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("rooms", err)
	}
	return out, nil
}
