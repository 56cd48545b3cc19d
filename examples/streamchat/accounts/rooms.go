package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CreateRoom stores a new room; a taken name is ErrExists.
func (s *Store) CreateRoom(ctx context.Context, r Room) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO streamchat_rooms (id, name, type, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, r.ID, r.Name, r.Type, nullable(r.CreatedBy), ms(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("accounts: create room: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("accounts: create room: %w", err)
	} else if n == 0 {
		return ErrExists
	}
	return nil
}

// EnsureRoom creates r unless a room of that name exists, and returns the room of that name and
// whether it was created.
func (s *Store) EnsureRoom(ctx context.Context, r Room) (Room, bool, error) {
	err := s.CreateRoom(ctx, r)
	if err != nil && !errors.Is(err, ErrExists) {
		return Room{}, false, err
	}
	got, gerr := s.scanRoom(s.db.QueryRowContext(ctx, `SELECT id, name, type, created_by, created_at FROM streamchat_rooms WHERE name = $1`, r.Name))
	if gerr != nil {
		return Room{}, false, gerr
	}
	return got, err == nil, nil
}

// Room returns the room with that id, or ErrNotFound.
func (s *Store) Room(ctx context.Context, id string) (Room, error) {
	return s.scanRoom(s.db.QueryRowContext(ctx, `SELECT id, name, type, created_by, created_at FROM streamchat_rooms WHERE id = $1`, id))
}

// Rooms lists every room, oldest first.
func (s *Store) Rooms(ctx context.Context) ([]Room, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, type, created_by, created_at FROM streamchat_rooms ORDER BY created_at, name`)
	if err != nil {
		return nil, fmt.Errorf("accounts: rooms: %w", err)
	}
	defer rows.Close()
	out := []Room{}
	for rows.Next() {
		r, err := s.scanRoom(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("accounts: rooms: %w", err)
	}
	return out, nil
}

// RoomsCreatedBy counts the rooms a user created.
func (s *Store) RoomsCreatedBy(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM streamchat_rooms WHERE created_by = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("accounts: rooms created: %w", err)
	}
	return n, nil
}

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanRoom(row scanner) (Room, error) {
	var r Room
	var by sql.NullString
	var created int64
	err := row.Scan(&r.ID, &r.Name, &r.Type, &by, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, ErrNotFound
	}
	if err != nil {
		return Room{}, fmt.Errorf("accounts: room: %w", err)
	}
	r.CreatedBy, r.CreatedAt = by.String, fromMS(created)
	return r, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Setting returns the value of a named setting, storing gen() first when it has none. Of
// several nodes starting at once, the first value stored wins for all.
func (s *Store) Setting(ctx context.Context, name string, gen func() string) (string, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO streamchat_settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, gen()); err != nil {
		return "", fmt.Errorf("accounts: setting %s: %w", name, err)
	}
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM streamchat_settings WHERE name = $1`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("accounts: setting %s: %w", name, err)
	}
	return v, nil
}
