package sqlchat

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/sqlmigrate"
	"github.com/huddle-go/huddle/signaling"
)

// Dialect is the SQL dialect of a database.
type Dialect int

// The dialects a Store speaks.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// DefaultMaxBatch is how many appends share a transaction at most when Options.MaxBatch is zero.
const DefaultMaxBatch = 512

// DefaultCommitDelay is Options.CommitDelay when it is zero.
const DefaultCommitDelay = 500 * time.Microsecond

// commitTimeout bounds one batch's transaction.
const commitTimeout = 10 * time.Second

// Options configures a Store. Nil options, or a zero field, mean the default.
type Options struct {
	// IdempotencyWindow is how long a (sender, clientMsgId) pair is remembered.
	// Default: chat.IdempotencyWindow (24 h).
	IdempotencyWindow time.Duration
	// Clock measures the idempotency window and times the memberships. Default: the wall clock.
	Clock clock.Clock
	// MaxBatch bounds the appends committed in one transaction. Default: DefaultMaxBatch.
	MaxBatch int
	// CommitDelay is how long the writer waits at most, before it commits, for as many appends
	// as the previous batch held, when that was more than one (under load; an idle store
	// commits at once). Default: DefaultCommitDelay; negative: never wait.
	CommitDelay time.Duration
	// CacheMembership keeps IsMember answers in memory, which the chat Service asks for every
	// message. Only for a Store that is the only writer of its database's memberships (one
	// process on a SQLite file: OpenSQLite sets it); several nodes on one PostgreSQL database
	// must leave it off. Default: off.
	CacheMembership bool
	// Logger receives the store's logs (a failed batch retried one by one, failed cleanups).
	// Default: silent.
	Logger *slog.Logger
}

//go:embed migrations
var migrations embed.FS

// MigrationsTable is the table in which a Store records the schema versions it applied.
const MigrationsTable = "huddle_chat_migrations"

// Store is a chat.Store, chat.HistoryAfterStore and chat.Membership on a SQL database. See the
// package doc for the schema, group commit and durability. Close stops its writer.
type Store struct {
	db      *sql.DB
	dialect Dialect
	ownsDB  bool
	unlock  func() error // the file's lock (OpenSQLite), released by Close
	clock   clock.Clock
	window  time.Duration
	batch   int
	linger  time.Duration
	log     *slog.Logger
	q       queries
	stmts   stmtCache            // the writer's
	prep    map[string]*sql.Stmt // the read and membership queries, prepared at New
	members *memberCache         // with Options.CacheMembership

	reqs      chan *appendReq // unbuffered: a send waits for the writer
	stop      chan struct{}   // closed by Close
	done      chan struct{}   // closed when the writer returned
	closeOnce sync.Once
	ctx       context.Context // the writer's; cancelled by Close
	cancel    context.CancelFunc
}

var (
	_ chat.Store             = (*Store)(nil)
	_ chat.HistoryAfterStore = (*Store)(nil)
	_ chat.Membership        = (*Store)(nil)
)

// New returns a Store on db, whose dialect is d, after bringing its schema up to date (see the
// package doc). The Store does not own db: Close leaves it open. For SQLite, db should use WAL
// and a busy timeout (OpenSQLite does). Nil options mean all defaults.
func New(ctx context.Context, db *sql.DB, d Dialect, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if d != SQLite && d != Postgres {
		return nil, fmt.Errorf("sqlchat: unknown dialect %v", d)
	}
	if o.IdempotencyWindow <= 0 {
		o.IdempotencyWindow = chat.IdempotencyWindow
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	switch {
	case o.CommitDelay == 0:
		o.CommitDelay = DefaultCommitDelay
	case o.CommitDelay < 0:
		o.CommitDelay = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ms, err := sqlmigrate.Load(migrations, "migrations/"+d.String())
	if err != nil {
		return nil, fmt.Errorf("sqlchat: %w", err)
	}
	if _, err := sqlmigrate.Apply(ctx, db, d == Postgres, MigrationsTable, ms); err != nil {
		return nil, fmt.Errorf("sqlchat: migrate: %w: %w", signaling.ErrUnavailable, err)
	}
	q := newQueries(d)
	prep := map[string]*sql.Stmt{}
	for _, text := range []string{q.seqOf, q.before, q.after, q.join, q.leave, q.isMember, q.members, q.roomsOf} {
		st, err := db.PrepareContext(ctx, text)
		if err != nil {
			for _, st := range prep {
				_ = st.Close()
			}
			return nil, unavailable("prepare", err)
		}
		prep[text] = st
	}
	wctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		db:      db,
		dialect: d,
		clock:   clock.Or(o.Clock),
		window:  o.IdempotencyWindow,
		batch:   o.MaxBatch,
		linger:  o.CommitDelay,
		log:     o.Logger,
		q:       q,
		prep:    prep,
		reqs:    make(chan *appendReq),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		ctx:     wctx,
		cancel:  cancel,
	}
	if o.CacheMembership {
		s.members = newMemberCache()
	}
	go s.writer()
	return s, nil
}

// Dialect returns the store's SQL dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the database the store uses.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close stops the writer: appends waiting for it fail with signaling.ErrUnavailable, and the
// batch being committed finishes first. It closes the database when the Store opened it
// (OpenSQLite, OpenPostgres). Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.stmts.close()
		for _, st := range s.prep {
			_ = st.Close()
		}
		s.cancel()
		if s.ownsDB {
			err = s.db.Close()
		}
		if s.unlock != nil {
			err = errors.Join(err, s.unlock())
		}
	})
	return err
}

func unavailable(op string, err error) error {
	return fmt.Errorf("sqlchat: %s: %w: %w", op, signaling.ErrUnavailable, err)
}

// errClosed is returned by appends to a closed Store.
var errClosed = errors.New("sqlchat: store closed")

// queries holds the store's SQL in its dialect.
type queries struct {
	claimed, byID, roomLock                 string
	seqOf, before, after, expire            string
	join, leave, isMember, members, roomsOf string
}

const msgCols = "id, room_id, content, sender_id, sender_name, created_at, updated_at, client_msg_id"

func newQueries(d Dialect) queries {
	q := queries{
		claimed: `SELECT ` + prefixed("m.", msgCols) + ` FROM huddle_chat_client_ids c
JOIN huddle_chat_messages m ON m.id = c.message_id WHERE c.sender_id = ? AND c.client_msg_id = ?`,
		byID:     `SELECT ` + msgCols + ` FROM huddle_chat_messages WHERE id = ?`,
		roomLock: `SELECT pg_advisory_xact_lock(hashtextextended(?, 7426))`,
		seqOf:    `SELECT seq FROM huddle_chat_messages WHERE id = ? AND room_id = ?`,
		before: `SELECT ` + msgCols + ` FROM huddle_chat_messages WHERE room_id = ? AND seq < ?
ORDER BY seq DESC LIMIT ?`,
		after: `SELECT ` + msgCols + ` FROM huddle_chat_messages WHERE room_id = ? AND seq > ?
ORDER BY seq ASC LIMIT ?`,
		expire: `DELETE FROM huddle_chat_client_ids WHERE at <= ?`,
		join: `INSERT INTO huddle_chat_members (room_id, user_id, username, joined_at) VALUES (?, ?, ?, ?)
ON CONFLICT (room_id, user_id) DO UPDATE SET username = excluded.username`,
		leave:    `DELETE FROM huddle_chat_members WHERE room_id = ? AND user_id = ?`,
		isMember: `SELECT 1 FROM huddle_chat_members WHERE room_id = ? AND user_id = ?`,
		members:  `SELECT user_id, username FROM huddle_chat_members WHERE room_id = ? ORDER BY joined_at, user_id`,
		roomsOf:  `SELECT room_id FROM huddle_chat_members WHERE user_id = ? ORDER BY joined_at, room_id`,
	}
	if d == Postgres {
		for _, p := range []*string{&q.claimed, &q.byID, &q.roomLock, &q.seqOf,
			&q.before, &q.after, &q.expire, &q.join, &q.leave, &q.isMember, &q.members, &q.roomsOf} {
			*p = dollars(*p)
		}
	}
	return q
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// dollars rewrites the ? placeholders of q as $1, $2, … (the queries hold no ? in literals).
func dollars(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanMessage(r scanner) (chat.Message, error) {
	var m chat.Message
	var created, updated int64
	err := r.Scan(&m.ID, &m.RoomID, &m.Content, &m.Sender.ID, &m.Sender.Username, &created, &updated, &m.ClientMsgID)
	if err != nil {
		return chat.Message{}, err
	}
	m.CreatedAt, m.UpdatedAt = fromNanos(created), fromNanos(updated)
	return m, nil
}

// nanos is how times are stored: Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
