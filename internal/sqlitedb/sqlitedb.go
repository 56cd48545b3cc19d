// Package sqlitedb opens SQLite database files (through modernc.org/sqlite, pure Go) the way
// Huddle's SQL stores expect them: WAL journal, a busy timeout, and transactions that take the
// write lock when they begin.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// ErrInUse is the error of Lock when another process (or another Lock in this one) holds the
// database file.
var ErrInUse = errors.New("the SQLite file is in use by another process; one process per file")

// Open opens the SQLite database file at path, creating it when missing, with journal_mode=WAL,
// the given synchronous level ("" means NORMAL; NORMAL or FULL), busy_timeout=10 s and
// BEGIN IMMEDIATE transactions, and checks that it can be read.
func Open(ctx context.Context, path, synchronous string) (*sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("SQLite path %q: want a file name without ? or #", path)
	}
	switch synchronous = strings.ToUpper(synchronous); synchronous {
	case "":
		synchronous = "NORMAL"
	case "NORMAL", "FULL":
	default:
		return nil, fmt.Errorf("SQLite synchronous %q: want NORMAL or FULL", synchronous)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// A ping opens the file; a read checks that it is a database.
	if _, err := db.ExecContext(pctx, "SELECT COUNT(*) FROM sqlite_schema"); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	return db, nil
}
