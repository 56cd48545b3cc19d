// Package pgtest gives tests a real PostgreSQL database of their own: it connects to the server
// named by HUDDLE_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test), creates a
// uniquely named database for the test and drops it at cleanup, so that tests running at the
// same time on one server never see each other's tables. Without a reachable server the test is
// skipped with a message saying how to get one, except when HUDDLE_REQUIRE_POSTGRES=1 (as in
// CI), where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// DefaultURL is the server used when HUDDLE_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test"

// ServerURL returns the URL of the test server: HUDDLE_POSTGRES_URL or DefaultURL.
func ServerURL() string {
	if u := os.Getenv("HUDDLE_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("HUDDLE_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("pgtest: %s, and HUDDLE_REQUIRE_POSTGRES=1 makes that a failure", why)
	}
	t.Skipf("pgtest: %s; install and start PostgreSQL (apt-get install postgresql) with trust auth for user postgres on 127.0.0.1:5432, or set HUDDLE_POSTGRES_URL, to run this test", why)
}

// URL creates a database of the test's own on the test server and returns its URL. The
// database is dropped at cleanup (after every connection to it is closed: close your *sql.DB in
// an earlier registered cleanup, or let DB do it).
func URL(t testing.TB) string {
	t.Helper()
	base := ServerURL()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: HUDDLE_POSTGRES_URL %q: %v", base, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", redact(u), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		missing(t, fmt.Sprintf("no PostgreSQL answers at %s (%v)", redact(u), err))
	}
	name := dbName(t)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// WITH (FORCE) ends connections a failed test left behind (PostgreSQL 13+).
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	own := *u
	own.Path = "/" + name
	return own.String()
}

// DB returns a connection pool on a database of the test's own (see URL), closed at cleanup.
func DB(t testing.TB) *sql.DB {
	t.Helper()
	dsn := URL(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// dbName is a database name unique to this test run: huddle_test_<test>_<random>, in the
// characters PostgreSQL takes unquoted, within its 63-byte limit.
func dbName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	test := b.String()
	if len(test) > 30 {
		test = test[len(test)-30:]
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return "huddle_test_" + test + "_" + hex.EncodeToString(rnd[:])
}

func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxx")
		}
	}
	return c.String()
}
