package sqlmeeting

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/huddle-go/huddle/internal/sqlmigrate"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
)

//go:embed migrations
var migrations embed.FS

// MigrationsTable is the table in which a Store records the schema versions it applied.
const MigrationsTable = "huddle_meeting_migrations"

// Store is a meeting.Store and meeting.Leaser on SQLite, for one node.
type Store struct {
	db  *sql.DB
	wmu sync.Mutex // serializes the read-modify-write transactions of this process

	lmu    sync.Mutex
	leases map[string]lease // room id → holder
}

type lease struct {
	owner string
	until time.Time
}

var (
	_ meeting.Store       = (*Store)(nil)
	_ meeting.Recoverable = (*Store)(nil)
)

// SingleNode reports true: the Store serves one node (its leases live in the process), so
// meeting.Service.Recover settles what the node's previous process left in it.
func (s *Store) SingleNode() bool { return true }

// Options configures a Store. It has no fields yet: it gives the SQL stores the constructor
// shape of the other stores, New(ctx, client, *Options), and room to grow.
type Options struct{}

// New returns a Store on db after bringing its schema up to date. Nil options mean all
// defaults. The Store does not own db.
func New(ctx context.Context, db *sql.DB, opts *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlmeeting: New: nil database")
	}
	ms, err := sqlmigrate.Load(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlmeeting: %w", err)
	}
	if _, err := sqlmigrate.Apply(ctx, db, false, MigrationsTable, ms); err != nil {
		return nil, fmt.Errorf("sqlmeeting: migrate: %w: %w", signaling.ErrUnavailable, err)
	}
	return &Store{db: db, leases: map[string]lease{}}, nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("sqlmeeting: %s: %w: %w", op, signaling.ErrUnavailable, err)
}

func decode(b []byte) (meeting.Meeting, error) {
	var m meeting.Meeting
	if err := m.UnmarshalBinary(b); err != nil {
		return meeting.Meeting{}, fmt.Errorf("sqlmeeting: %w", err)
	}
	return m, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Create stores m unless its room has an active meeting.
func (s *Store) Create(ctx context.Context, m meeting.Meeting) error {
	if m.RoomID == "" {
		return errors.New("sqlmeeting: create: empty room id")
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("sqlmeeting: create: %w", err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("create", err)
	}
	defer func() { _ = tx.Rollback() }()
	var active int
	err = tx.QueryRowContext(ctx, `SELECT active FROM huddle_meetings WHERE room_id = ?`, m.RoomID).Scan(&active)
	switch {
	case err == nil && active == 1:
		return fmt.Errorf("sqlmeeting: create %s: %w", m.RoomID, meeting.ErrConflict)
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return unavailable("create", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO huddle_meetings (room_id, active, record) VALUES (?, ?, ?)
ON CONFLICT (room_id) DO UPDATE SET active = excluded.active, record = excluded.record`,
		m.RoomID, boolInt(m.Active()), b); err != nil {
		return unavailable("create", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("create", err)
	}
	return nil
}

// Get returns the room's meeting record.
func (s *Store) Get(ctx context.Context, roomID string) (meeting.Meeting, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT record FROM huddle_meetings WHERE room_id = ?`, roomID).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return meeting.Meeting{}, fmt.Errorf("sqlmeeting: get %s: %w", roomID, meeting.ErrNotFound)
	case err != nil:
		return meeting.Meeting{}, unavailable("get", err)
	}
	return decode(b)
}

// Update runs f on the room's record in one transaction and stores what f leaves.
func (s *Store) Update(ctx context.Context, roomID string, f func(*meeting.Meeting) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("update", err)
	}
	defer func() { _ = tx.Rollback() }()
	var b []byte
	err = tx.QueryRowContext(ctx, `SELECT record FROM huddle_meetings WHERE room_id = ?`, roomID).Scan(&b)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlmeeting: update %s: %w", roomID, meeting.ErrNotFound)
	case err != nil:
		return unavailable("update", err)
	}
	m, err := decode(b)
	if err != nil {
		return err
	}
	if err := f(&m); err != nil {
		return err
	}
	m.RoomID = roomID
	if b, err = m.MarshalBinary(); err != nil {
		return fmt.Errorf("sqlmeeting: update: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE huddle_meetings SET active = ?, record = ? WHERE room_id = ?`,
		boolInt(m.Active()), b, roomID); err != nil {
		return unavailable("update", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable("update", err)
	}
	return nil
}

// Delete removes the room's record.
func (s *Store) Delete(ctx context.Context, roomID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM huddle_meetings WHERE room_id = ?`, roomID); err != nil {
		return unavailable("delete", err)
	}
	return nil
}

// ActiveIn returns the active meetings of roomIDs, in their order, each once.
func (s *Store) ActiveIn(ctx context.Context, roomIDs []string) ([]meeting.Meeting, error) {
	var out []meeting.Meeting
	seen := make(map[string]bool, len(roomIDs))
	for _, id := range roomIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		var b []byte
		err := s.db.QueryRowContext(ctx, `SELECT record FROM huddle_meetings WHERE room_id = ? AND active = 1`, id).Scan(&b)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return nil, unavailable("active in", err)
		}
		m, err := decode(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Active returns every active meeting (meeting.Leaser).
func (s *Store) Active(ctx context.Context) ([]meeting.Meeting, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT record FROM huddle_meetings WHERE active = 1`)
	if err != nil {
		return nil, unavailable("active", err)
	}
	defer rows.Close()
	var out []meeting.Meeting
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, unavailable("active", err)
		}
		m, err := decode(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("active", err)
	}
	return out, nil
}

// Acquire takes or renews owner's lease on roomID's timers (meeting.Leaser). Leases live in
// this process: a restarted server starts without any.
func (s *Store) Acquire(_ context.Context, roomID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if l, ok := s.leases[roomID]; ok && l.owner != owner && l.until.After(now) {
		return false, nil
	}
	s.leases[roomID] = lease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

// Release ends owner's lease on roomID (meeting.Leaser).
func (s *Store) Release(_ context.Context, roomID, owner string) error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if l, ok := s.leases[roomID]; ok && l.owner == owner {
		delete(s.leases, roomID)
	}
	return nil
}
