// Package sqlmigrate applies versioned SQL migrations, embedded in the binary, to a SQLite or
// PostgreSQL database at start, safely from several processes at once: on PostgreSQL under a
// transaction-scoped advisory lock, on SQLite inside one BEGIN IMMEDIATE transaction (which
// takes the database's write lock). Each migration runs once; the versions applied are recorded
// in a table of the caller's choosing, so that packages sharing a database migrate
// independently.
package sqlmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int    // 1, 2, …: applied in this order
	Name    string // the file name, for messages
	SQL     string // one or more statements
}

var fileName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

// Load reads the migrations of dir in fsys: files named NNNN_what.sql, numbered from 1 without
// gaps.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlmigrate: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("sqlmigrate: %s: want files named NNNN_name.sql", path.Join(dir, e.Name()))
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlmigrate: %w", err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("sqlmigrate: %s: version %d, want %d (no gaps, no repeats)", m.Name, m.Version, i+1)
		}
	}
	return out, nil
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Apply brings the database up to the last of ms, recording the versions in table. postgres
// selects the PostgreSQL dialect (advisory lock, $n placeholders); otherwise SQLite. A
// database whose recorded version is newer than the last of ms (written by a newer binary) is
// an error. It returns the version the database is at.
func Apply(ctx context.Context, db *sql.DB, postgres bool, table string, ms []Migration) (int, error) {
	if !tableName.MatchString(table) {
		return 0, fmt.Errorf("sqlmigrate: bad table name %q", table)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlmigrate: connect: %w", err)
	}
	defer conn.Close()
	begin, lock := "BEGIN IMMEDIATE", ""
	if postgres {
		h := fnv.New64a()
		h.Write([]byte("huddle migrations " + table))
		begin, lock = "BEGIN", fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(h.Sum64()))
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return 0, fmt.Errorf("sqlmigrate: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if lock != "" {
		if _, err := conn.ExecContext(ctx, lock); err != nil {
			return 0, fmt.Errorf("sqlmigrate: lock: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"); err != nil {
		return 0, fmt.Errorf("sqlmigrate: create %s: %w", table, err)
	}
	var cur sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM "+table).Scan(&cur); err != nil {
		return 0, fmt.Errorf("sqlmigrate: read %s: %w", table, err)
	}
	at := int(cur.Int64)
	if at > len(ms) {
		return at, fmt.Errorf("sqlmigrate: the database is at version %d of %s, newer than this program's %d: run a newer binary", at, table, len(ms))
	}
	insert := "INSERT INTO " + table + " (version, name, applied_at) VALUES (?, ?, ?)"
	if postgres {
		insert = strings.NewReplacer("?, ?, ?", "$1, $2, $3").Replace(insert)
	}
	for _, m := range ms[at:] {
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return at, fmt.Errorf("sqlmigrate: %s: %w", m.Name, err)
		}
		if _, err := conn.ExecContext(ctx, insert, m.Version, m.Name, time.Now().UnixMilli()); err != nil {
			return at, fmt.Errorf("sqlmigrate: record %s: %w", m.Name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return at, fmt.Errorf("sqlmigrate: commit: %w", err)
	}
	done = true
	return len(ms), nil
}
