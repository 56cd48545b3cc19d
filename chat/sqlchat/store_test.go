package sqlchat_test

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/sqlchat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/pgtest"
	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
)

// openSQLite returns a Store on a fresh SQLite file of the test's own, closed at cleanup.
func openSQLite(t *testing.T, opts *sqlchat.SQLiteOptions) *sqlchat.Store {
	t.Helper()
	s, err := sqlchat.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "chat.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openPostgres returns a Store on a PostgreSQL database of the test's own, closed at cleanup.
func openPostgres(t *testing.T, opts *sqlchat.Options) *sqlchat.Store {
	t.Helper()
	url := pgtest.URL(t)
	s, err := sqlchat.OpenPostgres(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dialects runs f against SQLite and PostgreSQL.
func dialects(t *testing.T, f func(t *testing.T, open func(t *testing.T, o *sqlchat.Options) *sqlchat.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		f(t, func(t *testing.T, o *sqlchat.Options) *sqlchat.Store {
			var so sqlchat.SQLiteOptions
			if o != nil {
				so.Options = *o
			}
			return openSQLite(t, &so)
		})
	})
	t.Run("Postgres", func(t *testing.T) { f(t, openPostgres) })
}

func TestContract(t *testing.T) {
	dialects(t, func(t *testing.T, open func(*testing.T, *sqlchat.Options) *sqlchat.Store) {
		storetest.Chat(t, func(t *testing.T) (chat.Store, chat.Membership) {
			s := open(t, nil)
			return s, s
		})
	})
}

var tick = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
var tickMu sync.Mutex

func message(t *testing.T, roomID string, from signaling.User, content string) chat.Message {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	tickMu.Lock()
	tick = tick.Add(time.Millisecond)
	at := tick
	tickMu.Unlock()
	return chat.Message{ID: id.String(), RoomID: roomID, Content: content, Sender: from, CreatedAt: at, UpdatedAt: at}
}

func contents(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

func TestIdempotencyWindow(t *testing.T) {
	dialects(t, func(t *testing.T, open func(*testing.T, *sqlchat.Options) *sqlchat.Store) {
		storetest.ChatIdempotencyWindow(t, func(t *testing.T, clk clock.Clock) chat.Store {
			return open(t, &sqlchat.Options{Clock: clk})
		})
	})
}

func TestAppendSameIDTwice(t *testing.T) {
	dialects(t, func(t *testing.T, open func(*testing.T, *sqlchat.Options) *sqlchat.Store) {
		is := is.New(t)
		ctx := context.Background()
		s := open(t, nil)
		m := message(t, "r1", alice, "once")
		_, existing, err := s.Append(ctx, m)
		is.NoErr(err)      // first
		is.True(!existing) // stored
		dup := m
		dup.Content = "twice"
		got, existing, err := s.Append(ctx, dup)
		is.NoErr(err)                 // same id again
		is.True(existing)             // already stored
		is.Equal(got.Content, "once") // the stored message comes back
	})
}

// TestHistoryKeepsAppendOrder: pages follow append order, not id order.
func TestHistoryKeepsAppendOrder(t *testing.T) {
	dialects(t, func(t *testing.T, open func(*testing.T, *sqlchat.Options) *sqlchat.Store) {
		is := is.New(t)
		ctx := context.Background()
		s := open(t, nil)
		a := message(t, "r1", alice, "a")
		b := message(t, "r1", bob, "b")
		_, _, err := s.Append(ctx, b)
		is.NoErr(err) // the later id first
		_, _, err = s.Append(ctx, a)
		is.NoErr(err) // the earlier id second
		hist, _, err := s.History(ctx, "r1", "", 10)
		is.NoErr(err)                                // history
		is.Equal(contents(hist), []string{"b", "a"}) // in append order
		after, _, err := s.HistoryAfter(ctx, "r1", b.ID, 10)
		is.NoErr(err)                            // after the first appended
		is.Equal(contents(after), []string{"a"}) // the one appended after it
	})
}

// TestConcurrentRepeatsReportOneNew: among concurrent Appends of one client message id, many of
// them in one batch, exactly one reports a new message.
func TestConcurrentRepeatsReportOneNew(t *testing.T) {
	dialects(t, func(t *testing.T, open func(*testing.T, *sqlchat.Options) *sqlchat.Store) {
		is := is.New(t)
		ctx := context.Background()
		s := open(t, nil)
		const n, ids = 200, 7
		msgs := make([]chat.Message, n)
		for i := range n {
			msgs[i] = message(t, fmt.Sprint("r", i%3), alice, fmt.Sprint(i))
			msgs[i].ClientMsgID = fmt.Sprint("c", i%ids)
		}
		var wg sync.WaitGroup
		fresh := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				var existing bool
				_, existing, errs[i] = s.Append(ctx, msgs[i])
				fresh[i] = !existing
			})
		}
		wg.Wait()
		news := map[string]int{}
		for i := range n {
			is.NoErr(errs[i]) // every append succeeds
			if fresh[i] {
				news[msgs[i].ClientMsgID]++
			}
		}
		is.Equal(len(news), ids) // every client message id has a new message
		for _, k := range news {
			is.Equal(k, 1) // exactly one new message per client message id
		}
		total := 0
		for r := range 3 {
			hist, _, err := s.History(ctx, fmt.Sprint("r", r), "", 100)
			is.NoErr(err) // history
			total += len(hist)
		}
		is.Equal(total, ids) // one stored message per client message id
	})
}

// TestReopenKeepsEverything: a Store opened again on the same file finds the messages, the
// memberships and the remembered client message ids, and applies no migration twice.
func TestReopenKeepsEverything(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := sqlchat.OpenSQLite(ctx, path, nil)
	is.NoErr(err) // open
	m := message(t, "r1", alice, "kept")
	m.ClientMsgID = "c1"
	_, _, err = s.Append(ctx, m)
	is.NoErr(err)                      // append
	is.NoErr(s.Join(ctx, "r1", alice)) // join
	is.NoErr(s.Close())                // close

	s, err = sqlchat.OpenSQLite(ctx, path, nil)
	is.NoErr(err) // open again
	defer s.Close()
	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                              // history
	is.Equal(contents(hist), []string{"kept"}) // the message survived
	ok, err := s.IsMember(ctx, "r1", "alice")
	is.NoErr(err) // is member
	is.True(ok)   // the membership survived
	again := message(t, "r1", alice, "again")
	again.ClientMsgID = "c1"
	got, existing, err := s.Append(ctx, again)
	is.NoErr(err)          // a retry after the restart
	is.True(existing)      // the client message id is remembered
	is.Equal(got.ID, m.ID) // the first message answers
	var versions int
	is.NoErr(s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+sqlchat.MigrationsTable).Scan(&versions))
	is.Equal(versions, 1) // the migration was recorded once
}

// TestMigrateConcurrently: nodes starting at once on one PostgreSQL database apply the schema
// once and all work.
func TestMigrateConcurrently(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	url := pgtest.URL(t)
	const nodes = 4
	stores := make([]*sqlchat.Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = sqlchat.OpenPostgres(ctx, url, nil) })
	}
	wg.Wait()
	for i := range nodes {
		is.NoErr(errs[i]) // every node starts
		defer stores[i].Close()
	}
	for i, s := range stores {
		_, _, err := s.Append(ctx, message(t, "r1", alice, fmt.Sprint(i)))
		is.NoErr(err) // every node appends
	}
	hist, _, err := stores[0].History(ctx, "r1", "", 10)
	is.NoErr(err)          // history
	is.Equal(len(hist), 4) // one message from each node, in one table
	var versions int
	is.NoErr(stores[0].DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+sqlchat.MigrationsTable).Scan(&versions))
	is.Equal(versions, 1) // the migration was applied once
}

// TestDatabaseGone: with the database gone every call fails as unavailable, and appends
// waiting when the Store closes fail too.
func TestDatabaseGone(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s := openSQLite(t, nil)
	_, _, err := s.Append(ctx, message(t, "r1", alice, "before"))
	is.NoErr(err)            // the database is there
	is.NoErr(s.DB().Close()) // the database goes away
	_, _, err = s.Append(ctx, message(t, "r1", alice, "during"))
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Append fails as unavailable
	_, _, err = s.History(ctx, "r1", "", 10)
	is.True(errors.Is(err, signaling.ErrUnavailable)) // History fails as unavailable
	err = s.Join(ctx, "r1", alice)
	is.True(errors.Is(err, signaling.ErrUnavailable)) // Join fails as unavailable
	_, err = s.Rooms(ctx, "alice")
	is.True(errors.Is(err, signaling.ErrUnavailable))         // Rooms fails as unavailable
	is.True(errors.Is(s.Ping(ctx), signaling.ErrUnavailable)) // Ping reports it
	is.NoErr(s.Close())                                       // close
	_, _, err = s.Append(ctx, message(t, "r1", alice, "after close"))
	is.True(errors.Is(err, signaling.ErrUnavailable)) // a closed store refuses appends
}

// TestOneStorePerFile: while a Store has the SQLite file open, another OpenSQLite of it (here
// in the same process; another process is refused the same way, and a killed one's lock goes
// with it) fails with ErrInUse, saying the file is in use; once closed, the file opens again.
func TestOneStorePerFile(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chat.db")
	first, err := sqlchat.OpenSQLite(ctx, path, nil)
	is.NoErr(err) // the first store
	_, err = sqlchat.OpenSQLite(ctx, path, nil)
	is.True(errors.Is(err, sqlchat.ErrInUse))                           // a second one is refused
	is.True(strings.Contains(err.Error(), "in use by another process")) // saying why
	is.True(strings.Contains(err.Error(), path))                        // about which file
	is.NoErr(first.Close())
	again, err := sqlchat.OpenSQLite(ctx, path, nil)
	is.NoErr(err) // closed, the file is free again
	is.NoErr(again.Close())
}

// TestPostgresRefusalsSayWhy: a server that answers but has no such database, or no such role,
// says so and how to fix it, instead of "does not answer".
func TestPostgresRefusalsSayWhy(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	u, err := neturl.Parse(pgtest.URL(t)) // a server that answers (or the test skips)
	is.NoErr(err)
	noDB := *u
	noDB.Path = "/huddle_no_such_database"
	_, err = sqlchat.OpenPostgres(ctx, noDB.String(), nil)
	is.True(err != nil)                                                                 // refused
	is.True(strings.Contains(err.Error(), `has no database "huddle_no_such_database"`)) // names the database
	is.True(strings.Contains(err.Error(), "createdb"))                                  // and how to make it
	is.True(!strings.Contains(err.Error(), "does not answer"))                          // the server did answer
	t.Logf("no database: %v", err)

	noRole := *u
	noRole.User = neturl.User("huddle_no_such_role")
	_, err = sqlchat.OpenPostgres(ctx, noRole.String(), nil)
	is.True(err != nil)                                                              // refused
	is.True(strings.Contains(err.Error(), `refuses the role "huddle_no_such_role"`)) // names the role
	is.True(!strings.Contains(err.Error(), "does not answer"))                       // the server did answer
	t.Logf("no role: %v", err)
}

func TestBadConfiguration(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	_, err := sqlchat.OpenSQLite(ctx, filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), nil)
	is.True(err != nil) // a file that cannot be created fails at open
	t.Logf("missing directory: %v", err)
	_, err = sqlchat.OpenPostgres(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", nil)
	is.True(err != nil) // an unreachable server fails at open
	t.Logf("unreachable: %v", err)
	_, err = sqlchat.OpenPostgres(ctx, "postgres://%zz", nil)
	is.True(err != nil) // a malformed URL fails at open
	t.Logf("malformed: %v", err)
}

func signalingUser(i int) signaling.User {
	return signaling.User{ID: fmt.Sprint("u", i), Username: fmt.Sprint("U", i)}
}

// TestBackupWhileRunning: VACUUM INTO, run on a connection of its own while the store appends,
// writes a consistent copy that opens as a store with the messages committed before it.
func TestBackupWhileRunning(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlchat.OpenSQLite(ctx, filepath.Join(dir, "huddle.db"), nil)
	is.NoErr(err) // open
	defer s.Close()
	for i := range 50 {
		_, _, err := s.Append(ctx, message(t, "r1", alice, fmt.Sprint(i)))
		is.NoErr(err) // append before the backup
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // keep writing during the backup
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := s.Append(ctx, message(t, "r1", bob, fmt.Sprint("during ", i))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	backup := filepath.Join(dir, "backup.db")
	other, err := sqlchat.OpenSQLiteDB(ctx, filepath.Join(dir, "huddle.db"), "")
	is.NoErr(err) // a second connection, as the sqlite3 shell would be
	_, err = other.ExecContext(ctx, "VACUUM INTO ?", backup)
	close(stop)
	wg.Wait()
	is.NoErr(err) // the online backup
	is.NoErr(other.Close())

	b, err := sqlchat.OpenSQLite(ctx, backup, nil)
	is.NoErr(err) // the copy opens as a store
	defer b.Close()
	hist, _, err := b.History(ctx, "r1", "", 100)
	is.NoErr(err)                    // history of the copy
	is.True(len(hist) >= 50)         // with everything committed before the backup
	is.Equal(hist[0].Content, "0")   // in order
	is.Equal(hist[49].Content, "49") // all of it
}

// TestBatchWithAStoredID: appends sharing a batch with the repeat of a stored message id are
// stored, and the repeat stores nothing.
func TestBatchWithAStoredID(t *testing.T) {
	dialects(t, func(t *testing.T, open func(*testing.T, *sqlchat.Options) *sqlchat.Store) {
		is := is.New(t)
		ctx := context.Background()
		s := open(t, nil)
		first := message(t, "r1", alice, "first")
		_, _, err := s.Append(ctx, first)
		is.NoErr(err) // the first
		const n = 40
		msgs := make([]chat.Message, n)
		for i := range n {
			msgs[i] = message(t, "r1", bob, fmt.Sprint(i))
		}
		msgs[n/2] = first // the repeat, among the others
		existing := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, existing[i], errs[i] = s.Append(ctx, msgs[i]) })
		}
		wg.Wait()
		for i := range n {
			is.NoErr(errs[i])               // every append succeeds
			is.Equal(existing[i], i == n/2) // only the repeat is not new
		}
		hist, _, err := s.History(ctx, "r1", "", 100)
		is.NoErr(err)          // history
		is.Equal(len(hist), n) // the first and the 39 others, once each
	})
}
