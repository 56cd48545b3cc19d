package accounts_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	"github.com/huddle-go/huddle/internal/pgtest"
	"github.com/matryer/is"
	_ "modernc.org/sqlite"
)

// backends returns the databases to run a test against: a SQLite file always, and a private
// PostgreSQL database (internal/pgtest: skipped without a server unless HUDDLE_REQUIRE_POSTGRES=1).
func backends(t *testing.T) map[string]func(t *testing.T) (*sql.DB, accounts.Dialect) {
	return map[string]func(t *testing.T) (*sql.DB, accounts.Dialect){
		"sqlite": func(t *testing.T) (*sql.DB, accounts.Dialect) {
			db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/a.db?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db, accounts.SQLite
		},
		"postgres": func(t *testing.T) (*sql.DB, accounts.Dialect) { return pgtest.DB(t), accounts.Postgres },
	}
}

func TestStore(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db, d := open(t)
			ctx := context.Background()
			st, err := accounts.Open(ctx, db, d)
			if err != nil {
				t.Fatal(err)
			}
			t.Run("migrations are idempotent", func(t *testing.T) {
				_, err := accounts.Open(ctx, db, d)
				is.New(t).NoErr(err)
			})
			t.Run("users", func(t *testing.T) { testUsers(t, st) })
			t.Run("refresh tokens", func(t *testing.T) { testRefresh(t, st) })
			t.Run("concurrent rotation", func(t *testing.T) { testConcurrentRotation(t, st) })
			t.Run("rooms", func(t *testing.T) { testRooms(t, st) })
			t.Run("settings", func(t *testing.T) {
				is := is.New(t)
				v, err := st.Setting(ctx, "secret", func() string { return "first" })
				is.NoErr(err)
				is.Equal(v, "first")
				v, err = st.Setting(ctx, "secret", func() string { return "second" })
				is.NoErr(err)
				is.Equal(v, "first") // the stored value wins
			})
		})
	}
}

var now = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func testUsers(t *testing.T, st *accounts.Store) {
	is := is.New(t)
	ctx := context.Background()
	u := accounts.User{ID: "u1", Username: "alice", CreatedAt: now, UpdatedAt: now}
	is.NoErr(st.CreateUser(ctx, u, "hash-a"))
	err := st.CreateUser(ctx, accounts.User{ID: "u2", Username: "alice", CreatedAt: now, UpdatedAt: now}, "hash-b")
	is.True(errors.Is(err, accounts.ErrExists)) // the username is taken
	got, hash, err := st.UserByName(ctx, "alice")
	is.NoErr(err)
	is.Equal(got, u)
	is.Equal(hash, "hash-a") // the first account is unchanged
	_, _, err = st.UserByName(ctx, "nobody")
	is.True(errors.Is(err, accounts.ErrNotFound))
	got, err = st.User(ctx, "u1")
	is.NoErr(err)
	is.Equal(got.Username, "alice")

	is.NoErr(st.AddRefresh(ctx, accounts.RefreshToken{ID: "t-del", UserID: "u1", Family: "f", Hash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	is.NoErr(st.DeleteUser(ctx, "u1"))
	_, err = st.User(ctx, "u1")
	is.True(errors.Is(err, accounts.ErrNotFound))
	n, err := st.RefreshTokens(ctx, "u1")
	is.NoErr(err)
	is.Equal(n, 0) // the user's tokens went with it
	is.True(errors.Is(st.DeleteUser(ctx, "u1"), accounts.ErrNotFound))
}

func testRefresh(t *testing.T, st *accounts.Store) {
	is := is.New(t)
	ctx := context.Background()
	is.NoErr(st.CreateUser(ctx, accounts.User{ID: "r1", Username: "rita", CreatedAt: now, UpdatedAt: now}, "x"))
	first := accounts.RefreshToken{ID: "a", UserID: "r1", Family: "fam", Hash: "ha", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	is.NoErr(st.AddRefresh(ctx, first))

	_, err := st.RotateRefresh(ctx, "a", "wrong", now, accounts.RefreshToken{ID: "x", Hash: "hx", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	is.True(errors.Is(err, accounts.ErrTokenInvalid)) // a wrong secret changes nothing
	_, err = st.RotateRefresh(ctx, "nope", "ha", now, accounts.RefreshToken{ID: "x", Hash: "hx", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	is.True(errors.Is(err, accounts.ErrTokenInvalid))
	_, err = st.RotateRefresh(ctx, "a", "ha", now.Add(2*time.Hour), accounts.RefreshToken{ID: "x", Hash: "hx", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	is.True(errors.Is(err, accounts.ErrTokenInvalid)) // expired

	second, err := st.RotateRefresh(ctx, "a", "ha", now, accounts.RefreshToken{ID: "b", Hash: "hb", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	is.NoErr(err)
	is.Equal(second.UserID, "r1")
	is.Equal(second.Family, "fam")

	_, err = st.RotateRefresh(ctx, "a", "ha", now, accounts.RefreshToken{ID: "c", Hash: "hc", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	is.True(errors.Is(err, accounts.ErrTokenReused)) // the old token again
	_, err = st.RotateRefresh(ctx, "b", "hb", now, accounts.RefreshToken{ID: "d", Hash: "hd", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	is.True(errors.Is(err, accounts.ErrTokenInvalid)) // the reuse revoked the family

	// Sign-ins beyond the bound drop the oldest tokens.
	for i := range accounts.MaxTokensPerUser + 5 {
		is.NoErr(st.AddRefresh(ctx, accounts.RefreshToken{ID: fmt.Sprintf("m%03d", i), UserID: "r1", Family: fmt.Sprintf("f%d", i), Hash: "h",
			CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: now.Add(time.Hour)}))
	}
	n, err := st.RefreshTokens(ctx, "r1")
	is.NoErr(err)
	is.Equal(n, accounts.MaxTokensPerUser)
	is.NoErr(st.RevokeRefresh(ctx, "r1"))
	n, err = st.RefreshTokens(ctx, "r1")
	is.NoErr(err)
	is.Equal(n, 0)
}

// testConcurrentRotation: of several rotations of one token at once, exactly one succeeds.
func testConcurrentRotation(t *testing.T, st *accounts.Store) {
	is := is.New(t)
	ctx := context.Background()
	is.NoErr(st.CreateUser(ctx, accounts.User{ID: "c1", Username: "carl", CreatedAt: now, UpdatedAt: now}, "x"))
	is.NoErr(st.AddRefresh(ctx, accounts.RefreshToken{ID: "c-a", UserID: "c1", Family: "cf", Hash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.RotateRefresh(ctx, "c-a", "h", now, accounts.RefreshToken{ID: fmt.Sprintf("c-next-%d", i), Hash: "hn", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, accounts.ErrTokenReused), errors.Is(err, accounts.ErrTokenInvalid):
		default:
			t.Errorf("rotation: %v", err)
		}
	}
	is.Equal(ok, 1)
}

func testRooms(t *testing.T, st *accounts.Store) {
	is := is.New(t)
	ctx := context.Background()
	r, created, err := st.EnsureRoom(ctx, accounts.Room{ID: "g", Name: "General", Type: "group", CreatedAt: now})
	is.NoErr(err)
	is.True(created)
	again, created, err := st.EnsureRoom(ctx, accounts.Room{ID: "g2", Name: "General", Type: "group", CreatedAt: now})
	is.NoErr(err)
	is.True(!created)
	is.Equal(again, r) // the existing room, not a second one
	is.NoErr(st.CreateRoom(ctx, accounts.Room{ID: "x", Name: "Extra", Type: "group", CreatedBy: "someone", CreatedAt: now.Add(time.Second)}))
	is.True(errors.Is(st.CreateRoom(ctx, accounts.Room{ID: "y", Name: "Extra", Type: "group", CreatedAt: now}), accounts.ErrExists))
	all, err := st.Rooms(ctx)
	is.NoErr(err)
	is.Equal(len(all), 2)
	is.Equal(all[0].Name, "General")
	is.Equal(all[1].CreatedBy, "someone")
	n, err := st.RoomsCreatedBy(ctx, "someone")
	is.NoErr(err)
	is.Equal(n, 1)
	_, err = st.Room(ctx, "missing")
	is.True(errors.Is(err, accounts.ErrNotFound))
}
