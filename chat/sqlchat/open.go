package sqlchat

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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

// OpenSQLite opens (or creates) the SQLite database file at path, brings its schema up to date
// and returns a Store that owns it: Close closes the database. The Store is meant to be the
// only writer of the file (one process): it caches membership answers (Options.CacheMembership
// is set). Nil options mean all defaults.
func OpenSQLite(ctx context.Context, path string, opts *SQLiteOptions) (*Store, error) {
	var o SQLiteOptions
	if opts != nil {
		o = *opts
	}
	db, err := OpenSQLiteDB(ctx, path, o.Synchronous)
	if err != nil {
		return nil, err
	}
	o.CacheMembership = true
	s, err := New(ctx, db, SQLite, &o.Options)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.ownsDB = true
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
		return nil, fmt.Errorf("sqlchat: PostgreSQL at %s:%d (database %q) does not answer: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	s, err := New(ctx, db, Postgres, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.ownsDB = true
	return s, nil
}
