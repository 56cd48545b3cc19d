package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Errors of the Store. Other errors are database failures.
var (
	// ErrNotFound: no such user or room.
	ErrNotFound = errors.New("accounts: not found")
	// ErrExists: the username or room name is taken.
	ErrExists = errors.New("accounts: already exists")
	// ErrTokenInvalid: a refresh token that is unknown, does not match its hash, or expired.
	// Nothing was changed.
	ErrTokenInvalid = errors.New("accounts: refresh token invalid")
	// ErrTokenReused: a refresh token that was already rotated was presented again: its whole
	// family (every token descended from the same sign-in) has been revoked.
	ErrTokenReused = errors.New("accounts: refresh token reused")
)

// MaxTokensPerUser bounds the refresh tokens kept per user (used ones are kept until they expire,
// to detect their reuse); the oldest go first.
const MaxTokensPerUser = 50

// User is an account, without its password hash.
type User struct {
	ID        string
	Username  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Room is a chat room as the app lists it.
type Room struct {
	ID        string
	Name      string
	Type      string // "group" or "direct"
	CreatedBy string // user id; empty for seeded rooms
	CreatedAt time.Time
}

// RefreshToken is a stored refresh token: only the hash of its secret is kept.
type RefreshToken struct {
	ID     string
	UserID string
	// Family is the id of the sign-in the token descends from: a reuse revokes the family.
	Family    string
	Hash      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store is the accounts database. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

// Open runs the migrations on db and returns the Store. The caller keeps ownership of db.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	if err := migrate(ctx, db, d); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// CreateUser stores a new user with its password hash; a taken username is ErrExists.
func (s *Store) CreateUser(ctx context.Context, u User, passwordHash string) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO streamchat_users (id, username, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		u.ID, u.Username, passwordHash, ms(u.CreatedAt), ms(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("accounts: create user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("accounts: create user: %w", err)
	} else if n == 0 {
		return ErrExists
	}
	return nil
}

// User returns the user with that id, or ErrNotFound.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	var u User
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, username, created_at, updated_at FROM streamchat_users WHERE id = $1`, id).
		Scan(&u.ID, &u.Username, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return u, nil
}

// UserByName returns the user with that username and its password hash, or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (User, string, error) {
	var u User
	var hash string
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT id, username, password_hash, created_at, updated_at FROM streamchat_users WHERE username = $1`, username).
		Scan(&u.ID, &u.Username, &hash, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", ErrNotFound
	}
	if err != nil {
		return User{}, "", fmt.Errorf("accounts: user by name: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return u, hash, nil
}

// DeleteUser removes a user and its refresh tokens; an unknown id is ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM streamchat_users WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("accounts: delete user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("accounts: delete user: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	// Foreign keys cascade on PostgreSQL and on SQLite with foreign_keys on; say it anyway.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM streamchat_refresh_tokens WHERE user_id = $1`, id); err != nil {
		return fmt.Errorf("accounts: delete user tokens: %w", err)
	}
	return nil
}

// AddRefresh stores a refresh token of a new family (a sign-in). It also drops the user's
// expired tokens and keeps at most MaxTokensPerUser.
func (s *Store) AddRefresh(ctx context.Context, t RefreshToken) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("accounts: add refresh token: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := insertToken(ctx, tx, t); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("accounts: add refresh token: %w", err)
	}
	return nil
}

func insertToken(ctx context.Context, tx *sql.Tx, t RefreshToken) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO streamchat_refresh_tokens (id, user_id, family, token_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.ID, t.UserID, t.Family, t.Hash, ms(t.CreatedAt), ms(t.ExpiresAt)); err != nil {
		return fmt.Errorf("accounts: store refresh token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM streamchat_refresh_tokens WHERE user_id = $1 AND (expires_at <= $2 OR id IN (
		SELECT id FROM streamchat_refresh_tokens WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT 1000000 OFFSET $3))`,
		t.UserID, ms(t.CreatedAt), MaxTokensPerUser); err != nil {
		return fmt.Errorf("accounts: prune refresh tokens: %w", err)
	}
	return nil
}

// RotateRefresh consumes the refresh token id, whose secret hashes to hash, and stores next in
// its place: next gets the consumed token's user and family, and is returned. An unknown,
// mismatching or expired token is ErrTokenInvalid and changes nothing; a token already consumed
// is ErrTokenReused and revokes its whole family.
func (s *Store) RotateRefresh(ctx context.Context, id, hash string, now time.Time, next RefreshToken) (RefreshToken, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return RefreshToken{}, fmt.Errorf("accounts: rotate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Write first: the transaction takes the write lock at once (SQLite), and of two concurrent
	// rotations of the same token exactly one wins.
	res, err := tx.ExecContext(ctx, `UPDATE streamchat_refresh_tokens SET used_at = $2
		WHERE id = $1 AND token_hash = $3 AND used_at IS NULL AND expires_at > $2`, id, ms(now), hash)
	if err != nil {
		return RefreshToken{}, fmt.Errorf("accounts: rotate: %w", err)
	}
	var (
		userID, family, stored string
		usedAt                 sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT user_id, family, token_hash, used_at FROM streamchat_refresh_tokens WHERE id = $1`, id).
		Scan(&userID, &family, &stored, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshToken{}, ErrTokenInvalid
	}
	if err != nil {
		return RefreshToken{}, fmt.Errorf("accounts: rotate: %w", err)
	}
	if stored != hash {
		return RefreshToken{}, ErrTokenInvalid
	}
	if n, err := res.RowsAffected(); err != nil {
		return RefreshToken{}, fmt.Errorf("accounts: rotate: %w", err)
	} else if n == 0 {
		if !usedAt.Valid {
			return RefreshToken{}, ErrTokenInvalid // expired
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM streamchat_refresh_tokens WHERE family = $1`, family); err != nil {
			return RefreshToken{}, fmt.Errorf("accounts: revoke family: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return RefreshToken{}, fmt.Errorf("accounts: revoke family: %w", err)
		}
		return RefreshToken{}, ErrTokenReused
	}
	next.UserID, next.Family = userID, family
	if err := insertToken(ctx, tx, next); err != nil {
		return RefreshToken{}, err
	}
	if err := tx.Commit(); err != nil {
		return RefreshToken{}, fmt.Errorf("accounts: rotate: %w", err)
	}
	return next, nil
}

// RevokeRefresh deletes every refresh token of a user (logout).
func (s *Store) RevokeRefresh(ctx context.Context, userID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM streamchat_refresh_tokens WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("accounts: revoke: %w", err)
	}
	return nil
}

// RefreshTokens counts a user's stored refresh tokens, used or not.
func (s *Store) RefreshTokens(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM streamchat_refresh_tokens WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("accounts: count tokens: %w", err)
	}
	return n, nil
}
