package sqlchat

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
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
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlchat: SQLite path %q: want a file name without ? or #", path)
	}
	switch synchronous = strings.ToUpper(synchronous); synchronous {
	case "":
		synchronous = "NORMAL"
	case "NORMAL", "FULL":
	default:
		return nil, fmt.Errorf("sqlchat: SQLite synchronous %q: want NORMAL or FULL", synchronous)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlchat: open SQLite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlchat: open SQLite %s: %w", path, err)
	}
	return db, nil
}

// OpenSQLite opens (or creates) the SQLite database file at path, brings its schema up to date
// and returns a Store that owns it: Close closes the database. Nil options mean all defaults.
func OpenSQLite(ctx context.Context, path string, opts *SQLiteOptions) (*Store, error) {
	var o SQLiteOptions
	if opts != nil {
		o = *opts
	}
	db, err := OpenSQLiteDB(ctx, path, o.Synchronous)
	if err != nil {
		return nil, err
	}
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
