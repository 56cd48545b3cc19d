package sqlchat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/huddle-go/huddle/internal/sqlitedb"
)

// SQLiteOptions configures OpenSQLite.
type SQLiteOptions struct {
	Options
	// Synchronous is SQLite's synchronous setting in WAL mode: "NORMAL" (the default) loses no
	// committed transaction when the process dies, but may lose the latest ones on a power cut
	// or kernel crash; "FULL" syncs every commit, so that nothing committed is ever lost.
	Synchronous string
}

// OpenSQLiteDB opens the SQLite database file at path (created when missing) as OpenSQLite
// does: WAL journal, the given synchronous level ("" is NORMAL), a 10 s busy timeout, and
// transactions that take the write lock when they begin. Other stores (meeting/sqlmeeting)
// may share it.
func OpenSQLiteDB(ctx context.Context, path, synchronous string) (*sql.DB, error) {
	db, err := sqlitedb.Open(ctx, path, synchronous)
	if err != nil {
		return nil, fmt.Errorf("sqlchat: %w", err)
	}
	return db, nil
}

// ErrInUse is the error of OpenSQLite when another process (or another Store of this one) has
// the file open: one process per SQLite file.
var ErrInUse = sqlitedb.ErrInUse

// OpenSQLite opens (or creates) the SQLite database file at path, brings its schema up to date
// and returns a Store that owns it: Close closes the database. The Store is the only writer of
// the file: it caches membership answers (Options.CacheMembership is set), so it locks the file
// (a flock on path+".lock", which the kernel releases when the process ends, killed or not)
// and fails with ErrInUse while another process holds it. Nil options mean all defaults.
func OpenSQLite(ctx context.Context, path string, opts *SQLiteOptions) (*Store, error) {
	var o SQLiteOptions
	if opts != nil {
		o = *opts
	}
	unlock, err := sqlitedb.Lock(path)
	if err != nil {
		return nil, fmt.Errorf("sqlchat: %w", err)
	}
	db, err := OpenSQLiteDB(ctx, path, o.Synchronous)
	if err != nil {
		_ = unlock()
		return nil, err
	}
	o.CacheMembership = true
	s, err := New(ctx, db, SQLite, &o.Options)
	if err != nil {
		_ = db.Close()
		_ = unlock()
		return nil, err
	}
	s.ownsDB, s.unlock = true, unlock
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database at dsn (a postgres:// URL or a key=value
// string, as pgx takes them), checks that it answers within 10 s, brings its schema up to date
// and returns a Store that owns the pool: Close closes it. Nil options mean all defaults.
func OpenPostgres(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlchat: bad PostgreSQL URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlchat: %w", connectError(cfg, err))
	}
	s, err := New(ctx, db, Postgres, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.ownsDB = true
	return s, nil
}

// connectError says why PostgreSQL refused a connection in words that point at the fix: a
// server that answered and refused (no such database or role, a wrong password) is not one that
// "does not answer".
func connectError(cfg *pgx.ConnConfig, err error) error {
	at := fmt.Sprintf("PostgreSQL at %s:%d", cfg.Host, cfg.Port)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s (database %q) does not answer: %w", at, cfg.Database, err)
	}
	switch pe.Code {
	case "3D000": // invalid_catalog_name
		return fmt.Errorf("%s has no database %q: create it (createdb -h %s -p %d -U %s %s) or name another in the URL: %w", at, cfg.Database, cfg.Host, cfg.Port, cfg.User, cfg.Database, err)
	case "28000": // invalid_authorization_specification: no such role, or pg_hba refuses it
		return fmt.Errorf("%s refuses the role %q (the user in the URL): it does not exist or may not connect from here: %w", at, cfg.User, err)
	case "28P01": // invalid_password
		return fmt.Errorf("%s refuses the password of role %q: %w", at, cfg.User, err)
	}
	return fmt.Errorf("%s refused the connection to database %q: %w", at, cfg.Database, err)
}
