package sqlchat

import (
	"context"
	"database/sql"
	"errors"

	"github.com/huddle-go/huddle/signaling"
)

// Join makes u a member of the room; joining again updates the stored User.
func (s *Store) Join(ctx context.Context, roomID string, u signaling.User) error {
	if _, err := s.db.ExecContext(ctx, s.q.join, roomID, u.ID, u.Username, s.clock.Now().UnixNano()); err != nil {
		return unavailable("join", err)
	}
	return nil
}

// Leave removes a member; leaving a room one is not in is not an error.
func (s *Store) Leave(ctx context.Context, roomID, userID string) error {
	if _, err := s.db.ExecContext(ctx, s.q.leave, roomID, userID); err != nil {
		return unavailable("leave", err)
	}
	return nil
}

// IsMember reports whether the user belongs to the room.
func (s *Store) IsMember(ctx context.Context, roomID, userID string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q.isMember, roomID, userID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, unavailable("is member", err)
	}
	return true, nil
}

// Members lists a room's members, in the order they first joined.
func (s *Store) Members(ctx context.Context, roomID string) ([]signaling.User, error) {
	rows, err := s.db.QueryContext(ctx, s.q.members, roomID)
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
	rows, err := s.db.QueryContext(ctx, s.q.roomsOf, userID)
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
